"""The DaemonSet controller over the in-memory API: placement by nodeSelector / affinity / taints (with the
automatic daemon tolerations), node-pinning affinity, a node added later, status counts, ControllerRevisions,
rolling updates with maxUnavailable and with maxSurge, and OnDelete."""

from __future__ import annotations

from typing import Any

import msgspec
from workload_fakes import Harness

from kybernetes.api.models.apps_v1 import ControllerRevision, DaemonSet
from kybernetes.api.models.core_v1 import Node, Pod, PodTemplateSpec, Taint, Toleration
from kybernetes.controllers.common.revisions import revision_hash, safe_encode
from kybernetes.controllers.daemonset import DaemonSetController
from kybernetes.controllers.daemonset.placement import should_run, target_node, tolerates

NS = "kube-system"


def node(name: str, *, labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
         unschedulable: bool = False) -> Node:
    return msgspec.convert({"metadata": {"name": name, "labels": labels or {"kubernetes.io/hostname": name}},
                            "spec": {"taints": taints or None, "unschedulable": unschedulable or None}}, Node)


def daemonset(name: str = "agent", image: str = "agent:1", **spec: Any) -> DaemonSet:
    template_spec = {"containers": [{"name": "a", "image": image}], **spec.pop("pod", {})}
    body = {"metadata": {"name": name, "namespace": NS}, "spec": {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": template_spec},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "revisionHistoryLimit": 10, **spec}}
    return msgspec.convert(body, DaemonSet)


def build(h: Harness) -> DaemonSetController:
    h.use_recorder("daemonset-controller")
    return DaemonSetController(ctx=h.ctx, wall=h.wall)


def pods_by_node(h: Harness) -> dict[str, list[Pod]]:
    out: dict[str, list[Pod]] = {}
    for p in h.cluster.list(Pod):
        out.setdefault(target_node(p) or "", []).append(p)
    return out


async def run_all(h: Harness) -> None:
    """What the scheduler and kubelets would do: bind each pod to its node, mark it Running and Ready."""
    for p in h.cluster.list(Pod):
        if p.status is None or p.status.phase != "Running":
            h.cluster.pod_state(f"{NS}/{p.metadata.name}", phase="Running", ready=True, node=target_node(p))
    await h.settle()


def status(h: Harness) -> dict[str, Any]:
    return msgspec.to_builtins(h.cluster.get(DaemonSet, f"{NS}/agent").status)


async def test_one_pod_per_eligible_node_and_a_late_node() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(Node, node("n1"))
    h.cluster.put(Node, node("n2", unschedulable=True))  # tolerated by every daemon pod
    h.cluster.put(Node, node("n3", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]))
    h.cluster.put(Node, node("n4", labels={"disk": "hdd"}))
    h.cluster.put(DaemonSet, daemonset())
    async with h.running(c, queues=[c.queue]):
        placed = pods_by_node(h)
        assert sorted(placed) == ["n1", "n2", "n4"]
        pod = placed["n1"][0]
        terms = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
        assert msgspec.to_builtins(terms) == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                                "values": ["n1"]}]}]
        assert pod.spec.node_name is None  # the scheduler binds it
        keys = {(t.key, t.effect) for t in pod.spec.tolerations}
        assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
        assert pod.metadata.generate_name == "agent-"
        assert pod.metadata.labels["pod-template-generation"] == "1"
        (rev,) = h.cluster.list(ControllerRevision)
        assert rev.revision == 1 and pod.metadata.labels["controller-revision-hash"] == rev.metadata.name[6:]
        assert rev.data["spec"]["template"]["$patch"] == "replace"
        st = status(h)
        assert (st["desiredNumberScheduled"], st["currentNumberScheduled"], st["numberReady"]) == (3, 3, 0)
        assert st["numberUnavailable"] == 3 and st["observedGeneration"] == 1

        await run_all(h)
        st = status(h)
        assert (st["numberReady"], st["numberAvailable"], st["updatedNumberScheduled"]) == (3, 3, 3)
        assert "numberUnavailable" not in st

        h.cluster.put(Node, node("n5"))
        await h.settle()
        assert "n5" in pods_by_node(h)
        assert status(h)["desiredNumberScheduled"] == 4

        # A node that stops matching (label change) loses its pod; a NoExecute taint evicts too.
        h.cluster.put(Node, node("n4", taints=[{"key": "gone", "effect": "NoExecute"}]))
        await h.settle()
        assert "n4" not in pods_by_node(h)
        assert h.recorder.reasons().count("SuccessfulCreate") == 4
        assert "SuccessfulDelete" in h.recorder.reasons()


async def test_node_selector_limits_nodes() -> None:
    h = Harness()
    c = build(h)
    for n in ("a", "b"):
        h.cluster.put(Node, node(n, labels={"zone": n}))
    h.cluster.put(DaemonSet, daemonset(pod={"nodeSelector": {"zone": "b"}}))
    async with h.running(c, queues=[c.queue]):
        assert sorted(pods_by_node(h)) == ["b"]


async def test_rolling_update_max_unavailable_one() -> None:
    h = Harness()
    c = build(h)
    for n in ("n1", "n2", "n3"):
        h.cluster.put(Node, node(n))
    h.cluster.put(DaemonSet, daemonset())
    async with h.running(c, queues=[c.queue]):
        await run_all(h)
        h.cluster.put(DaemonSet, daemonset(image="agent:2"))
        await h.settle()
        images = [p.spec.containers[0].image for p in h.cluster.list(Pod)]
        # One node at a time: one old pod was replaced by a new, not-yet-ready one.
        assert sorted(images) == ["agent:1", "agent:1", "agent:2"]
        for _ in range(3):
            await run_all(h)
        assert sorted(p.spec.containers[0].image for p in h.cluster.list(Pod)) == ["agent:2"] * 3
        assert len(h.cluster.list(ControllerRevision)) == 2
        st = status(h)
        assert st["updatedNumberScheduled"] == 3 and st["numberAvailable"] == 3 and st["observedGeneration"] == 2


async def test_rolling_update_with_surge() -> None:
    h = Harness()
    c = build(h)
    for n in ("n1", "n2"):
        h.cluster.put(Node, node(n))
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    h.cluster.put(DaemonSet, daemonset(updateStrategy=strategy))
    async with h.running(c, queues=[c.queue]):
        await run_all(h)
        h.cluster.put(DaemonSet, daemonset(image="agent:2", updateStrategy=strategy))
        await h.settle()
        placed = pods_by_node(h)
        assert sorted(len(v) for v in placed.values()) == [1, 2]  # a new pod beside the old one on one node
        assert len(h.cluster.list(Pod)) == 3
        for _ in range(4):
            await run_all(h)
        assert sorted(p.spec.containers[0].image for p in h.cluster.list(Pod)) == ["agent:2"] * 2


async def test_on_delete_waits_for_deletion() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(Node, node("n1"))
    h.cluster.put(DaemonSet, daemonset(updateStrategy={"type": "OnDelete"}))
    async with h.running(c, queues=[c.queue]):
        await run_all(h)
        h.cluster.put(DaemonSet, daemonset(image="agent:2", updateStrategy={"type": "OnDelete"}))
        await h.settle()
        (pod,) = h.cluster.list(Pod)
        assert pod.spec.containers[0].image == "agent:1"
        h.cluster.remove(Pod, f"{NS}/{pod.metadata.name}")
        await h.settle()
        (pod,) = h.cluster.list(Pod)
        assert pod.spec.containers[0].image == "agent:2"


def test_placement_rules() -> None:
    template = msgspec.convert({"spec": {"containers": [{"name": "a", "image": "x"}], "affinity": {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["edge"]}]}]}}}}}, PodTemplateSpec)
    assert should_run(node=node("x", labels={"tier": "edge"}), template=template).run
    assert not should_run(node=node("x", labels={"tier": "core"}), template=template).run
    soft = node("x", labels={"tier": "edge"}, taints=[{"key": "k", "effect": "NoSchedule"}])
    decision = should_run(node=soft, template=template)
    assert (decision.run, decision.keep) == (False, True)  # NoSchedule only stops new pods
    not_ready = node("x", labels={"tier": "edge"}, taints=[{"key": "node.kubernetes.io/not-ready",
                                                             "effect": "NoExecute"}])
    assert should_run(node=not_ready, template=template).run
    assert tolerates(Toleration(operator="Exists"), Taint(key="a", effect="NoSchedule"))
    assert not tolerates(Toleration(key="a", operator="Equal", value="1"), Taint(key="a", value="2",
                                                                                  effect="NoSchedule"))


def test_revision_hash_is_stable_and_safe() -> None:
    a = revision_hash({"spec": {"x": 1}}, None)
    assert a == revision_hash({"spec": {"x": 1}}, None) != revision_hash({"spec": {"x": 1}}, 1)
    assert set(a) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert safe_encode("0123") == "4567"  # byte value modulo the alphabet, as Kubernetes encodes
