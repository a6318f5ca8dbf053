"""The replica controller's sync on fake caches and a fake API (FakeClock; nothing sleeps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from kybernetes.api.models.apps_v1 import ReplicaSet, ReplicaSetSpec
from kybernetes.api.models.core_v1 import (
    Container,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    ReplicationController,
    ReplicationControllerSpec,
)
from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta
from kybernetes.client import INDEX_NAMESPACE, FakeClock, namespace_index, object_key
from kybernetes.controllers.common import (
    INDEX_CONTROLLER,
    controller_index,
    new_controller_ref,
    wall_clock,
)
from kybernetes.controllers.common.fake import FakeInformer, FakeRecorder, FakeWriter
from kybernetes.controllers.replicaset import REPLICA_SET, REPLICATION_CONTROLLER, ReplicaSetController
from kybernetes.machinery.errors import ForbiddenError
from kybernetes.machinery.timefmt import format_rfc3339

LABELS = {"app": "web"}


def template(labels: dict[str, str] | None = None) -> PodTemplateSpec:
    return PodTemplateSpec(
        metadata=ObjectMeta(labels=labels or dict(LABELS)),
        spec=PodSpec(containers=[Container(name="nginx", image="nginx")]),
    )


def replica_set(*, replicas: int = 3, min_ready: int = 0, name: str = "web") -> ReplicaSet:
    return ReplicaSet(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=ReplicaSetSpec(
            replicas=replicas, min_ready_seconds=min_ready or None,
            selector=LabelSelector(match_labels=dict(LABELS)), template=template(),
        ),
    )


@dataclass
class Harness:
    clock: FakeClock
    pods: FakeWriter[Pod]
    owners: FakeWriter[Any]
    recorder: FakeRecorder
    controller: ReplicaSetController[Any]

    def owned_pods(self) -> list[Pod]:
        return [p for p in self.pods.objects.values() if p.metadata and p.metadata.deletion_timestamp is None]

    def owner(self, key: str = "default/web") -> Any:
        return self.owners.objects[key]

    def mark_ready(self, pod: Pod, *, node: str = "node-1", ago: float = 0.0) -> Pod:
        when = format_rfc3339(self.controller.now() - timedelta(seconds=ago))
        ready = msgspec.structs.replace(
            pod,
            spec=msgspec.structs.replace(pod.spec, node_name=node),
            status=PodStatus(phase="Running", conditions=[
                PodCondition(type="Ready", status="True", last_transition_time=when)]),
        )
        self.pods.objects[object_key(ready)] = ready
        assert self.pods.informer is not None
        self.pods.informer.update(ready)
        return ready


def harness(*, kind: Any = REPLICA_SET, echo: bool = True, graceful: bool = False) -> Harness:
    clock = FakeClock()
    now = wall_clock(clock)
    pod_informer: FakeInformer[Pod] = FakeInformer(indexers={INDEX_CONTROLLER: controller_index})
    owner_informer: FakeInformer[Any] = FakeInformer(indexers={INDEX_NAMESPACE: namespace_index})
    pods = FakeWriter(model=Pod, resource="pods", informer=pod_informer, now=now, echo=echo,
                      graceful_delete=graceful)
    owners: FakeWriter[Any] = FakeWriter(model=kind.model, resource="replicasets", group="apps",
                                         informer=owner_informer, now=now)
    recorder = FakeRecorder()
    controller = ReplicaSetController(
        kind=kind, owners=owner_informer, pods=pod_informer, owner_writer=owners, pod_writer=pods,
        recorder=recorder, clock=clock, now=now,
    )
    return Harness(clock=clock, pods=pods, owners=owners, recorder=recorder, controller=controller)


async def test_creates_missing_pods_from_the_template_with_a_controller_reference() -> None:
    h = harness()
    rs = h.owners.seed(replica_set(replicas=3))
    await h.controller.sync("default/web")

    pods = h.owned_pods()
    assert len(pods) == 3
    for pod in pods:
        assert pod.metadata is not None and pod.metadata.generate_name == "web-"
        assert pod.metadata.name is not None and pod.metadata.name.startswith("web-")
        assert pod.metadata.labels == LABELS
        (ref,) = pod.metadata.owner_references or []
        assert (ref.kind, ref.api_version, ref.name, ref.uid) == ("ReplicaSet", "apps/v1", "web", rs.metadata.uid)
        assert ref.controller is True and ref.block_owner_deletion is True
        assert pod.spec is not None and pod.spec.containers[0].image == "nginx"
    assert sorted(h.recorder.messages("SuccessfulCreate")) == sorted(f"Created pod: {p.metadata.name}" for p in pods)  # type: ignore[union-attr]
    # Status counts the pods the sync started from (none); the ADDED events bring the next sync.
    assert h.owner().status.replicas == 0
    assert h.controller.queue.get_nowait() == "default/web"
    await h.controller.sync("default/web")
    status = h.owner().status
    assert status.replicas == 3 and status.observed_generation == 1
    assert status.ready_replicas is None and status.available_replicas is None
    assert status.fully_labeled_replicas == 3


async def test_pending_expectations_stop_a_second_round_of_creates() -> None:
    h = harness(echo=False)
    h.owners.seed(replica_set(replicas=3))
    await h.controller.sync("default/web")
    assert len(h.pods.verbs("create")) == 3
    # The informer has not seen the pods yet: another sync must not create them again.
    await h.controller.sync("default/web")
    assert len(h.pods.verbs("create")) == 3
    assert h.controller.expectations.pending("default/web") == (3, 0)
    h.pods.flush()
    assert h.controller.expectations.satisfied("default/web")
    await h.controller.sync("default/web")
    assert len(h.pods.verbs("create")) == 3


async def test_expectations_expire_after_five_minutes() -> None:
    h = harness(echo=False)
    h.owners.seed(replica_set(replicas=2))
    await h.controller.sync("default/web")
    h.clock.advance(301)
    await h.controller.sync("default/web")  # the adds never came back: act again
    assert len(h.pods.verbs("create")) == 4


async def test_failed_creates_stop_the_slow_start_and_set_replica_failure() -> None:
    h = harness()
    h.owners.seed(replica_set(replicas=10))
    quota = 'pods "web-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=0, limited: pods=0'
    h.pods.fail("create", ForbiddenError(quota), times=100)
    with pytest.raises(ForbiddenError):
        await h.controller.sync("default/web")
    # Slow start: the first batch (one pod) failed, nothing more was attempted.
    assert len(h.pods._failures["create"]) == 99
    assert h.recorder.events == [("web", "Warning", "FailedCreate", f"Error creating: {quota}")]
    (condition,) = h.owner().status.conditions
    assert (condition.type, condition.status, condition.reason, condition.message) == (
        "ReplicaFailure", "True", "FailedCreate", quota)
    # Nothing is pending: the next sync tries again at once.
    assert h.controller.expectations.satisfied("default/web")
    h.pods._failures.clear()
    await h.controller.sync("default/web")
    assert len(h.owned_pods()) == 10
    assert h.owner().status.conditions is None


async def test_scale_down_deletes_the_least_valuable_pods_first() -> None:
    h = harness()
    h.owners.seed(replica_set(replicas=5))
    await h.controller.sync("default/web")
    pods = sorted(h.owned_pods(), key=lambda p: p.metadata.name)  # type: ignore[union-attr]
    # pods[0] stays unscheduled; pods[1] scheduled but pending; pods[2] running not ready;
    # pods[3] ready for a long time; pods[4] ready just now.
    assert pods[1].spec is not None and pods[2].spec is not None
    h.pods.objects[object_key(pods[1])] = p1 = msgspec.structs.replace(
        pods[1], spec=msgspec.structs.replace(pods[1].spec, node_name="node-1"), status=PodStatus(phase="Pending"))
    h.pods.informer.update(p1)  # type: ignore[union-attr]
    h.pods.objects[object_key(pods[2])] = p2 = msgspec.structs.replace(
        pods[2], spec=msgspec.structs.replace(pods[2].spec, node_name="node-2"), status=PodStatus(phase="Running"))
    h.pods.informer.update(p2)  # type: ignore[union-attr]
    h.mark_ready(pods[3], node="node-3", ago=600)
    h.mark_ready(pods[4], node="node-4", ago=1)

    rs = h.owner()
    h.owners.objects["default/web"] = rs = msgspec.structs.replace(rs, spec=msgspec.structs.replace(rs.spec, replicas=1))
    h.owners.informer.update(rs)  # type: ignore[union-attr]
    await h.controller.sync("default/web")
    deleted = h.pods.verbs("delete")
    names = [p.metadata.name for p in pods]  # type: ignore[union-attr]
    # Kept: the pod ready the longest.
    expected = [names[0], names[1], names[2], names[4]]
    assert sorted(deleted) == expected
    assert [p.metadata.name for p in h.owned_pods()] == [names[3]]  # type: ignore[union-attr]
    assert sorted(h.recorder.messages("SuccessfulDelete")) == sorted(f"Deleted pod: {n}" for n in expected)


async def test_terminating_pods_do_not_count_and_deletions_are_observed_when_they_start_terminating() -> None:
    h = harness(graceful=True, echo=False)
    h.owners.seed(replica_set(replicas=3))
    await h.controller.sync("default/web")
    h.pods.flush()
    rs = h.owner()
    h.owners.objects["default/web"] = rs = msgspec.structs.replace(rs, spec=msgspec.structs.replace(rs.spec, replicas=1))
    h.owners.informer.update(rs)  # type: ignore[union-attr]
    await h.controller.sync("default/web")
    assert len(h.pods.verbs("delete")) == 2
    assert h.controller.expectations.pending("default/web") == (0, 2)
    h.pods.flush()  # the pods turn terminating: deletions observed
    assert h.controller.expectations.satisfied("default/web")
    await h.controller.sync("default/web")
    assert len(h.pods.verbs("delete")) == 2 and len(h.pods.verbs("create")) == 3
    assert h.owner().status.replicas == 1


async def test_adopts_matching_orphans_and_releases_pods_that_stop_matching() -> None:
    h = harness()
    rs = h.owners.seed(replica_set(replicas=2))
    orphan = h.pods.seed(Pod(metadata=ObjectMeta(name="orphan", namespace="default", labels=dict(LABELS)),
                             spec=PodSpec(containers=[Container(name="c", image="x")])))
    stray = h.pods.seed(Pod(metadata=ObjectMeta(
        name="stray", namespace="default", labels={"app": "other"},
        owner_references=[new_controller_ref(rs, api_version="apps/v1", kind="ReplicaSet")]),
        spec=PodSpec(containers=[Container(name="c", image="x")])))
    other = h.pods.seed(Pod(metadata=ObjectMeta(name="unrelated", namespace="default", labels={"app": "x"}),
                            spec=PodSpec(containers=[Container(name="c", image="x")])))
    await h.controller.sync("default/web")
    adopted = h.pods.objects[object_key(orphan)]
    assert [r.uid for r in adopted.metadata.owner_references or []] == [rs.metadata.uid]  # type: ignore[union-attr]
    assert h.pods.objects[object_key(stray)].metadata.owner_references is None  # type: ignore[union-attr]
    assert h.pods.objects[object_key(other)].metadata.owner_references is None  # type: ignore[union-attr]
    # One adopted + one created make two.
    assert len(h.pods.verbs("create")) == 1
    await h.controller.sync("default/web")
    assert h.owner().status.replicas == 2


async def test_available_replicas_honour_min_ready_seconds_and_requeue_for_the_moment() -> None:
    h = harness()
    h.owners.seed(replica_set(replicas=2, min_ready=10))
    await h.controller.sync("default/web")
    for pod in h.owned_pods():
        h.mark_ready(pod)
    await h.controller.sync("default/web")
    status = h.owner().status
    assert status.ready_replicas == 2 and status.available_replicas is None
    while h.controller.queue.get_nowait() is not None:
        h.controller.queue.done("default/web")
    assert h.controller.queue.statistics().delayed == 1
    h.clock.advance(10.1)
    assert h.controller.queue.get_nowait() == "default/web"
    h.controller.queue.done("default/web")
    await h.controller.sync("default/web")
    assert h.owner().status.available_replicas == 2


async def test_handlers_enqueue_the_controlling_owner_and_matching_owners_for_orphans() -> None:
    h = harness()
    h.owners.seed(replica_set(replicas=0))
    h.owners.seed(replica_set(replicas=0, name="db"))
    while (key := h.controller.queue.get_nowait()) is not None:
        h.controller.queue.done(key)
    h.pods.seed(Pod(metadata=ObjectMeta(name="orphan", namespace="default", labels=dict(LABELS))))
    # Both ReplicaSets select app=web.
    assert sorted([h.controller.queue.get_nowait() or "", h.controller.queue.get_nowait() or ""]) == [
        "default/db", "default/web"]


async def test_an_invalid_selector_is_a_warning_not_a_crash() -> None:
    h = harness()
    bad = replica_set()
    assert bad.spec is not None
    h.owners.seed(msgspec.structs.replace(bad, spec=msgspec.structs.replace(bad.spec, selector=LabelSelector())))
    await h.controller.sync("default/web")
    assert h.recorder.reasons() == ["InvalidSelector"]
    assert h.pods.actions == []


async def test_gone_owner_forgets_expectations() -> None:
    h = harness(echo=False)
    h.owners.seed(replica_set(replicas=2))
    await h.controller.sync("default/web")
    rs = h.owners.objects.pop("default/web")
    h.owners.informer.delete(rs)  # type: ignore[union-attr]
    await h.controller.sync("default/web")
    assert h.controller.expectations.pending("default/web") == (0, 0)


async def test_replication_controller_uses_its_map_selector() -> None:
    h = harness(kind=REPLICATION_CONTROLLER)
    h.owners.seed(ReplicationController(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=ReplicationControllerSpec(replicas=2, selector=dict(LABELS), template=template()),
    ))
    await h.controller.sync("default/web")
    pods = h.owned_pods()
    assert len(pods) == 2
    ref = (pods[0].metadata.owner_references or [])[0]  # type: ignore[union-attr]
    assert (ref.kind, ref.api_version) == ("ReplicationController", "v1")
    await h.controller.sync("default/web")
    assert h.owner().status.replicas == 2
