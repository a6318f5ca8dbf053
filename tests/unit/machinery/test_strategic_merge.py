"""Strategic merge patch: semantics on a small hand-made schema, then on Kubernetes' real OpenAPI document."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.api.schema import definitions as served_definitions
from kybernetes.machinery.errors import BadRequestError, InvalidError
from kybernetes.machinery.patch import OpenAPIPatchSchema, PatchSchema, apply_strategic_merge_patch


class FakeSchema:
    """A hand-built PatchSchema for focused tests."""

    def __init__(
        self,
        fields: dict[str, FakeSchema] | None = None,
        *,
        item: FakeSchema | None = None,
        strategy: str = "",
        merge_key: str = "",
    ) -> None:
        self._fields = fields or {}
        self._item = item
        self._strategy = strategy
        self._merge_key = merge_key

    def field(self, name: str) -> FakeSchema | None:
        return self._fields.get(name)

    def item(self) -> FakeSchema | None:
        return self._item

    @property
    def patch_strategy(self) -> str:
        return self._strategy

    @property
    def merge_key(self) -> str:
        return self._merge_key


PORT = FakeSchema()
CONTAINER = FakeSchema(
    {
        "ports": FakeSchema(item=PORT, strategy="merge", merge_key="containerPort"),
        "args": FakeSchema(),
    }
)
SCHEMA = FakeSchema(
    {
        "containers": FakeSchema(item=CONTAINER, strategy="merge", merge_key="name"),
        "finalizers": FakeSchema(strategy="merge"),
        "tolerations": FakeSchema(),
        "selector": FakeSchema(strategy="replace"),
        "strategy": FakeSchema(strategy="retainKeys"),
        "nokey": FakeSchema(strategy="merge"),
    }
)


def smp(doc: dict[str, Any], patch: dict[str, Any], schema: PatchSchema | None = SCHEMA) -> dict[str, Any]:
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    result = apply_strategic_merge_patch(doc, patch, schema)
    assert doc == doc_before, "the document was mutated"
    assert patch == patch_before, "the patch was mutated"
    return result


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i["name"] for i in items]


# --- map semantics --------------------------------------------------------------------------------------


def test_maps_merge_and_null_deletes() -> None:
    doc = {"a": {"x": 1, "y": 2}, "b": 1, "c": "keep"}
    assert smp(doc, {"a": {"y": None, "z": 3}, "b": None, "d": {"e": None, "f": 1}}) == {
        "a": {"x": 1, "z": 3},
        "c": "keep",
        "d": {"f": 1},  # nulls inside new values are dropped
    }


def test_type_change_replaces() -> None:
    assert smp({"a": {"x": 1}}, {"a": [1]}) == {"a": [1]}
    assert smp({"a": [1]}, {"a": "s"}) == {"a": "s"}


def test_map_directives() -> None:
    doc = {"m": {"x": 1, "y": 2}, "n": {"k": "v"}}
    assert smp(doc, {"m": {"$patch": "replace", "z": 3}}) == {"m": {"z": 3}, "n": {"k": "v"}}
    assert smp(doc, {"m": {"$patch": "delete"}}) == {"m": {}, "n": {"k": "v"}}
    assert smp(doc, {"m": {"$patch": "merge", "z": 3}}) == {"m": {"x": 1, "y": 2, "z": 3}, "n": {"k": "v"}}
    assert smp(doc, {"$patch": "replace", "only": 1}) == {"only": 1}
    with pytest.raises(BadRequestError, match="unknown patch type: frob"):
        smp(doc, {"m": {"$patch": "frob"}})


def test_replace_strategy_on_map_field() -> None:
    doc = {"selector": {"matchLabels": {"a": "1"}}}
    assert smp(doc, {"selector": {"matchExpressions": []}}) == {"selector": {"matchExpressions": []}}


def test_retain_keys() -> None:
    doc = {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}
    patch = {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}
    assert smp(doc, patch) == {"strategy": {"type": "Recreate"}}
    # Without the directive a retainKeys field merges as usual.
    assert smp(doc, {"strategy": {"type": "Recreate"}}) == {
        "strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}
    }
    # Null values and directives need not be listed.
    patch = {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}
    assert smp(doc, patch) == {"strategy": {"type": "Recreate"}}


def test_retain_keys_errors() -> None:
    doc = {"strategy": {"type": "RollingUpdate"}}
    with pytest.raises(InvalidError, match="doesn't match retainKeys"):
        smp(doc, {"strategy": {"$retainKeys": ["type"], "other": 1}})
    with pytest.raises(BadRequestError, match="invalid patch format of retainKeys"):
        smp(doc, {"strategy": {"$retainKeys": "type"}})


# --- list semantics -------------------------------------------------------------------------------------


def test_non_merge_lists_replace() -> None:
    doc = {"tolerations": [{"key": "a"}, {"key": "b"}]}
    assert smp(doc, {"tolerations": [{"key": "c", "x": None}]}) == {"tolerations": [{"key": "c"}]}
    doc = {"containers": [{"name": "a", "args": ["1", "2"]}]}
    result = smp(doc, {"containers": [{"name": "a", "args": ["3"]}]})
    assert result == {"containers": [{"name": "a", "args": ["3"]}]}


def test_merge_list_by_key() -> None:
    doc = {"containers": [{"name": "a", "image": "a:1", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                          {"name": "b", "image": "b:1"}]}
    patch = {"containers": [{"name": "a", "image": "a:2", "ports": [{"containerPort": 80, "name": "http"},
                                                                     {"containerPort": 443}]}]}
    result = smp(doc, patch)
    assert result["containers"] == [
        {"name": "a", "image": "a:2",
         "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}]},
        {"name": "b", "image": "b:1"},
    ]


def test_new_items_go_ahead_of_later_live_items() -> None:
    # Kubernetes' ordering: patch items keep the patch order, live-only items keep theirs, and a live-only
    # item is only placed before a patch item it preceded in the live list.
    doc = {"containers": [{"name": "a"}, {"name": "b"}]}
    assert names(smp(doc, {"containers": [{"name": "c"}]})["containers"]) == ["c", "a", "b"]
    result = smp(doc, {"containers": [{"name": "b", "x": 1}, {"name": "c"}]})
    assert names(result["containers"]) == ["a", "b", "c"]
    doc = {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    # b preceded c live, so it stays ahead of the patched run c, a.
    assert names(smp(doc, {"containers": [{"name": "c", "x": 1}, {"name": "a", "x": 1}]})["containers"]) == [
        "b", "c", "a"
    ]


def test_list_element_delete_and_replace() -> None:
    doc = {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    assert smp(doc, {"containers": [{"name": "b", "$patch": "delete"}]})["containers"] == [
        {"name": "a"}, {"name": "c"}
    ]
    replaced = smp(doc, {"containers": [{"name": "z", "i": None}, {"$patch": "replace"}]})
    assert replaced["containers"] == [{"name": "z"}]
    merged = smp(doc, {"containers": [{"name": "a", "x": 1, "$patch": "merge"}]})
    assert merged["containers"][0] == {"name": "a", "x": 1}
    with pytest.raises(BadRequestError, match="does not contain declared merge key"):
        smp(doc, {"containers": [{"$patch": "delete"}]})
    with pytest.raises(BadRequestError, match="does not contain declared merge key"):
        smp(doc, {"containers": [{"image": "x"}]})
    with pytest.raises(BadRequestError, match="unknown patch type"):
        smp(doc, {"containers": [{"name": "a", "$patch": "frob"}]})


def test_directives_in_a_list_that_did_not_exist() -> None:
    patch = {"containers": [{"name": "a"}, {"name": "b", "$patch": "delete"}, {"name": "a", "x": 1}]}
    result = smp({}, patch)
    assert result == {"containers": [{"name": "a", "x": 1}]}


def test_primitive_merge_list_is_a_union() -> None:
    doc = {"finalizers": ["a", "b"]}
    assert smp(doc, {"finalizers": ["b", "c"]}) == {"finalizers": ["a", "b", "c"]}
    assert smp(doc, {"finalizers": ["c"]}) == {"finalizers": ["c", "a", "b"]}
    assert smp(doc, {"$deleteFromPrimitiveList/finalizers": ["a"]}) == {"finalizers": ["b"]}
    assert smp(doc, {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["z"]}) == {
        "finalizers": ["z", "b"]
    }
    assert smp({}, {"$deleteFromPrimitiveList/finalizers": ["a"]}) == {}
    with pytest.raises(BadRequestError, match="primitive list"):
        smp(doc, {"$deleteFromPrimitiveList/finalizers": "a"})


def test_set_element_order() -> None:
    doc = {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    patch = {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
             "containers": [{"name": "a", "image": "x"}]}
    result = smp(doc, patch)
    assert result["containers"] == [{"name": "c"}, {"name": "a", "image": "x"}, {"name": "b"}]
    # Order only, no list in the patch.
    only_order = smp(doc, {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}]})
    assert names(only_order["containers"]) == ["b", "a", "c"]
    # A live-only item (not in the order list) keeps its place ahead of the items that followed it live.
    doc = {"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]}
    result = smp(doc, {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]})
    assert names(result["containers"]) == ["x", "b", "a"]


def test_set_element_order_with_deletion_and_addition() -> None:
    doc = {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    patch = {"$setElementOrder/containers": [{"name": "d"}, {"name": "a"}, {"name": "c"}],
             "containers": [{"name": "d"}, {"name": "b", "$patch": "delete"}]}
    assert names(smp(doc, patch)["containers"]) == ["d", "a", "c"]


def test_set_element_order_for_primitives() -> None:
    doc = {"finalizers": ["a", "b"]}
    patch = {"$setElementOrder/finalizers": ["b", "a", "c"], "finalizers": ["c"]}
    assert smp(doc, patch) == {"finalizers": ["b", "a", "c"]}
    patch = {"$setElementOrder/finalizers": ["a"], "$deleteFromPrimitiveList/finalizers": ["b"]}
    assert smp(doc, patch) == {"finalizers": ["a"]}
    assert smp({}, {"$setElementOrder/finalizers": ["b", "a"], "finalizers": ["a", "b"]}) == {
        "finalizers": ["b", "a"]
    }
    with pytest.raises(BadRequestError, match="setElementOrder"):
        smp(doc, {"$setElementOrder/finalizers": "a"})


def test_merge_list_errors() -> None:
    with pytest.raises(BadRequestError, match="without merge key"):
        smp({"nokey": [{"a": 1}]}, {"nokey": [{"a": 2}]})
    with pytest.raises(BadRequestError, match="lists of lists"):
        smp({"finalizers": [["a"]]}, {"finalizers": [["b"]]})
    with pytest.raises(BadRequestError, match="not identical"):
        smp({"finalizers": ["a"]}, {"finalizers": [{"b": 1}]})


def test_without_schema_lists_replace_and_maps_merge() -> None:
    doc = {"spec": {"items": [1, 2], "m": {"a": 1}}}
    result = smp(doc, {"spec": {"items": [3], "m": {"b": 2}}}, None)
    assert result == {"spec": {"items": [3], "m": {"a": 1, "b": 2}}}


def test_bad_documents() -> None:
    with pytest.raises(BadRequestError):
        apply_strategic_merge_patch({}, [1], SCHEMA)
    with pytest.raises(BadRequestError):
        apply_strategic_merge_patch([], {}, SCHEMA)  # type: ignore[arg-type]


def test_result_does_not_alias_inputs() -> None:
    doc = {"containers": [{"name": "a", "env": [{"name": "x"}]}]}
    patch = {"containers": [{"name": "b", "env": [{"name": "y"}]}], "extra": {"k": ["v"]}}
    result = apply_strategic_merge_patch(doc, patch, SCHEMA)
    for container in result["containers"]:
        container["env"].append({"name": "mutated"})
    result["extra"]["k"].append("mutated")
    assert doc == {"containers": [{"name": "a", "env": [{"name": "x"}]}]}
    assert patch == {"containers": [{"name": "b", "env": [{"name": "y"}]}], "extra": {"k": ["v"]}}


# --- against Kubernetes' OpenAPI document ---------------------------------------------------------------


@pytest.fixture(scope="session")
def definitions() -> dict[str, Any]:
    return served_definitions()


@pytest.fixture
def deployment_schema(definitions: dict[str, Any]) -> OpenAPIPatchSchema:
    return OpenAPIPatchSchema.for_definition(definitions, "io.k8s.api.apps.v1.Deployment")


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["example.com/a"]},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.25",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            "args": ["--a", "--b"],
                        },
                        {"name": "sidecar", "image": "busybox"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}},
                                {"name": "cfg", "configMap": {"name": "c"}}],
                    "tolerations": [{"key": "k1", "operator": "Exists"}],
                },
            },
        },
    }


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def test_openapi_schema_lookups(definitions: dict[str, Any], deployment_schema: OpenAPIPatchSchema) -> None:
    assert isinstance(deployment_schema, PatchSchema)
    pod_spec = deployment_schema.field("spec").field("template").field("spec")  # type: ignore[union-attr]
    assert pod_spec is not None
    containers = pod_spec.field("containers")
    assert containers is not None
    assert (containers.patch_strategy, containers.merge_key) == ("merge", "name")
    container = containers.item()
    assert container is not None
    ports = container.field("ports")
    assert ports is not None and (ports.patch_strategy, ports.merge_key) == ("merge", "containerPort")
    volumes = pod_spec.field("volumes")
    assert volumes is not None and volumes.patch_strategy == "merge,retainKeys"
    strategy = deployment_schema.field("spec").field("strategy")  # type: ignore[union-attr]
    assert strategy is not None and strategy.patch_strategy == "retainKeys"
    labels = deployment_schema.field("metadata").field("labels")  # type: ignore[union-attr]
    assert labels is not None and labels.field("anything") is not None  # map entries
    assert pod_spec.field("noSuchField") is None
    assert container.item() is None
    with pytest.raises(KeyError):
        OpenAPIPatchSchema.for_definition(definitions, "io.k8s.api.core.v1.NoSuchKind")


def test_deployment_containers_env_ports_by_key(deployment_schema: OpenAPIPatchSchema) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.26",
                            "env": [
                                {"name": "B", "value": None, "valueFrom": {"fieldRef": {"fieldPath": "x"}}},
                                {"name": "C", "value": "3"},
                            ],
                            "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
                            "args": ["--c"],
                        }
                    ]
                }
            }
        }
    }
    result = smp(_deployment(), patch, deployment_schema)
    app, sidecar = _pod_spec(result)["containers"]
    assert sidecar == {"name": "sidecar", "image": "busybox"}
    assert app["image"] == "nginx:1.26"
    assert app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}},
        {"name": "C", "value": "3"},
    ]
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}]
    assert app["args"] == ["--c"]  # args has no strategy: replaced
    assert app["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]


def test_deployment_delete_container_and_add_one(deployment_schema: OpenAPIPatchSchema) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"},
        {"name": "logger", "image": "fluentd"},
    ]}}}}
    result = smp(_deployment(), patch, deployment_schema)
    assert names(_pod_spec(result)["containers"]) == ["logger", "app"]


def test_deployment_volumes_by_name_with_retain_keys(deployment_schema: OpenAPIPatchSchema) -> None:
    patch = {"spec": {"template": {"spec": {"volumes": [
        {"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/srv"}},
        {"name": "new", "secret": {"secretName": "s"}},
    ]}}}}
    volumes = _pod_spec(smp(_deployment(), patch, deployment_schema))["volumes"]
    assert volumes == [
        {"name": "data", "hostPath": {"path": "/srv"}},  # emptyDir dropped by $retainKeys
        {"name": "new", "secret": {"secretName": "s"}},
        {"name": "cfg", "configMap": {"name": "c"}},
    ]


def test_deployment_strategy_switch_with_retain_keys(deployment_schema: OpenAPIPatchSchema) -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    result = smp(_deployment(), patch, deployment_schema)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_deployment_set_element_order_like_kubectl_apply(deployment_schema: OpenAPIPatchSchema) -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "nginx:2"}],
    }}}}
    result = smp(_deployment(), patch, deployment_schema)
    containers = _pod_spec(result)["containers"]
    assert names(containers) == ["sidecar", "app"]
    assert containers[1]["image"] == "nginx:2"
    assert containers[1]["env"][0] == {"name": "A", "value": "1"}


def test_deployment_metadata_and_plain_lists(deployment_schema: OpenAPIPatchSchema) -> None:
    patch = {
        "metadata": {"labels": {"tier": "front", "app": None}, "finalizers": ["example.com/b"]},
        "spec": {"replicas": 5, "template": {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}}},
    }
    result = smp(_deployment(), patch, deployment_schema)
    assert result["metadata"]["labels"] == {"tier": "front"}
    assert result["metadata"]["finalizers"] == ["example.com/b", "example.com/a"]
    assert result["spec"]["replicas"] == 5
    assert _pod_spec(result)["tolerations"] == [{"key": "k2", "operator": "Exists"}]  # replaced
    assert result["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_pod_status_conditions_by_type(definitions: dict[str, Any]) -> None:
    # The kubelet's status patches merge conditions by type.
    schema = OpenAPIPatchSchema.for_definition(definitions, "io.k8s.api.core.v1.Pod")
    pod = {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}]}}
    patch = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                        "podIPs": [{"ip": "10.0.0.5"}]}}
    result = smp(pod, patch, schema)
    assert result["status"] == {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
        "podIPs": [{"ip": "10.0.0.5"}],
    }


def test_service_ports_by_port_and_owner_references_by_uid(definitions: dict[str, Any]) -> None:
    schema = OpenAPIPatchSchema.for_definition(definitions, "io.k8s.api.core.v1.Service")
    svc = {"metadata": {"ownerReferences": [{"uid": "u1", "name": "a"}]},
           "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]},
             "spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    result = smp(svc, patch, schema)
    assert result["metadata"]["ownerReferences"] == [{"uid": "u1", "name": "a", "controller": True}]
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_pdb_selector_replace_strategy(definitions: dict[str, Any]) -> None:
    schema = OpenAPIPatchSchema.for_definition(definitions, "io.k8s.api.policy.v1.PodDisruptionBudget")
    pdb = {"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}}
    result = smp(pdb, {"spec": {"selector": {"matchLabels": {"b": "2"}}}}, schema)
    assert result["spec"]["selector"] == {"matchLabels": {"b": "2"}}
