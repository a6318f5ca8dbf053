"""The resource table against the reference Kubernetes OpenAPI document and discovery conventions."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from kybernetes.api import fields, resources
from kybernetes.api.resources import RESOURCES, ResourceInfo
from reference import reference_path

REFERENCE = reference_path() or Path("/nonexistent/kubernetes-openapi-v2.json")
_ACTION_VERBS = {"post": "create", "put": "update"}


@cache
def _reference_actions() -> dict[str, set[str]]:
    """normalized path (e.g. `apps/v1/deployments/*/scale`) -> set of `verb:group/version/kind`."""
    doc = json.loads(REFERENCE.read_text())
    out: dict[str, set[str]] = {}
    for path, ops in doc["paths"].items():
        if "/watch/" in path:
            continue
        norm = re.sub(r"^/apis?/", "", path).replace("/namespaces/{namespace}", "").replace("/{name}", "/*")
        for op in ops.values():
            if isinstance(op, dict) and "x-kubernetes-action" in op:
                gvk = op["x-kubernetes-group-version-kind"]
                action = op["x-kubernetes-action"]
                out.setdefault(norm, set()).add(
                    f"{_ACTION_VERBS.get(action, action)}:{gvk['group']}/{gvk['version']}/{gvk['kind']}"
                )
    return out


needs_reference = pytest.mark.skipif(not REFERENCE.exists(), reason="reference OpenAPI document missing")


@needs_reference
@pytest.mark.parametrize("info", RESOURCES, ids=lambda r: f"{r.group_version}/{r.plural}")
def test_verbs_and_kind_match_reference(info: ResourceInfo) -> None:
    actions = _reference_actions()
    base = f"{info.group_version}/{info.plural}"
    seen = actions.get(base, set()) | actions.get(base + "/*", set())
    verbs = {a.split(":")[0] for a in seen}
    if "list" in verbs:
        verbs.add("watch")  # watch is a list parameter in the reference document
    assert verbs == set(info.verbs)
    kinds = {a.split(":")[1] for a in seen}
    assert kinds == {f"{info.group}/{info.version}/{info.kind}"}


@needs_reference
@pytest.mark.parametrize(
    "info,sub",
    [(r, s) for r in RESOURCES for s in r.subresources],
    ids=lambda x: x if isinstance(x, str) else x.plural,
)
def test_subresource_kind_and_verbs_match_reference(info: ResourceInfo, sub: str) -> None:
    seen = _reference_actions()[f"{info.group_version}/{info.plural}/*/{sub}"]
    s = resources.subresource_info(info, sub)
    assert {a.split(":")[1] for a in seen} == {f"{s.group}/{s.version}/{s.kind}"}
    actions = {a.split(":")[0] for a in seen}
    if actions == {"connect"}:  # exec, attach, portforward: discovery lists connect GET/POST as get/create
        actions = {"create", "get"}
    assert actions == set(s.verbs)


def test_lookups() -> None:
    pods = resources.lookup("", "v1", "pods")
    assert pods is not None and pods.short_names == ("po",) and "all" in pods.categories
    assert resources.by_kind("apps", "v1", "Deployment") is resources.lookup("apps", "v1", "deployments")
    assert resources.lookup("apps", "v1", "nothings") is None
    gvs = list(resources.by_group_version())
    assert gvs[0] == "v1" and gvs.index("autoscaling/v2") < gvs.index("autoscaling/v1")
    assert resources.preferred_version("autoscaling") == "v2"
    assert [r.group for r in resources.resolve("events")] == ["", "events.k8s.io"]
    assert resources.resolve("deploy")[0].kind == "Deployment"
    assert resources.resolve("hpa.autoscaling")[0].version == "v2"
    assert resources.resolve("horizontalpodautoscalers.v1.autoscaling")[0].version == "v1"


def test_storage_is_shared_between_versions_of_a_kind() -> None:
    core = resources.lookup("", "v1", "events")
    new = resources.lookup("events.k8s.io", "v1", "events")
    assert core is not None and new is not None
    assert core.storage_prefix == new.storage_prefix == "events"
    assert resources.storage_info(new) is core
    hpa1 = resources.lookup("autoscaling", "v1", "horizontalpodautoscalers")
    assert hpa1 is not None and resources.storage_info(hpa1).version == "v2"
    deploy = resources.lookup("apps", "v1", "deployments")
    assert deploy is not None and deploy.storage_prefix == "apps/deployments"


def test_every_group_has_one_preferred_and_one_storage_version_per_kind() -> None:
    for group in {r.group for r in RESOURCES}:
        assert len({r.version for r in RESOURCES if r.group == group and r.preferred}) == 1
    prefixes: dict[str, int] = {}
    for r in RESOURCES:
        prefixes[r.storage_prefix] = prefixes.get(r.storage_prefix, 0) + r.storage_version
    assert set(prefixes.values()) == {1}


def _info(group: str, plural: str) -> ResourceInfo:
    info = next(r for r in RESOURCES if r.group == group and r.plural == plural)
    return info


def test_pod_fields() -> None:
    pod: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "n1", "hostNetwork": True, "restartPolicy": "Always"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "podIP": "10.0.0.5"},
    }
    got = fields.selectable_fields(_info("", "pods"), pod)
    assert got["metadata.name"] == "p" and got["metadata.namespace"] == "ns"
    assert got["spec.nodeName"] == "n1" and got["spec.hostNetwork"] == "true"
    assert got["status.podIP"] == "10.0.0.5" and got["status.phase"] == "Running"
    assert got["spec.schedulerName"] == "" and got["status.nominatedNodeName"] == ""
    empty = fields.selectable_fields(_info("", "pods"), {"metadata": {"name": "q"}})
    assert empty["spec.nodeName"] == "" and empty["spec.hostNetwork"] == "false"


def test_event_fields_both_groups() -> None:
    core = {
        "metadata": {"name": "e", "namespace": "ns"},
        "involvedObject": {"kind": "Pod", "name": "p", "uid": "u"},
        "reason": "Started",
        "source": {"component": "kubelet"},
        "type": "Normal",
    }
    got = fields.selectable_fields(_info("", "events"), core)
    assert got["involvedObject.kind"] == "Pod" and got["involvedObject.name"] == "p"
    assert got["involvedObject.fieldPath"] == "" and got["source"] == "kubelet" and got["reason"] == "Started"
    new = {
        "metadata": {"name": "e", "namespace": "ns"},
        "regarding": {"kind": "Pod", "name": "p"},
        "reportingController": "kubelet",
        "type": "Normal",
    }
    got2 = fields.selectable_fields(_info("events.k8s.io", "events"), new)
    assert got2["involvedObject.name"] == "p" and got2["reportingComponent"] == "kubelet"


def test_other_fields() -> None:
    assert fields.selectable_fields(_info("", "secrets"), {"type": "Opaque"})["type"] == "Opaque"
    node = fields.selectable_fields(_info("", "nodes"), {"metadata": {"name": "n"}})
    assert node == {"metadata.name": "n", "spec.unschedulable": "false"}
    assert fields.selectable_fields(_info("batch", "jobs"), {})["status.successful"] == "0"
    rs = fields.selectable_fields(_info("apps", "replicasets"), {"status": {"replicas": 3}})
    assert rs["status.replicas"] == "3"
    assert fields.supported_fields(_info("", "configmaps")) == {"metadata.name", "metadata.namespace"}
    assert "status.phase" in fields.supported_fields(_info("", "namespaces"))


@needs_reference
@pytest.mark.parametrize("info", [r for r in RESOURCES if "delete" in r.verbs], ids=lambda r: r.qualified)
def test_delete_response_matches_reference(info: ResourceInfo) -> None:
    doc = _reference_doc()
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    scope = f"{base}/namespaces/{{namespace}}" if info.namespaced else base
    ref = doc["paths"][f"{scope}/{info.plural}/{{name}}"]["delete"]["responses"]["200"]["schema"]["$ref"]
    assert ref.endswith("." + info.kind) == info.delete_returns_object


@cache
def _reference_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(REFERENCE.read_text())
    return doc
