"""`kubectl create -f`, `get` in every output format, `describe`, and the typed `create` subcommands,
asserting what the real kubectl prints."""

from __future__ import annotations

import ipaddress
import json
import re
import uuid

import pytest
import yaml
from e2e_support import (
    Kubectl,
    configmap,
    deployment,
    describe_fields,
    headers,
    parse_table,
    pod,
    service,
    tables,
)

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


@pytest.mark.both_stores
def test_create_from_file_then_get_formats(k: Kubectl, namespace: str) -> None:
    out = k.create(deployment("web", replicas=2, image="nginx:1.25"))
    assert out.strip() == "deployment.apps/web created"

    table = k.ok("get", "deployments")
    assert headers(table) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    [row] = parse_table(table)
    assert (row["NAME"], row["READY"], row["UP-TO-DATE"], row["AVAILABLE"]) == ("web", "0/2", "0", "0")
    assert re.fullmatch(r"\d+s", row["AGE"])

    wide = k.ok("get", "deployment", "web", "-o", "wide")
    assert headers(wide) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    [row] = parse_table(wide)
    assert (row["CONTAINERS"], row["IMAGES"], row["SELECTOR"]) == ("nginx", "nginx:1.25", "app=web")

    assert k.ok("get", "deploy", "-o", "name") == "deployment.apps/web\n"
    assert k.ok("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}/{.metadata.namespace}") == f"2/{namespace}"

    as_yaml = yaml.safe_load(k.ok("get", "deploy", "web", "-o", "yaml"))
    as_json = json.loads(k.ok("get", "deploy", "web", "-o", "json"))
    for obj in (as_yaml, as_json):
        assert obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment"
        meta = obj["metadata"]
        assert meta["name"] == "web" and meta["namespace"] == namespace
        assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"].endswith("Z")
        assert meta["generation"] == 1
        assert "managedFields" not in meta  # kubectl hides them unless --show-managed-fields
        # Defaults applied by the server, as Kubernetes does.
        assert obj["spec"]["strategy"]["type"] == "RollingUpdate"
        assert obj["spec"]["revisionHistoryLimit"] == 10
        container = obj["spec"]["template"]["spec"]["containers"][0]
        assert container["imagePullPolicy"] == "IfNotPresent"
        assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert as_yaml == as_json


def test_get_list_yaml_is_a_list(k: Kubectl) -> None:
    k.create(configmap("a"), configmap("b"))
    listed = json.loads(k.ok("get", "configmaps", "-o", "json"))
    assert listed["kind"] == "List" and listed["apiVersion"] == "v1"
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["a", "b"]
    assert all(i["kind"] == "ConfigMap" for i in listed["items"])
    assert k.ok("get", "cm", "-o", "jsonpath={.items[*].metadata.name}") == "a b"


def test_create_list_document(k: Kubectl) -> None:
    # `kind: List` (what `get -o yaml` of several objects prints) makes kubectl validate against
    # /openapi/v2, which it requests as protobuf.
    items = [configmap("la"), configmap("lb")]
    out = k.ok("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    assert out.splitlines() == ["configmap/la created", "configmap/lb created"]


def test_create_response_carries_resource_version(k: Kubectl) -> None:
    # kubectl prints the object the server returned from the POST: it must be the stored object.
    created = json.loads(k.ok("create", "-f", "-", "-o", "json", input=json.dumps(configmap("rv"))))
    stored = k.get_json("configmap", "rv")
    assert created["metadata"].get("resourceVersion") == stored["metadata"]["resourceVersion"]


def test_describe_deployment(k: Kubectl, namespace: str) -> None:
    k.create(deployment("web", replicas=3, image="nginx:1.25"))
    out = k.ok("describe", "deployment", "web")
    fields = describe_fields(out)
    assert fields["Name"] == "web"
    assert fields["Namespace"] == namespace
    assert fields["Selector"] == "app=web"
    assert fields["Labels"] == "app=web"
    assert fields["Replicas"] == "3 desired | 0 updated | 0 total | 0 available | 0 unavailable"
    assert fields["StrategyType"] == "RollingUpdate"
    assert fields["RollingUpdateStrategy"] == "25% max unavailable, 25% max surge"
    assert re.search(r"^  Containers:\n   nginx:\n    Image:\s+nginx:1\.25$", out, re.M)
    assert re.search(r"^    Port:\s+80/TCP$", out, re.M)


def test_describe_service(k: Kubectl, namespace: str) -> None:
    k.create(service("svc", port=80, target_port=8080))
    fields = describe_fields(k.ok("describe", "service", "svc"))
    assert fields["Name"] == "svc"
    assert fields["Namespace"] == namespace
    assert fields["Selector"] == "app=svc"
    assert fields["Type"] == "ClusterIP"
    assert ipaddress.ip_address(fields["IP"]) in SERVICE_CIDR
    assert fields["Port"] == "<unset>  80/TCP"
    assert fields["TargetPort"] == "8080/TCP"
    assert fields["Session Affinity"] == "None"


def test_describe_pod(k: Kubectl, namespace: str) -> None:
    k.create(pod("p1", image="busybox:1.36", labels={"app": "p"}))
    out = k.ok("describe", "pod", "p1")
    fields = describe_fields(out)
    assert fields["Name"] == "p1"
    assert fields["Namespace"] == namespace
    assert fields["Labels"] == "app=p"
    assert fields["Status"] == "Pending"
    assert fields["Node"] == "<none>"
    assert fields["QoS Class"] == "BestEffort"
    assert fields["Service Account"] == "default"
    assert re.search(r"^  main:\n    Image:\s+busybox:1\.36$", out, re.M)
    assert re.search(r"^    Command:\n      sleep\n      3600$", out, re.M)


def test_describe_namespace(k_cluster: Kubectl, namespace: str) -> None:
    out = k_cluster.ok("describe", "namespace", namespace)
    fields = describe_fields(out)
    assert fields["Name"] == namespace
    assert fields["Labels"] == f"kubernetes.io/metadata.name={namespace}"
    assert fields["Status"] == "Active"
    assert "No resource quota." in out and "No LimitRange resource." in out


def test_pod_table(k: Kubectl) -> None:
    k.create(pod("p1"), pod("p2"))
    out = k.ok("get", "pods")
    assert headers(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = parse_table(out)
    assert [(r["NAME"], r["READY"], r["STATUS"], r["RESTARTS"]) for r in rows] == [
        ("p1", "0/1", "Pending", "0"), ("p2", "0/1", "Pending", "0")]
    wide = k.ok("get", "pods", "-o", "wide")
    assert headers(wide) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                             "READINESS GATES"]
    assert parse_table(wide)[0]["NODE"] == "<none>"


def test_service_table_and_cluster_ip(k: Kubectl, k_cluster: Kubectl) -> None:
    k.create(service("s1"))
    out = k.ok("get", "services")
    assert headers(out) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    [row] = parse_table(out)
    assert (row["NAME"], row["TYPE"], row["EXTERNAL-IP"], row["PORT(S)"]) == ("s1", "ClusterIP", "<none>", "80/TCP")
    assert ipaddress.ip_address(row["CLUSTER-IP"]) in SERVICE_CIDR
    obj = k.get_json("service", "s1")
    assert obj["spec"]["clusterIPs"] == [row["CLUSTER-IP"]]

    default = parse_table(k_cluster.ok("-n", "default", "get", "service", "kubernetes"))
    assert [(r["NAME"], r["TYPE"], r["CLUSTER-IP"], r["PORT(S)"]) for r in default] == [
        ("kubernetes", "ClusterIP", "10.96.0.1", "443/TCP")]


def test_namespace_table(k_cluster: Kubectl, namespace: str) -> None:
    out = k_cluster.ok("get", "namespaces")
    assert headers(out) == ["NAME", "STATUS", "AGE"]
    rows = {r["NAME"]: r["STATUS"] for r in parse_table(out)}
    for name in ("default", "kube-system", "kube-public", "kube-node-lease", namespace):
        assert rows[name] == "Active"


def test_get_all(k: Kubectl, namespace: str) -> None:
    assert k.run("get", "all").stderr.strip() == f"No resources found in {namespace} namespace."
    k.create(pod("p1"), service("s1"), deployment("d1", replicas=1))
    blocks = tables(k.ok("get", "all"))
    assert [headers(b)[0] for b in blocks] == ["NAME"] * 3
    names = [[r["NAME"] for r in parse_table(b)] for b in blocks]
    assert names == [["pod/p1"], ["service/s1"], ["deployment.apps/d1"]]


def test_new_namespace_has_kubernetes_finalizer(k_cluster: Kubectl, namespace: str) -> None:
    # Kubernetes sets spec.finalizers=[kubernetes] on create, so a deleted namespace stays Terminating
    # until the namespace controller has removed its content.
    obj = k_cluster.get_json("namespace", namespace)
    assert obj["spec"].get("finalizers") == ["kubernetes"]


# ---- typed create subcommands (protobuf bodies) ----------------------------------------------------------

def test_create_deployment_subcommand(k: Kubectl) -> None:
    assert k.ok("create", "deployment", "tw", "--image=nginx:1.25", "--replicas=2").strip() == \
        "deployment.apps/tw created"
    obj = k.get_json("deployment", "tw")
    assert obj["spec"]["replicas"] == 2
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_create_namespace_subcommand(k_cluster: Kubectl) -> None:
    name = f"e2e-typed-{uuid.uuid4().hex[:8]}"
    assert k_cluster.ok("create", "namespace", name).strip() == f"namespace/{name} created"
    assert parse_table(k_cluster.ok("get", "namespace", name))[0]["STATUS"] == "Active"


def test_create_configmap_subcommand(k: Kubectl) -> None:
    assert k.ok("create", "configmap", "lit", "--from-literal=a=1", "--from-literal=b=2").strip() == \
        "configmap/lit created"
    assert k.get_json("configmap", "lit")["data"] == {"a": "1", "b": "2"}
