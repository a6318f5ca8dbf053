"""Server-side apply and managedFields against the real Kubernetes OpenAPI document."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from kybernetes.api.schema import definitions as served_definitions
from kybernetes.machinery.errors import BadRequestError, ConflictError, StatusError
from kybernetes.machinery.managedfields import (
    ANCIENT_CHANGES,
    LAST_APPLIED_ANNOTATION,
    UNTYPED,
    FieldSet,
    OpenAPIFieldSchema,
    apply,
    fieldset_of,
    manager_from_user_agent,
    path_string,
    update,
)

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:01:00Z"
T2 = "2026-01-01T00:02:00Z"


@pytest.fixture(scope="session")
def definitions() -> dict[str, Any]:
    # The served schema: the reference's definitions for every served type, shipped in the package.
    return served_definitions()


@pytest.fixture(scope="session")
def deployment_schema(definitions: dict[str, Any]) -> OpenAPIFieldSchema:
    return OpenAPIFieldSchema.for_definition(definitions, "io.k8s.api.apps.v1.Deployment")


@pytest.fixture(scope="session")
def configmap_schema(definitions: dict[str, Any]) -> OpenAPIFieldSchema:
    return OpenAPIFieldSchema.for_definition(definitions, "io.k8s.api.core.v1.ConfigMap")


def deployment(*, replicas: int | None = 2, image: str = "nginx:1.25", labels: dict[str, str] | None = None,
               containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": containers if containers is not None else [
                {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": labels or {"app": "nginx"}},
        "spec": spec,
    }


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def owned(obj: dict[str, Any], manager: str, operation: str = "Apply") -> set[str]:
    entry = entries(obj)[(manager, operation)]
    return {path_string(p) for p in FieldSet.from_fields_v1(entry["fieldsV1"])}


def as_stored(obj: dict[str, Any], resource_version: str = "1") -> dict[str, Any]:
    """What the registry would store: server metadata added (never tracked)."""
    out = copy.deepcopy(obj)
    out["metadata"].update(uid="0b2c", resourceVersion=resource_version, creationTimestamp=T0, generation=1)
    return out


# --- the fieldsV1 format ----------------------------------------------------------------------------------


NGINX_APPLY_FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {
                            'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}},
                        },
                    },
                },
            },
        },
    },
}


def test_apply_create_records_the_kubernetes_trie(deployment_schema: OpenAPIFieldSchema) -> None:
    obj = apply(live=None, config=deployment(), manager="kubectl", api_version="apps/v1", force=False,
                schema=deployment_schema, now=T0)
    assert obj["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1", "fieldsV1": NGINX_APPLY_FIELDS,
    }]
    assert obj["spec"]["replicas"] == 2
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    # Ordered as Kubernetes writes it (json key order is what kubectl -o json shows).
    assert json.dumps(obj["metadata"]["managedFields"][0]["fieldsV1"]) == json.dumps(NGINX_APPLY_FIELDS)


def test_create_update_marks_added_maps_and_lists(deployment_schema: OpenAPIFieldSchema) -> None:
    # As `kubectl create` records it: labels and ports get "." (they were added as a whole); structs,
    # and required lists like containers, existed in the zero object and do not.
    obj = update(old=None, new=deployment(), manager="kubectl-create", api_version="apps/v1",
                 schema=deployment_schema, now=T0)
    [entry] = obj["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl-create" and entry["operation"] == "Update" and entry["time"] == T0
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"nginx"}': {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {
                                ".": {},
                                'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}},
                            },
                        },
                    },
                },
            },
        },
    }


def test_fieldset_round_trip_and_canonical_keys() -> None:
    raw = {"f:spec": {"f:ports": {'k:{ "protocol": "TCP", "port": 80 }': {".": {}, "f:port": {}}}},
           "f:metadata": {"f:finalizers": {'v:"a"': {}}}}
    fs = FieldSet.from_fields_v1(raw)
    assert {path_string(p) for p in fs} == {
        '.spec.ports[port=80,protocol="TCP"]', '.spec.ports[port=80,protocol="TCP"].port',
        '.metadata.finalizers[="a"]'}
    assert FieldSet.from_fields_v1(fs.to_fields_v1()) == fs
    assert list(fs.to_fields_v1()) == ["f:metadata", "f:spec"]
    assert 'k:{"port":80,"protocol":"TCP"}' in fs.to_fields_v1()["f:spec"]["f:ports"]
    with pytest.raises(ValueError):
        FieldSet.from_fields_v1({"x:bad": {}})


def test_untyped_dicts_are_granular_and_lists_atomic() -> None:
    fs = fieldset_of(obj={"spec": {"a": {"b": 1}, "l": [1, 2]}}, schema=UNTYPED)
    assert FieldSet(fs).to_fields_v1() == {"f:spec": {".": {}, "f:a": {".": {}, "f:b": {}}, "f:l": {}}}


# --- apply ------------------------------------------------------------------------------------------------


def test_reapply_without_a_field_removes_it(deployment_schema: OpenAPIFieldSchema) -> None:
    config = deployment(labels={"app": "nginx", "tier": "web"}, containers=[
        {"name": "nginx", "image": "nginx", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "sidecar", "image": "busybox"},
    ])
    live = as_stored(apply(live=None, config=config, manager="kubectl", api_version="apps/v1", force=False,
                           schema=deployment_schema, now=T0))
    smaller = deployment(labels={"app": "nginx"}, replicas=None, containers=[
        {"name": "nginx", "image": "nginx", "env": [{"name": "B", "value": "2"}]}])
    out = apply(live=live, config=smaller, manager="kubectl", api_version="apps/v1", force=False,
                schema=deployment_schema, now=T1)
    assert out["metadata"]["labels"] == {"app": "nginx"}
    assert "replicas" not in out["spec"]
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx", "env": [{"name": "B", "value": "2"}]}]
    assert out["metadata"]["uid"] == "0b2c" and out["metadata"]["resourceVersion"] == "1"
    assert entries(out)[("kubectl", "Apply")]["time"] == T1
    assert ".spec.replicas" not in owned(out, "kubectl")


def test_removed_map_key_of_configmap_drops_the_emptied_map(configmap_schema: OpenAPIFieldSchema) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    live = apply(live=None, config=cm, manager="ci", api_version="v1", force=False, schema=configmap_schema,
                 now=T0)
    assert entries(live)[("ci", "Apply")]["fieldsV1"] == {"f:data": {"f:k": {}}}
    out = apply(live=live, config={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                manager="ci", api_version="v1", force=False, schema=configmap_schema, now=T1)
    assert "data" not in out
    assert "managedFields" not in out["metadata"]  # the manager owns nothing any more


def test_fields_owned_by_someone_else_survive_removal(configmap_schema: OpenAPIFieldSchema) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v", "j": "w"}}
    live = apply(live=None, config=cm, manager="a", api_version="v1", force=False, schema=configmap_schema,
                 now=T0)
    live = apply(live=live, config={**cm, "data": {"k": "v"}}, manager="b", api_version="v1", force=False,
                 schema=configmap_schema, now=T1)  # same value: shared, no conflict
    out = apply(live=live, config={k: v for k, v in cm.items() if k != "data"}, manager="a", api_version="v1",
                force=False, schema=configmap_schema, now=T2)
    assert out["data"] == {"k": "v"}
    assert owned(out, "b") == {".data.k"}
    assert ("a", "Apply") not in entries(out)


def test_conflict_with_client_side_apply_manager(deployment_schema: OpenAPIFieldSchema) -> None:
    live = as_stored(update(old=None, new=deployment(replicas=1), manager="kubectl-client-side-apply",
                            api_version="apps/v1", schema=deployment_schema, now=T0))
    with pytest.raises(ConflictError) as info:
        apply(live=live, config=deployment(replicas=3), manager="ci", api_version="apps/v1", force=False,
              schema=deployment_schema, now=T1)
    err = info.value
    assert err.message == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
                           "using apps/v1: .spec.replicas")
    status = err.to_status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["details"]["causes"] == [{
        "reason": "FieldManagerConflict", "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
        "field": ".spec.replicas"}]
    rebuilt = StatusError.from_status(status)
    assert isinstance(rebuilt, ConflictError) and rebuilt.causes[0].path == ".spec.replicas"


def test_several_conflicts_are_grouped_by_manager(deployment_schema: OpenAPIFieldSchema) -> None:
    live = apply(live=None, config=deployment(), manager="alpha", api_version="apps/v1", force=False,
                 schema=deployment_schema, now=T0)
    with pytest.raises(ConflictError) as info:
        apply(live=live, config=deployment(replicas=5, image="nginx:2"), manager="beta", api_version="apps/v1",
              force=False, schema=deployment_schema, now=T1)
    assert info.value.message == (
        'Apply failed with 2 conflicts: conflicts with "alpha":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image')
    assert [c.path for c in info.value.causes] == [
        ".spec.replicas", '.spec.template.spec.containers[name="nginx"].image']


def test_force_takes_ownership(deployment_schema: OpenAPIFieldSchema) -> None:
    live = as_stored(update(old=None, new=deployment(replicas=1), manager="kubectl-client-side-apply",
                            api_version="apps/v1", schema=deployment_schema, now=T0))
    out = apply(live=live, config=deployment(replicas=3), manager="ci", api_version="apps/v1", force=True,
                schema=deployment_schema, now=T1)
    assert out["spec"]["replicas"] == 3
    assert ".spec.replicas" in owned(out, "ci")
    assert ".spec.replicas" not in owned(out, "kubectl-client-side-apply", "Update")
    # Fields applied with the same value are shared, not taken.
    assert '.spec.template.spec.containers[name="nginx"].image' in owned(out, "kubectl-client-side-apply",
                                                                       "Update")


def test_update_after_apply_moves_ownership(deployment_schema: OpenAPIFieldSchema) -> None:
    applied = as_stored(apply(live=None, config=deployment(replicas=2), manager="kubectl", api_version="apps/v1",
                              force=False, schema=deployment_schema, now=T0))
    scaled = copy.deepcopy(applied)
    scaled["spec"]["replicas"] = 5
    out = update(old=applied, new=scaled, manager="kube-controller", api_version="apps/v1",
                 schema=deployment_schema, now=T1)
    assert owned(out, "kube-controller", "Update") == {".spec.replicas"}
    assert ".spec.replicas" not in owned(out, "kubectl")
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["kubectl", "kube-controller"]
    # Re-applying without replicas no longer deletes it: the applier gave it up.
    live = as_stored(out, "2")
    again = apply(live=live, config=deployment(replicas=None), manager="kubectl", api_version="apps/v1",
                  force=False, schema=deployment_schema, now=T2)
    assert again["spec"]["replicas"] == 5
    # Re-applying with a different value conflicts with the updater.
    with pytest.raises(ConflictError, match=re.escape('conflict with "kube-controller" using apps/v1: .spec.replicas')):
        apply(live=live, config=deployment(replicas=2), manager="kubectl", api_version="apps/v1", force=False,
              schema=deployment_schema, now=T2)


def test_containers_merge_per_item(deployment_schema: OpenAPIFieldSchema) -> None:
    base = deployment(containers=[{"name": "app", "image": "app:1"}])
    live = apply(live=None, config=base, manager="team", api_version="apps/v1", force=False,
                 schema=deployment_schema, now=T0)
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
               "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}}}}
    live = apply(live=live, config=sidecar, manager="mesh", api_version="apps/v1", force=False,
                 schema=deployment_schema, now=T1)
    containers = live["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "app", "image": "app:1"}, {"name": "proxy", "image": "envoy"}]
    assert owned(live, "mesh") == {'.spec.template.spec.containers[name="proxy"]',
                                   '.spec.template.spec.containers[name="proxy"].image',
                                   '.spec.template.spec.containers[name="proxy"].name'}
    # The team bumps its image; the mesh's container is untouched.
    live = apply(live=live, config=deployment(containers=[{"name": "app", "image": "app:2"}]), manager="team",
                 api_version="apps/v1", force=False, schema=deployment_schema, now=T2)
    assert live["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "app:2"}, {"name": "proxy", "image": "envoy"}]
    # The mesh withdraws its container: only that item goes.
    out = apply(live=live, config={**sidecar, "spec": {}}, manager="mesh", api_version="apps/v1", force=False,
                schema=deployment_schema, now=T2)
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": "app:2"}]


def test_labels_are_owned_per_key(deployment_schema: OpenAPIFieldSchema) -> None:
    live = apply(live=None, config=deployment(labels={"app": "nginx"}), manager="a", api_version="apps/v1",
                 force=False, schema=deployment_schema, now=T0)
    extra = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "labels": {"team": "x"}}}
    live = apply(live=live, config=extra, manager="b", api_version="apps/v1", force=False,
                 schema=deployment_schema, now=T1)
    assert live["metadata"]["labels"] == {"app": "nginx", "team": "x"}
    assert owned(live, "b") == {".metadata.labels.team"}
    with pytest.raises(ConflictError):
        apply(live=live, config={**extra, "metadata": {"name": "nginx", "labels": {"app": "other"}}},
              manager="b", api_version="apps/v1", force=False, schema=deployment_schema, now=T2)


def test_set_lists_union(definitions: dict[str, Any]) -> None:
    schema = OpenAPIFieldSchema.for_definition(definitions, "io.k8s.api.core.v1.ConfigMap")
    live = apply(live=None, config={"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "c", "finalizers": ["a/x"]}},
                 manager="a", api_version="v1", force=False, schema=schema, now=T0)
    out = apply(live=live, config={"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "c", "finalizers": ["b/y"]}},
                manager="b", api_version="v1", force=False, schema=schema, now=T1)
    assert out["metadata"]["finalizers"] == ["a/x", "b/y"]
    assert owned(out, "b") == {'.metadata.finalizers[="b/y"]'}


def test_noop_apply_keeps_the_timestamp(deployment_schema: OpenAPIFieldSchema) -> None:
    live = as_stored(apply(live=None, config=deployment(), manager="kubectl", api_version="apps/v1", force=False,
                           schema=deployment_schema, now=T0))
    out = apply(live=live, config=deployment(), manager="kubectl", api_version="apps/v1", force=False,
                schema=deployment_schema, now=T1)
    assert out == live


def test_null_server_metadata_in_config_is_ignored(deployment_schema: OpenAPIFieldSchema) -> None:
    live = as_stored(apply(live=None, config=deployment(), manager="kubectl", api_version="apps/v1",
                           force=False, schema=deployment_schema, now=T0))
    config = deployment(replicas=None)
    config["metadata"]["creationTimestamp"] = None
    config["status"] = {}
    out = apply(live=live, config=config, manager="kubectl", api_version="apps/v1", force=False,
                schema=deployment_schema, now=T1)
    assert out["metadata"]["creationTimestamp"] == T0
    assert "replicas" not in out["spec"]


def test_apply_rejects_bad_configs(deployment_schema: OpenAPIFieldSchema) -> None:
    bad = deployment()
    bad["metadata"]["managedFields"] = []
    with pytest.raises(BadRequestError, match=re.escape("metadata.managedFields must be nil")):
        apply(live=None, config=bad, manager="k", api_version="apps/v1", force=False, schema=deployment_schema,
              now=T0)
    with pytest.raises(BadRequestError, match="Specified patch version: apps/v1, expected: apps/v1beta2"):
        apply(live=None, config=deployment(), manager="k", api_version="apps/v1beta2", force=False,
              schema=deployment_schema, now=T0)
    dup = deployment(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "y"}])
    with pytest.raises(BadRequestError, match=r'duplicate entries for key \[name="a"\]'):
        apply(live=None, config=dup, manager="k", api_version="apps/v1", force=False, schema=deployment_schema,
              now=T0)
    nameless = deployment(containers=[{"image": "x"}])
    with pytest.raises(BadRequestError, match='omits key field "name"'):
        apply(live=None, config=nameless, manager="k", api_version="apps/v1", force=False,
              schema=deployment_schema, now=T0)


def test_status_is_not_tracked_through_the_main_resource(deployment_schema: OpenAPIFieldSchema) -> None:
    config = {**deployment(), "status": {"replicas": 9}}
    out = apply(live=None, config=config, manager="kubectl", api_version="apps/v1", force=False,
                schema=deployment_schema, now=T0)
    assert "status" not in out
    assert not any(p.startswith(".status") for p in owned(out, "kubectl"))
    stored = as_stored(out)
    with_status = copy.deepcopy(stored)
    with_status["status"] = {"replicas": 2, "readyReplicas": 2}
    done = update(old=stored, new=with_status, manager="kube-controller-manager", api_version="apps/v1",
                  schema=deployment_schema, now=T1, subresource="status")
    [entry] = [e for e in done["metadata"]["managedFields"] if e["operation"] == "Update"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:readyReplicas": {}, "f:replicas": {}}}


# --- update -----------------------------------------------------------------------------------------------


def test_update_without_changes_keeps_entries(deployment_schema: OpenAPIFieldSchema) -> None:
    created = as_stored(update(old=None, new=deployment(), manager="kubectl-create", api_version="apps/v1",
                               schema=deployment_schema, now=T0))
    same = update(old=created, new=copy.deepcopy(created), manager="kubectl-edit", api_version="apps/v1",
                  schema=deployment_schema, now=T1)
    assert same["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    changed = copy.deepcopy(created)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    out = update(old=created, new=changed, manager="kubectl-edit", api_version="apps/v1",
                 schema=deployment_schema, now=T1)
    assert owned(out, "kubectl-edit", "Update") == {'.spec.template.spec.containers[name="nginx"].image'}
    assert entries(out)[("kubectl-edit", "Update")]["time"] == T1
    assert entries(out)[("kubectl-create", "Update")]["time"] == T0
    # Removing a field removes it from every set.
    removed = copy.deepcopy(out)
    del removed["metadata"]["labels"]
    out2 = update(old=out, new=removed, manager="other", api_version="apps/v1", schema=deployment_schema, now=T2)
    assert not any(p.startswith(".metadata.labels") for p in owned(out2, "kubectl-create", "Update"))
    assert ("other", "Update") not in entries(out2)


def test_client_sent_managed_fields(deployment_schema: OpenAPIFieldSchema) -> None:
    created = as_stored(update(old=None, new=deployment(), manager="kubectl-create", api_version="apps/v1",
                               schema=deployment_schema, now=T0))
    # An empty list is ignored (clients unaware of managedFields must not wipe them).
    blank = copy.deepcopy(created)
    blank["metadata"]["managedFields"] = []
    assert update(old=created, new=blank, manager="x", api_version="apps/v1", schema=deployment_schema,
                  now=T1)["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    # [{}] resets them.
    reset = copy.deepcopy(created)
    reset["metadata"]["managedFields"] = [{}]
    assert "managedFields" not in update(old=created, new=reset, manager="x", api_version="apps/v1",
                                         schema=deployment_schema, now=T1)["metadata"]
    # Anything else replaces them.
    custom = copy.deepcopy(created)
    custom["metadata"]["managedFields"] = [{"manager": "someone", "operation": "Apply", "apiVersion": "apps/v1",
                                            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    out = update(old=created, new=custom, manager="x", api_version="apps/v1", schema=deployment_schema, now=T1)
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["someone"]


def test_update_entries_are_capped(configmap_schema: OpenAPIFieldSchema) -> None:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    old: dict[str, Any] | None = None
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        obj = update(old=old, new=new, manager=f"m{i:02d}", api_version="v1", schema=configmap_schema,
                     now=f"2026-01-01T00:00:{i:02d}Z")
        old = obj
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert managers == [ANCIENT_CHANGES] + [f"m{i:02d}" for i in range(3, 12)]
    bucket = entries(obj)[(ANCIENT_CHANGES, "Update")]
    assert bucket["fieldsV1"] == {"f:data": {".": {}, "f:k0": {}, "f:k1": {}, "f:k2": {}}}  # m00 created data: {}
    assert bucket["time"] == "2026-01-01T00:00:02Z"


def test_kubectl_takes_over_its_client_side_apply_fields(deployment_schema: OpenAPIFieldSchema) -> None:
    recorded = deployment(replicas=1)
    csa = deployment(replicas=1)
    csa["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: json.dumps(recorded)}
    live = as_stored(update(old=None, new=csa, manager="kubectl-client-side-apply", api_version="apps/v1",
                            schema=deployment_schema, now=T0))
    out = apply(live=live, config=deployment(replicas=4), manager="kubectl", api_version="apps/v1",
                force=False, schema=deployment_schema, now=T1)
    assert out["spec"]["replicas"] == 4
    assert json.loads(out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION])["spec"]["replicas"] == 4
    with pytest.raises(ConflictError):
        apply(live=live, config=deployment(replicas=4), manager="other", api_version="apps/v1", force=False,
              schema=deployment_schema, now=T1)


@pytest.mark.parametrize(("agent", "manager"), [
    ("kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef", "kubectl"),
    ("OpenAPI-Generator/31.0.0/python", "OpenAPI-Generator"),
    ("curl", "curl"),
    ("", ""),
])
def test_manager_from_user_agent(agent: str, manager: str) -> None:
    assert manager_from_user_agent(agent) == manager
