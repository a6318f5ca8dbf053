"""Timestamps on the wire and ages as kubectl prints them.

* `metav1.Time` is RFC 3339 in UTC at second precision (`2024-05-01T12:00:00Z`); `metav1.MicroTime` (events,
  leases) carries exactly six fractional digits (`2024-05-01T12:00:00.123456Z`).
* `parse_rfc3339` accepts any RFC 3339 timestamp (`Z` or a numeric offset, any number of fractional digits,
  truncated to microseconds) and returns an aware datetime in UTC.
* `human_duration` reproduces kubectl's AGE column (apimachinery's `duration.HumanDuration`): the coarser the
  age, the coarser the unit, with a second unit shown only while it still carries information
  (`90s`, `5m3s`, `15m`, `3h20m`, `20h`, `3d4h`, `40d`, `2y30d`, `9y`).

Every `now_*` function takes an optional `now` so callers running on a fake clock can pass their time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_rfc3339(when: datetime) -> str:
    """Second precision, UTC, `Z` suffix (fractions are dropped, as `metav1.Time` does)."""
    return _as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_rfc3339_micro(when: datetime) -> str:
    """Microsecond precision with exactly six digits, UTC, `Z` suffix (`metav1.MicroTime`)."""
    return _as_utc(when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_rfc3339(now: datetime | None = None) -> str:
    return format_rfc3339(now or utcnow())


def now_rfc3339_micro(now: datetime | None = None) -> str:
    return format_rfc3339_micro(now or utcnow())


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime; raises `ValueError` when malformed."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(f"parsing time {text!r} as RFC 3339: cannot parse")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    fraction = (m.group(7) or "")[:6].ljust(6, "0")
    if m.group(8):
        tz = UTC
    else:
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(-offset if m.group(9) == "-" else offset)
    try:
        parsed = datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=tz)
    except ValueError as err:
        raise ValueError(f"parsing time {text!r} as RFC 3339: {err}") from None
    return parsed.astimezone(UTC)


def seconds_since(text: str, *, now: datetime | None = None) -> float:
    """Seconds elapsed from an RFC 3339 timestamp to `now` (negative if it lies in the future)."""
    return ((now or utcnow()) - parse_rfc3339(text)).total_seconds()


def human_duration(seconds: float) -> str:
    """An age the way kubectl prints it; a little negative (clock skew) reads `0s`, more is `<invalid>`."""
    total = int(seconds)  # truncates toward zero, as Go's int(d.Seconds()) does
    if total < -1:
        return "<invalid>"
    if total < 0:
        return "0s"
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        return _pair(minutes, "m", total % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        return _pair(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return _pair(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        return _pair(years, "y", days % 365, "d")
    return f"{years}y"


def age(timestamp: str, *, now: datetime | None = None) -> str:
    """The AGE column for an RFC 3339 timestamp; `<unknown>` when it is missing, as kubectl prints."""
    if not timestamp:
        return "<unknown>"
    return human_duration(seconds_since(timestamp, now=now))


def _pair(major: int, major_unit: str, minor: int, minor_unit: str) -> str:
    return f"{major}{major_unit}{minor}{minor_unit}" if minor else f"{major}{major_unit}"


def _as_utc(when: datetime) -> datetime:
    # A naive datetime is taken to be UTC already (that is what utcnow-style callers hold).
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
