"""Wall time for controllers: timestamps they write and ages they compare (minReadySeconds, deadlines).

`kybernetes.client.Clock` is monotonic (it never jumps), which is right for delays but cannot be compared
with `lastTransitionTime` strings written by other components. Controllers therefore carry a `WallClock`
(a function returning an aware UTC datetime). `wall_clock(clock)` gives the real wall time for the real clock,
and for a `FakeClock` a wall time that moves with it (a fixed epoch plus the fake clock's reading), so unit
tests that `advance()` the fake clock see pods become available and deadlines pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kybernetes.client import Clock, RealClock
from kybernetes.machinery.timefmt import utcnow

WallClock = Callable[[], datetime]

FAKE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def wall_clock(clock: Clock) -> WallClock:
    if isinstance(clock, RealClock):
        return utcnow
    return lambda: FAKE_EPOCH + timedelta(seconds=clock.now())
