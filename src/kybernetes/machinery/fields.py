"""Field selectors: the `fieldSelector=` string form (`a=b`, `a==b`, `a!=b`, joined by commas = AND).

The syntax follows Kubernetes' `fields.ParseSelector`: terms are split on unescaped commas, each term is split
at its first operator, and values may escape `\\`, `,` and `=` with a backslash. No whitespace is trimmed
(Kubernetes does not either). Terms are kept sorted, so `str()` is canonical.

Which field names a resource supports is the API server's business: it passes the set to `validate_fields`,
which answers like Kubernetes does (`field label not supported: <name>`, 400). A missing field reads as the
empty string when matching, so `spec.nodeName=` selects unscheduled pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from kybernetes.machinery.errors import BadRequestError


class FieldOperator(StrEnum):
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="


# Checked in this order at each position: `!=` and `==` before `=`.
_OPERATORS = (FieldOperator.NOT_EQUALS, FieldOperator.DOUBLE_EQUALS, FieldOperator.EQUALS)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    operator: FieldOperator
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        have = fields.get(self.field, "")
        return have != self.value if self.operator is FieldOperator.NOT_EQUALS else have == self.value

    def __str__(self) -> str:
        op = "!=" if self.operator is FieldOperator.NOT_EQUALS else "="
        return f"{self.field}{op}{escape_value(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """An AND of field requirements; the empty selector matches everything."""

    terms: tuple[FieldRequirement, ...] = ()

    @classmethod
    def of(cls, terms: Iterable[FieldRequirement]) -> FieldSelector:
        return cls(tuple(sorted(terms, key=lambda t: (t.field, t.operator.value, t.value))))

    @classmethod
    def everything(cls) -> FieldSelector:
        return cls()

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        """Parse the `fieldSelector=` string form; raises `BadRequestError`."""
        terms: list[FieldRequirement] = []
        for part in _split_terms(text):
            if not part:
                continue
            term = _split_term(part)
            if term is None:
                raise BadRequestError(f"invalid selector: '{text}'; can't understand '{part}'")
            field, operator, raw = term
            # `==` and `=` are the same test; keep one spelling so equal selectors compare equal.
            if operator is FieldOperator.DOUBLE_EQUALS:
                operator = FieldOperator.EQUALS
            terms.append(FieldRequirement(field, operator, unescape_value(raw)))
        return cls.of(terms)

    @classmethod
    def one_term(cls, *, field: str, value: str) -> FieldSelector:
        """The selector `field=value` (what clients build for e.g. `spec.nodeName=<node>`)."""
        return cls((FieldRequirement(field, FieldOperator.EQUALS, value),))

    @property
    def empty(self) -> bool:
        return not self.terms

    def requirements(self) -> tuple[FieldRequirement, ...]:
        return self.terms

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(t.matches(fields) for t in self.terms)

    def exact_matches(self) -> dict[str, str]:
        """Fields every matching object has with exactly this value; lets the API server use an index."""
        return {t.field: t.value for t in self.terms if t.operator is not FieldOperator.NOT_EQUALS}

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)


def parse_field_selector(text: str) -> FieldSelector:
    return FieldSelector.parse(text)


def validate_fields(selector: FieldSelector, supported: set[str] | frozenset[str], kind: str = "") -> None:
    """Reject a selector naming a field the resource cannot be selected by (400, Kubernetes' wording)."""
    for term in selector.terms:
        if term.field not in supported:
            raise BadRequestError(f"field label not supported: {term.field}", kind=kind)


def escape_value(value: str) -> str:
    """Escape a value for the string form: `\\` -> `\\\\`, `,` -> `\\,`, `=` -> `\\=`."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(raw: str) -> str:
    """Undo `escape_value`; raises `BadRequestError` for a bad escape or an unescaped `,` / `=`."""
    if "\\" not in raw and "=" not in raw and "," not in raw:
        return raw
    out: list[str] = []
    escaped = False
    for ch in raw:
        if escaped:
            if ch not in "\\,=":
                raise BadRequestError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise BadRequestError(f"invalid field selector: unescaped character in value: {ch}")
        else:
            out.append(ch)
    if escaped:
        raise BadRequestError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped by a backslash."""
    if not text:
        return []
    terms: list[str] = []
    start = 0
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, FieldOperator, str] | None:
    """Split at the first operator; the field name itself cannot contain escapes."""
    for i in range(len(term)):
        for op in _OPERATORS:
            if term.startswith(op.value, i):
                return term[:i], op, term[i + len(op.value):]
    return None
