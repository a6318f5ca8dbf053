"""API-wide behaviour a Kubernetes client relies on before it touches a single object: discovery (legacy and
aggregated), /version, health endpoints, OpenAPI v2/v3, server-side Table printing, and the cluster's
own Service plumbing (ClusterIP allocation under concurrency, NodePort conflicts, the `kubernetes`
Service and its endpoints).

Raw HTTPS through urllib with the admin kubeconfig's TLS context, so the wire form is what is checked.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cluster import ServerProcess
from kybernetes.apiserver.auth.kubeconfig import load_kubeconfig

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


class Http:
    def __init__(self, server: ServerProcess) -> None:
        config = load_kubeconfig(server.kubeconfig)
        self.base = config.server
        self.context: ssl.SSLContext = config.ssl_context()

    def call(self, method: str, path: str, body: Any = None, *, accept: str | None = None,
             content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def json(self, method: str, path: str, body: Any = None, *, accept: str | None = None,
             expect: int | None = 200) -> Any:
        status, _, raw = self.call(method, path, body, accept=accept)
        if expect is not None:
            assert status == expect, (method, path, status, raw[:1000])
        return json.loads(raw)


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Http:
    return Http(server)


@pytest.fixture
def namespace(http: Http) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    http.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
              expect=201)
    return name


# ---- discovery -------------------------------------------------------------------------------------


def test_legacy_discovery(http: Http) -> None:
    api = http.json("GET", "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    assert api["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"
    core = http.json("GET", "/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["kind"] == "Pod" and by_name["pods"]["namespaced"] is True
    assert by_name["pods"]["shortNames"] == ["po"]
    assert set(by_name["pods"]["verbs"]) >= {"create", "delete", "deletecollection", "get", "list", "patch",
                                             "update", "watch"}
    assert by_name["namespaces"]["namespaced"] is False
    for sub in ("pods/status", "pods/binding", "pods/eviction", "serviceaccounts/token"):
        assert sub in by_name, sub
    assert by_name["pods/eviction"]["group"] == "policy" and by_name["pods/eviction"]["kind"] == "Eviction"

    apis = http.json("GET", "/apis")
    assert apis["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in apis["groups"]}
    for name in ("apps", "batch", "rbac.authorization.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
                 "policy", "storage.k8s.io", "autoscaling", "scheduling.k8s.io", "events.k8s.io"):
        assert name in groups, name
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert groups["autoscaling"]["preferredVersion"]["version"] == "v2"
    apps = http.json("GET", "/apis/apps")
    assert apps["kind"] == "APIGroup" and apps["name"] == "apps"
    apps_v1 = http.json("GET", "/apis/apps/v1")
    names = {r["name"] for r in apps_v1["resources"]}
    assert {"deployments", "deployments/scale", "deployments/status", "replicasets", "statefulsets",
            "daemonsets", "controllerrevisions"} <= names
    scale = next(r for r in apps_v1["resources"] if r["name"] == "deployments/scale")
    assert scale["group"] == "autoscaling" and scale["version"] == "v1" and scale["kind"] == "Scale"


def test_networking_group_is_served(http: Http) -> None:
    """networking.k8s.io/v1 (Ingress, IngressClass, NetworkPolicy) is in every Kubernetes server; most Helm
    charts create an Ingress or a NetworkPolicy."""
    groups = {g["name"] for g in http.json("GET", "/apis")["groups"]}
    assert "networking.k8s.io" in groups
    names = {r["name"] for r in http.json("GET", "/apis/networking.k8s.io/v1")["resources"]}
    assert {"ingresses", "ingressclasses", "networkpolicies"} <= names


@pytest.mark.parametrize("path", ["/api", "/apis"])
def test_aggregated_discovery(http: Http, path: str) -> None:
    status, headers, raw = http.call("GET", path, accept=AGGREGATED)
    assert status == 200
    assert headers["content-type"] == AGGREGATED
    doc = json.loads(raw)
    assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    groups = {g["metadata"].get("name", ""): g for g in doc["items"]}
    if path == "/api":
        assert list(groups) == [""]
        v1 = groups[""]["versions"][0]
        assert v1["version"] == "v1" and v1["freshness"] == "Current"
        pods = next(r for r in v1["resources"] if r["resource"] == "pods")
        assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
        assert pods["scope"] == "Namespaced" and pods["singularResource"] == "pod"
        subs = {s["subresource"]: s for s in pods["subresources"]}
        assert subs["status"]["responseKind"]["kind"] == "Pod"
        assert subs["eviction"]["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    else:
        assert "apps" in groups and "" not in groups
        deployments = next(r for r in groups["apps"]["versions"][0]["resources"] if r["resource"] == "deployments")
        assert deployments["shortNames"] == ["deploy"] and deployments["categories"] == ["all"]
        scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
        assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_aggregated_discovery_with_kubectl_accept_header(http: Http) -> None:
    accept = (AGGREGATED + ",application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
              "application/json")
    status, headers, raw = http.call("GET", "/apis", accept=accept)
    assert status == 200
    assert headers["content-type"] == AGGREGATED
    assert json.loads(raw)["kind"] == "APIGroupDiscoveryList"
    # Plain JSON still gets the legacy document.
    status, headers, raw = http.call("GET", "/apis", accept="application/json")
    assert headers["content-type"].startswith("application/json") and json.loads(raw)["kind"] == "APIGroupList"


def test_discovery_etag(http: Http) -> None:
    _, headers, _ = http.call("GET", "/apis", accept=AGGREGATED)
    etag = headers.get("etag")
    assert etag
    request = urllib.request.Request(http.base + "/apis", headers={"Accept": AGGREGATED, "If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, context=http.context, timeout=10)
    assert exc.value.code == 304


# ---- version, health, OpenAPI ------------------------------------------------------------------------


def test_version(http: Http) -> None:
    version = http.json("GET", "/version")
    for key in ("major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion",
                "compiler", "platform"):
        assert isinstance(version[key], str) and version[key], key
    assert version["major"] == "1" and version["minor"] == "36"
    assert version["gitVersion"].startswith("v1.36.")


def test_version_reports_emulation_and_compatibility(http: Http) -> None:
    """Since Kubernetes 1.33 /version carries the emulation and minimum compatibility versions
    (version.Info in the OpenAPI document); a 1.36 server fills them in."""
    version = http.json("GET", "/version")
    assert version.get("emulationMajor") == "1" and version.get("emulationMinor") == "36", version
    assert version.get("minCompatibilityMajor") == "1" and version.get("minCompatibilityMinor") == "35", version


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/livez/ping", "/readyz/ping",
                                  "/healthz/ping"])
def test_health_endpoints(http: Http, path: str) -> None:
    status, headers, raw = http.call("GET", path)
    assert status == 200
    assert raw == b"ok"
    assert headers["content-type"].startswith("text/plain")


def test_openapi_v2(http: Http) -> None:
    doc = http.json("GET", "/openapi/v2")
    assert doc["swagger"] == "2.0"
    assert "io.k8s.api.core.v1.Pod" in doc["definitions"]
    assert doc["definitions"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert "/api/v1/namespaces/{namespace}/pods" in doc["paths"]
    assert "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale" in doc["paths"]


def test_openapi_v3_index_and_group_version(http: Http) -> None:
    index = http.json("GET", "/openapi/v3")
    paths = index["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1"} <= set(paths)
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    status, headers, raw = http.call("GET", url)
    assert status == 200
    doc = json.loads(raw)
    assert doc["openapi"].startswith("3.")
    assert "io.k8s.api.apps.v1.Deployment" in doc["components"]["schemas"]
    assert "/apis/apps/v1/namespaces/{namespace}/deployments" in doc["paths"]
    assert "immutable" in headers.get("cache-control", "")
    core = http.json("GET", "/openapi/v3/api/v1")
    assert "io.k8s.api.core.v1.Pod" in core["components"]["schemas"]
    status, _, _ = http.call("GET", "/openapi/v3/apis/nosuch/v1")
    assert status == 404


# ---- tables ---------------------------------------------------------------------------------------


def _columns(table: dict[str, Any]) -> list[str]:
    return [c["name"] for c in table["columnDefinitions"]]


def test_table_for_pods(http: Http, namespace: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}, {"name": "d", "image": "busybox"}]}}
    http.json("POST", f"/api/v1/namespaces/{namespace}/pods", pod, expect=201)
    table = http.json("GET", f"/api/v1/namespaces/{namespace}/pods", accept=TABLE)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert _columns(table) == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node",
                               "Readiness Gates"]
    priorities = [c["priority"] for c in table["columnDefinitions"]]
    assert priorities == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    row = table["rows"][0]
    assert row["cells"][:4] == ["p", "0/2", "Pending", "0"]
    assert row["cells"][5:] == ["<none>", "<none>", "<none>", "<none>"]
    # includeObject defaults to Metadata: a PartialObjectMetadata per row.
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "p"
    assert table["metadata"]["resourceVersion"]
    single = http.json("GET", f"/api/v1/namespaces/{namespace}/pods/p", accept=TABLE)
    assert single["kind"] == "Table" and len(single["rows"]) == 1


def test_table_for_deployments(http: Http, namespace: str) -> None:
    labels = {"app": "web"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": {
                      "metadata": {"labels": labels},
                      "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}
    http.json("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment, expect=201)
    table = http.json("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments", accept=TABLE)
    assert _columns(table) == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images",
                               "Selector"]
    cells = table["rows"][0]["cells"]
    assert cells[:4] == ["web", "0/3", 0, 0]
    assert cells[5:] == ["nginx", "nginx:1.27", "app=web"]


def test_table_include_object_none_and_object(http: Http, namespace: str) -> None:
    http.json("POST", f"/api/v1/namespaces/{namespace}/configmaps",
              {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}, expect=201)
    none = http.json("GET", f"/api/v1/namespaces/{namespace}/configmaps?includeObject=None", accept=TABLE)
    assert _columns(none) == ["Name", "Data", "Age"]
    assert "object" not in none["rows"][0] or none["rows"][0]["object"] is None
    full = http.json("GET", f"/api/v1/namespaces/{namespace}/configmaps?includeObject=Object", accept=TABLE)
    assert full["rows"][0]["object"]["kind"] == "ConfigMap"
    assert full["rows"][0]["object"]["data"] == {"k": "v"}


# ---- services -----------------------------------------------------------------------------------------


def _service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}], **spec}}


def test_cluster_ips_unique_under_concurrency_and_released(http: Http, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/services"

    def create(i: int) -> dict[str, Any]:
        return dict(http.json("POST", path, _service(f"s{i:02}"), expect=201))

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(create, range(50)))
    ips = [s["spec"]["clusterIP"] for s in created]
    assert len(set(ips)) == 50
    cidr = ipaddress.ip_network("10.96.0.0/12")
    for s, ip in zip(created, ips, strict=True):
        assert ipaddress.ip_address(ip) in cidr
        assert ip != "10.96.0.1"  # the kubernetes Service's
        assert s["spec"]["clusterIPs"] == [ip]
        assert s["spec"]["type"] == "ClusterIP"
    # Stored as answered.
    listed = http.json("GET", path)
    assert sorted(s["spec"]["clusterIP"] for s in listed["items"]) == sorted(ips)

    taken = ips[7]
    status, _, raw = http.call("POST", path, _service("clash", clusterIP=taken))
    assert status == 422, raw
    assert "already allocated" in json.loads(raw)["message"]
    http.json("DELETE", f"{path}/s07")
    reused = http.json("POST", path, _service("reuse", clusterIP=taken), expect=201)
    assert reused["spec"]["clusterIP"] == taken


def test_headless_service_gets_no_ip(http: Http, namespace: str) -> None:
    svc = http.json("POST", f"/api/v1/namespaces/{namespace}/services", _service("h", clusterIP="None"), expect=201)
    assert svc["spec"]["clusterIP"] == "None"


def test_node_port_allocation_and_conflict(http: Http, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/services"
    auto = http.json("POST", path, _service("auto", type="NodePort"), expect=201)
    auto_port = auto["spec"]["ports"][0]["nodePort"]
    assert 30000 <= auto_port <= 32767
    # Pick a free explicit port: one past the automatic one (avoids clashing with other tests).
    explicit = 30000 + (auto_port - 30000 + 1 + uuid.uuid4().int % 500) % 2768
    first = http.json("POST", path, _service("first", type="NodePort",
                                             ports=[{"port": 80, "targetPort": 8080, "nodePort": explicit}]),
                      expect=201)
    assert first["spec"]["ports"][0]["nodePort"] == explicit
    status, _, raw = http.call("POST", path, _service("second", type="NodePort",
                                                      ports=[{"port": 80, "nodePort": explicit}]))
    assert status == 422, raw
    body = json.loads(raw)
    assert body["kind"] == "Status" and body["reason"] == "Invalid"
    assert "provided port is already allocated" in body["message"]
    assert any(c["field"] == "spec.ports[0].nodePort" for c in body["details"]["causes"])
    assert http.call("GET", f"{path}/second")[0] == 404
    status, _, raw = http.call("POST", path, _service("outside", type="NodePort",
                                                      ports=[{"port": 80, "nodePort": 80}]))
    assert status == 422, raw
    http.json("DELETE", f"{path}/first")
    again = http.json("POST", path, _service("second", type="NodePort",
                                             ports=[{"port": 80, "nodePort": explicit}]), expect=201)
    assert again["spec"]["ports"][0]["nodePort"] == explicit


def test_kubernetes_service_and_endpoints(http: Http, server: ServerProcess) -> None:
    svc = http.json("GET", "/api/v1/namespaces/default/services/kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    port = svc["spec"]["ports"][0]
    assert port["name"] == "https" and port["port"] == 443 and port["protocol"] == "TCP"
    assert port["targetPort"] == server.port
    endpoints = http.json("GET", "/api/v1/namespaces/default/endpoints/kubernetes")
    subset = endpoints["subsets"][0]
    assert subset["addresses"] == [{"ip": "127.0.0.1"}]
    assert subset["ports"] == [{"name": "https", "port": server.port, "protocol": "TCP"}]
    slice_ = http.json("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes")
    assert slice_["addressType"] == "IPv4"
    assert slice_["endpoints"][0]["addresses"] == ["127.0.0.1"]
    assert slice_["ports"] == [{"name": "https", "port": server.port, "protocol": "TCP"}]
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"
