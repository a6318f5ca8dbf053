"""The OpenAPI documents: they parse, and hold what kubectl reads (schemas by GVK with patch metadata,
PATCH operations with a fieldValidation parameter, a hashed v3 index)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kybernetes.api import openapi
from kybernetes.api.resources import RESOURCES


def _v3(path: str) -> dict[str, Any]:
    raw = openapi.openapi_v3(path)
    assert raw is not None, path
    doc: dict[str, Any] = json.loads(raw)
    return doc


def test_v2_document() -> None:
    doc = json.loads(openapi.openapi_v2())
    assert doc["swagger"] == "2.0"
    defs = doc["definitions"]
    pod = defs["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    # every $ref resolves
    text = openapi.openapi_v2().decode()
    for ref in {part.split('"', 1)[0] for part in text.split('"$ref":"#/definitions/')[1:]}:
        assert ref in defs, ref
    item = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert set(item) == {"get", "put", "patch", "delete", "parameters"}
    assert item["patch"]["x-kubernetes-group-version-kind"] == {"group": "", "kind": "Pod", "version": "v1"}
    assert any(p["name"] == "fieldValidation" and p["in"] == "query" for p in item["patch"]["parameters"])
    assert item["delete"]["responses"]["200"]["schema"]["$ref"].endswith("core.v1.Pod")
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["get"]["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    assert "post" in doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]
    assert set(doc["paths"]["/api/v1/namespaces"]) == {"get", "post", "parameters"}  # no deletecollection
    assert doc["paths"]["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"


def test_v2_paths_cover_every_resource() -> None:
    paths = json.loads(openapi.openapi_v2())["paths"]
    for info in RESOURCES:
        base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
        scope = f"{base}/namespaces/{{namespace}}" if info.namespaced else base
        assert f"{scope}/{info.plural}" in paths, info.qualified
        for sub in info.subresources:
            assert f"{scope}/{info.plural}/{{name}}/{sub}" in paths or sub == "finalize"


def test_v3_index_hashes_match_documents() -> None:
    index = json.loads(openapi.openapi_v3_index())["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/autoscaling/v1", "apis/autoscaling/v2"} <= set(index)
    for gv, entry in index.items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{gv}?hash=")
        raw = openapi.openapi_v3(gv)
        assert raw is not None
        assert url.split("hash=")[1] == hashlib.sha512(raw).hexdigest().upper() == openapi.openapi_v3_hash(gv)
    assert openapi.openapi_v3("apis/nothing/v1") is None


def test_v3_group_version_document() -> None:
    doc = _v3("apis/apps/v1")
    assert doc["openapi"].startswith("3.0")
    schemas = doc["components"]["schemas"]
    deploy = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deploy["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    # a $ref with a description becomes allOf, as in Kubernetes' v3 documents
    assert deploy["properties"]["spec"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}
    ]
    assert "io.k8s.api.core.v1.Container" in schemas  # referenced types are included
    text = json.dumps(doc)
    assert "#/definitions/" not in text
    for ref in {part.split('"', 1)[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in schemas, ref
    # kubectl's check for server-side field validation: the kind's PATCH has a fieldValidation query param
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation"
    ).items()
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]


def test_v3_core_and_shared_kinds() -> None:
    core = _v3("api/v1")
    assert "io.k8s.api.core.v1.Pod" in core["components"]["schemas"]
    assert "io.k8s.api.policy.v1.Eviction" in core["components"]["schemas"]  # pods/eviction body
    events = _v3("apis/events.k8s.io/v1")
    assert "io.k8s.api.events.v1.Event" in events["components"]["schemas"]
    hpa1 = _v3("apis/autoscaling/v1")
    assert "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler" in hpa1["components"]["schemas"]


def test_documents_are_cached() -> None:
    assert openapi.openapi_v2() is openapi.openapi_v2()
    assert openapi.openapi_v3("api/v1") is openapi.openapi_v3("api/v1")
