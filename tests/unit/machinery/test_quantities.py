"""Resource quantities: parsing, canonical form, rounding, arithmetic and errors."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kybernetes.machinery.quantity import (
    FORMAT_ERROR,
    SUFFIX_ERROR,
    Format,
    Quantity,
    canonical,
    compare,
    is_valid,
    parse_quantity,
    to_int,
    to_milli,
)

# Spelling -> canonical string, as printed by Kubernetes' own Quantity (`kubectl set resources --local`).
KUBERNETES_CANONICAL = [
    ("100m", "100m"), ("1", "1"), ("1.5", "1500m"), ("0.5", "500m"), ("1000m", "1"), ("1200m", "1200m"),
    ("1000000000m", "1M"), ("2k", "2k"), ("2000", "2k"), ("1500", "1500"), ("1M", "1M"), ("0.1", "100m"),
    (".5", "500m"), ("5.", "5."), ("+1", "+1"), ("-100m", "-100m"), ("1u", "1u"), ("1000n", "1u"),
    ("0", "0"), ("0.0", "0"), ("-0", "0"), ("0Mi", "0"), ("0.0000000001", "1n"),
    ("1.0000000001", "1000000001n"), ("-0.0000000001", "-1n"), ("128Mi", "128Mi"), ("1Gi", "1Gi"),
    ("1024Mi", "1Gi"), ("1536Mi", "1536Mi"), ("1.5Gi", "1536Mi"), ("500Ki", "500Ki"), ("1024Ki", "1Mi"),
    ("1Ki", "1Ki"), ("1.5Ki", "1536"), ("0.5Ki", "512"), ("1.1Ki", "1126400m"), ("-1Gi", "-1Gi"),
    ("1Ei", "1Ei"), ("1e3", "1e3"), ("1E3", "1E3"), ("12e2", "1200"), ("1.5e3", "1500"), ("1e-3", "1e-3"),
    ("1e+6", "1e+6"), ("100e-3", "100e-3"), ("1E", "1E"), ("8Ei", "9223372036854775807"),
    ("99999999999999999999", "99999999999999999999"), ("1.5e-9", "2e-9"), ("2.5m", "2500u"),
    ("0.3Ki", "307200m"), ("1023", "1023"), ("1025Ki", "1025Ki"), ("3e-10", "1e-9"), ("1e18", "1e18"),
    ("1e19", "10e18"), ("123456789012", "123456789012"), ("12.5k", "12500"), ("1.25M", "1250k"),
    ("10Ti", "10Ti"), ("0.001Ki", "1024m"), ("100000000m", "100k"), ("-1.5Ki", "-1536"),
    ("-1024", "-1024"), ("-2048Ki", "-2Mi"), ("0.000000001Ki", "1024n"), ("1e-9", "1e-9"),
    ("1e-10", "1e-9"), ("5e-1", "500e-3"), ("1.000", "1"), ("007", "007"), ("1P", "1P"), ("1T", "1T"),
    ("999999999n", "999999999n"), ("1000000u", "1"), ("1e0", "1e0"), ("2E-3", "2E-3"), ("0e3", "0"),
    ("1Pi", "1Pi"), ("0.5Mi", "512Ki"), ("1.5e-3", "1500e-6"), ("-1e3", "-1e3"), ("1e21", "1e21"),
    ("12345678901234567890123", "12345678901234567890123"), ("1.5e-12", "1e-9"),
    ("8191Ei", "9223372036854775807"), ("7Ei", "7Ei"), ("+1Ki", "+1Ki"), ("007Ki", "007Ki"),
    ("-007", "-007"), ("0.5e3", "500"), ("+0.5", "500m"), ("1.500", "1.500"), ("1.5000", "1500m"),
    ("00.5", "500m"), ("1000000000000000000", "1E"), ("999999999999999999", "999999999999999999"),
    ("9999999999999999999", "9999999999999999999"), ("123456789012345678", "123456789012345678"),
    ("1234567890123456789m", "1234567890123456789m"), ("8Mi", "8Mi"), ("9Mi", "9Mi"), ("-9Mi", "-9Mi"),
    ("1.0Ki", "1Ki"), ("3e2", "300"), ("-5.", "-5."), ("1e-12", "1e-9"), ("1000000000000k", "1P"),
    ("1e+03", "1e+03"), ("4096Pi", "4Ei"),
]


@pytest.mark.parametrize(("text", "expected"), KUBERNETES_CANONICAL)
def test_canonical(text: str, expected: str) -> None:
    assert canonical(text) == expected
    # Canonical forms are fixed points.
    assert canonical(expected) == expected


@pytest.mark.parametrize(
    ("text", "expected", "kept"),
    [("+1", "1", True), ("5.", "5", True), ("1E3", "1e3", True), ("007", "7", True), ("1200m", "1200m", True),
     ("500Ki", "500Ki", True), ("1.5", "1500m", False), ("2000", "2k", False), ("1024Mi", "1Gi", False)],
)
def test_canonical_looking_text_is_kept_verbatim(text: str, expected: str, kept: bool) -> None:
    q = Quantity.parse(text)
    assert (q.verbatim == text) is kept
    # Arithmetic drops the kept text and prints the true canonical form.
    assert str(q + Quantity.parse("0")) == expected


def test_exponents_beyond_exa_stay_lossless() -> None:
    # Kubernetes prints 1000E as "1" (no suffix exists for 10^21 and it silently drops it); we keep the value.
    assert canonical("1000E") == "1e21"
    assert Quantity.parse(canonical("1000E")) == Quantity.parse("1000E")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, "1"), (0, "0"), (-3, "-3"), (2000, "2k"), (0.5, "500m"), (0.25, "250m"), (1.5, "1500m"),
     (1e20, "100e18")],
)
def test_json_numbers(value: int | float, expected: str) -> None:
    assert canonical(value) == expected


@pytest.mark.parametrize(
    ("text", "milli", "whole"),
    [
        ("100m", 100, 1),
        ("1", 1000, 1),
        ("1.5", 1500, 2),
        ("250m", 250, 1),
        ("1n", 1, 1),
        ("0", 0, 0),
        ("-100m", -100, -1),
        ("-1n", -1, -1),
        ("128Mi", 128 * 2**20 * 1000, 128 * 2**20),
        ("1.1Ki", 1126400, 1127),
        ("1e3", 1000000, 1000),
    ],
)
def test_to_milli_and_to_int_round_away_from_zero(text: str, milli: int, whole: int) -> None:
    assert to_milli(text) == milli
    assert to_int(text) == whole


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", FORMAT_ERROR),
        ("abc", FORMAT_ERROR),
        ("1.2.3", FORMAT_ERROR),
        (".", FORMAT_ERROR),
        ("+", FORMAT_ERROR),
        ("--1", FORMAT_ERROR),
        ("1 k", FORMAT_ERROR),
        ("1Qi", FORMAT_ERROR),
        ("e3", FORMAT_ERROR),
        ("1kk", SUFFIX_ERROR),
        ("1e", SUFFIX_ERROR),
        ("1k3", SUFFIX_ERROR),
        ("1mi", SUFFIX_ERROR),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_quantity(text)
    assert str(info.value) == message
    assert not is_valid(text)


def test_format_error_text_is_kubernetes() -> None:
    assert FORMAT_ERROR == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_non_quantity_types_are_rejected() -> None:
    for bad in (True, None, [1], float("nan"), float("inf")):
        with pytest.raises(ValueError):
            Quantity.parse(bad)  # type: ignore[arg-type]


def test_formats() -> None:
    assert Quantity.parse("1Ki").format is Format.BINARY_SI
    assert Quantity.parse("1k").format is Format.DECIMAL_SI
    assert Quantity.parse("1").format is Format.DECIMAL_SI
    assert Quantity.parse("1e3").format is Format.DECIMAL_EXPONENT
    assert Quantity.parse("1.5Gi").value == Fraction(3, 2) * 2**30


def test_comparison_ignores_format() -> None:
    assert Quantity.parse("1Ki") == Quantity.parse("1024")
    assert Quantity.parse("1") == Quantity.parse("1000m")
    assert Quantity.parse("100m") < Quantity.parse("1")
    assert Quantity.parse("1Gi") > Quantity.parse("1G")
    assert compare("1Gi", "1G") == 1
    assert compare("500m", "0.5") == 0
    assert compare("-1", "0") == -1
    assert hash(Quantity.parse("1Ki")) == hash(Quantity.parse("1024"))
    assert sorted(["1Gi", "100Mi", "1", "2k"], key=Quantity.parse) == ["1", "2k", "100Mi", "1Gi"]


def test_arithmetic_is_exact() -> None:
    total = Quantity.parse("0")
    for _ in range(10):
        total = total + Quantity.parse("100m")
    assert total == Quantity.parse("1")
    assert str(total) == "1"
    assert str(Quantity.parse("1Gi") - Quantity.parse("512Mi")) == "512Mi"
    # The left operand's format wins; a zero left operand takes the right one's.
    assert str(Quantity.parse("1k") + Quantity.parse("1Ki")) == "2024"
    assert str(Quantity.parse("0") + Quantity.parse("1Ki")) == "1Ki"
    assert str(-Quantity.parse("1Gi")) == "-1Gi"
    assert str(Quantity.parse("1Gi") * 3) == "3Gi"


def test_constructors() -> None:
    assert str(Quantity.from_milli(1500)) == "1500m"
    assert str(Quantity.from_milli(2000)) == "2"
    assert str(Quantity.from_int(2**30, fmt=Format.BINARY_SI)) == "1Gi"
    assert Quantity.parse(Quantity.parse("1")) == Quantity.parse("1")
    assert repr(Quantity.parse("1024Mi")) == "Quantity('1Gi')"
