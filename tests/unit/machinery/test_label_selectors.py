"""Label selectors: string parsing, matching, canonical form, API form, errors."""

from __future__ import annotations

import pytest

from kybernetes.machinery.errors import BadRequestError
from kybernetes.machinery.labels import (
    LabelSelector,
    Operator,
    Requirement,
    parse_selector,
    selector_from_api,
    selector_from_set,
    selector_to_api,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a", "a"),
        ("!a", "!a"),
        ("a in (y,x)", "a in (x,y)"),
        ("a notin (x)", "a notin (x)"),
        ("  a = b ,  c  in ( x , y ) ,! d , e ", "a=b,c in (x,y),!d,e"),
        ("z=1,a=2", "a=2,z=1"),
        ("a>3", "a>3"),
        ("a<-3", "a<-3"),
        ("a=", "a="),
        ("a=in", "a=in"),
        ("a in (in,notin)", "a in (in,notin)"),
        ("a in ()", "a in ()"),
        ("a in (x,)", "a in (,x)"),
        ("a in (,x)", "a in (,x)"),
        ("a in (x,,y)", "a in (,x,y)"),
        ("a in (x,x)", "a in (x)"),
        ("example.com/app=web", "example.com/app=web"),
        ("app.kubernetes.io/name in (nginx)", "app.kubernetes.io/name in (nginx)"),
    ],
)
def test_parse_and_canonical(text: str, canonical: str) -> None:
    selector = parse_selector(text)
    assert str(selector) == canonical
    # The canonical form parses back to the same selector.
    assert parse_selector(canonical) == selector


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {}, True),
        ("", {"a": "b"}, True),
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a==b", {"a": "b"}, True),
        ("a!=b", {"a": "c"}, True),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a in (x,y)", {"a": "y"}, True),
        ("a in (x,y)", {"a": "z"}, False),
        ("a in (x,y)", {}, False),
        ("a notin (x,y)", {"a": "z"}, True),
        ("a notin (x,y)", {}, True),
        ("a notin (x,y)", {"a": "x"}, False),
        ("a", {"a": ""}, True),
        ("a", {"b": "x"}, False),
        ("!a", {"b": "x"}, True),
        ("!a", {"a": "x"}, False),
        ("a=", {"a": ""}, True),
        ("a=", {}, False),
        ("a>3", {"a": "4"}, True),
        ("a>3", {"a": "3"}, False),
        ("a>3", {"a": "x"}, False),
        ("a>3", {}, False),
        ("a<3", {"a": "-10"}, True),
        ("a=b,c=d", {"a": "b", "c": "d", "e": "f"}, True),
        ("a=b,c=d", {"a": "b"}, False),
        ("app=web,tier notin (db),!legacy", {"app": "web", "tier": "front"}, True),
        ("app=web,tier notin (db),!legacy", {"app": "web", "tier": "front", "legacy": "1"}, False),
    ],
)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


def test_matches_accepts_missing_labels() -> None:
    assert parse_selector("!a").matches(None)
    assert not parse_selector("a").matches(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("!", "unable to parse requirement: found '', expected: identifier after '!'"),
        ("a,", "found '', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("a>b", "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("-a=b", 'unable to parse requirement: key: Invalid value: "-a": name part must consist of'),
        ("a/b/c=d", "a qualified name must consist of"),
        ("A.com/b=c", 'key: Invalid value: "A.com/b": prefix part a lowercase RFC 1123 subdomain'),
        ("a=-b", 'unable to parse requirement: values[0][a]: Invalid value: "-b": a valid label must be'),
        ("a=" + "x" * 64, "must be no more than 63 bytes"),
        ("a" * 64 + "=b", "name part must be no more than 63 bytes"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_selector(text)
    assert message in info.value.message
    assert info.value.code == 400


def test_everything_nothing_and_empty() -> None:
    assert LabelSelector.everything().empty
    assert LabelSelector.everything().matches({"x": "y"})
    assert parse_selector("").empty
    assert not parse_selector("a").empty
    nothing = LabelSelector.nothing()
    assert not nothing.empty
    assert not nothing.matches({})
    assert not nothing.matches({"a": "b"})


def test_exact_matches_for_indexing() -> None:
    selector = parse_selector("app=web,tier==front,zone in (a),env in (x,y),!old,k!=v,has")
    assert selector.exact_matches() == {"app": "web", "tier": "front", "zone": "a"}


def test_requirements_are_accessible_and_sorted() -> None:
    selector = parse_selector("b in (2,1),a")
    assert selector.requirements == (
        Requirement("a", Operator.EXISTS, ()),
        Requirement("b", Operator.IN, ("1", "2")),
    )


def test_selector_from_api() -> None:
    selector = selector_from_api(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists", "values": []},
            ],
        }
    )
    assert str(selector) == "app=web,!canary,env notin (dev),tier in (edge,front),zone"
    assert selector.matches({"app": "web", "tier": "edge", "zone": "z1"})
    assert not selector.matches({"app": "web", "tier": "edge", "zone": "z1", "canary": "1"})
    assert selector.exact_matches() == {"app": "web"}


def test_selector_from_api_null_and_empty() -> None:
    assert selector_from_api(None) == LabelSelector.nothing()
    assert not selector_from_api(None).matches({})
    assert selector_from_api({}).empty
    assert selector_from_api({"matchLabels": {}, "matchExpressions": []}).matches({"a": "b"})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]},
         '"Equals" is not a valid label selector operator'),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
         "for 'in', 'notin' operators, values set can't be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]},
         "values set must be empty for exists and does not exist"),
        ({"matchLabels": {"a": "b c"}}, 'values[0][a]: Invalid value: "b c"'),
        ({"matchLabels": {"": "b"}}, "name part must be non-empty"),
    ],
)
def test_selector_from_api_errors(obj: dict, message: str) -> None:
    with pytest.raises(BadRequestError) as info:
        selector_from_api(obj)
    assert message in info.value.message


def test_selector_to_api_round_trip() -> None:
    obj = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                             {"key": "x", "operator": "DoesNotExist"}],
    }
    assert selector_from_api(selector_to_api(selector_from_api(obj))) == selector_from_api(obj)
    assert selector_to_api(parse_selector("a!=b")) == {
        "matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["b"]}]
    }
    with pytest.raises(ValueError):
        selector_to_api(parse_selector("a>1"))


def test_selectors_are_hashable_values() -> None:
    assert parse_selector("a=b,c") == parse_selector("c, a=b")
    assert len({parse_selector("a=b,c"), parse_selector("c,a=b")}) == 1


def test_selector_from_set() -> None:
    selector = selector_from_set({"tier": "front", "app": "web"})
    assert str(selector) == "app=web,tier=front"
    assert selector.matches({"app": "web", "tier": "front", "x": "y"})
    assert not selector.matches({"app": "web"})
    assert selector_from_set({}).empty
    assert selector_from_set(None).empty
    with pytest.raises(BadRequestError):
        selector_from_set({"app": "bad value"})
