"""JSON patch (RFC 6902) and JSON merge patch (RFC 7386)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.machinery.errors import BadRequestError, InvalidError, RequestEntityTooLargeError
from kybernetes.machinery.patch import apply_json_patch, apply_merge_patch, merge_values


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]},
    }


# --- JSON patch -----------------------------------------------------------------------------------------


def test_json_patch_operations() -> None:
    doc = _pod()
    before = copy.deepcopy(doc)
    result = apply_json_patch(
        doc,
        [
            {"op": "test", "path": "/metadata/name", "value": "p"},
            {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "a:2"},
            {"op": "remove", "path": "/spec/containers/1"},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "c", "image": "c:1"}},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
            {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/labels/moved"},
            {"op": "add", "path": "/metadata/annotations", "value": {"a~b/c": "x"}},
        ],
    )
    assert result["metadata"]["labels"] == {"app": "web", "copied": "web", "moved": "front"}
    assert result["spec"]["containers"] == [{"name": "a", "image": "a:2"}, {"name": "c", "image": "c:1"}]
    assert result["metadata"]["annotations"] == {"a~b/c": "x"}
    assert doc == before  # the input is untouched


def test_json_patch_escaped_pointer() -> None:
    doc = {"metadata": {"annotations": {"example.com/a~b": "1"}}}
    path = "/metadata/annotations/example.com~1a~0b"
    result = apply_json_patch(doc, [{"op": "replace", "path": path, "value": "2"}])
    assert result == {"metadata": {"annotations": {"example.com/a~b": "2"}}}


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/metadata/name", "value": "other"}],
        [{"op": "remove", "path": "/metadata/missing"}],
        [{"op": "replace", "path": "/spec/missing", "value": 1}],
        [{"op": "add", "path": "/nope/deeper", "value": 1}],
        [{"op": "remove", "path": "/spec/containers/5"}],
        [{"op": "move", "from": "/missing", "path": "/x"}],
        [{"op": "replace", "path": "", "value": [1, 2]}],
        [{"op": "add", "path": "/metadata/name/x", "value": 1}],
    ],
)
def test_json_patch_that_cannot_apply_is_422(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidError) as info:
        apply_json_patch(_pod(), ops)
    assert info.value.code == 422
    assert info.value.message.startswith("the server rejected our request due to an error in our request")


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add", "path": "/a", "value": 1},
        "nonsense",
        [{"op": "frobnicate", "path": "/a"}],
        [{"path": "/a", "value": 1}],
        [{"op": "add", "value": 1}],
        [{"op": "add", "path": "/a"}],
        [{"op": "move", "path": "/a"}],
        ["add"],
    ],
)
def test_malformed_json_patch_is_400(ops: Any) -> None:
    with pytest.raises(BadRequestError):
        apply_json_patch(_pod(), ops)


def test_json_patch_operation_limit() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Pod"}] * 10001
    with pytest.raises(RequestEntityTooLargeError):
        apply_json_patch(_pod(), ops)
    assert apply_json_patch(_pod(), ops[:100])["kind"] == "Pod"


# --- merge patch ----------------------------------------------------------------------------------------


def test_merge_patch() -> None:
    doc = _pod()
    before = copy.deepcopy(doc)
    result = apply_merge_patch(
        doc,
        {
            "metadata": {"labels": {"app": None, "tier": "front"}, "annotations": {"a": "1", "gone": None}},
            "spec": {"containers": [{"name": "z"}]},
            "status": {"phase": "Running"},
        },
    )
    assert result["metadata"] == {"name": "p", "labels": {"tier": "front"}, "annotations": {"a": "1"}}
    assert result["spec"]["containers"] == [{"name": "z"}]  # lists replace
    assert result["status"] == {"phase": "Running"}
    assert doc == before


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        # The examples of RFC 7386, appendix A.
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_values_rfc7386_examples(target: Any, patch: Any, expected: Any) -> None:
    assert merge_values(target, patch) == expected


def test_merge_patch_must_be_an_object() -> None:
    with pytest.raises(BadRequestError):
        apply_merge_patch(_pod(), [1])
    with pytest.raises(BadRequestError):
        apply_merge_patch(_pod(), None)


def test_merge_patch_result_does_not_alias_patch() -> None:
    patch = {"spec": {"containers": [{"name": "z", "env": [{"name": "A"}]}]}}
    result = apply_merge_patch(_pod(), patch)
    result["spec"]["containers"][0]["env"].append({"name": "B"})
    assert patch == {"spec": {"containers": [{"name": "z", "env": [{"name": "A"}]}]}}
