"""The API server's in-place merge patch (`patching._merge_into`) gives what the machinery's copying one gives
(RFC 7386), and never shares or changes the patch, which a retried update applies again."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kybernetes.apiserver.patching import _merge_into
from kybernetes.machinery.patch import apply_merge_patch

CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"a": 1, "b": {"c": 2, "d": [1, 2]}}, {"b": {"c": None, "d": [3]}, "e": "x"}),
    ({"a": {"b": 1}}, {"a": "scalar"}),
    ({"a": "scalar"}, {"a": {"b": {"c": None, "d": 1}}}),
    ({"a": [{"x": 1}]}, {"a": [{"y": 2}]}),
    ({"status": {"phase": "Pending", "conditions": [{"type": "Ready"}]}},
     {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "podIP": "10.0.0.1"}}),
    ({"a": 1}, {}),
    ({"a": {"b": 1}}, {"a": None, "missing": None}),
    ({"a": {"b": {}}}, {"a": {"b": {}}}),
]


@pytest.mark.parametrize(("doc", "patch"), CASES)
def test_same_result_as_the_copying_merge(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    expected = apply_merge_patch(copy.deepcopy(doc), patch)
    sent = json.dumps(patch)
    got = _merge_into(copy.deepcopy(doc), patch)
    assert got == expected
    assert json.dumps(patch) == sent


def test_the_result_shares_nothing_with_the_patch() -> None:
    patch: dict[str, Any] = {"spec": {"containers": [{"name": "c"}]}, "status": {"conditions": [{"type": "x"}]}}
    got = _merge_into({}, patch)
    got["spec"]["containers"][0]["image"] = "changed"
    got["status"]["conditions"].append({"type": "y"})
    assert patch == {"spec": {"containers": [{"name": "c"}]}, "status": {"conditions": [{"type": "x"}]}}
