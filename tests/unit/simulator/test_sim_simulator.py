"""The simulator end to end over an in-memory cluster and a fake clock: nodes, leases, pods, deletion."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from simulator_fake_cluster import FakeCluster

from kybernetes.api.models.core_v1 import Container, Pod, PodSpec, PodStatus
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import FakeClock
from kybernetes.kubelet.simulator import NodeSpec, Simulator, SimulatorOptions, node_specs
from kybernetes.machinery.timefmt import parse_rfc3339

BASE = datetime(2030, 1, 1, tzinfo=UTC)


class Harness:
    def __init__(self) -> None:
        self.clock = FakeClock(start=1000.0)
        self.cluster = FakeCluster()
        self.sim: Simulator | None = None
        self.task: asyncio.Task[None] | None = None

    def wall(self) -> datetime:
        return BASE + timedelta(seconds=self.clock.now() - 1000.0)

    async def start(self, nodes: list[NodeSpec], **options: object) -> Simulator:
        self.sim = Simulator(cluster=self.cluster, nodes=nodes, clock=self.clock, wall=self.wall,
                             options=SimulatorOptions(**options))  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.sim.run())
        await self.settle()
        return self.sim

    async def settle(self) -> None:
        """Let every queued sync and every watch echo run (no time passes)."""
        assert self.sim is not None
        for _ in range(6):
            for _ in range(30):
                await asyncio.sleep(0)
            await self.sim.node_queue.wait_idle()
            await self.sim.pod_queue.wait_idle()

    async def advance(self, seconds: float, *, step: float = 0.5) -> None:
        while seconds > 1e-9:
            self.clock.advance(min(step, seconds))
            seconds -= step
            await self.settle()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def bind(self, name: str, node: str, *, annotations: dict[str, str] | None = None,
             restart_policy: str = "Always", containers: list[Container] | None = None) -> str:
        self.cluster.add_pod(Pod(
            metadata=ObjectMeta(name=name, namespace="ns", annotations=annotations),
            spec=PodSpec(node_name=node, restart_policy=restart_policy,
                         containers=containers or [Container(name="c", image="nginx")]),
            status=PodStatus(phase="Pending", qos_class="BestEffort"),
        ))
        return f"ns/{name}"


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness()
    try:
        yield harness
    finally:
        await harness.stop()


def phase(h: Harness, key: str) -> str | None:
    status = h.cluster.pod(key).status
    return status.phase if status else None


async def test_registers_nodes_with_leases(h: Harness) -> None:
    await h.start(node_specs(count=3, prefix="n"))
    assert sorted(h.cluster.nodes.items) == ["n-0", "n-1", "n-2"]
    node = h.cluster.nodes.items["n-1"]
    assert node.status is not None and {c.type: c.status for c in node.status.conditions or []}["Ready"] == "True"
    assert sorted(h.cluster.leases) == ["n-0", "n-1", "n-2"]
    lease = h.cluster.leases["n-1"]
    assert lease.spec is not None and lease.spec.lease_duration_seconds == 40
    assert lease.spec.renew_time == "2030-01-01T00:00:00.000000Z"
    assert lease.metadata is not None and lease.metadata.owner_references is not None
    assert lease.metadata.owner_references[0].uid == node.metadata.uid  # type: ignore[union-attr]
    assert h.sim is not None
    await asyncio.wait_for(h.sim.wait_registered(), 1)
    assert h.sim.statistics().registered_nodes == 3


async def test_leases_renewed_every_interval_spread_and_status_every_minute(h: Harness) -> None:
    await h.start(node_specs(count=50, prefix="n"))
    assert h.cluster.count("create_lease") == 50
    per_second = []
    for _ in range(10):
        before = h.cluster.count("update_lease")
        await h.advance(1.0, step=1.0)
        per_second.append(h.cluster.count("update_lease") - before)
    # The first renewals after registration are spread over the 10 s interval, not bunched.
    assert sum(per_second) == 50 and max(per_second) <= 10
    await h.advance(10.0, step=1.0)
    assert h.cluster.count("update_lease") == 100
    lease = h.cluster.leases["n-7"]
    assert lease.spec is not None and lease.spec.renew_time is not None
    assert (h.wall() - parse_rfc3339(lease.spec.renew_time)).total_seconds() <= 10
    assert h.cluster.count("patch_node_status") <= 50
    await h.advance(60.0, step=5.0)
    assert h.cluster.count("patch_node_status") >= 50
    node = h.cluster.nodes.items["n-3"]
    ready = next(c for c in node.status.conditions or [] if c.type == "Ready")  # type: ignore[union-attr]
    assert ready.last_transition_time == "2030-01-01T00:00:00Z"  # heartbeats do not move the transition
    assert ready.last_heartbeat_time is not None and parse_rfc3339(ready.last_heartbeat_time) > BASE


async def test_bound_pod_runs_with_ip_from_the_node_range(h: Harness) -> None:
    await h.start(node_specs(count=2, prefix="n"))
    key = h.bind("web", "n-1")
    await h.settle()
    pod = h.cluster.pod(key)
    assert pod.status is not None and pod.status.phase == "Running"
    assert pod.status.pod_ip == "10.244.1.2" and pod.status.host_ip == "172.18.0.3"
    assert pod.status.container_statuses and pod.status.container_statuses[0].ready
    writes = h.cluster.count("update_pod_status", key)
    await h.advance(30.0, step=5.0)
    assert h.cluster.count("update_pod_status", key) == writes == 1  # nothing changes, nothing is written

    h.cluster.set_pod_cidr("n-0", "10.9.0.0/24")  # a node IPAM controller assigns a range
    await h.settle()
    key2 = h.bind("web2", "n-0")
    await h.settle()
    assert h.cluster.pod(key2).status.pod_ip == "10.9.0.2"  # type: ignore[union-attr]


async def test_pod_bound_before_its_node_registered_runs_after(h: Harness) -> None:
    h.bind("early", "n-0")  # already there when the simulator starts: seen before the node is registered
    sim = await h.start(node_specs(count=1, prefix="n"))
    await h.settle()
    assert phase(h, "ns/early") == "Running"
    assert sim.pod_queue.statistics().completed >= 2  # looked at early, then again after registration


async def test_pods_of_other_nodes_are_left_alone(h: Harness) -> None:
    await h.start(node_specs(count=1, prefix="n"))
    key = h.bind("elsewhere", "real-node")
    await h.settle()
    assert phase(h, key) == "Pending" and h.cluster.count("update_pod_status") == 0


async def test_run_seconds_succeeds_and_exit_code_fails(h: Harness) -> None:
    sim = await h.start(node_specs(count=1, prefix="n"))
    done = h.bind("done", "n-0", annotations={"kybernetes.io/simulate-run-seconds": "1"}, restart_policy="Never")
    bad = h.bind("bad", "n-0", annotations={"kybernetes.io/simulate-exit-code": "2",
                                            "kybernetes.io/simulate-run-seconds": "2"}, restart_policy="Never")
    instant = h.bind("instant", "n-0", containers=[Container(name="c", image="busybox", command=["true"])],
                     restart_policy="OnFailure")
    await h.settle()
    assert (phase(h, done), phase(h, bad), phase(h, instant)) == ("Running", "Running", "Succeeded")
    await h.advance(0.5)
    assert phase(h, done) == "Running"
    await h.advance(0.5)
    assert phase(h, done) == "Succeeded"
    await h.advance(1.0)
    assert phase(h, bad) == "Failed"
    (c,) = h.cluster.pod(bad).status.container_statuses  # type: ignore[union-attr, misc]
    assert c.state.terminated.exit_code == 2 and c.state.terminated.reason == "Error"  # type: ignore[union-attr]
    stats = sim.statistics()
    assert stats.pods == 0  # finished pods are forgotten (their IPs released)
    assert stats.pod_status_writes == 5


async def test_crash_loop_restarts(h: Harness) -> None:
    await h.start(node_specs(count=1, prefix="n"), crash_backoff=10.0)
    key = h.bind("crash", "n-0", annotations={"kybernetes.io/simulate-exit-code": "1",
                                              "kybernetes.io/simulate-run-seconds": "1"})
    await h.settle()
    await h.advance(1.0)
    (c,) = h.cluster.pod(key).status.container_statuses  # type: ignore[union-attr, misc]
    assert c.state.waiting.reason == "CrashLoopBackOff" and c.restart_count == 0  # type: ignore[union-attr]
    await h.advance(10.0, step=1.0)
    (c,) = h.cluster.pod(key).status.container_statuses  # type: ignore[union-attr, misc]
    assert c.state.running is not None and c.restart_count == 1  # type: ignore[union-attr]
    assert phase(h, key) == "Running"


async def test_ready_after(h: Harness) -> None:
    await h.start(node_specs(count=1, prefix="n"))
    key = h.bind("slow", "n-0", annotations={"kybernetes.io/simulate-ready-after-seconds": "3"})
    await h.settle()

    def ready() -> str | None:
        conds = h.cluster.pod(key).status.conditions  # type: ignore[union-attr]
        return next(c.status for c in conds or [] if c.type == "Ready")

    assert phase(h, key) == "Running" and ready() == "False"
    await h.advance(2.5)
    assert ready() == "False"
    await h.advance(0.5)
    assert ready() == "True"


async def test_graceful_deletion_is_confirmed_after_termination(h: Harness) -> None:
    sim = await h.start(node_specs(count=1, prefix="n"), termination_seconds=1.0)
    key = h.bind("web", "n-0")
    await h.settle()
    h.cluster.mark_deleted(key, grace=30)
    await h.settle()
    assert key in h.cluster.pods.items
    await h.advance(1.0)
    assert key not in h.cluster.pods.items
    assert h.cluster.count("delete_pod", key) == 1
    assert sim.statistics().pod_deletions == 1 and sim.statistics().pods == 0
    # A short grace period is honoured as it is.
    key = h.bind("quick", "n-0")
    await h.settle()
    h.cluster.mark_deleted(key, grace=0)
    await h.settle()
    assert key not in h.cluster.pods.items


async def test_stopped_node_goes_quiet(h: Harness) -> None:
    sim = await h.start(node_specs(count=2, prefix="n"))
    key = h.bind("web", "n-0")
    await h.settle()
    sim.stop_node("n-0")
    renew = h.cluster.leases["n-0"].spec.renew_time  # type: ignore[union-attr]
    before = h.cluster.count("update_lease", "n-1")
    h.cluster.mark_deleted(key, grace=30)
    await h.advance(70.0, step=5.0)
    assert h.cluster.leases["n-0"].spec.renew_time == renew  # type: ignore[union-attr]
    assert h.cluster.count("update_lease", "n-1") > before  # the other node lives on
    assert h.cluster.count("patch_node_status", "n-0") == 0
    assert key in h.cluster.pods.items  # a dead kubelet confirms nothing
    assert sim.statistics().live_nodes == 1
    with pytest.raises(KeyError):
        sim.stop_node("nope")


async def test_add_nodes_while_running_and_delete_on_exit(h: Harness) -> None:
    sim = await h.start(node_specs(count=1, prefix="n"), delete_nodes_on_exit=True)
    sim.add_nodes(node_specs(count=2, prefix="n", start=1))
    await h.settle()
    assert sorted(h.cluster.nodes.items) == ["n-0", "n-1", "n-2"]
    assert sorted(h.cluster.leases) == ["n-0", "n-1", "n-2"]
    with pytest.raises(ValueError):
        sim.add_nodes(node_specs(count=1, prefix="n"))
    await h.stop()
    assert h.cluster.nodes.items == {}


async def test_conflicts_are_retried(h: Harness) -> None:
    await h.start(node_specs(count=1, prefix="n"))
    h.cluster.conflicts_to_inject = 2
    key = h.bind("web", "n-0")
    await h.settle()
    await h.advance(0.1, step=0.05)  # the conflict requeue is a short delay on the queue's clock
    assert phase(h, key) == "Running"
    assert h.cluster.count("update_pod_status", key) == 3


async def test_existing_node_and_running_pod_are_adopted(h: Harness) -> None:
    first = Harness()
    first.clock, first.cluster = h.clock, h.cluster
    await first.start(node_specs(count=1, prefix="n"))
    key = first.bind("web", "n-0")
    await first.settle()
    await first.stop()
    writes = h.cluster.count("update_pod_status")
    # A second simulator process for the same nodes: the node exists, the pod already runs.
    sim = await h.start(node_specs(count=1, prefix="n"))  # the initial list announces the running pod
    assert h.cluster.count("patch_node") == 1
    assert h.cluster.count("update_pod_status") == writes  # nothing to change
    assert sim.statistics().running == 1
    new = h.bind("web2", "n-0")
    await h.settle()
    assert h.cluster.pod(new).status.pod_ip != h.cluster.pod(key).status.pod_ip  # type: ignore[union-attr]


def test_needs_a_client_or_cluster() -> None:
    with pytest.raises(ValueError):
        Simulator(nodes=[])

