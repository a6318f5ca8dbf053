"""Label selectors: the `labelSelector=` string form and the API `LabelSelector` object.

A selector is an AND of requirements, each naming one label key and an operator:

* equality ``a=b``, ``a==b``, ``a!=b``; set-based ``a in (x,y)``, ``a notin (x)``;
* existence ``a`` and ``!a``; numeric ``a>3`` and ``a<3`` (used by node affinity).

`LabelSelector.parse` is a small hand-written tokenizer + recursive-descent parser following the grammar
Kubernetes documents for `labels.Parse`, with the same error wording (`found ',', expected: ...`,
`unable to parse requirement: ...`) so that kubectl users see familiar messages. `selector_from_api` builds
the same object from ``{"matchLabels": ..., "matchExpressions": ...}`` and `selector_from_set` from a plain
label map (Service and ReplicationController selectors). Requirements are kept sorted by key
so `str()` is canonical and two equal selectors compare equal.

Errors are `BadRequestError` (the API server answers a bad `labelSelector=` with 400).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kybernetes.machinery.errors import BadRequestError


class Operator(StrEnum):
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_SET_OPS = (Operator.IN, Operator.NOT_IN)
_EXACT_OPS = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS)
_NUMERIC_OPS = (Operator.GREATER_THAN, Operator.LESS_THAN)

# --- validation of keys and values (qualified names / label values), with Kubernetes' messages -----------

_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(f"^{_NAME_FMT}$")
_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    f"character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{_NAME_FMT}')"
)
_DNS1123_SUBDOMAIN_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    f"start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    f"'{_DNS1123_SUBDOMAIN_FMT}')"
)
_VALUE_FMT = f"({_NAME_FMT})?"
_VALUE_RE = re.compile(f"^{_VALUE_FMT}$")
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    f"start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    f"for validation is '{_VALUE_FMT}')"
)


_VALUES = "values: Invalid value: []: "


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def qualified_name_errors(name: str) -> list[str]:
    """Why `name` is not a valid label key (`[prefix/]name`); empty when it is valid."""
    parts = name.split("/")
    if len(parts) == 1:
        prefix, short = "", parts[0]
    elif len(parts) == 2:
        prefix, short = parts
        if not prefix:
            return ["prefix part must be non-empty"]
    else:
        return ["a qualified name " + _NAME_MSG + " with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    errors: list[str] = []
    if prefix:
        if len(prefix) > 253:
            errors.append("prefix part must be no more than 253 bytes")
        if not _DNS1123_SUBDOMAIN_RE.match(prefix):
            errors.append("prefix part " + _DNS1123_SUBDOMAIN_MSG)
    if not short:
        errors.append("name part must be non-empty")
    elif len(short) > 63:
        errors.append("name part must be no more than 63 bytes")
    if short and not _NAME_RE.match(short):
        errors.append("name part " + _NAME_MSG)
    return errors


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value; empty when it is valid."""
    errors: list[str] = []
    if len(value) > 63:
        errors.append("must be no more than 63 bytes")
    if not _VALUE_RE.match(value):
        errors.append(_VALUE_MSG)
    return errors


def _invalid(path: str, value: str, messages: list[str]) -> str:
    return "; ".join(f"{path}: Invalid value: {_quote(value)}: {m}" for m in messages)


# --- requirements and selectors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a selector. `values` is sorted and de-duplicated."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    @classmethod
    def build(cls, *, key: str, operator: Operator, values: Iterable[str] = ()) -> Requirement:
        """Validate and build a requirement; raises `ValueError` with Kubernetes' message."""
        vals = tuple(sorted(set(values)))
        problems: list[str] = []
        key_errors = qualified_name_errors(key)
        if key_errors:
            problems.append(_invalid("key", key, key_errors))
        if operator in _SET_OPS and not vals:
            problems.append(_VALUES + "for 'in', 'notin' operators, values set can't be empty")
        elif operator in _EXACT_OPS and len(vals) != 1:
            problems.append(_VALUES + "exact-match compatibility requires one single value")
        elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and vals:
            problems.append(_VALUES + "values set must be empty for exists and does not exist")
        elif operator in _NUMERIC_OPS:
            if len(vals) != 1:
                problems.append(_VALUES + "for 'Gt', 'Lt' operators, exactly one value is required")
            elif not re.fullmatch(r"[+-]?[0-9]+", vals[0]):
                problems.append(f"values[0]: Invalid value: {_quote(vals[0])}: for 'Gt', 'Lt' operators, "
                                "the value must be an integer")
        if operator not in _NUMERIC_OPS:
            for i, v in enumerate(vals):
                errs = label_value_errors(v)
                if errs:
                    problems.append(_invalid(f"values[{i}][{key}]", v, errs))
        if problems:
            raise ValueError("; ".join(problems))
        return cls(key, operator, vals)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        # Gt / Lt: both sides must be integers, otherwise the label does not match.
        if self.key not in labels:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        if op in _SET_OPS:
            return f"{self.key} {op.value} ({','.join(self.values)})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """An AND of requirements sorted by key; `matches_nothing` marks the selector of a null API selector."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @classmethod
    def of(cls, requirements: Iterable[Requirement]) -> LabelSelector:
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @classmethod
    def everything(cls) -> LabelSelector:
        return _EVERYTHING

    @classmethod
    def nothing(cls) -> LabelSelector:
        return _NOTHING

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse the `labelSelector=` string form; raises `BadRequestError`."""
        return cls.of(_Parser(text).parse())

    @property
    def empty(self) -> bool:
        """True when the selector has no requirements and so matches every object."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def exact_matches(self) -> dict[str, str]:
        """Labels every matching object must carry with exactly this value (`a=b`, `a==b`, `a in (b)`).

        The API server uses these to pick an index instead of scanning.
        """
        found: dict[str, str] = {}
        for r in self.requirements:
            if r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN) and len(r.values) == 1:
                found[r.key] = r.values[0]
        return found

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_EVERYTHING = LabelSelector()
_NOTHING = LabelSelector(matches_nothing=True)


def parse_selector(text: str) -> LabelSelector:
    """Parse the `labelSelector=` string form; raises `BadRequestError`."""
    return LabelSelector.parse(text)


def selector_from_api(obj: Mapping[str, Any] | None) -> LabelSelector:
    """Build a selector from an API `LabelSelector` object.

    As in Kubernetes, `None` selects nothing and `{}` selects everything. Raises `BadRequestError`.
    """
    if obj is None:
        return _NOTHING
    match_labels = obj.get("matchLabels") or {}
    expressions = obj.get("matchExpressions") or []
    requirements: list[Requirement] = []
    try:
        for key, value in match_labels.items():
            requirements.append(Requirement.build(key=key, operator=Operator.EQUALS, values=[value]))
        for expr in expressions:
            operator = _API_OPERATORS.get(expr.get("operator", ""))
            if operator is None:
                name = _quote(str(expr.get("operator", "")))
                raise ValueError(f"{name} is not a valid label selector operator")
            requirements.append(
                Requirement.build(key=expr.get("key", ""), operator=operator, values=expr.get("values") or [])
            )
    except ValueError as err:
        raise BadRequestError(str(err)) from None
    return LabelSelector.of(requirements)


def selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """The selector of a plain label map (a Service's or ReplicationController's `spec.selector`).

    Every pair must match exactly; an empty or missing map gives the empty selector (matches everything),
    as `labels.SelectorFromSet` does, so callers that treat "no selector" specially must check first.
    Raises `BadRequestError` for invalid keys or values.
    """
    try:
        return LabelSelector.of(
            Requirement.build(key=k, operator=Operator.EQUALS, values=[v]) for k, v in (labels or {}).items()
        )
    except ValueError as err:
        raise BadRequestError(str(err)) from None


def selector_to_api(selector: LabelSelector) -> dict[str, Any]:
    """The API form of a selector (the reverse of `selector_from_api`).

    `a!=b` becomes `NotIn [b]`, which selects the same objects; `>` / `<` have no API form (`ValueError`).
    """
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for r in selector.requirements:
        if r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS):
            match_labels[r.key] = r.values[0]
            continue
        operator = Operator.NOT_IN if r.operator is Operator.NOT_EQUALS else r.operator
        if operator not in _API_NAMES:
            raise ValueError(f"operator {r.operator.value!r} has no LabelSelector API form")
        expr: dict[str, Any] = {"key": r.key, "operator": _API_NAMES[operator]}
        if r.values:
            expr["values"] = list(r.values)
        expressions.append(expr)
    out: dict[str, Any] = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if expressions:
        out["matchExpressions"] = expressions
    return out


_API_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}
_API_NAMES = {op: name for name, op in _API_OPERATORS.items()}


# --- the string parser --------------------------------------------------------------------------------------

# Token kinds. Identifiers are anything up to whitespace or one of the special characters below.
_IDENT, _END, _COMMA, _OPEN, _CLOSE, _BANG, _OP, _IN, _NOTIN = (
    "identifier", "end of string", ",", "(", ")", "!", "operator", "in", "notin",
)
_SPECIAL = "!=,()<>"
_SYMBOLS = {"!=": Operator.NOT_EQUALS, "==": Operator.DOUBLE_EQUALS, "=": Operator.EQUALS,
            ">": Operator.GREATER_THAN, "<": Operator.LESS_THAN}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "!=<>":
            two = text[i:i + 2]
            if two in ("!=", "=="):
                tokens.append(_Token(_OP, two))
                i += 2
            elif ch == "!":
                tokens.append(_Token(_BANG, "!"))
                i += 1
            else:
                tokens.append(_Token(_OP, ch))
                i += 1
        elif ch in ",()":
            tokens.append(_Token({",": _COMMA, "(": _OPEN, ")": _CLOSE}[ch], ch))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            word = text[start:i]
            kind = {"in": _IN, "notin": _NOTIN}.get(word, _IDENT)
            tokens.append(_Token(kind, word))
    tokens.append(_Token(_END, ""))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._pos = 0

    def _peek(self, *, values: bool = False) -> _Token:
        return self._as_value(self._tokens[self._pos]) if values else self._tokens[self._pos]

    def _next(self, *, values: bool = False) -> _Token:
        tok = self._peek(values=values)
        if tok.kind != _END:
            self._pos += 1
        return tok

    @staticmethod
    def _as_value(tok: _Token) -> _Token:
        # In value position the keywords `in` / `notin` are ordinary identifiers (`a=in` is valid).
        return _Token(_IDENT, tok.text) if tok.kind in (_IN, _NOTIN) else tok

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok = self._peek(values=True)
            if tok.kind == _END:
                return requirements
            if tok.kind not in (_IDENT, _BANG):
                raise BadRequestError(f"found '{tok.text}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except ValueError as err:
                raise BadRequestError(f"unable to parse requirement: {err}") from None
            after = self._next(values=True)
            if after.kind == _END:
                return requirements
            if after.kind != _COMMA:
                raise BadRequestError(f"found '{after.text}', expected: ',' or 'end of string'")
            following = self._peek(values=True)
            if following.kind not in (_IDENT, _BANG):
                raise BadRequestError(f"found '{following.text}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        tok = self._next(values=True)
        negated = tok.kind == _BANG
        if negated:
            tok = self._next(values=True)
        if tok.kind != _IDENT:
            raise ValueError(f"found '{tok.text}', expected: identifier" + (" after '!'" if negated else ""))
        key = tok.text
        if negated:
            return Requirement.build(key=key, operator=Operator.DOES_NOT_EXIST)
        if self._peek(values=True).kind in (_END, _COMMA):
            return Requirement.build(key=key, operator=Operator.EXISTS)
        op_tok = self._next()
        if op_tok.kind == _IN:
            return Requirement.build(key=key, operator=Operator.IN, values=self._value_set())
        if op_tok.kind == _NOTIN:
            return Requirement.build(key=key, operator=Operator.NOT_IN, values=self._value_set())
        if op_tok.kind != _OP:
            raise ValueError(f"found '{op_tok.text}', expected: in, notin, =, ==, !=, gt, lt")
        operator = _SYMBOLS[op_tok.text]
        return Requirement.build(key=key, operator=operator, values=[self._exact_value()])

    def _exact_value(self) -> str:
        tok = self._peek(values=True)
        if tok.kind in (_END, _COMMA):
            return ""  # `a=` selects the empty value
        self._next(values=True)
        if tok.kind != _IDENT:
            raise ValueError(f"found '{tok.text}', expected: identifier")
        return tok.text

    def _value_set(self) -> set[str]:
        tok = self._next(values=True)
        if tok.kind != _OPEN:
            raise ValueError(f"found '{tok.text}' expected: '('")
        tok = self._peek(values=True)
        if tok.kind == _CLOSE:
            self._next()
            return {""}  # `a in ()` means the empty value, as in Kubernetes
        if tok.kind not in (_IDENT, _COMMA):
            raise ValueError(f"found '{tok.text}', expected: ',', ')' or identifier")
        values = self._identifier_list()
        closing = self._next(values=True)
        if closing.kind != _CLOSE:
            raise ValueError(f"found '{closing.text}', expected: ')'")
        return values

    def _identifier_list(self) -> set[str]:
        # Empty slots between commas (`(a,,b)`, `(,a)`, `(a,)`) stand for the empty value.
        values: set[str] = set()
        expect_value = True
        while True:
            tok = self._peek(values=True)
            if tok.kind == _IDENT and expect_value:
                self._next(values=True)
                values.add(tok.text)
                expect_value = False
                if self._peek(values=True).kind not in (_COMMA, _CLOSE):
                    raise ValueError(f"found '{self._peek(values=True).text}', expected: ',' or ')'")
            elif tok.kind == _COMMA:
                self._next(values=True)
                if expect_value:
                    values.add("")
                expect_value = True
            elif tok.kind == _CLOSE:
                if expect_value:
                    values.add("")
                return values
            else:
                raise ValueError(f"found '{tok.text}', expected: ',', or identifier")
