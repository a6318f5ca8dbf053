"""HorizontalPodAutoscaler: the replica calculator, behaviour policies, and the controller over /scale."""

from __future__ import annotations

from cluster_fake_api import FakeClient, drain, make_context, recorded_events

from kybernetes.api.models.apps_v1 import Deployment, DeploymentSpec
from kybernetes.api.models.autoscaling_v2 import (
    CrossVersionObjectReference,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpec,
    MetricSpec,
    MetricTarget,
    ResourceMetricSource,
)
from kybernetes.api.models.core_v1 import (
    Container,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    ResourceRequirements,
)
from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta
from kybernetes.controllers import podautoscaler
from kybernetes.controllers.podautoscaler import StaticMetricsSource
from kybernetes.controllers.podautoscaler import behavior as b
from kybernetes.controllers.podautoscaler import replicas as r
from kybernetes.controllers.podautoscaler.controller import HorizontalController

NS = "app"


def pod(name: str, *, cpu: str = "100m", ready: bool = True, phase: str = "Running") -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=NS, labels={"app": "web"}),
        spec=PodSpec(containers=[Container(name="c", resources=ResourceRequirements(requests={"cpu": cpu}))]),
        status=PodStatus(phase=phase, conditions=[PodCondition(type="Ready", status="True" if ready else "False")]),
    )


def test_utilization_replicas() -> None:
    pods = [pod(f"p{i}") for i in range(2)]
    # 100 % of the requests against a 50 % target: twice as many pods.
    assert r.utilization_replicas(current=2, target_utilization=50, resource="cpu", pods=pods,
                                  metrics={"p0": 100, "p1": 100}) == (4, 100, 100)
    # Within the 10 % tolerance: no change.
    assert r.utilization_replicas(current=2, target_utilization=50, resource="cpu", pods=pods,
                                  metrics={"p0": 54, "p1": 54})[0] == 2
    # Scale down.
    assert r.utilization_replicas(current=2, target_utilization=50, resource="cpu", pods=pods,
                                  metrics={"p0": 10, "p1": 10})[0] == 1


def test_missing_and_unready_pods() -> None:
    pods = [pod("a"), pod("b"), pod("c", ready=False)]
    # Scaling up: the unready pod counts as using nothing, which still asks for more.
    replicas, _, _ = r.utilization_replicas(current=3, target_utilization=50, resource="cpu", pods=pods,
                                            metrics={"a": 100, "b": 100, "c": 100})
    assert replicas == 4  # ratio (200+0)/(300) / 0.5 = 1.33 → ceil(1.33 * 3)
    # Scaling down with a pod missing its metric: the missing pod is assumed at 100 % of its request.
    pods = [pod("a"), pod("b"), pod("m")]
    replicas, _, _ = r.utilization_replicas(current=3, target_utilization=50, resource="cpu", pods=pods,
                                            metrics={"a": 10, "b": 10})
    assert replicas == 3  # (10+10+100)/300 = 40 % → ratio 0.8 → ceil(2.4) = 3
    try:
        r.utilization_replicas(current=1, target_utilization=50, resource="memory", pods=[pod("a")],
                               metrics={"a": 1})
    except r.ReplicaCalculationError as e:
        assert str(e) == "missing request for memory in container c of Pod a"
    else:
        raise AssertionError("expected an error")


def test_average_value_replicas() -> None:
    pods = [pod("a"), pod("b")]
    assert r.average_value_replicas(current=2, target_milli=100_000, resource="memory", pods=pods,
                                    metrics={"a": 300_000, "b": 100_000}) == (4, 200_000)


def test_behavior_limits() -> None:
    up, down = b.scale_rules(None, downscale_window=300)
    history = b.History()
    # Default scale-up: max(4 pods, 100 %) per 15 s.
    assert b.limit_rate(history=history, current=2, desired=20, minimum=1, maximum=50, up=up, down=down,
                        now=0)[:2] == (6, "ScaleUpLimit")
    assert b.limit_rate(history=history, current=10, desired=40, minimum=1, maximum=50, up=up, down=down,
                        now=0)[0] == 20
    assert b.limit_rate(history=history, current=10, desired=80, minimum=1, maximum=15, up=up, down=down,
                        now=0)[:2] == (15, "TooManyReplicas")
    assert b.limit_rate(history=history, current=10, desired=1, minimum=3, maximum=15, up=up, down=down,
                        now=0)[:2] == (3, "TooFewReplicas")
    # A scale-up just happened: the period's start count is lower, so the limit is too.
    b.record_scale(history=history, previous=2, new=6, up=up, down=down, now=0)
    assert b.limit_rate(history=history, current=6, desired=20, minimum=1, maximum=50, up=up, down=down,
                        now=5)[0] == 6
    assert b.limit_rate(history=history, current=6, desired=20, minimum=1, maximum=50, up=up, down=down,
                        now=16)[0] == 12


def test_stabilization_window() -> None:
    up, down = b.scale_rules(None, downscale_window=300)
    history = b.History(recommendations=[(0.0, 5)])
    # A lower recommendation within the window does not scale down.
    assert b.stabilize(history=history, current=5, desired=2, up=up, down=down, now=10)[:2] == (5, "ScaleDownStabilized")
    assert b.stabilize(history=history, current=5, desired=2, up=up, down=down, now=301)[0] == 2


def hpa(target: int = 50, *, min_replicas: int = 1, max_replicas: int = 10) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler(
        metadata=ObjectMeta(name="web", namespace=NS),
        spec=HorizontalPodAutoscalerSpec(
            scale_target_ref=CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name="web"),
            min_replicas=min_replicas, max_replicas=max_replicas,
            metrics=[MetricSpec(type="Resource", resource=ResourceMetricSource(
                name="cpu", target=MetricTarget(type="Utilization", average_utilization=target)))],
        ),
    )


def setup(replicas: int = 2) -> tuple[FakeClient, HorizontalController, StaticMetricsSource]:
    client, ctx = make_context({"horizontal-pod-autoscaler-sync-period": "1"})
    source = StaticMetricsSource()
    ctrl = podautoscaler.new(ctx, metrics=source)
    client.resource(Deployment).add(Deployment(metadata=ObjectMeta(name="web", namespace=NS), spec=DeploymentSpec(
        replicas=replicas, selector=LabelSelector(match_labels={"app": "web"}))))
    for i in range(replicas):
        client.resource(Pod).add(pod(f"web-{i}"))
    return client, ctrl, source


async def test_scales_up_through_scale_subresource() -> None:
    client, ctrl, source = setup()
    for i in range(2):
        source.set_usage(namespace=NS, pod=f"web-{i}", usage={"cpu": "100m"})
    client.resource(HorizontalPodAutoscaler).add(hpa())
    await drain(ctrl.queue, ctrl.sync)
    assert client.resource(Deployment).objects[f"{NS}/web"].spec.replicas == 4
    assert ("Normal", "SuccessfulRescale",
            "New size: 4; reason: cpu resource utilization (percentage of request) above target"
            ) in recorded_events(ctrl.recorder)
    status = client.resource(HorizontalPodAutoscaler).objects[f"{NS}/web"].status
    assert (status.current_replicas, status.desired_replicas) == (2, 4)
    assert status.last_scale_time and status.observed_generation == 1
    current = status.current_metrics[0]
    assert (current.type, current.resource.name, current.resource.current.average_utilization,
            current.resource.current.average_value) == ("Resource", "cpu", 100, "100m")
    conditions = {c.type: (c.status, c.reason) for c in status.conditions}
    assert conditions == {"AbleToScale": ("True", "SucceededRescale"), "ScalingActive": ("True", "ValidMetricFound"),
                          "ScalingLimited": ("False", "DesiredWithinRange")}
    # The sync repeats every sync period.
    assert ctrl.queue.statistics().delayed == 1


async def test_scale_down_waits_for_stabilization_window() -> None:
    client, ctrl, source = setup(replicas=4)
    for i in range(4):
        source.set_usage(namespace=NS, pod=f"web-{i}", usage={"cpu": "10m"})
    client.resource(HorizontalPodAutoscaler).add(hpa())
    await drain(ctrl.queue, ctrl.sync)
    deployments = client.resource(Deployment)
    assert deployments.objects[f"{NS}/web"].spec.replicas == 4
    status = client.resource(HorizontalPodAutoscaler).objects[f"{NS}/web"].status
    able = next(c for c in status.conditions if c.type == "AbleToScale")
    assert able.reason == "ScaleDownStabilized"
    ctrl.clock.advance(301)
    await drain(ctrl.queue, ctrl.sync)
    assert deployments.objects[f"{NS}/web"].spec.replicas == 1
    assert any(m == "New size: 1; reason: All metrics below target" for _, _, m in recorded_events(ctrl.recorder))


async def test_missing_metrics_and_bounds() -> None:
    client, ctrl, _source = setup()
    hpas = client.resource(HorizontalPodAutoscaler)
    hpas.add(hpa())
    await drain(ctrl.queue, ctrl.sync)
    status = hpas.objects[f"{NS}/web"].status
    active = next(c for c in status.conditions if c.type == "ScalingActive")
    assert (active.status, active.reason) == ("False", "FailedGetResourceMetric")
    assert active.message.startswith("the HPA was unable to compute the replica count: failed to get cpu utilization")
    events = recorded_events(ctrl.recorder)
    assert any(reason == "FailedComputeMetricsReplicas" and "invalid metrics (1 invalid out of 1)" in message
               for _, reason, message in events)
    assert client.resource(Deployment).objects[f"{NS}/web"].spec.replicas == 2

    # Below minReplicas: raised to it without metrics.
    hpas.put(hpa(min_replicas=3).__class__(metadata=hpas.objects[f"{NS}/web"].metadata,
                                           spec=hpa(min_replicas=3).spec, status=status))
    await drain(ctrl.queue, ctrl.sync)
    assert client.resource(Deployment).objects[f"{NS}/web"].spec.replicas == 3
    assert ("Normal", "SuccessfulRescale", "New size: 3; reason: Current number of replicas below Spec.MinReplicas"
            ) in recorded_events(ctrl.recorder)


async def test_missing_target_is_a_condition() -> None:
    client, ctx = make_context()
    ctrl = podautoscaler.new(ctx, metrics=StaticMetricsSource())
    hpas = client.resource(HorizontalPodAutoscaler)
    hpas.add(hpa())
    await drain(ctrl.queue, ctrl.sync)
    able = next(c for c in hpas.objects[f"{NS}/web"].status.conditions if c.type == "AbleToScale")
    assert (able.status, able.reason) == ("False", "FailedGetScale")
