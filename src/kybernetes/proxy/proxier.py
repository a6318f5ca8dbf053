"""The proxy's control loop: informers feed a coalescing sync loop that renders and applies one table.

Informers on Services, EndpointSlices and this node's own Node only *request* a sync (a flag and an
event); all work happens in `run()`'s single loop, so at most one sync is ever in flight. The loop:

1. waits until something asked for a sync, or the periodic full resync (`sync_period`) is due;
2. waits out the rest of `min_sync_interval` since the previous sync started, folding every change that
   arrives meanwhile into the one sync (a burst of 1,000 endpoint updates costs one `nft` run);
3. renders the ruleset from the caches (`build_plans` + `render_ruleset`, pure) and applies it, unless the
   text equals what was last applied and this is not the periodic resync (which re-applies anyway, to
   repair a table someone else changed or deleted);
4. on failure, logs and retries after a bounded backoff (the next sync renders from the then-current caches).

Before applying a ruleset with ClientIP affinity sets, the live affinity entries are read back from the
kernel and carried into the new table, so replacing the table does not reset clients' affinity.

On exit the table stays in place (traffic keeps flowing while the proxy restarts, as with kube-proxy),
unless `cleanup_on_exit` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kybernetes.api.models.core_v1 import Node, Service
from kybernetes.api.models.discovery_v1 import EndpointSlice
from kybernetes.client import REAL_CLOCK, Backoff, Clock, SharedInformerFactory
from kybernetes.client.clock import TimerHandle
from kybernetes.proxy.ruleset import AffinityEntry, RulesetConfig, render_ruleset
from kybernetes.proxy.servicemap import build_plans, node_facts

__all__ = ["Proxier", "ProxyOptions", "ProxyStatistics", "RulesetApplier"]

log = logging.getLogger(__name__)


class RulesetApplier(Protocol):
    """What the proxier needs from the packet filter (`kybernetes.proxy.nft.Nft` is the real one)."""

    async def apply(self, *, ruleset: str) -> None: ...

    async def affinity_entries(self, *, table: str) -> dict[str, list[AffinityEntry]]: ...

    async def delete_table(self, *, table: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    node_name: str
    ruleset: RulesetConfig = field(default_factory=RulesetConfig)
    sync_period: float = 30.0
    min_sync_interval: float = 1.0
    cleanup_on_exit: bool = False


@dataclass(slots=True)
class ProxyStatistics:
    syncs: int = 0
    applied: int = 0
    unchanged: int = 0
    failures: int = 0
    service_ports: int = 0
    last_sync_seconds: float = 0.0
    last_error: str = ""


class Proxier:
    def __init__(
        self,
        *,
        informers: SharedInformerFactory,
        applier: RulesetApplier,
        options: ProxyOptions,
        clock: Clock = REAL_CLOCK,
        backoff: Backoff | None = None,
    ) -> None:
        self.options = options
        self.applier = applier
        self.clock = clock
        self.backoff = backoff or Backoff(initial=0.5, cap=30.0)
        self.services = informers.informer(Service)
        self.slices = informers.informer(EndpointSlice)
        self.nodes = informers.informer(Node, field_selector=f"metadata.name={options.node_name}")
        for informer in (self.services, self.slices, self.nodes):
            informer.add_handler(on_add=self._changed, on_update=self._changed2, on_delete=self._changed)
        self._wake = asyncio.Event()
        self._last_applied: str | None = None
        self._last_start: float | None = None
        self._next_full = 0.0
        self._failures = 0
        self._timer: TimerHandle | None = None
        self._stats = ProxyStatistics()
        self._conflicts: list[str] = []

    # ---- requests --------------------------------------------------------------------------------------

    def _changed(self, _obj: object) -> None:
        self.request_sync()

    def _changed2(self, _old: object, _new: object) -> None:
        self.request_sync()

    def request_sync(self) -> None:
        """Ask for a sync soon (coalesced with every other request until it starts)."""
        self._wake.set()

    def statistics(self) -> ProxyStatistics:
        return self._stats

    # ---- one sync --------------------------------------------------------------------------------------

    def render(self, *, affinity: dict[str, list[AffinityEntry]] | None = None) -> str:
        """The ruleset for the caches' current contents."""
        return self._renderer()(affinity)

    def _renderer(self) -> Callable[[dict[str, list[AffinityEntry]] | None], str]:
        """A snapshot of the caches, renderable with or without carried affinity entries."""
        node = node_facts(name=self.options.node_name, node=self.nodes.get(self.options.node_name))
        plans = build_plans(services=self.services.list(), slices=self.slices.list())
        self._stats.service_ports = len(plans)
        config = self.options.ruleset

        def render(affinity: dict[str, list[AffinityEntry]] | None) -> str:
            conflicts: list[str] | None = [] if affinity is None else None  # once per sync: the first render
            text = render_ruleset(plans=plans, node=node, config=config, affinity=affinity, conflicts=conflicts)
            if conflicts is not None:
                self._report_conflicts(conflicts)
            return text

        return render

    def _report_conflicts(self, conflicts: list[str]) -> None:
        """Log the Service addresses two Services claim (the first by name keeps it) when that changes."""
        found = sorted(set(conflicts))
        if found != self._conflicts:
            if found:
                log.warning("address/port claimed by more than one Service, kept by the first by name: %s",
                            ", ".join(found))
            self._conflicts = found

    async def sync(self, *, force: bool) -> bool:
        """Render and apply; returns False when the table was already up to date (and not forced)."""
        self._stats.syncs += 1
        started = self.clock.now()
        renderer = self._renderer()
        text = renderer(None)
        if text == self._last_applied and not force:
            self._stats.unchanged += 1
            return False
        final = text
        if "@aff-" in text:
            carried = await self.applier.affinity_entries(table=self.options.ruleset.table)
            if any(carried.values()):
                final = renderer(carried)
        await self.applier.apply(ruleset=final)
        changed, self._last_applied = text != self._last_applied, text
        self._stats.applied += 1
        self._stats.last_sync_seconds = self.clock.now() - started
        if changed:  # the periodic re-apply of an unchanged table is not news
            log.info("programmed table ip %s: %d service ports in %.0f ms", self.options.ruleset.table,
                     self._stats.service_ports, self._stats.last_sync_seconds * 1000)
        return True

    # ---- the loop --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Wait for the caches, then sync whenever asked (coalesced) and every `sync_period`; until cancelled."""
        for informer in (self.services, self.slices, self.nodes):
            await informer.wait_synced()
        log.info("caches synced; programming table ip %s for node %s", self.options.ruleset.table,
                 self.options.node_name)
        self._wake.set()  # the first sync, at once
        try:
            while True:
                await self._wake.wait()
                if self._last_start is not None:
                    delay = self._last_start + self.options.min_sync_interval - self.clock.now()
                    if delay > 0:
                        await self.clock.sleep(delay)
                self._wake.clear()
                await self._sync_once()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            if self.options.cleanup_on_exit:
                await self._cleanup()

    async def _sync_once(self) -> None:
        now = self.clock.now()
        self._last_start = now
        force = now >= self._next_full
        delay = self.options.sync_period
        try:
            await self.sync(force=force)
            self._failures = 0
            if force:
                self._next_full = now + self.options.sync_period
        except Exception as e:  # nft failed, or an unexpected object: keep the old table, retry later
            self._stats.failures += 1
            self._stats.last_error = str(e)
            delay = self.backoff.delay(self._failures)
            self._failures += 1
            self._next_full = now  # the retry re-applies whatever the cache says then
            log.error("sync failed (retrying in %.1fs): %s", delay, e)
        if self._timer is not None:
            self._timer.cancel()
        due = self._next_full - self.clock.now() if self._failures == 0 else delay
        self._timer = self.clock.call_later(max(0.0, due), self._wake.set)

    async def _cleanup(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(self.applier.delete_table(table=self.options.ruleset.table))
            log.info("deleted table ip %s", self.options.ruleset.table)
