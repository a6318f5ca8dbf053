"""The scheduler against a real `kyb server`: Node objects created through the API (no simulator), pods
bound by resources, taints, affinity and spread; an unschedulable pod's condition and event with the exact
message; preemption of a low-priority pod by a high-priority one.

The scheduler runs in-process on the test's event loop and is stopped at the end of each test; each test
deletes the Nodes it made, so the module's server is clean for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from cluster import ServerProcess
from kybernetes.api.models.core_v1 import (
    Container,
    Event,
    Namespace,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    Pod,
    PodSpec,
    ResourceRequirements,
    Taint,
    Toleration,
)
from kybernetes.api.models.meta_v1 import ObjectMeta, OwnerReference
from kybernetes.api.models.scheduling_v1 import PriorityClass
from kybernetes.client import Client, SharedInformerFactory, load_config
from kybernetes.machinery.errors import NotFoundError
from kybernetes.scheduler import Scheduler
from polling import wait_for

ZONE = "topology.kubernetes.io/zone"
CP_TAINT = Taint(key="node-role.kubernetes.io/control-plane", effect="NoSchedule")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    proc = ServerProcess().start()
    try:
        yield proc
    finally:
        proc.stop()


def make_node(name: str, *, cpu: str = "2", memory: str = "4Gi", labels: dict[str, str] | None = None,
              taints: list[Taint] | None = None) -> Node:
    alloc: dict[str, str | int | float] = {"cpu": cpu, "memory": memory, "pods": "110"}
    return Node(
        metadata=ObjectMeta(name=name, labels={"kubernetes.io/hostname": name, **(labels or {})}),
        spec=NodeSpec(taints=taints),
        status=NodeStatus(allocatable=alloc, capacity=alloc, conditions=[NodeCondition(type="Ready", status="True")]),
    )


def make_pod(name: str, *, cpu: str = "100m", priority_class: str | None = None, owner: str | None = None,
             **spec: Any) -> Pod:
    owners = [OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="web", uid=owner, controller=True)] \
        if owner else None
    return Pod(
        metadata=ObjectMeta(name=name, owner_references=owners),
        spec=PodSpec(containers=[Container(name="c", image="busybox",
                                           resources=ResourceRequirements(requests={"cpu": cpu}))],
                     priority_class_name=priority_class, termination_grace_period_seconds=0, **spec),
    )


class Harness:
    def __init__(self, client: Client, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.pods = client.resource(Pod)
        self.node_names: list[str] = []

    async def nodes(self, *nodes: Node) -> None:
        api = self.client.resource(Node)
        for n in nodes:
            created = await api.create(n)
            self.node_names.append(n.metadata.name)  # type: ignore[union-attr, arg-type]
            if created.status is None or not created.status.allocatable:  # status not kept on create
                await api.update_status(Node(metadata=created.metadata, spec=created.spec, status=n.status))

    async def create(self, pod: Pod) -> Pod:
        return await self.pods.create(pod, namespace=self.namespace)

    async def node_of(self, name: str, within: float = 20.0) -> str:
        async def bound() -> str | None:
            p = await self.pods.get(name=name, namespace=self.namespace)
            return p.spec.node_name if p.spec else None

        return await wait_for(f"{name} bound", bound, within)

    async def events(self, name: str, reason: str) -> list[Event]:
        listed = await self.client.resource(Event).list(
            namespace=self.namespace, field_selector=f"involvedObject.name={name},reason={reason}")
        return listed.items


@contextlib.asynccontextmanager
async def running_scheduler(server: ServerProcess) -> AsyncIterator[Harness]:
    namespace = f"s-{uuid.uuid4().hex[:8]}"
    async with Client(load_config(kubeconfig=str(server.kubeconfig), component="default-scheduler")) as client:
        await client.resource(Namespace).create(Namespace(metadata=ObjectMeta(name=namespace)))
        harness = Harness(client, namespace)
        factory = SharedInformerFactory(client=client)
        scheduler = Scheduler(client=client, informers=factory)
        task = asyncio.create_task(scheduler.run(run_informers=True))
        try:
            yield harness
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.resource(Pod).delete_collection(namespace=namespace, grace_period_seconds=0)
            for name in harness.node_names:
                with contextlib.suppress(NotFoundError):
                    await client.resource(Node).delete(name=name)


async def test_binds_by_resources_taints_and_affinity(server: ServerProcess) -> None:
    async with running_scheduler(server) as h:
        await h.nodes(
            make_node("rt-small", cpu="1", labels={"disk": "hdd"}),
            make_node("rt-big", cpu="4", labels={"disk": "ssd"}),
            make_node("rt-db", cpu="8", labels={"disk": "ssd"},
                      taints=[Taint(key="dedicated", value="db", effect="NoSchedule")]),
        )
        await h.create(make_pod("needs-3-cpu", cpu="3"))  # only rt-big fits (rt-db is tainted)
        await h.create(make_pod("wants-hdd", node_selector={"disk": "hdd"}))
        await h.create(make_pod("db", cpu="6", tolerations=[Toleration(key="dedicated", operator="Equal",
                                                                       value="db", effect="NoSchedule")]))
        assert await h.node_of("needs-3-cpu") == "rt-big"
        assert await h.node_of("wants-hdd") == "rt-small"
        assert await h.node_of("db") == "rt-db"
        scheduled = await wait_for("Scheduled event", lambda: h.events("db", "Scheduled"))
        assert scheduled[0].message == f"Successfully assigned {h.namespace}/db to rt-db"
        assert scheduled[0].type == "Normal"


async def test_controller_pods_spread_across_three_nodes(server: ServerProcess) -> None:
    async with running_scheduler(server) as h:
        await h.nodes(*(make_node(f"sp-{z}", labels={ZONE: z}) for z in "abc"))
        owner = str(uuid.uuid4())
        for i in range(6):
            await h.create(make_pod(f"web-{i}", owner=owner))
        placed = [await h.node_of(f"web-{i}") for i in range(6)]
        assert sorted(placed.count(n) for n in ("sp-a", "sp-b", "sp-c")) == [2, 2, 2]


async def test_unschedulable_pod_gets_condition_and_event_then_fits_on_a_new_node(server: ServerProcess) -> None:
    async with running_scheduler(server) as h:
        await h.nodes(make_node("us-cp", taints=[CP_TAINT]), make_node("us-w1", cpu="1"),
                      make_node("us-w2", cpu="1"))
        await h.create(make_pod("huge", cpu="2"))
        expected = (
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
            "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for "
            "scheduling, 2 No preemption victims found for incoming pod."
        )

        async def condition() -> Any:
            p = await h.pods.get(name="huge", namespace=h.namespace)
            return next((c for c in (p.status.conditions if p.status else None) or []
                         if c.type == "PodScheduled"), None)

        cond = await wait_for("PodScheduled condition", condition)
        assert (cond.status, cond.reason, cond.message) == ("False", "Unschedulable", expected)
        events = await wait_for("FailedScheduling event", lambda: h.events("huge", "FailedScheduling"))
        assert events[0].type == "Warning" and events[0].message == expected
        await h.nodes(make_node("us-w3", cpu="4"))  # the NodeAdd event brings the pod back
        assert await h.node_of("huge") == "us-w3"


async def test_high_priority_pod_preempts_a_low_priority_one(server: ServerProcess) -> None:
    async with running_scheduler(server) as h:
        classes = h.client.resource(PriorityClass)
        suffix = uuid.uuid4().hex[:6]
        low, high = f"low-{suffix}", f"high-{suffix}"
        await classes.create(PriorityClass(metadata=ObjectMeta(name=low), value=10))
        await classes.create(PriorityClass(metadata=ObjectMeta(name=high), value=1000))
        try:
            await h.nodes(make_node("pr-only", cpu="1"))
            await h.create(make_pod("victim", cpu="800m", priority_class=low))
            assert await h.node_of("victim") == "pr-only"
            preemptor = await h.create(make_pod("vip", cpu="800m", priority_class=high))
            assert await h.node_of("vip") == "pr-only"
            with pytest.raises(NotFoundError):
                await h.pods.get(name="victim", namespace=h.namespace)
            uid = preemptor.metadata.uid if preemptor.metadata else ""
            preempted = await wait_for("Preempted event", lambda: h.events("victim", "Preempted"))
            assert preempted[0].message == f"Preempted by pod {uid} on node pr-only"
            failed = await h.events("vip", "FailedScheduling")
            assert failed and failed[0].message == "0/1 nodes are available: 1 Insufficient cpu."
        finally:
            for name in (low, high):
                with contextlib.suppress(NotFoundError):
                    await classes.delete(name=name)
