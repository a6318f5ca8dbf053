"""The Deployment controller's sync on fake caches and a fake API (FakeClock; nothing sleeps).

A tiny stand-in for the ReplicaSet controller (`settle`) writes ReplicaSet status as if every desired pod
existed, with availability chosen by the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from kybernetes.api.models.apps_v1 import (
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicaSetStatus,
    RollingUpdateDeployment,
)
from kybernetes.api.models.core_v1 import Container, Pod, PodSpec, PodTemplateSpec
from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta
from kybernetes.client import INDEX_NAMESPACE, FakeClock, namespace_index, object_key
from kybernetes.controllers.common import INDEX_CONTROLLER, controller_index, wall_clock
from kybernetes.controllers.common.fake import FakeInformer, FakeRecorder, FakeWriter
from kybernetes.controllers.deployment import DeploymentController, progress, revisions, scaling

LABELS = {"app": "web"}


def deployment(*, replicas: int = 3, image: str = "nginx", strategy: str = "RollingUpdate",
               surge: int | str = "25%", unavailable: int | str = "25%", deadline: int | None = 600,
               history: int | None = 10) -> Deployment:
    rolling = RollingUpdateDeployment(max_surge=surge, max_unavailable=unavailable) if strategy == "RollingUpdate" else None
    return Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(
            replicas=replicas, selector=LabelSelector(match_labels=dict(LABELS)),
            strategy=DeploymentStrategy(type=strategy, rolling_update=rolling),
            template=PodTemplateSpec(metadata=ObjectMeta(labels=dict(LABELS)),
                                     spec=PodSpec(containers=[Container(name="nginx", image=image)])),
            progress_deadline_seconds=deadline, revision_history_limit=history,
        ),
    )


@dataclass
class Harness:
    clock: FakeClock
    deployments: FakeWriter[Deployment]
    rss: FakeWriter[ReplicaSet]
    recorder: FakeRecorder
    controller: DeploymentController

    def d(self) -> Deployment:
        return self.deployments.objects["default/web"]

    def replica_sets(self) -> list[ReplicaSet]:
        return sorted(self.rss.objects.values(), key=revisions.creation_order)

    def sizes(self) -> dict[str, int]:
        return {rs.metadata.name or "": scaling.replicas_of(rs) for rs in self.replica_sets()}  # type: ignore[union-attr]

    def set_spec(self, **changes: Any) -> None:
        d = self.d()
        assert d.spec is not None
        d = msgspec.structs.replace(d, spec=msgspec.structs.replace(d.spec, **changes))
        self.deployments.objects["default/web"] = d
        stored = self.deployments._store(d, rv_check=None)
        self.deployments.informer.update(stored)  # type: ignore[union-attr]

    def settle(self, *, available: bool = True) -> None:
        """The ReplicaSet controller's part: status.replicas = spec; available when asked (never more pods
        become available than exist)."""
        for rs in self.replica_sets():
            want = scaling.replicas_of(rs)
            avail = want if available else min(scaling.available_replicas(rs), want)
            status = ReplicaSetStatus(replicas=want, ready_replicas=avail or None, available_replicas=avail or None,
                                      observed_generation=rs.metadata.generation)  # type: ignore[union-attr]
            if rs.status != status:
                stored = self.rss._store(msgspec.structs.replace(rs, status=status), rv_check=None)
                self.rss.informer.update(stored)  # type: ignore[union-attr]

    async def sync(self) -> None:
        await self.controller.sync("default/web")


def harness(d: Deployment) -> Harness:
    clock = FakeClock()
    now = wall_clock(clock)
    d_inf: FakeInformer[Deployment] = FakeInformer(indexers={INDEX_NAMESPACE: namespace_index})
    rs_inf: FakeInformer[ReplicaSet] = FakeInformer(indexers={INDEX_CONTROLLER: controller_index})
    pod_inf: FakeInformer[Pod] = FakeInformer(indexers={INDEX_CONTROLLER: controller_index})
    deployments = FakeWriter(model=Deployment, resource="deployments", group="apps", informer=d_inf, now=now)
    rss = FakeWriter(model=ReplicaSet, resource="replicasets", group="apps", informer=rs_inf, now=now)
    recorder = FakeRecorder()
    controller = DeploymentController(
        deployments=d_inf, replica_sets=rs_inf, pods=pod_inf, deployment_writer=deployments, rs_writer=rss,
        recorder=recorder, clock=clock, now=now,
    )
    deployments.seed(d)
    return Harness(clock=clock, deployments=deployments, rss=rss, recorder=recorder, controller=controller)


async def test_a_new_deployment_gets_a_hashed_replica_set_with_revision_annotations() -> None:
    h = harness(deployment(replicas=3))
    await h.sync()
    (rs,) = h.replica_sets()
    assert rs.metadata is not None and rs.spec is not None and rs.spec.selector is not None
    pod_hash = revisions.template_hash(h.d().spec.template)  # type: ignore[union-attr]
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.metadata.labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.spec.template.metadata.labels == {"app": "web", "pod-template-hash": pod_hash}  # type: ignore[union-attr]
    assert rs.spec.replicas == 3
    assert rs.metadata.annotations == {
        revisions.REVISION: "1", revisions.DESIRED_REPLICAS: "3", revisions.MAX_REPLICAS: "4"}
    ref = (rs.metadata.owner_references or [])[0]
    assert (ref.kind, ref.name, ref.controller, ref.block_owner_deletion) == ("Deployment", "web", True, True)
    assert h.recorder.messages("ScalingReplicaSet") == [f"Scaled up replica set web-{pod_hash} to 3"]
    d = h.d()
    assert revisions.annotations_of(d)[revisions.REVISION] == "1"
    cond = progress.get_condition(d.status, progress.PROGRESSING)
    assert cond is not None and (cond.status, cond.reason, cond.message) == (
        "True", "NewReplicaSetCreated", f'Created new replica set "web-{pod_hash}"')

    h.settle()
    await h.sync()
    status = h.d().status
    assert status is not None
    assert (status.replicas, status.updated_replicas, status.available_replicas, status.observed_generation) == (
        3, 3, 3, 1)
    available = progress.get_condition(status, progress.AVAILABLE)
    assert available is not None and (available.status, available.reason) == ("True", "MinimumReplicasAvailable")
    cond = progress.get_condition(status, progress.PROGRESSING)
    assert cond is not None and cond.reason == "NewReplicaSetAvailable"
    assert cond.message == f'ReplicaSet "web-{pod_hash}" has successfully progressed.'


async def test_rolling_update_respects_surge_and_unavailability_at_every_step() -> None:
    h = harness(deployment(replicas=10))  # 25% → surge 3, unavailable 2
    await h.sync()
    h.settle()
    await h.sync()
    old_name = next(iter(h.sizes()))
    h.set_spec(template=msgspec.structs.replace(
        h.d().spec.template, spec=PodSpec(containers=[Container(name="nginx", image="nginx:2")])))  # type: ignore[union-attr]
    for _ in range(60):
        await h.sync()
        rss = h.replica_sets()
        # Up to 10 + 3 pods are asked for; at least 10 - 2 stay available.
        assert scaling.total_replicas(rss) <= 13
        assert sum(min(scaling.available_replicas(rs), scaling.replicas_of(rs)) for rs in rss) >= 8
        h.settle(available=True)
        if h.sizes()[old_name] == 0 and progress.is_complete(h.d(), h.d().status):  # type: ignore[arg-type]
            break
    sizes = h.sizes()
    assert sizes[old_name] == 0 and sorted(sizes.values()) == [0, 10]
    new_rs = next(rs for rs in h.replica_sets() if rs.metadata.name != old_name)  # type: ignore[union-attr]
    assert revisions.revision_of(new_rs) == 2 and revisions.annotations_of(h.d())[revisions.REVISION] == "2"
    messages = h.recorder.messages("ScalingReplicaSet")
    assert f"Scaled down replica set {old_name} to 8 from 10" in messages
    assert any(m.startswith(f"Scaled up replica set {new_rs.metadata.name} to 3") for m in messages)  # type: ignore[union-attr]


async def test_rolling_update_waits_while_new_pods_are_unavailable() -> None:
    h = harness(deployment(replicas=4, surge=1, unavailable=0))
    await h.sync()
    h.settle()
    await h.sync()
    h.set_spec(template=msgspec.structs.replace(
        h.d().spec.template, spec=PodSpec(containers=[Container(name="nginx", image="broken")])))  # type: ignore[union-attr]
    for _ in range(5):
        await h.sync()
        h.settle(available=False)
    # One surge pod asked for, no old pod removed: nothing new ever became available.
    assert sorted(h.sizes().values()) == [1, 4]


async def test_recreate_scales_old_to_zero_before_creating_the_new_replica_set() -> None:
    h = harness(deployment(replicas=3, strategy="Recreate"))
    await h.sync()
    h.settle()
    await h.sync()
    h.set_spec(template=msgspec.structs.replace(
        h.d().spec.template, spec=PodSpec(containers=[Container(name="nginx", image="nginx:2")])))  # type: ignore[union-attr]
    await h.sync()
    assert list(h.sizes().values()) == [0]  # scaled down, no new ReplicaSet yet
    await h.sync()
    assert len(h.replica_sets()) == 1  # old pods still reported by the old ReplicaSet's status
    h.settle()
    await h.sync()
    assert sorted(h.sizes().values()) == [0, 3]


async def test_resizing_during_a_rollout_is_proportional() -> None:
    h = harness(deployment(replicas=10, surge=3, unavailable=2))
    await h.sync()
    h.settle()
    await h.sync()
    h.set_spec(template=msgspec.structs.replace(
        h.d().spec.template, spec=PodSpec(containers=[Container(name="nginx", image="nginx:2")])))  # type: ignore[union-attr]
    await h.sync()  # new RS at 3
    h.settle(available=False)
    await h.sync()  # old RS scaled down to 8
    h.settle(available=False)
    await h.sync()
    assert sorted(h.sizes().values()) == [5, 8]  # new grew into the freed room (13 = 10 + surge)
    h.set_spec(replicas=20, strategy=DeploymentStrategy(
        type="RollingUpdate", rolling_update=RollingUpdateDeployment(max_surge="25%", max_unavailable=2)))
    await h.sync()
    # 25 allowed (20 + 5 surge), shared by the max-replicas annotation (13): old 8*25/13 → 15, new 5*25/13 → 10.
    assert sorted(h.sizes().values()) == [10, 15]
    assert all(revisions.int_annotation(rs, revisions.MAX_REPLICAS) == 25 for rs in h.replica_sets())


async def test_paused_deployment_makes_no_rollout_progress() -> None:
    h = harness(deployment(replicas=2))
    await h.sync()
    h.settle()
    await h.sync()
    h.set_spec(paused=True, template=msgspec.structs.replace(
        h.d().spec.template, spec=PodSpec(containers=[Container(name="nginx", image="nginx:2")])))  # type: ignore[union-attr]
    await h.sync()
    assert len(h.replica_sets()) == 1
    cond = progress.get_condition(h.d().status, progress.PROGRESSING)
    assert cond is not None and (cond.status, cond.reason, cond.message) == ("Unknown", "DeploymentPaused",
                                                                             "Deployment is paused")
    h.set_spec(paused=False)
    await h.sync()
    assert len(h.replica_sets()) == 2


async def test_progress_deadline_exceeded_after_no_progress() -> None:
    h = harness(deployment(replicas=2, deadline=30))
    await h.sync()
    h.settle(available=False)
    await h.sync()
    # No progress from now on: the controller asks to be woken when the deadline passes.
    await h.sync()
    assert h.controller.queue.statistics().delayed == 1
    h.clock.advance(32)
    await h.sync()
    cond = progress.get_condition(h.d().status, progress.PROGRESSING)
    assert cond is not None and (cond.status, cond.reason) == ("False", "ProgressDeadlineExceeded")
    assert cond.message.endswith("has timed out progressing.")  # type: ignore[union-attr]


async def test_old_replica_sets_beyond_the_history_limit_are_deleted() -> None:
    h = harness(deployment(replicas=1, history=1))
    for image in ["a", "b", "c", "d"]:
        h.set_spec(template=msgspec.structs.replace(
            h.d().spec.template, spec=PodSpec(containers=[Container(name="nginx", image=image)])))  # type: ignore[union-attr]
        for _ in range(6):
            await h.sync()
            h.settle()
    rss = h.replica_sets()
    assert len(rss) == 2
    assert sorted(revisions.revision_of(rs) for rs in rss) == [3, 4]  # the current one and one old


async def test_rollback_reuses_the_old_replica_set_with_a_new_revision() -> None:
    h = harness(deployment(replicas=1))
    first = h.d().spec.template  # type: ignore[union-attr]
    await h.sync()
    h.settle()
    h.set_spec(template=msgspec.structs.replace(first, spec=PodSpec(containers=[Container(name="nginx", image="v2")])))
    for _ in range(6):
        await h.sync()
        h.settle()
    h.set_spec(template=first)  # what `kubectl rollout undo` patches in
    for _ in range(6):
        await h.sync()
        h.settle()
    rss = h.replica_sets()
    assert len(rss) == 2
    original, second = sorted(rss, key=lambda rs: rs.spec.template.spec.containers[0].image)  # type: ignore[union-attr]
    assert original.spec.template.spec.containers[0].image == "nginx"  # type: ignore[union-attr]
    assert revisions.annotations_of(original)[revisions.REVISION] == "3"
    assert revisions.annotations_of(original)[revisions.REVISION_HISTORY] == "1"
    assert scaling.replicas_of(original) == 1 and scaling.replicas_of(second) == 0


async def test_change_cause_is_copied_to_the_new_replica_set() -> None:
    d = deployment(replicas=1)
    d = msgspec.structs.replace(d, metadata=msgspec.structs.replace(
        d.metadata, annotations={"kubernetes.io/change-cause": "kubectl set image"}))
    h = harness(d)
    await h.sync()
    (rs,) = h.replica_sets()
    assert revisions.annotations_of(rs)["kubernetes.io/change-cause"] == "kubectl set image"


async def test_an_empty_selector_is_a_warning_and_observed_generation_moves() -> None:
    d = deployment()
    assert d.spec is not None
    h = harness(msgspec.structs.replace(d, spec=msgspec.structs.replace(d.spec, selector=LabelSelector())))
    await h.sync()
    assert h.recorder.reasons() == ["SelectingAll"]
    assert h.d().status.observed_generation == 1  # type: ignore[union-attr]
    assert h.rss.actions == []


async def test_adopts_an_orphan_replica_set_matching_the_selector() -> None:
    h = harness(deployment(replicas=2))
    template = h.d().spec.template  # type: ignore[union-attr]
    orphan = h.rss.seed(ReplicaSet(
        metadata=ObjectMeta(name="web-orphan", namespace="default", labels=dict(LABELS)),
        spec=ReplicaSetSpec(replicas=2, selector=LabelSelector(match_labels=dict(LABELS)), template=template),
    ))
    await h.sync()
    adopted = h.rss.objects[object_key(orphan)]
    assert [r.name for r in adopted.metadata.owner_references or []] == ["web"]  # type: ignore[union-attr]
    # Its template is the Deployment's: it is the new ReplicaSet, no other is created.
    assert len(h.rss.objects) == 1


def test_fenceposts_round_surge_up_and_unavailability_down() -> None:
    assert scaling.fenceposts(deployment(replicas=10)) == (3, 2)
    assert scaling.fenceposts(deployment(replicas=1, surge="0%", unavailable="0%")) == (0, 1)
    assert scaling.fenceposts(deployment(replicas=3, surge=0, unavailable="10%")) == (0, 1)
    assert scaling.max_unavailable(deployment(replicas=2, unavailable=5)) == 2
    assert scaling.max_surge(deployment(replicas=2, strategy="Recreate")) == 0


def test_template_hash_is_a_stable_label_value_that_moves_with_the_collision_count() -> None:
    template = deployment().spec.template  # type: ignore[union-attr]
    first = revisions.template_hash(template)
    assert first == revisions.template_hash(msgspec.convert(msgspec.to_builtins(template), PodTemplateSpec))
    assert first.isalnum() and len(first) <= 10 and not any(c in "aeiou" for c in first)
    assert revisions.template_hash(template, 1) != first
    other = msgspec.structs.replace(template, spec=PodSpec(containers=[Container(name="nginx", image="x")]))
    assert revisions.template_hash(other) != first
