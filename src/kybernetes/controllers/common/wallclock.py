"""Wall time for controllers: timestamps they write and ages they compare (minReadySeconds, deadlines, schedules).

`kybernetes.client.Clock` is monotonic (it never jumps), which is right for delays but cannot be compared
with `lastTransitionTime` strings written by other components. Controllers therefore carry a `WallClock`, a
callable returning an aware UTC datetime:

* `WallClock(clock=RealClock())` is the real wall time, read afresh on every call (as Kubernetes' controllers
  read `time.Now()`);
* for a `FakeClock` it is a fixed epoch plus the fake clock's reading, so unit tests that `advance()` the
  fake clock see pods become available, deadlines pass and schedules come due;
* `WallClock(clock=..., start=t)` anchors wall time at `t` now and lets it move with `clock` (tests that need
  a particular calendar moment, e.g. just past a cron schedule's minute).

`parse_time` reads the RFC 3339 timestamps found in objects, treating a missing or malformed one as unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kybernetes.client import Clock, RealClock
from kybernetes.machinery.timefmt import parse_rfc3339, utcnow

Now = Callable[[], datetime]  # what code that only reads wall time accepts: a WallClock or any function

FAKE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class WallClock:
    """Wall time following a (possibly fake) monotonic clock; see the module docstring. Call it for "now"."""

    def __init__(self, *, clock: Clock, start: datetime | None = None) -> None:
        self.clock = clock
        self._real = start is None and isinstance(clock, RealClock)
        if start is None:
            start = FAKE_EPOCH + timedelta(seconds=clock.now())
        self._start = start
        self._mono = clock.now()

    def __call__(self) -> datetime:
        if self._real:
            return utcnow()
        return self._start + timedelta(seconds=self.clock.now() - self._mono)


def wall_clock(clock: Clock, *, start: datetime | None = None) -> WallClock:
    return WallClock(clock=clock, start=start)


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp, or None when it is missing or malformed."""
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None
