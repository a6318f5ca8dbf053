"""The scheduling queue: which pending pod is tried next, and when a failed one is tried again.

Three places a pending pod can wait, as in Kubernetes:

* **activeQ** — ready to be tried, ordered by priority (`spec.priority`, higher first), then by the time it
  entered the queue (older first). `pop()` waits until there is one.
* **backoffQ** — failed recently; it returns to activeQ when its backoff ends: 1 s after the first attempt,
  doubling per attempt up to 10 s.
* **unschedulable** — no node fitted and nothing has changed since. A cluster event that may help (a node
  added or changed, an assigned pod deleted, ...) moves all of them on (`move_all_to_active_or_backoff`):
  to activeQ if their backoff is over, else to backoffQ. Pods that waited 60 s move on regardless, so a
  missed event never strands a pod.

A pod is "in flight" from `pop()` until `done()`. If a cluster event arrives while it is being scheduled
(the move-request cycle is at or after the cycle it was popped in), a failure sends it to backoffQ instead
of unschedulable, because the event may already have fixed what it failed on.

The nominator remembers which pods were nominated to which node by preemption (`status.nominatedNodeName`)
so the algorithm can keep their room.

All timing goes through a `Clock` (`FakeClock` in tests); `run()` is the periodic flusher (backoffQ every
second, the unschedulable leftovers every 30 s).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from kybernetes.client.clock import REAL_CLOCK, Clock
from kybernetes.scheduler.nodeinfo import PodInfo

__all__ = ["QueueStatistics", "QueuedPodInfo", "SchedulingQueue"]

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
UNSCHEDULABLE_TIMEOUT = 60.0
BACKOFF_FLUSH_PERIOD = 1.0
UNSCHEDULABLE_FLUSH_PERIOD = 30.0


@dataclass(slots=True)
class QueuedPodInfo:
    pod_info: PodInfo
    timestamp: float  # when it last entered the queue (or last failed)
    attempts: int = 0
    initial_attempt: float | None = None
    unschedulable_plugins: set[str] = field(default_factory=set)
    popped_cycle: int = 0

    @property
    def key(self) -> str:
        return self.pod_info.key


@dataclass(slots=True)
class QueueStatistics:
    active: int
    backoff: int
    unschedulable: int
    in_flight: int
    scheduling_cycle: int


class SchedulingQueue:
    """activeQ + backoffQ + unschedulable pods (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: Clock = REAL_CLOCK,
        initial_backoff: float = INITIAL_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        unschedulable_timeout: float = UNSCHEDULABLE_TIMEOUT,
    ) -> None:
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self._active: dict[str, QueuedPodInfo] = {}
        self._active_heap: list[tuple[int, float, int, str]] = []
        self._backoff: dict[str, QueuedPodInfo] = {}
        self._backoff_heap: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._seq = itertools.count()
        self._entry: dict[str, int] = {}  # key -> seq of its live heap entry (older entries are stale)
        self._nominated: dict[str, dict[str, PodInfo]] = {}  # node -> key -> pod
        self._nominated_node: dict[str, str] = {}  # key -> node
        self.scheduling_cycle = 0
        self._move_request_cycle = -1
        self._wakeup = asyncio.Event()
        self._closed = False

    # ---- backoff ---------------------------------------------------------------------------------------

    def backoff_duration(self, attempts: int) -> float:
        duration = self.initial_backoff
        for _ in range(1, attempts):
            duration *= 2
            if duration >= self.max_backoff:
                return self.max_backoff
        return duration

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi.attempts)

    # ---- internal moves -----------------------------------------------------------------------------

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        key = qpi.key
        seq = next(self._seq)
        self._entry[key] = seq
        self._active[key] = qpi
        heapq.heappush(self._active_heap, (-qpi.pod_info.priority, qpi.timestamp, seq, key))
        self._wakeup.set()

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        key = qpi.key
        seq = next(self._seq)
        self._entry[key] = seq
        self._backoff[key] = qpi
        heapq.heappush(self._backoff_heap, (self.backoff_expiry(qpi), seq, key))

    def _remove(self, key: str) -> QueuedPodInfo | None:
        self._entry.pop(key, None)
        return self._active.pop(key, None) or self._backoff.pop(key, None) or self._unschedulable.pop(key, None)

    def _requeue(self, qpi: QueuedPodInfo) -> None:
        """To activeQ if its backoff is over, else to backoffQ."""
        if qpi.attempts and self.backoff_expiry(qpi) > self.clock.now():
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    # ---- informer events ----------------------------------------------------------------------------

    def add(self, pod: PodInfo) -> None:
        """A new pending pod."""
        key = pod.key
        if key in self._in_flight:
            self._in_flight[key].pod_info = pod
            return
        if key in self._active or key in self._backoff or key in self._unschedulable:
            self.update(pod)
            return
        self._push_active(QueuedPodInfo(pod_info=pod, timestamp=self.clock.now()))

    def update(self, pod: PodInfo) -> None:
        """A pending pod changed: keep its place, but a changed spec or labels may make an unschedulable pod
        fit, so that one moves on (our own status writes do not count)."""
        key = pod.key
        if key in self._in_flight:
            self._in_flight[key].pod_info = pod
            return
        if key in self._active:
            old = self._active[key].pod_info
            self._active[key].pod_info = pod
            if old.priority != pod.priority:
                self._remove(key)
                self._push_active(QueuedPodInfo(pod_info=pod, timestamp=self.clock.now()))
            return
        if key in self._backoff:
            self._backoff[key].pod_info = pod
            return
        if key in self._unschedulable:
            qpi = self._unschedulable[key]
            old = qpi.pod_info
            qpi.pod_info = pod
            p_old, p_new = old.pod, pod.pod
            meta_changed = (old.labels != pod.labels
                            or (p_old.metadata.annotations if p_old.metadata else None)
                            != (p_new.metadata.annotations if p_new.metadata else None))
            if p_old.spec != p_new.spec or meta_changed:
                del self._unschedulable[key]
                self._requeue(qpi)
            return
        self.add(pod)

    def delete(self, key: str) -> None:
        self._remove(key)
        self.delete_nominated(key)

    def __contains__(self, key: str) -> bool:
        return key in self._active or key in self._backoff or key in self._unschedulable or key in self._in_flight

    # ---- the scheduling loop's side ------------------------------------------------------------------

    def pop_nowait(self) -> QueuedPodInfo | None:
        while self._active_heap:
            _, _, seq, key = heapq.heappop(self._active_heap)
            if self._entry.get(key) != seq or key not in self._active:
                continue  # stale entry
            del self._entry[key]
            qpi = self._active.pop(key)
            qpi.attempts += 1
            if qpi.initial_attempt is None:
                qpi.initial_attempt = self.clock.now()
            self.scheduling_cycle += 1
            qpi.popped_cycle = self.scheduling_cycle
            self._in_flight[key] = qpi
            return qpi
        self._wakeup.clear()
        return None

    async def pop(self) -> QueuedPodInfo:
        """The next pod to schedule; waits while activeQ is empty. Raises `asyncio.CancelledError` on close."""
        while True:
            qpi = self.pop_nowait()
            if qpi is not None:
                return qpi
            if self._closed:
                raise asyncio.CancelledError("scheduling queue closed")
            await self._wakeup.wait()

    def done(self, key: str) -> None:
        """The pod's attempt is over (bound, or put back)."""
        self._in_flight.pop(key, None)

    def requeue_in_flight(self) -> int:
        """Put pods whose attempt was abandoned (the scheduler stopped mid-way) back into activeQ."""
        abandoned = list(self._in_flight.values())
        self._in_flight.clear()
        for qpi in abandoned:
            self._push_active(qpi)
        return len(abandoned)

    def add_unschedulable(self, qpi: QueuedPodInfo) -> None:
        """No node fitted: park it until a cluster event, or backoff if an event came while it was tried."""
        key = qpi.key
        self._in_flight.pop(key, None)
        if key in self._active or key in self._backoff or key in self._unschedulable:
            return
        qpi.timestamp = self.clock.now()
        if self._move_request_cycle >= qpi.popped_cycle:
            self._push_backoff(qpi)
        else:
            self._entry.pop(key, None)
            self._unschedulable[key] = qpi

    def add_backoff(self, qpi: QueuedPodInfo) -> None:
        """An error (not the pod's fault), or a failed binding: retry after its backoff."""
        key = qpi.key
        self._in_flight.pop(key, None)
        if key in self._active or key in self._backoff or key in self._unschedulable:
            return
        qpi.timestamp = self.clock.now()
        self._push_backoff(qpi)

    # ---- cluster events ------------------------------------------------------------------------------

    def move_all_to_active_or_backoff(self, event: str = "", *, plugins: Collection[str] | None = None) -> int:
        """A cluster change that may help: unschedulable pods move on — all of them, or with `plugins` only
        those that some of these plugins rejected (or whose rejecting plugins are unknown). Returns how many
        moved."""
        if plugins is None:
            moved = list(self._unschedulable.values())
            self._unschedulable.clear()
        else:
            moved = [q for q in self._unschedulable.values()
                     if not q.unschedulable_plugins or not q.unschedulable_plugins.isdisjoint(plugins)]
            for qpi in moved:
                del self._unschedulable[qpi.key]
        for qpi in moved:
            self._requeue(qpi)
        self._move_request_cycle = self.scheduling_cycle
        return len(moved)

    def flush_backoff(self) -> int:
        now = self.clock.now()
        moved = 0
        while self._backoff_heap and self._backoff_heap[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff_heap)
            if self._entry.get(key) != seq or key not in self._backoff:
                continue
            qpi = self._backoff.pop(key)
            self._push_active(qpi)
            moved += 1
        return moved

    def flush_unschedulable_leftover(self) -> int:
        now = self.clock.now()
        stale = [q for q in self._unschedulable.values() if now - q.timestamp >= self.unschedulable_timeout]
        for qpi in stale:
            del self._unschedulable[qpi.key]
            self._requeue(qpi)
        return len(stale)

    async def run(self) -> None:
        """Flush backoffQ every second and unschedulable leftovers every 30 s, until cancelled."""
        ticks = 0
        per_leftover = max(1, round(UNSCHEDULABLE_FLUSH_PERIOD / BACKOFF_FLUSH_PERIOD))
        while True:
            await self.clock.sleep(BACKOFF_FLUSH_PERIOD)
            self.flush_backoff()
            ticks += 1
            if ticks % per_leftover == 0:
                self.flush_unschedulable_leftover()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    # ---- nominated pods ------------------------------------------------------------------------------

    def add_nominated(self, pod: PodInfo, node: str) -> None:
        self.delete_nominated(pod.key)
        if node:
            self._nominated.setdefault(node, {})[pod.key] = pod
            self._nominated_node[pod.key] = node

    def delete_nominated(self, key: str) -> None:
        node = self._nominated_node.pop(key, None)
        if node is not None:
            pods = self._nominated.get(node, {})
            pods.pop(key, None)
            if not pods:
                self._nominated.pop(node, None)

    def nominated_for(self, node: str) -> list[PodInfo]:
        pods = self._nominated.get(node)
        return list(pods.values()) if pods else []

    # ---- introspection -------------------------------------------------------------------------------

    def pending(self) -> Iterator[QueuedPodInfo]:
        yield from self._active.values()
        yield from self._backoff.values()
        yield from self._unschedulable.values()

    def where(self, key: str) -> str:
        for name, place in (("active", self._active), ("backoff", self._backoff),
                            ("unschedulable", self._unschedulable), ("in_flight", self._in_flight)):
            if key in place:
                return name
        return ""

    def statistics(self) -> QueueStatistics:
        return QueueStatistics(
            active=len(self._active), backoff=len(self._backoff), unschedulable=len(self._unschedulable),
            in_flight=len(self._in_flight), scheduling_cycle=self.scheduling_cycle,
        )
