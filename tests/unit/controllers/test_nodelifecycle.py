"""Node lifecycle: silent nodes go Unknown, get taints, their pods are evicted; zone rate limits; recovery."""

from __future__ import annotations

import pytest
from cluster_fake_api import FakeClient, drain, make_context, recorded_events

from kybernetes.api.models.coordination_v1 import Lease, LeaseSpec
from kybernetes.api.models.core_v1 import (
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    Taint,
    Toleration,
)
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.controllers import nodelifecycle
from kybernetes.controllers.nodelifecycle import parse_seconds
from kybernetes.controllers.nodelifecycle import taints as t
from kybernetes.controllers.nodelifecycle.controller import NodeLifecycleController

OPTIONS = {"node-monitor-grace-period": "40s", "node-monitor-period": "5s"}


def node(name: str, *, ready: str = "True", beat: str = "2024-01-01T00:00:00Z", zone: str = "z1") -> Node:
    return Node(
        metadata=ObjectMeta(name=name, labels={"topology.kubernetes.io/zone": zone}),
        spec=NodeSpec(),
        status=NodeStatus(conditions=[NodeCondition(type="Ready", status=ready, reason="KubeletReady",
                                                    last_heartbeat_time=beat, last_transition_time=beat)]),
    )


def lease(name: str, renew: str) -> Lease:
    return Lease(metadata=ObjectMeta(name=name, namespace="kube-node-lease"),
                 spec=LeaseSpec(holder_identity=name, renew_time=renew))


def pod(name: str, node_name: str, tolerations: list[Toleration] | None = None) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="default"),
               spec=PodSpec(node_name=node_name, tolerations=tolerations),
               status=PodStatus(phase="Running", conditions=[PodCondition(type="Ready", status="True")]))


def renew(client: FakeClient, name: str, stamp: int) -> None:
    leases = client.resource(Lease)
    key = f"kube-node-lease/{name}"
    when = f"2024-01-01T00:{stamp // 60:02d}:{stamp % 60:02d}.000000Z"
    if key in leases.objects:
        old = leases.objects[key]
        leases.put(old.__class__(metadata=old.metadata, spec=LeaseSpec(holder_identity=name, renew_time=when)))
    else:
        leases.add(lease(name, when))


def build(options: dict[str, str] | None = None) -> tuple[FakeClient, NodeLifecycleController]:
    client, ctx = make_context({**OPTIONS, **(options or {})})
    return client, nodelifecycle.new(ctx)


def test_parse_seconds() -> None:
    assert parse_seconds("40s", 1) == 40
    assert parse_seconds("1m30s", 1) == 90
    assert parse_seconds("500ms", 1) == 0.5
    assert parse_seconds("0.2", 1) == 0.2
    assert parse_seconds(None, 7) == 7
    with pytest.raises(ValueError):
        parse_seconds("soon", 1)


def test_tolerations() -> None:
    taint = Taint(key=t.UNREACHABLE, effect="NoExecute")
    assert t.tolerates(Toleration(key=t.UNREACHABLE, operator="Exists"), taint)
    assert t.tolerates(Toleration(operator="Exists"), taint)
    assert not t.tolerates(Toleration(key=t.UNREACHABLE, operator="Exists", effect="NoSchedule"), taint)
    assert not t.tolerates(Toleration(key=t.NOT_READY, operator="Exists"), taint)
    assert t.tolerates(Toleration(key="k", value="v"), Taint(key="k", value="v", effect="NoExecute"))
    ok, used = t.matching_tolerations([taint], [Toleration(operator="Exists", toleration_seconds=-5)])
    assert ok and t.min_toleration_seconds(used) == 0
    assert t.min_toleration_seconds([Toleration(operator="Exists")]) is None


async def test_silent_node_goes_unknown_tainted_and_pods_evicted() -> None:
    client, ctrl = build()
    clock = ctrl.clock
    nodes, pods = client.resource(Node), client.resource(Pod)
    nodes.add(node("n1"))
    nodes.add(node("n2"))
    renew(client, "n1", 0)
    renew(client, "n2", 0)
    pods.add(pod("plain", "n1"))
    pods.add(pod("patient", "n1", [Toleration(key=t.UNREACHABLE, operator="Exists", effect="NoExecute",
                                              toleration_seconds=30)]))
    pods.add(pod("forever", "n1", [Toleration(key=t.UNREACHABLE, operator="Exists")]))
    pods.add(pod("healthy", "n2"))
    await ctrl.monitor_once()
    await drain(ctrl.queue, ctrl.sync)
    assert not nodes.objects["n1"].spec.taints

    # n2 keeps renewing its lease, n1 falls silent.
    for second in range(5, 50, 5):
        clock.advance(5)
        renew(client, "n2", second)
        await ctrl.monitor_once()
    n1 = nodes.objects["n1"]
    ready = t.condition(n1, "Ready")
    assert (ready.status, ready.reason, ready.message) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert ready.last_heartbeat_time == "2024-01-01T00:00:00Z"  # kept: it is the node's, not ours
    assert {c.type: c.status for c in n1.status.conditions} == {
        "Ready": "Unknown", "MemoryPressure": "Unknown", "DiskPressure": "Unknown", "PIDPressure": "Unknown"}
    assert t.ready_status(nodes.objects["n2"]) == "True"
    assert [(x.key, x.effect) for x in n1.spec.taints] == [(t.UNREACHABLE, "NoExecute")]
    assert n1.spec.taints[0].time_added
    assert ("Normal", "NodeNotReady", "Node n1 status is now: NodeNotReady") in recorded_events(ctrl.recorder)
    # Pods on the silent node are marked not ready.
    assert pods.objects["default/forever"].status.conditions[0].status == "False"
    assert pods.objects["default/healthy"].status.conditions[0].status == "True"

    # The NoSchedule mirror of the condition.
    await drain(ctrl.queue, ctrl.sync)
    assert {(x.key, x.effect) for x in nodes.objects["n1"].spec.taints} == {
        (t.UNREACHABLE, "NoExecute"), (t.UNREACHABLE, "NoSchedule")}

    # Eviction: the untolerating pod at once, the patient one after its tolerationSeconds, never the other.
    await drain(ctrl.eviction.queue, ctrl.eviction.sync)
    assert "default/plain" not in pods.objects
    assert "default/patient" in pods.objects
    clock.advance(29)
    await drain(ctrl.eviction.queue, ctrl.eviction.sync)
    assert "default/patient" in pods.objects
    clock.advance(1)
    await drain(ctrl.eviction.queue, ctrl.eviction.sync)
    assert "default/patient" not in pods.objects
    assert "default/forever" in pods.objects and "default/healthy" in pods.objects
    events = recorded_events(ctrl.recorder)
    assert ("Normal", "TaintManagerEviction", "Marking for deletion Pod default/plain") in events
    assert ("Normal", "TaintManagerEviction", "Marking for deletion Pod default/patient") in events
    assert ("update_status", "pods", "default/plain") in client.writes  # DisruptionTarget first

    # The node comes back: the kubelet posts Ready, the taints go.
    nodes.put(node("n1", beat="2024-01-01T00:01:00Z").__class__(
        metadata=nodes.objects["n1"].metadata, spec=nodes.objects["n1"].spec,
        status=node("n1", beat="2024-01-01T00:01:00Z").status))
    await ctrl.monitor_once()
    await drain(ctrl.queue, ctrl.sync)
    assert not nodes.objects["n1"].spec.taints


async def test_taint_swap_and_cancelled_eviction() -> None:
    client, ctrl = build()
    nodes, pods = client.resource(Node), client.resource(Pod)
    nodes.add(node("n1", ready="False"))
    nodes.add(node("n2"))
    pods.add(pod("p", "n1", [Toleration(operator="Exists", effect="NoExecute", toleration_seconds=60)]))
    renew(client, "n2", 0)
    await ctrl.monitor_once()
    assert [x.key for x in t.no_execute_taints(nodes.objects["n1"])] == [t.NOT_READY]
    assert "default/p" in ctrl.eviction.scheduled
    # Not ready → silent: the taint is swapped for unreachable without waiting for the rate limiter.
    ctrl.limiters[":\x00:z1"].tokens = 0
    ctrl.clock.advance(41)
    renew(client, "n2", 41)
    await ctrl.monitor_once()
    assert [x.key for x in t.no_execute_taints(nodes.objects["n1"])] == [t.UNREACHABLE]
    # Ready again before the toleration ran out: the eviction is cancelled.
    current = nodes.objects["n1"]
    nodes.put(current.__class__(metadata=current.metadata, spec=current.spec,
                                status=node("n1", beat="2024-01-01T00:05:00Z").status))
    await ctrl.monitor_once()
    assert not t.no_execute_taints(nodes.objects["n1"])
    assert "default/p" not in ctrl.eviction.scheduled
    assert ("Normal", "TaintManagerEviction", "Cancelling deletion of Pod default/p") in recorded_events(ctrl.recorder)
    ctrl.clock.advance(120)
    await drain(ctrl.eviction.queue, ctrl.eviction.sync)
    assert "default/p" in pods.objects


async def test_rate_limit_per_zone() -> None:
    client, ctrl = build()
    nodes = client.resource(Node)
    for i in range(6):
        nodes.add(node(f"n{i}", ready="False" if i < 2 else "True"))
    await ctrl.monitor_once()
    tainted = [n for n in nodes.objects.values() if t.no_execute_taints(n)]
    assert len(tainted) == 1  # burst of one
    ctrl.clock.advance(5)
    await ctrl.monitor_once()
    assert len([n for n in nodes.objects.values() if t.no_execute_taints(n)]) == 1
    ctrl.clock.advance(5)  # 0.1/s: ten seconds per taint
    await ctrl.monitor_once()
    assert len([n for n in nodes.objects.values() if t.no_execute_taints(n)]) == 2


async def test_partial_and_full_disruption_stop_tainting() -> None:
    client, ctrl = build()
    nodes = client.resource(Node)
    for i in range(4):  # three of four not ready in a small zone: partial disruption, no evictions
        nodes.add(node(f"n{i}", ready="False" if i < 3 else "True"))
    await ctrl.monitor_once()
    assert ctrl.zone_states == {":\x00:z1": "PartialDisruption"}
    assert not any(t.no_execute_taints(n) for n in nodes.objects.values())

    client2, ctrl2 = build()
    nodes2 = client2.resource(Node)
    nodes2.add(node("a", ready="False"))
    nodes2.add(node("b", ready="False", zone="z2"))
    await ctrl2.monitor_once()
    assert ctrl2.all_disrupted
    assert not any(t.no_execute_taints(n) for n in nodes2.objects.values())


async def test_never_posted_node_uses_startup_grace() -> None:
    client, ctrl = build({"node-startup-grace-period": "60s"})
    nodes = client.resource(Node)
    nodes.add(Node(metadata=ObjectMeta(name="fresh"), spec=NodeSpec()))
    nodes.add(node("other"))
    renew(client, "other", 0)
    await ctrl.monitor_once()
    ctrl.clock.advance(50)
    renew(client, "other", 50)
    await ctrl.monitor_once()
    assert nodes.objects["fresh"].status is None
    ctrl.clock.advance(11)
    renew(client, "other", 59)
    await ctrl.monitor_once()
    ready = t.condition(nodes.objects["fresh"], "Ready")
    assert (ready.status, ready.reason, ready.message) == (
        "Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status.")


async def test_unschedulable_and_pressure_no_schedule_taints() -> None:
    client, ctrl = build()
    nodes = client.resource(Node)
    n = node("n1")
    n = n.__class__(metadata=n.metadata, spec=NodeSpec(unschedulable=True, taints=[Taint(key="user", effect="NoSchedule")]),
                    status=NodeStatus(conditions=[*n.status.conditions,
                                                  NodeCondition(type="MemoryPressure", status="True")]))
    nodes.add(n)
    await drain(ctrl.queue, ctrl.sync)
    assert {x.key for x in nodes.objects["n1"].spec.taints} == {"user", t.UNSCHEDULABLE, t.MEMORY_PRESSURE}


async def test_pods_on_a_lost_node_stay_marked_not_ready() -> None:
    """A failed write is retried, and a pod that turns Ready again on a not-ready node is marked again
    (a kubelet's last status write racing the controller), as Kubernetes' MarkPodsNotReady / processPod."""
    from kybernetes.machinery.errors import ConflictError

    client, ctrl = build()
    nodes, pods = client.resource(Node), client.resource(Pod)
    nodes.add(node("n1", ready="Unknown"))
    nodes.add(node("n2"))
    pods.add(pod("a", "n1"))
    await drain(ctrl.queue, ctrl.sync)  # the pod was Ready on a lost node when it arrived
    assert pods.objects["default/a"].status.conditions[0].status == "False"

    # The kubelet's late write: Ready again on the lost node → marked again; a conflict is retried.
    current = pods.objects["default/a"]
    pods.put(current.__class__(metadata=current.metadata, spec=current.spec, status=PodStatus(
        phase="Running", conditions=[PodCondition(type="Ready", status="True")])))
    assert "n1" in ctrl.mark_retry
    client.fail_next("update_status", ConflictError("the object has been modified"))
    await drain(ctrl.queue, ctrl.sync)
    assert pods.objects["default/a"].status.conditions[0].status == "True"
    assert "n1" in ctrl.mark_retry
    ctrl.clock.advance(1)
    await drain(ctrl.queue, ctrl.sync)
    assert pods.objects["default/a"].status.conditions[0].status == "False"
    # A pod Ready on a healthy node is left alone.
    pods.add(pod("b", "n2"))
    assert "n2" not in ctrl.mark_retry
    await drain(ctrl.queue, ctrl.sync)
    assert pods.objects["default/b"].status.conditions[0].status == "True"
