"""IntOrString values such as `maxSurge: 25%` or `maxUnavailable: 1`, resolved against a total.

Percentages round up or down as the caller asks: Kubernetes rounds a surge up and an unavailability budget
down, so that a rollout can always make progress yet never exceeds what was allowed.
"""

from __future__ import annotations

import math


def scaled_value(value: int | str | None, *, total: int, round_up: bool, default: int | str = 0) -> int:
    """An int as is; `"N%"` as N percent of `total`; `None` as `default`. Raises `ValueError` otherwise."""
    if value is None:
        value = default
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%"):
        # An integer spelled as a string is what the Go type would hold as a string: not a percentage.
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}")
    try:
        percent = int(text[:-1])
    except ValueError:
        raise ValueError(f"invalid value {value!r}: not a valid percentage") from None
    scaled = percent * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)
