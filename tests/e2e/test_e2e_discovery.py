"""Discovery as kubectl shows it: `version`, `api-resources`, `api-versions`, `explain`."""

from __future__ import annotations

import json
import re

import pytest
from e2e_support import Kubectl, headers, parse_table


@pytest.mark.both_stores
def test_version(k_cluster: Kubectl) -> None:
    out = k_cluster.ok("version")
    assert re.search(r"^Client Version: v1\.37\.\d+$", out, re.M)
    assert re.search(r"^Server Version: v1\.36\.0\+kyb\S*$", out, re.M), out
    server = json.loads(k_cluster.ok("version", "-o", "json"))["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "36")
    assert server["gitVersion"].startswith("v1.36.0+kyb")
    assert server["platform"] and server["goVersion"] is not None


def test_api_resources(k_cluster: Kubectl) -> None:
    out = k_cluster.ok("api-resources")
    assert headers(out) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = {(r["NAME"], r["APIVERSION"]): r for r in parse_table(out)}
    expected = {
        ("deployments", "apps/v1"): ("deploy", "true", "Deployment"),
        ("pods", "v1"): ("po", "true", "Pod"),
        ("services", "v1"): ("svc", "true", "Service"),
        ("namespaces", "v1"): ("ns", "false", "Namespace"),
        ("configmaps", "v1"): ("cm", "true", "ConfigMap"),
        ("secrets", "v1"): ("", "true", "Secret"),
        ("serviceaccounts", "v1"): ("sa", "true", "ServiceAccount"),
        ("nodes", "v1"): ("no", "false", "Node"),
        ("leases", "coordination.k8s.io/v1"): ("", "true", "Lease"),
        ("clusterroles", "rbac.authorization.k8s.io/v1"): ("", "false", "ClusterRole"),
    }
    for key, (short, namespaced, kind) in expected.items():
        row = rows[key]
        assert (row["SHORTNAMES"], row["NAMESPACED"], row["KIND"]) == (short, namespaced, kind), row
    deploy_line = next(line for line in out.splitlines() if line.startswith("deployments "))
    assert deploy_line.split() == ["deployments", "deploy", "apps/v1", "true", "Deployment"]


def test_api_resources_wide_and_filters(k_cluster: Kubectl) -> None:
    wide = k_cluster.ok("api-resources", "-o", "wide")
    assert headers(wide) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"]
    rows = {r["NAME"]: r for r in parse_table(wide) if r["APIVERSION"] in ("v1", "apps/v1")}
    assert rows["pods"]["VERBS"] == "create,delete,deletecollection,get,list,patch,update,watch"
    assert rows["deployments"]["CATEGORIES"] == "all"
    apps = k_cluster.ok("api-resources", "--api-group=apps", "-o", "name").split()
    assert {"deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps"} <= set(apps)
    cluster_scoped = {r["NAME"] for r in parse_table(k_cluster.ok("api-resources", "--namespaced=false"))}
    assert {"namespaces", "nodes", "clusterroles"} <= cluster_scoped and "pods" not in cluster_scoped


def test_api_versions(k_cluster: Kubectl) -> None:
    versions = k_cluster.ok("api-versions").split()
    assert versions == sorted(versions)
    for gv in ("v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1",
               "discovery.k8s.io/v1", "policy/v1"):
        assert gv in versions


def test_explain_pod_containers(k_cluster: Kubectl) -> None:
    out = k_cluster.ok("explain", "pod.spec.containers")
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n\nFIELD: containers <[]Container>\n"), out[:200]
    assert "DESCRIPTION:\n    List of containers belonging to the pod." in out
    fields = re.findall(r"^  (\w+)\t<([^>]+)>", out, re.M)
    names = dict(fields)
    assert names["image"] == "string"
    assert names["name"] == "string" and re.search(r"^  name\t<string> -required-$", out, re.M)
    assert names["ports"] == "[]ContainerPort"
    assert names["resources"] == "ResourceRequirements"


def test_explain_deployment_strategy(k_cluster: Kubectl) -> None:
    out = k_cluster.ok("explain", "deployment.spec.strategy")
    assert out.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\n"
                          "FIELD: strategy <DeploymentStrategy>\n"), out[:200]
    assert re.search(r"^  rollingUpdate\t<RollingUpdateDeployment>$", out, re.M)
    assert re.search(r"^  type\t<string>", out, re.M)
    assert 'Type of deployment. Can be "Recreate" or "RollingUpdate". Default is\n    RollingUpdate.' in out


def test_explain_unknown_field(k_cluster: Kubectl) -> None:
    err = k_cluster.fail("explain", "pod.spec.nope")
    assert err.strip() == 'error: field "nope" does not exist'


def test_cluster_info_and_health(k_cluster: Kubectl) -> None:
    out = k_cluster.ok("cluster-info")
    assert out.startswith(f"Kubernetes control plane is running at {k_cluster.server.url}\n")
    for path in ("/healthz", "/livez", "/readyz"):
        assert k_cluster.ok("get", "--raw", path) == "ok"


def test_auth_can_i(k_cluster: Kubectl) -> None:
    assert k_cluster.ok("auth", "can-i", "create", "pods") == "yes\n"
