"""Kubernetes resource quantities (`100m`, `1.5`, `128Mi`, `1e3`, ...), with exact arithmetic.

A `Quantity` holds its value as a `Fraction` plus the *format* its text was written in, because Kubernetes
prints a quantity back in the family it was given:

* BinarySI (`Ki Mi Gi Ti Pi Ei`, powers of 1024) stays binary when the value is a whole number of at least
  1024 in magnitude: the mantissa is the integer left after dividing out as many 1024s as possible
  (`1024Mi` -> `1Gi`, `1536Mi` stays `1536Mi`). Otherwise it is printed as DecimalSI (`0.5Ki` -> `512`).
* DecimalSI (`n u m "" k M G T P E`) and DecimalExponent (`e3`, `E-6`) use the largest power of ten that
  is a multiple of 3 and leaves an integer mantissa (`1000m` -> `1`, `0.5` -> `500m`, `2000` -> `2k`,
  `1500` -> `1500`); DecimalSI names it with a suffix, DecimalExponent as `eN` (`12e2` -> `1200`).

Two Kubernetes quirks are reproduced because clients read the strings back:

* text that already *looks* canonical is kept verbatim, so `+1`, `5.`, `1E3` or `007` come back as sent.
  The test is Kubernetes' cheap one: for decimal formats, a whole number of milli/kilo/... steps whose
  digits neither start with `0` nor end in `000`; for binary ones, a mantissa not divisible by 8.
* the magnitude is rounded *up* to whole nano units (a non-zero request never becomes zero); binary
  quantities are capped at 2^63-1, decimal ones are not.

`to_milli` / `to_int` round away from zero. Checked against kubectl's own Quantity (`kubectl set resources
--local`) on ~80 spellings.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
SUFFIX_ERROR = "unable to parse quantity's suffix"


class Format(StrEnum):
    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_NAMES = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_NAMES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_NANO = 10**9
_INT64_MAX = 2**63 - 1


@functools.total_ordering
@dataclass(frozen=True, slots=True, eq=False)
class Quantity:
    """An exact quantity. Equality and ordering compare values only (`1Ki == 1024`)."""

    value: Fraction
    format: Format = Format.DECIMAL_SI
    # The text as written, when Kubernetes would print it back unchanged (see the module docstring).
    verbatim: str | None = None

    @classmethod
    def parse(cls, text: str | int | float | Quantity) -> Quantity:
        """Parse the wire form (a string, or a JSON number); raises `ValueError` with Kubernetes' text."""
        if isinstance(text, Quantity):
            return text
        if isinstance(text, bool):
            raise ValueError(FORMAT_ERROR)
        if isinstance(text, int):
            return cls.parse(str(text))
        if isinstance(text, float):
            if not math.isfinite(text):
                raise ValueError(FORMAT_ERROR)
            # repr() is the shortest text that round-trips, i.e. what the JSON document said.
            return cls.parse(repr(text).replace("+", ""))
        if not isinstance(text, str):
            raise ValueError(FORMAT_ERROR)
        return _parse_text(text.strip())

    @classmethod
    def from_milli(cls, milli: int) -> Quantity:
        return cls(Fraction(milli, 1000), Format.DECIMAL_SI)

    @classmethod
    def from_int(cls, value: int, *, fmt: Format = Format.DECIMAL_SI) -> Quantity:
        return cls(Fraction(value), fmt)

    def canonical(self) -> str:
        return self.verbatim if self.verbatim is not None else _canonical(self.value, self.format)

    def to_milli(self) -> int:
        """The value in thousandths, rounded away from zero (`MilliValue`)."""
        return _round_away(self.value * 1000)

    def to_int(self) -> int:
        """The value rounded away from zero to a whole number (`Value`), e.g. bytes."""
        return _round_away(self.value)

    def is_zero(self) -> bool:
        return self.value == 0

    def __str__(self) -> str:
        return self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({self.canonical()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value == other.value

    def __lt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value < other.value

    def __hash__(self) -> int:
        return hash(self.value)

    # Arithmetic keeps the left operand's format, unless it is zero (then the right one's), as Kubernetes.
    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, self._sum_format(other))

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.value - other.value, self._sum_format(other))

    def __neg__(self) -> Quantity:
        return Quantity(-self.value, self.format)

    def __mul__(self, factor: int) -> Quantity:
        return Quantity(self.value * factor, self.format)

    def _sum_format(self, other: Quantity) -> Format:
        return other.format if self.value == 0 else self.format


def parse_quantity(text: str | int | float | Quantity) -> Quantity:
    return Quantity.parse(text)


def canonical(text: str | int | float | Quantity) -> str:
    """Kubernetes' canonical string for a quantity, e.g. `canonical("1000m") == "1"`."""
    return Quantity.parse(text).canonical()


def to_milli(text: str | int | float | Quantity) -> int:
    return Quantity.parse(text).to_milli()


def to_int(text: str | int | float | Quantity) -> int:
    return Quantity.parse(text).to_int()


def compare(a: str | int | float | Quantity, b: str | int | float | Quantity) -> int:
    """-1, 0 or 1 as `a` is less than, equal to or greater than `b`."""
    x, y = Quantity.parse(a).value, Quantity.parse(b).value
    return (x > y) - (x < y)


def is_valid(text: str | int | float) -> bool:
    try:
        Quantity.parse(text)
    except ValueError:
        return False
    return True


# --- parsing ----------------------------------------------------------------------------------------------


def _parse_text(text: str) -> Quantity:
    n = len(text)
    if n == 0:
        raise ValueError(FORMAT_ERROR)
    pos = 0
    negative = False
    if text[0] in "+-":
        negative = text[0] == "-"
        pos = 1
    start = pos
    while pos < n and text[pos] in _DIGITS:
        pos += 1
    whole = text[start:pos]
    frac = ""
    if pos < n and text[pos] == ".":
        pos += 1
        frac_start = pos
        while pos < n and text[pos] in _DIGITS:
            pos += 1
        frac = text[frac_start:pos]
    if not whole and not frac:
        raise ValueError(FORMAT_ERROR)
    # The suffix: letters from the suffix alphabet, then an optional signed integer (the `e-3` of `1e-3`).
    suffix_start = pos
    while pos < n and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < n and text[pos] in "+-":
        pos += 1
    while pos < n and text[pos] in _DIGITS:
        pos += 1
    if pos != n:
        raise ValueError(FORMAT_ERROR)
    suffix = text[suffix_start:]

    if suffix in _DECIMAL_SUFFIXES:
        fmt, base, exponent = Format.DECIMAL_SI, 10, _DECIMAL_SUFFIXES[suffix]
    elif suffix in _BINARY_SUFFIXES:
        fmt, base, exponent = Format.BINARY_SI, 2, _BINARY_SUFFIXES[suffix]
    elif len(suffix) > 1 and suffix[0] in "eE" and _is_int(suffix[1:]):
        fmt, base, exponent = Format.DECIMAL_EXPONENT, 10, int(suffix[1:])
        if abs(exponent) > 1000:  # absurd; refuse rather than build enormous numbers
            raise ValueError(SUFFIX_ERROR)
    else:
        raise ValueError(SUFFIX_ERROR)

    digits = (whole.lstrip("0") or "0") + frac
    value = Fraction(int(digits), 10 ** len(frac)) * Fraction(base) ** exponent
    if negative:
        value = -value
    verbatim = text if _looks_canonical(digits, frac, fmt, exponent) else None
    return Quantity(_round_and_cap(value, fmt), fmt, verbatim)


def _looks_canonical(digits: str, frac: str, fmt: Format, exponent: int) -> bool:
    """Kubernetes' shortcut for keeping the input text: only for values it holds as a scaled int64."""
    mantissa = int(digits)
    if fmt is Format.BINARY_SI:
        # Only whole binary numbers small enough for its fast path (15 digits of precision, roughly).
        if frac or 15 - (len(digits) - len(frac)) - exponent * 3 // 10 - 1 < 0:
            return False
        return mantissa << exponent <= _INT64_MAX and mantissa % 8 != 0
    if 18 - len(digits) < 0:
        return False
    scale = exponent - len(frac)
    return (
        scale >= -9
        and mantissa <= _INT64_MAX
        and scale % 3 == 0
        and not digits.endswith("000")
        and not digits.startswith("0")
    )


def _is_int(text: str) -> bool:
    body = text[1:] if text[:1] in ("+", "-") else text
    return bool(body) and all(c in _DIGITS for c in body)


def _round_and_cap(value: Fraction, fmt: Format) -> Fraction:
    """Round the magnitude up to whole nano units; cap binary quantities at 2^63-1."""
    if value == 0:
        return value
    magnitude = abs(value)
    magnitude = Fraction(math.ceil(magnitude * _NANO), _NANO)
    if fmt is Format.BINARY_SI:
        magnitude = min(magnitude, Fraction(_INT64_MAX))
    return -magnitude if value < 0 else magnitude


def _round_away(value: Fraction) -> int:
    return math.ceil(value) if value >= 0 else math.floor(value)


# --- printing ---------------------------------------------------------------------------------------------


def _canonical(value: Fraction, fmt: Format) -> str:
    if value == 0:
        return "0"
    if fmt is Format.BINARY_SI and abs(value) >= 1024 and value.denominator == 1:
        mantissa, steps = value.numerator, 0
        while mantissa % 1024 == 0 and steps < len(_BINARY_NAMES) - 1:
            mantissa //= 1024
            steps += 1
        return f"{mantissa}{_BINARY_NAMES[steps]}"
    mantissa, exponent = _decimal_parts(value)
    if fmt is Format.DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    if exponent in _DECIMAL_NAMES:
        return f"{mantissa}{_DECIMAL_NAMES[exponent]}"
    # Beyond `E` there is no suffix. Kubernetes then prints the bare mantissa (1000E comes back as "1");
    # we print the exponent instead, so the value survives the round trip.
    return f"{mantissa}e{exponent}"


def _decimal_parts(value: Fraction) -> tuple[int, int]:
    """(m, e) with value == m * 10**e, e a multiple of 3, as large as possible with m an integer."""
    scaled = value * _NANO
    if scaled.denominator != 1:
        # Only values built by arithmetic (never parsed ones) can be finer than nano: round away from zero.
        scaled = Fraction(math.ceil(scaled)) if scaled > 0 else Fraction(math.floor(scaled))
    mantissa, exponent = scaled.numerator, -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    return mantissa * 10**shift, exponent - shift
