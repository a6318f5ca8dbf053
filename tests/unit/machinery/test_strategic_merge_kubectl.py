"""Differential test: our strategic merge patch against kubectl's own (`kubectl patch --local`).

kubectl applies a strategic merge patch locally with Kubernetes' Go implementation (taking list strategies
from its compiled types), so it is an oracle for the fine points: list order, directives, retainKeys. It
prints the patched map as is, so the two results can be compared directly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from kybernetes.api.schema import definitions as served_definitions
from kybernetes.machinery.patch import OpenAPIPatchSchema, apply_strategic_merge_patch

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the kubectl binary"),
]


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d", "finalizers": ["f/a", "f/b"], "labels": {"app": "x", "keep": "1"}},
    "spec": {
        "selector": {"matchLabels": {"app": "x"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "template": {
            "metadata": {"labels": {"app": "x"}},
            "spec": {
                "containers": [
                    {"name": "a", "image": "a",
                     "env": [{"name": "E1", "value": "1"}, {"name": "E2", "value": "2"}],
                     "ports": [{"containerPort": 80}, {"containerPort": 81}]},
                    {"name": "b", "image": "b"},
                    {"name": "c", "image": "c"},
                ],
                "volumes": [{"name": "v1", "emptyDir": {}}, {"name": "v2", "configMap": {"name": "cm"}}],
                "tolerations": [{"key": "t1", "operator": "Exists"}],
            },
        },
    },
}


def _pod_spec(patch: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": patch}}}


CASES: dict[str, dict[str, Any]] = {
    "add container": _pod_spec({"containers": [{"name": "d", "image": "d"}]}),
    "update two containers out of order": _pod_spec({"containers": [{"name": "c", "image": "c2"},
                                                                    {"name": "a", "image": "a2"}]}),
    "update and add": _pod_spec({"containers": [{"name": "b", "image": "b2"}, {"name": "z", "image": "z"},
                                                {"name": "y", "image": "y"}]}),
    "delete and add": _pod_spec({"containers": [{"name": "b", "$patch": "delete"},
                                                {"name": "d", "image": "d"}]}),
    "replace list": _pod_spec({"containers": [{"name": "q", "image": "q"}, {"$patch": "replace"}]}),
    "env merge with null": _pod_spec({"containers": [{"name": "a", "env": [
        {"name": "E2", "value": None, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "E0", "value": "0"}]}]}),
    "ports": _pod_spec({"containers": [{"name": "a", "ports": [{"containerPort": 81, "name": "web"},
                                                              {"containerPort": 82}]}]}),
    "set element order": _pod_spec({
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
        "containers": [{"name": "a", "image": "a3"}]}),
    "set element order with server-only": _pod_spec({
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}),
    "set element order add and delete": _pod_spec({
        "$setElementOrder/containers": [{"name": "n"}, {"name": "c"}, {"name": "a"}],
        "containers": [{"name": "n", "image": "n"}, {"name": "b", "$patch": "delete"}]}),
    "volumes retain keys": _pod_spec({"volumes": [
        {"name": "v1", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}},
        {"name": "v0", "emptyDir": {}}]}),
    "tolerations replace": _pod_spec({"tolerations": [{"key": "t2", "operator": "Exists"}]}),
    "strategy retain keys": {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
    "strategy plain merge": {"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 2}}}},
    "labels map": {"metadata": {"labels": {"app": None, "new": "v"}}},
    "labels replace": {"metadata": {"labels": {"$patch": "replace", "only": "v"}}},
    "finalizers union": {"metadata": {"finalizers": ["f/c", "f/a"]}},
    "finalizers delete": {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f/a"],
                                       "finalizers": ["f/z"]}},
    "finalizers order": {"metadata": {"$setElementOrder/finalizers": ["f/b", "f/new", "f/a"],
                                      "finalizers": ["f/new"]}},
    "nested replace": _pod_spec({"containers": [{"name": "a", "env": [{"name": "X", "value": "x"},
                                                                     {"$patch": "replace"}]}]}),
}


def _kubectl_patch(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    command = ["kubectl", "patch", "--local", "-f", "-", "--type", "strategic", "-p", json.dumps(patch)]
    proc = subprocess.run(
        [*command, "-o", "json"],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        timeout=60,
        env={"KUBECONFIG": "/dev/null", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def schema() -> OpenAPIPatchSchema:
    return OpenAPIPatchSchema.for_definition(served_definitions(), "io.k8s.api.apps.v1.Deployment")


@pytest.mark.parametrize("name", list(CASES))
def test_same_result_as_kubectl(name: str, schema: OpenAPIPatchSchema) -> None:
    patch = CASES[name]
    expected = _kubectl_patch(DEPLOYMENT, patch)
    assert apply_strategic_merge_patch(DEPLOYMENT, patch, schema) == expected
