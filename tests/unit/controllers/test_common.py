"""The shared controller helpers: slow start, expectations, IntOrString, pod availability and ranking,
pods from templates, and claiming by controller reference."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest

from kybernetes.api.models.core_v1 import Container, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec
from kybernetes.api.models.meta_v1 import ObjectMeta, OwnerReference
from kybernetes.client import FakeClock
from kybernetes.controllers.common import (
    INDEX_CONTROLLER,
    Expectations,
    claim_objects,
    controller_index,
    is_pod_active,
    is_pod_available,
    new_controller_ref,
    orphan_index_value,
    pod_from_template,
    pods_to_delete,
    scaled_value,
    slow_start_batch,
    wall_clock,
)
from kybernetes.controllers.common.fake import FakeInformer, FakeWriter
from kybernetes.machinery.errors import ConflictError, ForbiddenError
from kybernetes.machinery.labels import selector_from_set
from kybernetes.machinery.timefmt import format_rfc3339

CLOCK = FakeClock()
NOW = wall_clock(CLOCK)


async def test_slow_start_doubles_batches_and_stops_at_the_first_failing_batch() -> None:
    calls = in_flight = peak = 0

    async def action(_index: int) -> None:
        nonlocal calls, in_flight, peak
        calls += 1
        number = calls
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)  # let the rest of the batch start
        in_flight -= 1
        if number == 5:
            raise ForbiddenError("no")

    successes, error = await slow_start_batch(count=20, action=action)
    # Batches of 1, 2, 4: the fifth call (in the third batch) fails, so the batch of 8 never starts.
    assert calls == 7 and successes == 6 and isinstance(error, ForbiddenError)
    assert peak == 4


async def test_slow_start_all_successful() -> None:
    counter = 0

    async def action(_index: int) -> None:
        nonlocal counter
        counter += 1

    assert await slow_start_batch(count=10, action=action) == (10, None)
    assert counter == 10
    assert await slow_start_batch(count=0, action=action) == (0, None)


def test_expectations_count_adds_and_tracked_deletes_and_expire() -> None:
    clock = FakeClock()
    e = Expectations(clock=clock)
    assert e.satisfied("ns/a")
    e.expect_creations("ns/a", 2)
    assert not e.satisfied("ns/a")
    e.creation_observed("ns/a")
    e.creation_observed("ns/a")
    e.creation_observed("ns/a")  # extra events do not go negative
    assert e.satisfied("ns/a") and e.pending("ns/a") == (0, 0)
    e.expect_deletions("ns/a", ["ns/p1", "ns/p2"])
    e.deletion_observed("ns/a", "ns/other")  # not one we asked for
    assert e.pending("ns/a") == (0, 2)
    e.deletion_observed("ns/a", "ns/p1")
    assert not e.satisfied("ns/a")
    clock.advance(301)
    assert e.satisfied("ns/a")  # expired
    e.forget("ns/a")
    assert e.pending("ns/a") == (0, 0)


def test_scaled_value_rounds_as_asked() -> None:
    assert scaled_value("25%", total=10, round_up=True) == 3
    assert scaled_value("25%", total=10, round_up=False) == 2
    assert scaled_value(4, total=10, round_up=False) == 4
    assert scaled_value(None, total=10, round_up=True, default="50%") == 5
    with pytest.raises(ValueError):
        scaled_value("3", total=10, round_up=True)
    with pytest.raises(ValueError):
        scaled_value("x%", total=10, round_up=True)


def ready_pod(name: str, *, ago: float, node: str = "n1", phase: str = "Running") -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default", creation_timestamp=format_rfc3339(NOW())),
        spec=PodSpec(node_name=node, containers=[]),
        status=PodStatus(phase=phase, conditions=[PodCondition(
            type="Ready", status="True", last_transition_time=format_rfc3339(NOW() - timedelta(seconds=ago)))]),
    )


def test_availability_needs_ready_for_min_ready_seconds() -> None:
    pod = ready_pod("p", ago=5)
    assert is_pod_available(pod, min_ready_seconds=0, now=NOW())
    assert is_pod_available(pod, min_ready_seconds=4, now=NOW())
    assert not is_pod_available(pod, min_ready_seconds=10, now=NOW())
    assert not is_pod_available(Pod(metadata=ObjectMeta(name="x")), min_ready_seconds=0, now=NOW())


def test_activity_excludes_finished_and_terminating_pods() -> None:
    assert is_pod_active(ready_pod("p", ago=1))
    assert not is_pod_active(ready_pod("p", ago=1, phase="Succeeded"))
    pod = ready_pod("p", ago=1)
    terminating = msgspec.structs.replace(pod, metadata=msgspec.structs.replace(
        pod.metadata, deletion_timestamp=format_rfc3339(NOW())))
    assert not is_pod_active(terminating)


def test_ranking_prefers_doubled_up_and_recently_ready_pods() -> None:
    alone = ready_pod("alone", ago=100, node="n1")
    doubled_a = ready_pod("doubled-a", ago=100, node="n2")
    doubled_b = ready_pod("doubled-b", ago=50, node="n2")
    costly = ready_pod("costly", ago=1, node="n3")
    costly = msgspec.structs.replace(costly, metadata=msgspec.structs.replace(
        costly.metadata, annotations={"controller.kubernetes.io/pod-deletion-cost": "100"}))
    order = [p.metadata.name for p in pods_to_delete([alone, doubled_a, doubled_b, costly], 4)]  # type: ignore[union-attr]
    assert order == ["doubled-b", "doubled-a", "alone", "costly"]
    assert pods_to_delete([alone], 0) == []


def test_pod_from_template_sets_generate_name_and_controller_reference() -> None:
    owner = msgspec.structs.replace(ready_pod("owner", ago=0), metadata=ObjectMeta(name="web", uid="u1"))
    ref = new_controller_ref(owner, api_version="apps/v1", kind="ReplicaSet")
    template = PodTemplateSpec(
        metadata=ObjectMeta(labels={"app": "web"}, annotations={"a": "b"}, finalizers=["f"]),
        spec=PodSpec(containers=[Container(name="c", image="i")]),
    )
    pod = pod_from_template(template=template, owner_ref=ref, namespace="ns", owner_name="web")
    assert pod.metadata is not None
    assert (pod.metadata.generate_name, pod.metadata.namespace, pod.metadata.labels, pod.metadata.annotations,
            pod.metadata.finalizers) == ("web-", "ns", {"app": "web"}, {"a": "b"}, ["f"])
    assert pod.metadata.owner_references == [OwnerReference(
        api_version="apps/v1", kind="ReplicaSet", name="web", uid="u1", controller=True, block_owner_deletion=True)]
    long = pod_from_template(template=template, owner_ref=ref, namespace="ns", owner_name="x" * 100)
    assert len(long.metadata.generate_name or "") <= 58  # type: ignore[union-attr]


async def test_claim_adopts_releases_and_skips_others() -> None:
    informer: FakeInformer[Pod] = FakeInformer(indexers={INDEX_CONTROLLER: controller_index})
    writer = FakeWriter(model=Pod, resource="pods", informer=informer, now=NOW)
    owner = Pod(metadata=ObjectMeta(name="owner", namespace="default", uid="owner-uid"))
    ref = new_controller_ref(owner, api_version="apps/v1", kind="ReplicaSet")
    other_ref = OwnerReference(api_version="v1", kind="ReplicationController", name="x", uid="x", controller=True)
    writer.seed(Pod(metadata=ObjectMeta(name="orphan", namespace="default", labels={"app": "a"})))
    writer.seed(Pod(metadata=ObjectMeta(name="mine", namespace="default", labels={"app": "a"},
                                        owner_references=[ref])))
    writer.seed(Pod(metadata=ObjectMeta(name="moved", namespace="default", labels={"app": "b"},
                                        owner_references=[ref])))
    writer.seed(Pod(metadata=ObjectMeta(name="theirs", namespace="default", labels={"app": "a"},
                                        owner_references=[other_ref])))
    assert {p.metadata.name for p in informer.by_index(INDEX_CONTROLLER, orphan_index_value("default"))} == {  # type: ignore[union-attr]
        "orphan"}

    async def yes() -> bool:
        return True

    claimed = await claim_objects(owner=owner, owner_ref=ref, selector=selector_from_set({"app": "a"}),
                                  candidates=informer.list(), writer=writer, can_adopt=yes)
    assert sorted(p.metadata.name for p in claimed) == ["mine", "orphan"]  # type: ignore[union-attr]
    assert writer.objects["default/orphan"].metadata.owner_references == [ref]  # type: ignore[union-attr]
    assert writer.objects["default/moved"].metadata.owner_references is None  # type: ignore[union-attr]
    assert writer.objects["default/theirs"].metadata.owner_references == [other_ref]  # type: ignore[union-attr]

    # A stale orphan (its resourceVersion moved on) is a conflict: the sync is retried.
    stale = writer.seed(Pod(metadata=ObjectMeta(name="stale", namespace="default", labels={"app": "a"})))
    await writer.patch(name="stale", namespace="default", patch={"metadata": {"labels": {"app": "a", "x": "y"}}})
    with pytest.raises(ConflictError):
        await claim_objects(owner=owner, owner_ref=ref, selector=selector_from_set({"app": "a"}),
                            candidates=[stale], writer=writer, can_adopt=yes)

    async def no() -> bool:
        return False

    fresh_orphan = writer.seed(Pod(metadata=ObjectMeta(name="o2", namespace="default", labels={"app": "a"})))
    assert await claim_objects(owner=owner, owner_ref=ref, selector=selector_from_set({"app": "a"}),
                               candidates=[fresh_orphan], writer=writer, can_adopt=no) == []
