"""The pod GC on fake caches and a fake clock: the terminated-pod threshold, pods of deleted nodes after
the quarantine, unscheduled terminating pods."""

from __future__ import annotations

from fakeclient_core import FakeClient

from kybernetes.api.models.core_v1 import Node, Pod, PodSpec, PodStatus
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import FakeClock, SharedInformerFactory
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.podgc import PodGCController, new


def pod(name: str, *, phase: str = "Running", node: str | None = "n1", created: str = "2026-01-01T00:00:00Z",
        deleting: bool = False) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="ns", creation_timestamp=created,
                            deletion_timestamp="2026-01-02T00:00:00Z" if deleting else None),
        spec=PodSpec(node_name=node), status=PodStatus(phase=phase),
    )


def setup(**options: str) -> tuple[FakeClient, FakeClock, PodGCController]:
    client = FakeClient()
    clock = FakeClock()
    ctx = ControllerContext(client=client, informers=SharedInformerFactory(client=client),  # type: ignore[arg-type]
                            clock=clock, options=dict(options))
    controller = new(ctx)
    controller.nodes.store.upsert(Node(metadata=ObjectMeta(name="n1")))
    return client, clock, controller


async def add(client: FakeClient, controller: PodGCController, p: Pod) -> None:
    await client.resource(Pod).create(p)
    controller.pods.store.upsert(p)


async def test_terminated_pods_beyond_threshold_oldest_first() -> None:
    client, _, controller = setup(**{"terminated-pod-gc-threshold": "2"})
    for i, phase in enumerate(["Succeeded", "Failed", "Succeeded", "Running", "Failed"]):
        await add(client, controller, pod(f"p{i}", phase=phase, created=f"2026-01-01T00:00:0{i}Z"))
    assert await controller.gc_once() == 2  # four terminated, two kept
    assert [c[3] for c in client.writes("pods") if c[0] == "delete"] == ["p0", "p1"]
    assert client.delete_options[-1][1]["grace_period_seconds"] == 0


async def test_pods_on_a_deleted_node_after_quarantine() -> None:
    client, clock, controller = setup(**{"pod-gc-quarantine": "40"})
    await add(client, controller, pod("orphan", node="gone"))
    await add(client, controller, pod("fine", node="n1"))
    assert await controller.gc_once() == 0
    clock.advance(39)
    assert await controller.gc_once() == 0
    clock.advance(2)
    assert await controller.gc_once() == 1
    (_, status_patch), = client.patches
    assert status_patch["status"]["phase"] == "Failed"
    [condition] = status_patch["status"]["conditions"]
    assert (condition["type"], condition["reason"], condition["message"]) == (
        "DisruptionTarget", "DeletionByPodGC", "PodGC: node no longer exists",
    )
    assert ("pods", "ns", "orphan") not in client.objects and ("pods", "ns", "fine") in client.objects


async def test_node_that_reappears_is_not_treated_as_deleted() -> None:
    client, clock, controller = setup(**{"pod-gc-quarantine": "1"})
    await add(client, controller, pod("p", node="late"))
    await client.resource(Node).create(Node(metadata=ObjectMeta(name="late")))  # exists, cache behind
    await controller.gc_once()
    clock.advance(2)
    assert await controller.gc_once() == 0
    assert ("pods", "ns", "p") in client.objects


async def test_unscheduled_terminating_pods_are_force_deleted() -> None:
    client, _, controller = setup()
    await add(client, controller, pod("stuck", node=None, deleting=True))
    await add(client, controller, pod("pending", node=None))
    assert await controller.gc_once() == 1
    assert ("pods", "ns", "pending") in client.objects
