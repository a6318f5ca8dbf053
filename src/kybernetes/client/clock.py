"""Time as the client library sees it: a `Clock` protocol with a real and a fake implementation.

Everything in `kybernetes.client` that waits (workqueue delays and backoff, informer resync, request retries,
the client-side rate limit, leader election) reads time and sleeps through a `Clock`, so unit tests can
inject `FakeClock` and never sleep for real.

* `now()` is monotonic seconds (never wall time: wall clocks jump).
* `call_later(delay, callback)` runs a plain callback later and returns a handle with `cancel()`; this is how
  the workqueue's delayed adds work without a background task.
* `sleep(delay)` suspends the calling task.

`FakeClock` moves only when told: `advance(seconds)` runs every timer and wakes every sleeper that falls due,
in deadline order. With `auto_advance=True` a `sleep()` moves the clock itself and returns at once, which suits
code that sleeps between retries (the sleeps are recorded in `slept` so tests can assert the backoff).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...

    async def sleep(self, delay: float) -> None: ...


class RealClock:
    """The event loop's clock."""

    def now(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))


REAL_CLOCK: Clock = RealClock()


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock for tests: time stands still until `advance()` (or a sleep, with `auto_advance`)."""

    def __init__(self, *, start: float = 1000.0, auto_advance: bool = False) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._seq = itertools.count()
        self.auto_advance = auto_advance
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _FakeTimer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        if self.auto_advance:
            self.advance(max(0.0, delay))
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        handle = self.call_later(delay, wake)
        try:
            await future
        finally:
            handle.cancel()

    def advance(self, seconds: float) -> None:
        """Move time forward, running due timers in deadline order (each sees `now()` at its deadline)."""
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
        self._now = target

    def pending(self) -> int:
        """Timers (including sleepers) not yet due."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        live = [w for w, _, t in self._timers if not t.cancelled]
        return min(live) if live else None
