"""A rate-limited workqueue of string keys, with the contract controllers rely on.

The contract (Kubernetes' workqueue, restated):

* **Stingy.** A key is queued at most once: adding a key that is already waiting does nothing, so a burst
  of events for one object collapses into one sync.
* **Never twice at once.** A key handed to a worker by `get()` is *processing* until that worker calls
  `done(key)`. No other worker gets the key meanwhile. Adding it while it is processing marks it *dirty*;
  `done()` then queues it again, so the change that arrived during the sync is not lost.
* **Fair.** Keys come out in the order they were first added (FIFO).
* **Delays.** `add_after(key, delay)` queues the key once the delay has passed (if it is added sooner with a
  shorter delay, the earlier time wins). Delays run on the queue's `Clock` through timer callbacks; there is
  no background task, and tests with a `FakeClock` never sleep.
* **Backoff.** `add_rate_limited(key)` is `add_after` with the rate limiter's delay: per key 5 ms doubling
  on each failure up to 1000 s, and never faster than an overall token bucket of 10 qps with a burst of 100.
  `forget(key)` clears the key's failure count (call it after a successful sync); `num_requeues(key)` tells
  how many failures are counted.
* **Shutdown drains.** After `shutdown()` the queue accepts no new keys (and drops pending delayed ones), but
  `get()` still hands out the keys already queued; once none are left it raises `QueueShutDown` to every
  waiting worker. Keys dirtied while processing are still requeued by `done()`, so a worker finishes what it
  started.

`run_workers(queue=, sync=, workers=)` runs the usual loop on N workers under one TaskGroup: `sync(key)`
succeeding → `forget`; raising `ConflictError` (our cache was stale) → requeue after a short delay without
counting a failure; raising anything else → log it and `add_rate_limited`. It returns when the queue has
been shut down and drained.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kybernetes.client.clock import REAL_CLOCK, Clock, TimerHandle
from kybernetes.client.ratelimit import RateLimiter, WorkqueueRateLimiter
from kybernetes.machinery.errors import ConflictError

__all__ = ["QueueShutDown", "QueueStatistics", "WorkQueue", "run_workers"]

log = logging.getLogger(__name__)


class QueueShutDown(Exception):
    """`get()` on a queue that is shut down and has nothing left to hand out."""


@dataclass(frozen=True, slots=True)
class QueueStatistics:
    name: str
    depth: int  # queued, waiting for a worker
    processing: int
    dirty_processing: int  # processing and added again meanwhile
    delayed: int  # waiting for add_after / add_rate_limited delays
    waiting_workers: int
    adds: int
    collapsed_adds: int
    rate_limited_adds: int
    completed: int
    shutting_down: bool


class WorkQueue:
    """See the module docstring for the contract."""

    def __init__(self, *, name: str = "", clock: Clock = REAL_CLOCK, rate_limiter: RateLimiter | None = None) -> None:
        self.name = name
        self.clock = clock
        self.rate_limiter: RateLimiter = rate_limiter or WorkqueueRateLimiter(clock=clock)
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()  # queued, or processing and to be requeued
        self._processing: set[str] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._delayed: dict[str, float] = {}  # key -> when it becomes ready
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._timer: TimerHandle | None = None
        self._timer_at = 0.0
        self._shutting_down = False
        self._idle: asyncio.Event | None = None
        self._adds = self._collapsed = self._rate_limited = self._completed = 0

    # ---- adding ---------------------------------------------------------------------------------------

    def add(self, key: str) -> None:
        if self._shutting_down:
            return
        self._adds += 1
        if key in self._dirty:
            self._collapsed += 1
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # `done()` requeues it
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: str, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        when = self.clock.now() + delay
        current = self._delayed.get(key)
        if current is not None and current <= when:
            return
        self._delayed[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        self._schedule()

    def add_rate_limited(self, key: str) -> None:
        if self._shutting_down:
            return
        self._rate_limited += 1
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: str) -> None:
        self.rate_limiter.forget(key)

    def num_requeues(self, key: str) -> int:
        return self.rate_limiter.num_requeues(key)

    # ---- delayed keys -----------------------------------------------------------------------------------

    def _schedule(self) -> None:
        while self._heap and self._delayed.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # superseded by an earlier time, or already released
        if not self._heap:
            return
        when = self._heap[0][0]
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer_at = when
        self._timer = self.clock.call_later(when - self.clock.now(), self._release_due)

    def _release_due(self) -> None:
        self._timer = None
        now = self.clock.now()
        while self._heap and self._heap[0][0] <= now:
            when, _, key = heapq.heappop(self._heap)
            if self._delayed.get(key) == when:
                del self._delayed[key]
                self.add(key)
        self._schedule()

    # ---- taking -----------------------------------------------------------------------------------------

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def get(self) -> str:
        """The next key (now processing); raises `QueueShutDown` once shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDown(self.name)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # we were handed a wake-up we will not use: pass it on
                raise
        return self._take()

    def get_nowait(self) -> str | None:
        """The next key, or None when nothing is queued right now."""
        return self._take() if self._queue else None

    def _take(self) -> str:
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        """The worker finished `key`; requeue it if it was added meanwhile."""
        self._processing.discard(key)
        self._completed += 1
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()
        elif self._shutting_down and not self._queue:
            self._wake_all()
        if self._idle is not None and not self._processing and not self._queue:
            self._idle.set()

    # ---- shutdown -----------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop accepting keys; workers drain what is queued and then get `QueueShutDown`."""
        self._shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._delayed.clear()
        self._heap.clear()
        self._wake_all()

    def _wake_all(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    async def wait_idle(self) -> None:
        """Wait until nothing is queued or processing (delayed keys do not count)."""
        while self._queue or self._processing:
            self._idle = asyncio.Event()
            await self._idle.wait()
        self._idle = None

    def __len__(self) -> int:
        return len(self._queue)

    def statistics(self) -> QueueStatistics:
        return QueueStatistics(
            name=self.name,
            depth=len(self._queue),
            processing=len(self._processing),
            dirty_processing=len(self._dirty & self._processing),
            delayed=len(self._delayed),
            waiting_workers=sum(1 for w in self._getters if not w.done()),
            adds=self._adds,
            collapsed_adds=self._collapsed,
            rate_limited_adds=self._rate_limited,
            completed=self._completed,
            shutting_down=self._shutting_down,
        )


async def run_workers(
    *,
    queue: WorkQueue,
    sync: Callable[[str], Awaitable[None]],
    workers: int = 1,
    conflict_delay: float = 0.01,
) -> None:
    """Run `workers` sync loops on `queue` until it is shut down and drained (see the module docstring)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")

    async def worker(number: int) -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            try:
                await sync(key)
            except ConflictError as e:
                # Our cached copy was stale; the watch will catch up within moments. Not a failure.
                log.debug("%s: sync %s: conflict (%s); requeueing", queue.name, key, e.message)
                queue.add_after(key, conflict_delay)
            except Exception:
                log.exception("%s: sync %s failed (attempt %d); backing off", queue.name, key,
                              queue.num_requeues(key) + 1)
                queue.add_rate_limited(key)
            else:
                queue.forget(key)
            finally:
                queue.done(key)

    async with asyncio.TaskGroup() as tg:
        for number in range(workers):
            tg.create_task(worker(number), name=f"{queue.name or 'workqueue'}-worker-{number}")
