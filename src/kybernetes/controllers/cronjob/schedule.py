"""Cron schedules as CronJobs accept them: five fields (minute hour day-of-month month day-of-week) with
`*`, `?`, lists, ranges, steps and month/day names, or a descriptor (`@yearly`, `@annually`, `@monthly`,
`@weekly`, `@daily`, `@midnight`, `@hourly`); evaluated in a time zone (`zoneinfo`, UTC by default).

As in the cron library Kubernetes uses, when both day fields are restricted a day matches if *either*
matches; when one of them starts with `*` (or `?`) both must match.

`Schedule.next(after)` is the first matching minute strictly after `after`; it walks month, day, hour and
minute, skipping whole units that cannot match, so even a rare schedule costs a few hundred steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {n: i + 1 for i, n in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_DAYS = {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_SEARCH_YEARS = 5


class ScheduleError(ValueError):
    pass


def _value(text: str, names: dict[str, int], lo: int, hi: int, what: str) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    try:
        value = int(text)
    except ValueError:
        raise ScheduleError(f"failed to parse int from {text}: strconv.Atoi: parsing {text!r}: invalid syntax") \
            from None
    if not lo <= value <= hi:
        raise ScheduleError(f"{what} value ({value}) out of range [{lo}, {hi}]")
    return value


def _field(text: str, *, lo: int, hi: int, names: dict[str, int] | None = None, what: str) -> tuple[frozenset[int], bool]:
    """The values a field allows, and whether it was unrestricted (`*` / `?`)."""
    names = names or {}
    values: set[int] = set()
    star = False
    for part in text.split(","):
        if not part:
            raise ScheduleError(f"empty field in {text!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            try:
                step = int(step_text)
            except ValueError:
                raise ScheduleError(f"failed to parse int from {step_text}") from None
            if step <= 0:
                raise ScheduleError(f"step of range should be a positive number: {part}")
        if base in ("*", "?"):
            start, end = lo, hi
            star = star or not slash
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, names, lo, hi, what), _value(b, names, lo, hi, what)
            if start > end:
                raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {base}")
        else:
            start = _value(base, names, lo, hi, what)
            end = hi if slash else start
        values.update(range(start, end + 1, step))
    return frozenset(values), star


@dataclass(frozen=True, slots=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_star: bool
    weekdays_star: bool
    zone: tzinfo = UTC

    @classmethod
    def parse(cls, text: str, *, time_zone: str | None = None) -> Schedule:
        """Parse a schedule; raises `ScheduleError` (also for an unknown time zone)."""
        zone: tzinfo = UTC
        if time_zone:
            try:
                zone = ZoneInfo(time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ScheduleError(f"unknown time zone {time_zone}") from None
        spec = text.strip()
        if spec.startswith("@"):
            if spec.lower() not in _DESCRIPTORS:
                raise ScheduleError(f"unrecognized descriptor: {spec}")
            spec = _DESCRIPTORS[spec.lower()]
        fields = spec.split()
        if len(fields) != 5:
            raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {text}")
        minutes, _ = _field(fields[0], lo=0, hi=59, what="minute")
        hours, _ = _field(fields[1], lo=0, hi=23, what="hour")
        days, days_star = _field(fields[2], lo=1, hi=31, what="day of month")
        months, _ = _field(fields[3], lo=1, hi=12, names=_MONTHS, what="month")
        weekdays, weekdays_star = _field(fields[4], lo=0, hi=7, names=_DAYS, what="day of week")
        if 7 in weekdays:
            weekdays = (weekdays - {7}) | {0}
        return cls(minutes, hours, days, months, weekdays, days_star, weekdays_star, zone)

    def _day_matches(self, when: datetime) -> bool:
        dom = when.day in self.days
        dow = (when.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def next(self, after: datetime) -> datetime | None:
        """The first scheduled time strictly after `after` (aware), in UTC; None if none within 5 years."""
        local = after.astimezone(self.zone).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        limit = local.year + _SEARCH_YEARS
        while local.year <= limit:
            if local.month not in self.months:
                year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
                local = datetime(year, month, 1)
                continue
            if not self._day_matches(local):
                local = datetime(local.year, local.month, local.day) + timedelta(days=1)
                continue
            if local.hour not in self.hours:
                local = datetime(local.year, local.month, local.day, local.hour) + timedelta(hours=1)
                continue
            if local.minute not in self.minutes:
                local += timedelta(minutes=1)
                continue
            aware = local.replace(tzinfo=self.zone)
            # A wall time skipped by a DST jump does not exist: move on rather than fire at a shifted time.
            if aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != local:
                local += timedelta(minutes=1)
                continue
            return aware.astimezone(UTC)
        return None

    def most_recent(self, *, earliest: datetime, now: datetime, cap: int = 100) -> tuple[datetime | None, int]:
        """The latest scheduled time in (earliest, now] and how many there were (counting stops past `cap`)."""
        found: datetime | None = None
        count = 0
        t = self.next(earliest)
        while t is not None and t <= now:
            found = t
            count += 1
            if count > cap:
                # Too many missed: jump to the last one before now without counting each.
                back = self.next(now - timedelta(minutes=1, seconds=now.second, microseconds=now.microsecond)
                                 - timedelta(days=1))
                while back is not None and back <= now:
                    found = back
                    back = self.next(back)
                break
            t = self.next(t)
        return found, count
