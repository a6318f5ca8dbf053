"""Field selectors: parsing, escaping, matching, validation against the supported set."""

from __future__ import annotations

import pytest

from kybernetes.machinery.errors import BadRequestError
from kybernetes.machinery.fields import (
    FieldOperator,
    FieldRequirement,
    FieldSelector,
    escape_value,
    parse_field_selector,
    unescape_value,
    validate_fields,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("metadata.name=foo", "metadata.name=foo"),
        ("metadata.name==foo", "metadata.name=foo"),
        ("status.phase!=Running", "status.phase!=Running"),
        ("spec.nodeName=n1,metadata.namespace=default", "metadata.namespace=default,spec.nodeName=n1"),
        ("spec.nodeName=", "spec.nodeName="),
        (r"metadata.name=a\,b\=c\\d", r"metadata.name=a\,b\=c\\d"),
        ("a=b,,c=d", "a=b,c=d"),
    ],
)
def test_parse_and_canonical(text: str, canonical: str) -> None:
    selector = parse_field_selector(text)
    assert str(selector) == canonical
    assert parse_field_selector(canonical) == selector


def test_requirements() -> None:
    selector = FieldSelector.parse(r"status.phase!=Failed,spec.nodeName==n1,metadata.name=a\,b")
    assert selector.requirements() == (
        FieldRequirement("metadata.name", FieldOperator.EQUALS, "a,b"),
        FieldRequirement("spec.nodeName", FieldOperator.EQUALS, "n1"),
        FieldRequirement("status.phase", FieldOperator.NOT_EQUALS, "Failed"),
    )
    assert selector.exact_matches() == {"metadata.name": "a,b", "spec.nodeName": "n1"}


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("", {"a": "b"}, True),
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a==b", {"a": "b"}, True),
        ("a!=b", {"a": "c"}, True),
        ("a!=b", {"a": "b"}, False),
        ("a!=b", {}, True),
        ("spec.nodeName=", {}, True),
        ("spec.nodeName=", {"spec.nodeName": ""}, True),
        ("spec.nodeName=", {"spec.nodeName": "n1"}, False),
        ("a=b,c=d", {"a": "b", "c": "d"}, True),
        ("a=b,c=d", {"a": "b", "c": "x"}, False),
        (r"a=x\,y", {"a": "x,y"}, True),
    ],
)
def test_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    assert parse_field_selector(text).matches(fields) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("a=b,foo", "invalid selector: 'a=b,foo'; can't understand 'foo'"),
        ("a=b=c", "invalid field selector: unescaped character in value: ="),
        (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b\\", "invalid field selector: invalid escape sequence"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_field_selector(text)
    assert message in info.value.message


def test_validate_fields() -> None:
    supported = {"metadata.name", "metadata.namespace", "spec.nodeName"}
    validate_fields(parse_field_selector("spec.nodeName=n1,metadata.name=x"), supported, "pods")
    with pytest.raises(BadRequestError) as info:
        validate_fields(parse_field_selector("spec.foo=bar"), supported, "pods")
    assert info.value.message == "field label not supported: spec.foo"
    assert info.value.code == 400


def test_escape_round_trip() -> None:
    for raw in ["", "plain", "a,b", "a=b", "a\\b", "\\,=\\"]:
        assert unescape_value(escape_value(raw)) == raw


def test_everything_and_one_term() -> None:
    assert FieldSelector.everything().empty
    assert FieldSelector.everything().matches({"x": "y"})
    selector = FieldSelector.one_term(field="spec.nodeName", value="n1")
    assert str(selector) == "spec.nodeName=n1"
    assert selector.matches({"spec.nodeName": "n1"})
