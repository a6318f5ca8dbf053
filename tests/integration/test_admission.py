"""Pod admission as every Kubernetes cluster runs it: service account, priority, default tolerations."""

from __future__ import annotations

import uuid
from typing import Any

from kubernetes import client


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def test_pods_get_default_tolerations_service_account_and_priority(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    ns = f"adm-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": ns}})
    pod = core.create_namespaced_pod(ns, _pod("a"))
    tolerations = {(t.key, t.effect, t.toleration_seconds) for t in pod.spec.tolerations}
    assert tolerations == {("node.kubernetes.io/not-ready", "NoExecute", 300),
                           ("node.kubernetes.io/unreachable", "NoExecute", 300)}
    assert pod.spec.service_account_name == "default"
    assert pod.spec.priority == 0

    own = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
    pod = core.create_namespaced_pod(ns, _pod("b", tolerations=[own]))
    tolerations = {(t.key, t.toleration_seconds) for t in pod.spec.tolerations}
    assert tolerations == {("node.kubernetes.io/not-ready", 5), ("node.kubernetes.io/unreachable", 300)}

    pod = core.create_namespaced_pod(ns, _pod("c", priorityClassName="system-cluster-critical"))
    assert pod.spec.priority == 2000000000


def test_a_terminating_pod_stays_through_status_updates_until_deleted_with_grace_zero(
        api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    ns = f"term-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_pod(ns, _pod("p", nodeName="some-node"))
    core.delete_namespaced_pod("p", ns)  # graceful: 30 s
    pod = core.read_namespaced_pod("p", ns)
    assert pod.metadata.deletion_timestamp is not None and pod.metadata.deletion_grace_period_seconds == 30
    core.patch_namespaced_pod_status("p", ns, {"status": {"phase": "Running"}})
    assert core.read_namespaced_pod("p", ns).status.phase == "Running"  # still there
    core.delete_namespaced_pod("p", ns, grace_period_seconds=0)
    assert not [p for p in core.list_namespaced_pod(ns).items if p.metadata.name == "p"]
