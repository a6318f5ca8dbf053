"""Leader election on a `coordination.k8s.io/v1` Lease, so several replicas run and exactly one acts.

The lease records who holds it (`holderIdentity`), for how long (`leaseDurationSeconds`) and when it was
last renewed (`renewTime`). Candidates poll every `retry_period`:

* no lease → create it naming ourselves (the create is atomic; losing the race is just another poll);
* a lease held by someone else is taken only after it has gone `lease_duration` without changing *as seen by
  us*: expiry is judged by when this process last saw the record change on its own monotonic clock, never
  by comparing its wall clock with the holder's `renewTime`, so clock skew between machines cannot cause two
  leaders (Kubernetes' elector does the same);
* an empty `holderIdentity` (a released lease) may be taken at once;
* every write is an update carrying the lease's resourceVersion, so two candidates cannot both win.

The leader renews every `retry_period`; if it has not managed to renew for `renew_deadline` (which must be
shorter than `lease_duration`, so it stops before anyone else may start), or finds another holder, it has
lost. On leaving (`leading()` exits, or `run()` returns) it releases the lease (holder cleared) so a
successor need not wait for expiry.

`async with elector.leading():` waits to become leader and runs the body as leader; if leadership is lost
the body is cancelled and `LeadershipLost` is raised. `await elector.run(on_started_leading=...,
on_stopped_leading=...)` is the callback form: it returns after leadership ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from kybernetes.api.models.coordination_v1 import Lease, LeaseSpec
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client.clock import REAL_CLOCK, Clock
from kybernetes.client.rest import APIConnectionError, Client
from kybernetes.machinery.errors import AlreadyExistsError, ConflictError, NotFoundError, StatusError
from kybernetes.machinery.timefmt import now_rfc3339_micro

__all__ = ["LeaderElectionStatistics", "LeaderElector", "LeadershipLost"]

log = logging.getLogger(__name__)


class LeadershipLost(Exception):
    """This process was the leader and is not any more."""


@dataclass(slots=True)
class LeaderElectionStatistics:
    identity: str
    leading: bool = False
    observed_holder: str = ""
    attempts: int = 0
    acquisitions: int = 0
    renewals: int = 0
    failures: int = 0


class LeaderElector:
    """Campaign for the Lease `namespace/name` as `identity` (see the module docstring)."""

    def __init__(
        self,
        *,
        client: Client,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_exit: bool = True,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        if not renew_deadline < lease_duration:
            raise ValueError("renew_deadline must be shorter than lease_duration")
        if not retry_period < renew_deadline:
            raise ValueError("retry_period must be shorter than renew_deadline")
        if not identity:
            raise ValueError("identity must not be empty")
        self.leases = client.resource(Lease)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_exit = release_on_exit
        self.clock = clock
        self._observed: LeaseSpec | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0
        self._leading = False
        self._stats = LeaderElectionStatistics(identity=identity)

    @property
    def is_leader(self) -> bool:
        return self._leading

    def statistics(self) -> LeaderElectionStatistics:
        self._stats.leading = self._leading
        self._stats.observed_holder = (self._observed.holder_identity or "") if self._observed else ""
        return self._stats

    # ---- one attempt ---------------------------------------------------------------------------------

    def _duration_seconds(self) -> int:
        return max(1, round(self.lease_duration))

    async def try_acquire_or_renew(self) -> bool:
        """One round: True if we hold the lease afterwards."""
        self._stats.attempts += 1
        now = now_rfc3339_micro()
        try:
            lease = await self.leases.get(namespace=self.namespace, name=self.name)
        except NotFoundError:
            fresh = Lease(
                metadata=ObjectMeta(name=self.name, namespace=self.namespace),
                spec=LeaseSpec(
                    holder_identity=self.identity, lease_duration_seconds=self._duration_seconds(),
                    acquire_time=now, renew_time=now, lease_transitions=0,
                ),
            )
            try:
                created = await self.leases.create(fresh)
            except AlreadyExistsError:
                return False
            self._observe(created.spec)
            return True
        spec = lease.spec or LeaseSpec()
        self._observe(spec)
        holder = spec.holder_identity or ""
        if holder and holder != self.identity:
            duration = float(spec.lease_duration_seconds or self.lease_duration)
            if self.clock.now() < self._observed_at + duration:
                return False  # held, and not yet expired as far as we have seen
        ours = holder == self.identity
        new_spec = LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=self._duration_seconds(),
            acquire_time=spec.acquire_time if ours else now,
            renew_time=now,
            lease_transitions=(spec.lease_transitions or 0) + (0 if ours or not holder else 1),
            preferred_holder=spec.preferred_holder,
            strategy=spec.strategy,
        )
        try:
            updated = await self.leases.update(Lease(metadata=lease.metadata, spec=new_spec))
        except ConflictError:
            return False  # someone else wrote first; look again next round
        self._observe(updated.spec)
        return True

    def _observe(self, spec: LeaseSpec | None) -> None:
        if spec != self._observed:
            self._observed = spec
            self._observed_at = self.clock.now()

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except (StatusError, APIConnectionError) as e:
            self._stats.failures += 1
            log.warning("leader election %s/%s (%s): %s", self.namespace, self.name, self.identity, e)
            return False

    # ---- acquiring, renewing, releasing -----------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait until we hold the lease."""
        while not await self._attempt():
            await self.clock.sleep(self.retry_period)
        self._leading = True
        self._last_renew = self.clock.now()
        self._stats.acquisitions += 1
        log.info("%s became leader of %s/%s", self.identity, self.namespace, self.name)

    async def _renew_loop(self) -> None:
        while True:
            await self.clock.sleep(self.retry_period)
            if await self._attempt():
                self._last_renew = self.clock.now()
                self._stats.renewals += 1
                continue
            holder = (self._observed.holder_identity or "") if self._observed else ""
            if holder and holder != self.identity:
                self._leading = False
                raise LeadershipLost(f"{self.namespace}/{self.name} is now held by {holder}")
            if self.clock.now() - self._last_renew >= self.renew_deadline:
                self._leading = False
                raise LeadershipLost(f"could not renew {self.namespace}/{self.name} within {self.renew_deadline}s")

    async def release(self) -> None:
        """Give the lease up if we hold it (holder cleared), so a successor can take it at once."""
        was_leading, self._leading = self._leading, False
        if not was_leading:
            return
        try:
            lease = await self.leases.get(namespace=self.namespace, name=self.name)
            spec = lease.spec or LeaseSpec()
            if spec.holder_identity != self.identity:
                return
            released = LeaseSpec(
                holder_identity=None, lease_duration_seconds=1, acquire_time=spec.acquire_time,
                renew_time=now_rfc3339_micro(), lease_transitions=spec.lease_transitions,
            )
            await self.leases.update(Lease(metadata=lease.metadata, spec=released))
            log.info("%s released %s/%s", self.identity, self.namespace, self.name)
        except (StatusError, APIConnectionError) as e:
            log.warning("releasing %s/%s failed: %s", self.namespace, self.name, e)

    @asynccontextmanager
    async def leading(self) -> AsyncIterator[None]:
        """Become leader, run the body as leader; `LeadershipLost` if it ends early."""
        await self.acquire()
        lost: LeadershipLost | None = None
        try:
            try:
                async with asyncio.TaskGroup() as tg:
                    renewer = tg.create_task(self._renew_loop())
                    try:
                        yield
                    finally:
                        renewer.cancel()
            except BaseExceptionGroup as group:
                matched, rest = group.split(LeadershipLost)
                if rest is not None:
                    # The body failed: hand its own exception back rather than a group around it.
                    if len(rest.exceptions) == 1 and not isinstance(rest.exceptions[0], BaseExceptionGroup):
                        raise rest.exceptions[0] from None
                    raise
                assert matched is not None
                first = matched.exceptions[0]
                assert isinstance(first, LeadershipLost)
                lost = first
        finally:
            if self.release_on_exit and lost is None:
                await asyncio.shield(self.release())
            self._leading = False
        if lost is not None:
            raise lost

    async def run(
        self,
        *,
        on_started_leading: Callable[[], Awaitable[None]],
        on_stopped_leading: Callable[[], None] | None = None,
    ) -> None:
        """Wait for leadership, run `on_started_leading()` while leading; returns when leadership ends (the
        callback returning or being cancelled by a lost lease)."""
        try:
            async with self.leading():
                await on_started_leading()
        except LeadershipLost as e:
            log.warning("%s: %s", self.identity, e)
        finally:
            if on_stopped_leading is not None:
                on_stopped_leading()
