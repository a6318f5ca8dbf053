"""PodDisruptionBudget status: healthy pods, expected pods from the controllers' scale, allowed disruptions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cluster_fake_api import drain, make_context, recorded_events

from kybernetes.api.models.apps_v1 import Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec
from kybernetes.api.models.core_v1 import Pod, PodCondition, PodSpec, PodStatus
from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta, OwnerReference
from kybernetes.api.models.policy_v1 import (
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus,
)
from kybernetes.controllers import disruption
from kybernetes.controllers.disruption import budget
from kybernetes.machinery.timefmt import format_rfc3339, utcnow

NS = "web"


def pod(name: str, *, ready: bool = True, owner: OwnerReference | None = None, labels: dict[str, str] | None = None) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=NS, labels=labels or {"app": "web"},
                            owner_references=[owner] if owner else None),
        spec=PodSpec(),
        status=PodStatus(phase="Running", conditions=[PodCondition(type="Ready", status="True" if ready else "False")]),
    )


def pdb(name: str, **spec: object) -> PodDisruptionBudget:
    return PodDisruptionBudget(
        metadata=ObjectMeta(name=name, namespace=NS),
        spec=PodDisruptionBudgetSpec(selector=LabelSelector(match_labels={"app": "web"}), **spec),  # type: ignore[arg-type]
    )


def test_scaled_value() -> None:
    assert budget.scaled_value("50%", 3, round_up=True) == 2
    assert budget.scaled_value("50%", 3, round_up=False) == 1
    assert budget.scaled_value(2, 10, round_up=True) == 2
    with pytest.raises(ValueError):
        budget.scaled_value("two", 3, round_up=True)


async def test_min_available_int() -> None:
    client, ctx = make_context()
    ctrl = disruption.new(ctx)
    for i in range(3):
        client.resource(Pod).add(pod(f"p{i}", ready=i != 2))
    pdbs = client.resource(PodDisruptionBudget)
    pdbs.add(pdb("b", min_available=1))
    await drain(ctrl.queue, ctrl.sync)
    status = pdbs.objects[f"{NS}/b"].status
    assert (status.current_healthy, status.desired_healthy, status.expected_pods, status.disruptions_allowed) == (
        2, 1, 3, 1)
    assert status.observed_generation == 1
    cond = status.conditions[0]
    assert (cond.type, cond.status, cond.reason) == ("DisruptionAllowed", "True", "SufficientPods")
    # One more pod goes unready: no disruption allowed any more.
    client.resource(Pod).put(pod("p1", ready=False))
    await drain(ctrl.queue, ctrl.sync)
    status = pdbs.objects[f"{NS}/b"].status
    assert status.disruptions_allowed == 0 and status.conditions[0].reason == "InsufficientPods"
    assert status.conditions[0].status == "False"


async def test_max_unavailable_uses_deployment_scale() -> None:
    client, ctx = make_context()
    ctrl = disruption.new(ctx)
    dep = client.resource(Deployment).add(Deployment(metadata=ObjectMeta(name="web", namespace=NS),
                                                     spec=DeploymentSpec(replicas=4)))
    rs = client.resource(ReplicaSet).add(ReplicaSet(
        metadata=ObjectMeta(name="web-1", namespace=NS, owner_references=[OwnerReference(
            api_version="apps/v1", kind="Deployment", name="web", uid=dep.metadata.uid, controller=True)]),
        spec=ReplicaSetSpec(replicas=4)))
    owner = OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="web-1", uid=rs.metadata.uid, controller=True)
    for i in range(3):  # one of the four is missing
        client.resource(Pod).add(pod(f"p{i}", owner=owner))
    pdbs = client.resource(PodDisruptionBudget)
    pdbs.add(pdb("b", max_unavailable="25%"))
    await drain(ctrl.queue, ctrl.sync)
    status = pdbs.objects[f"{NS}/b"].status
    assert (status.expected_pods, status.desired_healthy, status.current_healthy, status.disruptions_allowed) == (
        4, 3, 3, 0)


async def test_unmanaged_pods_and_failure() -> None:
    client, ctx = make_context()
    ctrl = disruption.new(ctx)
    client.resource(Pod).add(pod("bare"))
    orphan = OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="gone", uid="x", controller=True)
    pdbs = client.resource(PodDisruptionBudget)
    pdbs.add(pdb("b", max_unavailable=1))
    await drain(ctrl.queue, ctrl.sync)
    events = recorded_events(ctrl.recorder)
    assert any(reason == "UnmanagedPods" and "app=web" in message for _, reason, message in events)
    # A pod whose controller cannot be found: fail safe, SyncFailed, and a warning.
    client.resource(Pod).add(pod("lost", owner=orphan))
    with pytest.raises(disruption.controller.ExpectedCountError):
        await drain(ctrl.queue, ctrl.sync)
    status = pdbs.objects[f"{NS}/b"].status
    assert status.disruptions_allowed == 0
    assert (status.conditions[0].status, status.conditions[0].reason) == ("False", "SyncFailed")
    assert "found no controllers for pod 'lost'" in status.conditions[0].message
    assert any(reason == "CalculateExpectedPodCountFailed" for _, reason, _ in recorded_events(ctrl.recorder))


async def test_disrupted_pods_kept_then_expired() -> None:
    client, ctx = make_context()
    ctrl = disruption.new(ctx)
    for i in range(2):
        client.resource(Pod).add(pod(f"p{i}"))
    now = utcnow()
    ctrl.wall_clock = lambda: now
    pdbs = client.resource(PodDisruptionBudget)
    created = pdbs.add(pdb("b", min_available=1))
    pdbs.put(created.__class__(metadata=created.metadata, spec=created.spec,
                               status=PodDisruptionBudgetStatus(disrupted_pods={"p0": format_rfc3339(now)})))
    await drain(ctrl.queue, ctrl.sync)
    status = pdbs.objects[f"{NS}/b"].status
    assert status.current_healthy == 1 and status.disruptions_allowed == 0
    assert status.disrupted_pods == {"p0": format_rfc3339(now)}
    # A recheck is queued for when the entry expires; after that the pod counts again.
    assert ctrl.queue.statistics().delayed == 1
    ctrl.wall_clock = lambda: now + timedelta(minutes=3)
    ctrl.queue.add(f"{NS}/b")
    await drain(ctrl.queue, ctrl.sync)
    status = pdbs.objects[f"{NS}/b"].status
    assert status.current_healthy == 2 and status.disruptions_allowed == 1 and status.disrupted_pods is None


async def test_no_pods_event_and_label_change_requeues_old_budget() -> None:
    client, ctx = make_context()
    ctrl = disruption.new(ctx)
    pdbs = client.resource(PodDisruptionBudget)
    pdbs.add(pdb("b", min_available=1))
    await drain(ctrl.queue, ctrl.sync)
    assert ("Normal", "NoPods", "No matching pods found") in recorded_events(ctrl.recorder)
    client.resource(Pod).add(pod("p", labels={"app": "web"}))
    await drain(ctrl.queue, ctrl.sync)
    assert pdbs.objects[f"{NS}/b"].status.current_healthy == 1
    client.resource(Pod).put(pod("p", labels={"app": "other"}))
    assert ctrl.queue.get_nowait() == f"{NS}/b"
