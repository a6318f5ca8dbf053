"""What the Job, CronJob, DaemonSet and StatefulSet controllers share: pod state predicates, owner
references, wall time on the controller's clock, creation/deletion expectations and slow-start batches.

(`kybernetes.controllers.common` grows the shared versions of these for every controller; this module is
the workload controllers' own copy until the two are merged.)

Wall time: `Clock.now()` is monotonic, but Jobs and CronJobs reason in wall time (startTime, schedules).
`WallClock` anchors the monotonic clock to the wall clock once, so a `FakeClock` moves wall time too and
unit tests stay deterministic.

Expectations: after a controller asks for N pods to be created it must not ask again until the informer has
shown them, or a second sync would create 2N. `Expectations.expect(key, adds=N)` records the debt; the pod
handlers call `observed_add/observed_delete`; `satisfied(key)` is true when the debt is paid or has been
outstanding for 5 minutes (a lost watch event must not wedge the controller forever).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from kybernetes.api.models.core_v1 import Pod
from kybernetes.api.models.meta_v1 import ObjectMeta, OwnerReference
from kybernetes.client import Clock
from kybernetes.machinery.labels import LabelSelector, selector_from_api
from kybernetes.machinery.timefmt import parse_rfc3339

log = logging.getLogger(__name__)

T = TypeVar("T")
EXPECTATIONS_TIMEOUT = 300.0
SLOW_START_INITIAL_BATCH = 1


class WallClock:
    """Wall time that advances with a (possibly fake) monotonic clock."""

    def __init__(self, *, clock: Clock, start: datetime | None = None) -> None:
        self.clock = clock
        self._mono = clock.now()
        self._wall = (start or datetime.now(UTC)).timestamp()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall + self.clock.now() - self._mono, UTC)


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


# ---- pods -------------------------------------------------------------------------------------------------


def pod_phase(pod: Pod) -> str:
    return (pod.status.phase if pod.status else None) or "Pending"


def is_terminal(pod: Pod) -> bool:
    return pod_phase(pod) in ("Succeeded", "Failed")


def is_terminating(pod: Pod) -> bool:
    return bool(pod.metadata and pod.metadata.deletion_timestamp)


def is_active(pod: Pod) -> bool:
    """Neither finished nor being deleted (what controllers count as a live replica)."""
    return not is_terminal(pod) and not is_terminating(pod)


def _ready_condition(pod: Pod) -> Any:
    for cond in (pod.status.conditions if pod.status else None) or []:
        if cond.type == "Ready":
            return cond
    return None


def is_ready(pod: Pod) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.status == "True"


def is_available(pod: Pod, *, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least `min_ready_seconds` (by the Ready condition's lastTransitionTime)."""
    cond = _ready_condition(pod)
    if cond is None or cond.status != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(cond.last_transition_time)
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def is_running_and_ready(pod: Pod) -> bool:
    return pod_phase(pod) == "Running" and is_ready(pod)


def controller_ref(obj: Any) -> OwnerReference | None:
    for ref in (obj.metadata.owner_references if obj.metadata else None) or []:
        if ref.controller:
            return ref
    return None


def owner_reference(*, api_version: str, kind: str, owner: Any) -> OwnerReference:
    """The controller reference an owned object carries (blockOwnerDeletion, as Kubernetes sets it)."""
    return OwnerReference(
        api_version=api_version, kind=kind, name=owner.metadata.name, uid=owner.metadata.uid,
        controller=True, block_owner_deletion=True,
    )


def owned_by(obj: Any, owner: Any) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.uid == owner.metadata.uid


def selector_of(spec: Any) -> LabelSelector:
    """The spec's label selector (`None` selects nothing; raises BadRequestError when malformed)."""
    selector = spec.selector if spec is not None else None
    if selector is None:
        return LabelSelector.nothing()
    return selector_from_api(msgspec.to_builtins(selector))


def labels_of(obj: Any) -> dict[str, str]:
    return dict((obj.metadata.labels if obj.metadata else None) or {})


def key_of(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def wire(obj: Any) -> dict[str, Any]:
    """A Struct as a mutable wire-form dict (camelCase keys)."""
    out = msgspec.to_builtins(obj)
    assert isinstance(out, dict)
    return out


def from_wire(data: dict[str, Any], model: type[T]) -> T:
    return msgspec.convert(data, model)


def meta_dict(template_meta: ObjectMeta | None) -> dict[str, Any]:
    """Labels, annotations and finalizers of a template's metadata, copied."""
    if template_meta is None:
        return {}
    out: dict[str, Any] = {}
    if template_meta.labels:
        out["labels"] = dict(template_meta.labels)
    if template_meta.annotations:
        out["annotations"] = dict(template_meta.annotations)
    if template_meta.finalizers:
        out["finalizers"] = list(template_meta.finalizers)
    return out


# ---- expectations -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Expected:
    adds: int
    deletes: int
    since: float


class Expectations:
    """Outstanding creations/deletions per controller key (see the module docstring)."""

    def __init__(self, *, clock: Clock, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self._items: dict[str, _Expected] = {}

    def expect(self, key: str, *, adds: int = 0, deletes: int = 0) -> None:
        self._items[key] = _Expected(adds=adds, deletes=deletes, since=self.clock.now())

    def raise_(self, key: str, *, adds: int = 0, deletes: int = 0) -> None:
        item = self._items.get(key)
        if item is None:
            self.expect(key, adds=adds, deletes=deletes)
        else:
            item.adds += adds
            item.deletes += deletes

    def lower(self, key: str, *, adds: int = 0, deletes: int = 0) -> None:
        item = self._items.get(key)
        if item is not None:
            item.adds -= adds
            item.deletes -= deletes

    def observed_add(self, key: str) -> None:
        self.lower(key, adds=1)

    def observed_delete(self, key: str) -> None:
        self.lower(key, deletes=1)

    def satisfied(self, key: str) -> bool:
        item = self._items.get(key)
        if item is None:
            return True
        if item.adds <= 0 and item.deletes <= 0:
            return True
        return self.clock.now() - item.since > self.timeout

    def forget(self, key: str) -> None:
        self._items.pop(key, None)


async def slow_start(
    *, count: int, create: Callable[[int], Awaitable[None]], on_skipped: Callable[[int], None],
    initial: int = SLOW_START_INITIAL_BATCH,
) -> tuple[int, BaseException | None]:
    """Call `create(i)` for i in 0..count-1 in batches of 1, 2, 4, ... run concurrently; stop after the
    first batch with a failure. `on_skipped(n)` is told how many were never attempted or failed (so the
    caller lowers its expectations). Returns (successes, first error)."""
    done = 0
    batch = min(count, initial)
    index = 0
    while batch > 0:
        results = await asyncio.gather(*(create(index + i) for i in range(batch)), return_exceptions=True)
        index += batch
        errors = [r for r in results if isinstance(r, BaseException)]
        done += batch - len(errors)
        if errors:
            on_skipped(len(errors) + count - index)
            return done, errors[0]
        batch = min(2 * batch, count - index)
    return done, None


async def gather_errors(calls: Sequence[Awaitable[None]]) -> BaseException | None:
    """Run the calls concurrently; the first error, if any."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            return r
    return None
