"""decode_object: exact round trips of real objects, unknown-field paths, Kubernetes-style type errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kybernetes.api.models import core_v1, model_for
from kybernetes.api.schema import decode_object, decode_struct
from kybernetes.machinery.errors import BadRequestError

FIXTURES = Path(__file__).parent / "fixtures"


def _without_nulls(value: Any) -> Any:
    """Kubernetes treats an explicit null as absent; so do we (the round trip drops it)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize(
    "name,gvk",
    [
        ("pod", ("", "v1", "Pod")),
        ("deployment", ("apps", "v1", "Deployment")),
        ("service", ("", "v1", "Service")),
        ("node", ("", "v1", "Node")),
    ],
)
def test_real_objects_round_trip_exactly(name: str, gvk: tuple[str, str, str]) -> None:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    model = model_for(*gvk)
    assert model is not None
    out, unknown = decode_object(copy.deepcopy(data), model)
    assert unknown == []
    assert out == _without_nulls(data)
    # and the encoded form decodes to the same dict again
    assert json.loads(msgspec.json.encode(out)) == out


def test_zero_values_and_empty_collections_survive() -> None:
    data = {
        "metadata": {"name": "", "labels": {}, "finalizers": []},
        "spec": {
            "containers": [{"name": "a", "ports": [{"containerPort": 0}], "stdin": False, "args": []}],
            "hostNetwork": False,
            "priority": 0,
            "volumes": [],
        },
    }
    out, unknown = decode_object(data, core_v1.Pod)
    assert out == data and unknown == []


def test_int_or_string_and_quantity_keep_their_json_type() -> None:
    data = {
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "livenessProbe": {"httpGet": {"port": 8080}},
                    "readinessProbe": {"httpGet": {"port": "http"}},
                    "resources": {"limits": {"cpu": 2, "memory": "1Gi"}, "requests": {"cpu": 0.5}},
                }
            ]
        }
    }
    out, _ = decode_object(data, core_v1.Pod)
    assert out == data
    c = out["spec"]["containers"][0]
    assert c["resources"]["limits"]["cpu"] == 2 and isinstance(c["resources"]["limits"]["cpu"], int)


def test_unknown_fields_are_all_reported_and_dropped() -> None:
    data = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a", "bogus": 1},
        "spec": {
            "containers": [{"name": "a", "foo": 1, "ports": [{"containerPort": 1, "x": 2}]}, {"name": "b"}],
            "bar": {},
        },
    }
    out, unknown = decode_object(data, core_v1.Pod)
    assert unknown == [
        "metadata.bogus",
        "spec.containers[0].foo",
        "spec.containers[0].ports[0].x",
        "spec.bar",
    ]
    assert out == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a"},
        "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 1}]}, {"name": "b"}]},
    }
    obj, unknown2 = decode_struct(data, core_v1.Pod)
    assert isinstance(obj, core_v1.Pod) and unknown2 == unknown


def test_free_form_fields_accept_anything() -> None:
    data = {"metadata": {"managedFields": [{"fieldsV1": {"f:spec": {"x": [1, {"y": None}]}}}]}}
    out, unknown = decode_object(data, core_v1.ConfigMap)
    assert unknown == [] and out["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["x"][0] == 1


@pytest.mark.parametrize(
    "data,message",
    [
        (
            {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": "x"}]}]}},
            "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort"
            " of type int32",
        ),
        (
            {"metadata": {"labels": {"a": 1}}},
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
        ),
        (
            {"spec": {"containers": {}}},
            "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container",
        ),
        (
            {"metadata": {"generation": "1"}},
            "json: cannot unmarshal string into Go struct field ObjectMeta.metadata.generation of type int64",
        ),
        (
            {"spec": {"containers": [{"livenessProbe": {"httpGet": {"port": True}}}]}},
            "Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port of type intstr.IntOrString",
        ),
        ({"spec": {"hostNetwork": "yes"}}, "Go struct field PodSpec.spec.hostNetwork of type bool"),
    ],
)
def test_type_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    data = {"apiVersion": "v1", "kind": "Pod", **data}
    with pytest.raises(BadRequestError) as info:
        decode_object(data, core_v1.Pod)
    text = str(info.value)
    assert text.startswith('Pod in version "v1" cannot be handled as a Pod: ')
    assert message in text


def test_not_an_object() -> None:
    with pytest.raises(BadRequestError, match=r"cannot unmarshal array into Go value of type v1\.Pod"):
        decode_object([], core_v1.Pod)
