"""Wire timestamps and kubectl-style ages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kybernetes.machinery.timefmt import (
    age,
    format_rfc3339,
    format_rfc3339_micro,
    human_duration,
    now_rfc3339,
    now_rfc3339_micro,
    parse_rfc3339,
    seconds_since,
)

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
YEAR = 365 * DAY


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1.9, "0s"),  # truncation toward zero: -1 counts as clock skew
        (-1, "0s"),
        (-0.5, "0s"),
        (0, "0s"),
        (0.9, "0s"),
        (1, "1s"),
        (59, "59s"),
        (119, "119s"),
        (119.99, "119s"),
        (2 * MINUTE, "2m"),
        (2 * MINUTE + 3, "2m3s"),
        (5 * MINUTE + 3, "5m3s"),
        (9 * MINUTE + 59, "9m59s"),
        (10 * MINUTE, "10m"),
        (10 * MINUTE + 59, "10m"),
        (179 * MINUTE + 59, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + 20 * MINUTE, "3h20m"),
        (7 * HOUR + 59 * MINUTE, "7h59m"),
        (8 * HOUR, "8h"),
        (8 * HOUR + 30 * MINUTE, "8h"),
        (47 * HOUR + 59 * MINUTE, "47h"),
        (48 * HOUR, "2d"),
        (3 * DAY + 4 * HOUR, "3d4h"),
        (7 * DAY + 23 * HOUR, "7d23h"),
        (8 * DAY, "8d"),
        (40 * DAY + 5 * HOUR, "40d"),
        (729 * DAY, "729d"),
        (2 * YEAR, "2y"),
        (2 * YEAR + 30 * DAY, "2y30d"),
        (7 * YEAR + 364 * DAY, "7y364d"),
        (8 * YEAR, "8y"),
        (9 * YEAR + 100 * DAY, "9y"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_format_rfc3339() -> None:
    when = datetime(2024, 5, 1, 12, 0, 7, 123456, tzinfo=UTC)
    assert format_rfc3339(when) == "2024-05-01T12:00:07Z"
    assert format_rfc3339_micro(when) == "2024-05-01T12:00:07.123456Z"
    assert format_rfc3339_micro(when.replace(microsecond=0)) == "2024-05-01T12:00:07.000000Z"
    # Other zones are converted; naive datetimes are taken as UTC.
    plus_two = datetime(2024, 5, 1, 14, 0, 7, tzinfo=timezone(timedelta(hours=2)))
    assert format_rfc3339(plus_two) == "2024-05-01T12:00:07Z"
    assert format_rfc3339(datetime(2024, 5, 1, 12, 0, 7)) == "2024-05-01T12:00:07Z"


def test_now_formats() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", now_rfc3339())
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", now_rfc3339_micro())
    fixed = datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert now_rfc3339(fixed) == "2020-01-02T03:04:05Z"
    assert now_rfc3339_micro(fixed) == "2020-01-02T03:04:05.000006Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:07Z", datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)),
        ("2024-05-01t12:00:07z", datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)),
        ("2024-05-01T12:00:07.5Z", datetime(2024, 5, 1, 12, 0, 7, 500000, tzinfo=UTC)),
        ("2024-05-01T12:00:07.123456789Z", datetime(2024, 5, 1, 12, 0, 7, 123456, tzinfo=UTC)),
        ("2024-05-01T14:00:07+02:00", datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)),
        ("2024-05-01T10:30:07-01:30", datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)),
    ],
)
def test_parse_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["", "2024-05-01", "2024-05-01 12:00:07Z", "2024-05-01T12:00:07", "2024-13-01T12:00:07Z",
             "2024-05-01T12:00:07.Z", "yesterday"]
)
def test_parse_rfc3339_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_round_trip() -> None:
    when = datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_rfc3339(format_rfc3339_micro(when)) == when
    assert parse_rfc3339(format_rfc3339(when)) == when.replace(microsecond=0)


def test_age_on_a_fixed_clock() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert seconds_since("2024-05-01T11:55:00Z", now=now) == 300
    assert age("2024-05-01T11:55:00Z", now=now) == "5m"
    assert age("2024-05-01T11:54:57Z", now=now) == "5m3s"
    assert age("2024-04-28T08:00:00Z", now=now) == "3d4h"
    assert age("2024-05-01T12:00:10Z", now=now) == "<invalid>"
    assert age("", now=now) == "<unknown>"
