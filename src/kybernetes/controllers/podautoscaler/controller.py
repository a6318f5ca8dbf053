"""The horizontal pod autoscaler controller (see the package docstring)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import msgspec

from kybernetes.api import resources
from kybernetes.api.models.autoscaling_v1 import Scale
from kybernetes.api.models.autoscaling_v2 import (
    ContainerResourceMetricStatus,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerCondition,
    HorizontalPodAutoscalerStatus,
    MetricSpec,
    MetricStatus,
    MetricTarget,
    MetricValueStatus,
    ResourceMetricSource,
    ResourceMetricStatus,
)
from kybernetes.api.models.core_v1 import Pod
from kybernetes.client import INDEX_NAMESPACE, WorkQueue, namespace_index, object_key
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.podautoscaler import behavior as b
from kybernetes.controllers.podautoscaler import replicas as r
from kybernetes.controllers.podautoscaler.metrics import MetricsError, MetricsSource, ResourceMetricsAPI
from kybernetes.machinery.errors import NotFoundError, StatusError
from kybernetes.machinery.labels import LabelSelector
from kybernetes.machinery.quantity import Quantity
from kybernetes.machinery.timefmt import now_rfc3339

log = logging.getLogger(__name__)

COMPONENT = "horizontal-pod-autoscaler"
DEFAULT_SYNC_PERIOD = 15.0


class MetricError(Exception):
    """One metric could not be turned into a replica count; carries the ScalingActive reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class Proposal:
    replicas: int
    metric: str  # "cpu resource utilization (percentage of request)"
    status: MetricStatus


def _resource_status(name: str, *, utilization: int | None, average_milli: int, container: str = "") -> MetricStatus:
    current = MetricValueStatus(average_utilization=utilization, average_value=str(Quantity.from_milli(average_milli)))
    if container:
        return MetricStatus(type="ContainerResource", container_resource=ContainerResourceMetricStatus(
            name=name, container=container, current=current))
    return MetricStatus(type="Resource", resource=ResourceMetricStatus(name=name, current=current))


class HorizontalController:
    name = "horizontal-pod-autoscaler"

    def __init__(self, *, ctx: ControllerContext, metrics: MetricsSource | None = None) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.client = ctx.client
        self.metrics: MetricsSource = metrics or ResourceMetricsAPI(client=ctx.client)
        opts = ctx.options
        self.sync_period = float(opts.get("horizontal-pod-autoscaler-sync-period") or DEFAULT_SYNC_PERIOD)
        self.tolerance = float(opts.get("horizontal-pod-autoscaler-tolerance") or r.DEFAULT_TOLERANCE)
        self.downscale_window = int(float(opts.get("horizontal-pod-autoscaler-downscale-stabilization") or
                                          b.DEFAULT_DOWNSCALE_WINDOW))
        self.hpas = ctx.informers.informer(HorizontalPodAutoscaler)
        self.pods = ctx.informers.informer(Pod, indexers={INDEX_NAMESPACE: namespace_index})
        self.recorder = ctx.recorder(COMPONENT)
        self.queue = WorkQueue(name=self.name, clock=ctx.clock)
        self.history: dict[str, b.History] = {}
        self.hpas.add_handler(on_add=self._enqueue, on_update=self._updated, on_delete=self._deleted)

    def _enqueue(self, hpa: HorizontalPodAutoscaler) -> None:
        self.queue.add(object_key(hpa))

    def _updated(self, old: HorizontalPodAutoscaler, new: HorizontalPodAutoscaler) -> None:
        # Our own status writes come back as updates; only a spec change warrants an early sync.
        if old.spec != new.spec:
            self._enqueue(new)

    def _deleted(self, hpa: HorizontalPodAutoscaler) -> None:
        self.history.pop(object_key(hpa), None)

    # ---- scale target ------------------------------------------------------------------------------------

    def _scale_resource(self, hpa: HorizontalPodAutoscaler) -> tuple[str, str, str]:
        ref = hpa.spec.scale_target_ref if hpa.spec else None
        if ref is None or not ref.kind or not ref.name:
            raise ValueError("spec.scaleTargetRef is required")
        group, _, version = (ref.api_version or "v1").rpartition("/")
        info = resources.by_kind(group, version, ref.kind)
        if info is None:
            raise ValueError(f"no matches for kind {ref.kind!r} in group {group!r}")
        if "scale" not in info.subresources:
            raise ValueError(f"{info.plural}.{group or 'core'} have no scale subresource")
        return group, version, info.plural

    async def _get_scale(self, hpa: HorizontalPodAutoscaler) -> Scale:
        group, version, plural = self._scale_resource(hpa)
        ref = hpa.spec.scale_target_ref  # type: ignore[union-attr]
        return await self.client.dynamic(group=group, version=version, plural=plural).get_scale(
            name=ref.name or "", namespace=hpa.metadata.namespace if hpa.metadata else None  # type: ignore[union-attr]
        )

    async def _update_scale(self, hpa: HorizontalPodAutoscaler, replicas: int, scale: Scale) -> None:
        group, version, plural = self._scale_resource(hpa)
        await self.client.dynamic(group=group, version=version, plural=plural).update_scale(
            name=scale.metadata.name or "" if scale.metadata else "", replicas=replicas,
            namespace=hpa.metadata.namespace if hpa.metadata else None,
            resource_version=scale.metadata.resource_version if scale.metadata else None,
        )

    # ---- metrics -----------------------------------------------------------------------------------------

    async def _proposal(self, *, spec: MetricSpec, current: int, namespace: str, selector: LabelSelector,
                        pods: list[Pod]) -> Proposal:
        kind = spec.type or ""
        if kind in ("Resource", "ContainerResource"):
            source = spec.resource if kind == "Resource" else spec.container_resource
            if source is None or not source.name or source.target is None:
                raise MetricError("InvalidMetricSourceType", f"invalid {kind} metric source: the source is missing")
            container = getattr(source, "container", "") or ""
            name, target = source.name, source.target
            try:
                metrics = await self.metrics.pod_resource_metrics(
                    resource=name, namespace=namespace, selector=selector, container=container
                )
            except MetricsError as e:
                raise MetricError("FailedGetResourceMetric",
                                  f"failed to get {name} utilization: unable to get metrics for resource {name}: {e}"
                                  ) from e
            if target.average_value is not None:
                try:
                    replicas, usage = r.average_value_replicas(
                        current=current, target_milli=Quantity.parse(target.average_value).to_milli(), resource=name,
                        pods=pods, metrics=metrics, tolerance=self.tolerance,
                    )
                except (r.ReplicaCalculationError, ValueError) as e:
                    raise MetricError("FailedGetResourceMetric", f"failed to get {name} usage: {e}") from e
                return Proposal(replicas, f"{name} resource",
                                _resource_status(name, utilization=None, average_milli=usage, container=container))
            if target.average_utilization is None:
                raise MetricError("FailedGetResourceMetric", "invalid resource metric source: neither an average "
                                  "utilization target nor an average value (usage) target was set")
            try:
                replicas, utilization, raw = r.utilization_replicas(
                    current=current, target_utilization=target.average_utilization, resource=name, pods=pods,
                    metrics=metrics, tolerance=self.tolerance, container=container,
                )
            except r.ReplicaCalculationError as e:
                raise MetricError("FailedGetResourceMetric", f"failed to get {name} utilization: {e}") from e
            label = f"{name} resource utilization (percentage of request)"
            if container:
                label = f"{name} container resource utilization (percentage of request)"
            return Proposal(replicas, label,
                            _resource_status(name, utilization=utilization, average_milli=raw, container=container))
        if kind in ("Pods", "Object", "External"):
            api = "external.metrics.k8s.io" if kind == "External" else "custom.metrics.k8s.io"
            raise MetricError(f"FailedGet{kind}Metric", f"unable to get {kind.lower()} metric: the {api} API is not served")
        raise MetricError("InvalidMetricSourceType", f"unknown metric source type {kind!r}")

    # ---- status ------------------------------------------------------------------------------------------

    @staticmethod
    def _set_condition(conditions: list[HorizontalPodAutoscalerCondition], kind: str, status: str, reason: str,
                       message: str) -> None:
        for i, c in enumerate(conditions):
            if c.type == kind:
                since = c.last_transition_time if c.status == status else now_rfc3339()
                conditions[i] = HorizontalPodAutoscalerCondition(
                    type=kind, status=status, reason=reason, message=message, last_transition_time=since)
                return
        conditions.append(HorizontalPodAutoscalerCondition(
            type=kind, status=status, reason=reason, message=message, last_transition_time=now_rfc3339()))

    async def _write_status(self, hpa: HorizontalPodAutoscaler, status: HorizontalPodAutoscalerStatus) -> None:
        if hpa.status == status:
            return
        try:
            await self.client.resource(HorizontalPodAutoscaler).update_status(msgspec.structs.replace(hpa, status=status))
        except NotFoundError:
            pass

    # ---- sync --------------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        hpa = self.hpas.get(key)
        if hpa is None:
            self.history.pop(key, None)
            return
        try:
            await self.reconcile(key, hpa)
        finally:
            self.queue.add_after(key, self.sync_period)

    async def reconcile(self, key: str, hpa: HorizontalPodAutoscaler) -> None:
        spec = hpa.spec
        namespace = (hpa.metadata.namespace if hpa.metadata else None) or ""
        old = hpa.status or HorizontalPodAutoscalerStatus()
        conditions = list(old.conditions or [])
        generation = hpa.metadata.generation if hpa.metadata else None
        status = msgspec.structs.replace(old, conditions=conditions, observed_generation=generation)
        try:
            scale = await self._get_scale(hpa)
        except (StatusError, ValueError) as e:
            message = e.message if isinstance(e, StatusError) else str(e)
            self._set_condition(conditions, "AbleToScale", "False", "FailedGetScale",
                                f"the HPA controller was unable to get the target's current scale: {message}")
            self.recorder.event(hpa, type="Warning", reason="FailedGetScale", message=message)
            await self._write_status(hpa, status)
            return
        self._set_condition(conditions, "AbleToScale", "True", "SucceededGetScale",
                            "the HPA controller was able to get the target's current scale")
        current = (scale.spec.replicas if scale.spec else None) or 0
        history = self.history.setdefault(key, b.History())
        now = self.clock.now()
        if not history.recommendations:
            history.recommendations.append((now, current))
        minimum = (spec.min_replicas if spec and spec.min_replicas is not None else 1)
        maximum = (spec.max_replicas if spec and spec.max_replicas is not None else minimum)
        metric_statuses: list[MetricStatus] = list(old.current_metrics or [])
        reason = ""
        desired = 0
        rescale = True
        if current == 0 and minimum != 0:
            rescale = False
            self._set_condition(conditions, "ScalingActive", "False", "ScalingDisabled",
                                "scaling is disabled since the replica count of the target is zero")
        elif current > maximum:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", maximum
        elif current < minimum:
            reason, desired = "Current number of replicas below Spec.MinReplicas", minimum
        else:
            computed = await self._compute(hpa=hpa, scale=scale, current=current, namespace=namespace,
                                           conditions=conditions)
            if computed is None:
                status.current_replicas = current
                status.desired_replicas = old.desired_replicas if old.desired_replicas is not None else current
                await self._write_status(hpa, status)
                return
            desired, metric, metric_statuses = computed
            if desired > current:
                reason = f"{metric} above target"
            elif desired < current:
                reason = "All metrics below target"
            desired = self._normalize(hpa=hpa, history=history, current=current, desired=desired, minimum=minimum,
                                      maximum=maximum, conditions=conditions, now=now)
            rescale = desired != current
        if rescale:
            try:
                await self._update_scale(hpa, desired, scale)
            except StatusError as e:
                self.recorder.event(hpa, type="Warning", reason="FailedRescale",
                                    message=f"New size: {desired}; reason: {reason}; error: {e.message}")
                self._set_condition(conditions, "AbleToScale", "False", "FailedUpdateScale",
                                    f"the HPA controller was unable to update the target scale: {e.message}")
                status.current_replicas, status.current_metrics = current, metric_statuses or None
                await self._write_status(hpa, status)
                raise
            self._set_condition(conditions, "AbleToScale", "True", "SucceededRescale",
                                f"the HPA controller was able to update the target scale to {desired}")
            self.recorder.event(hpa, type="Normal", reason="SuccessfulRescale",
                                message=f"New size: {desired}; reason: {reason}")
            up, down = b.scale_rules(spec.behavior if spec else None, downscale_window=self.downscale_window)
            b.record_scale(history=history, previous=current, new=desired, up=up, down=down, now=now)
            log.info("hpa %s: scaled %d → %d (%s)", key, current, desired, reason)
            status.last_scale_time = now_rfc3339()
        else:
            desired = current
        status.current_replicas = current
        status.desired_replicas = desired
        status.current_metrics = metric_statuses or None
        await self._write_status(hpa, status)

    async def _compute(self, *, hpa: HorizontalPodAutoscaler, scale: Scale, current: int, namespace: str,
                       conditions: list[HorizontalPodAutoscalerCondition]) -> tuple[int, str, list[MetricStatus]] | None:
        """(desired, name of the metric that asked for the most, metric statuses), or None when no metric
        could be used (conditions and a warning event say why)."""
        selector_text = scale.status.selector if scale.status else None
        if not selector_text:
            self.recorder.event(hpa, type="Warning", reason="SelectorRequired", message="selector is required")
            self._set_condition(conditions, "ScalingActive", "False", "InvalidSelector",
                                "the HPA target's scale is missing a selector")
            return None
        try:
            selector = LabelSelector.parse(selector_text)
        except StatusError as e:
            self.recorder.event(hpa, type="Warning", reason="InvalidSelector", message=e.message)
            self._set_condition(conditions, "ScalingActive", "False", "InvalidSelector",
                                f"the HPA target's scale selector could not be parsed: {e.message}")
            return None
        pods = [p for p in self.pods.by_index(INDEX_NAMESPACE, namespace)
                if selector.matches(p.metadata.labels if p.metadata else None)]
        specs = (hpa.spec.metrics if hpa.spec else None) or []
        if not specs:
            # The API defaults an empty list to 80 % cpu utilisation; an old object may still lack it.
            specs = [MetricSpec(type="Resource", resource=ResourceMetricSource(
                name="cpu", target=MetricTarget(type="Utilization", average_utilization=80)))]
        best, best_metric = 0, ""
        statuses: list[MetricStatus] = []
        invalid = 0
        first: MetricError | None = None
        for spec in specs:
            try:
                proposal = await self._proposal(spec=spec, current=current, namespace=namespace, selector=selector,
                                                pods=pods)
            except MetricError as e:
                self.recorder.event(hpa, type="Warning", reason=e.reason, message=str(e))
                if first is None:
                    first = e
                invalid += 1
                continue
            statuses.append(proposal.status)
            if best == 0 or proposal.replicas > best:
                best, best_metric = proposal.replicas, proposal.metric
        if invalid >= len(specs) or (invalid > 0 and best < current):
            assert first is not None
            self._set_condition(conditions, "ScalingActive", "False", first.reason,
                                f"the HPA was unable to compute the replica count: {first}")
            self.recorder.event(hpa, type="Warning", reason="FailedComputeMetricsReplicas",
                                message=f"invalid metrics ({invalid} invalid out of {len(specs)}), first error is: "
                                        f"{first}")
            return None
        self._set_condition(conditions, "ScalingActive", "True", "ValidMetricFound",
                            f"the HPA was able to successfully calculate a replica count from {best_metric}")
        return best, best_metric, statuses

    def _normalize(self, *, hpa: HorizontalPodAutoscaler, history: b.History, current: int, desired: int,
                   minimum: int, maximum: int, conditions: list[HorizontalPodAutoscalerCondition], now: float) -> int:
        up, down = b.scale_rules(hpa.spec.behavior if hpa.spec else None, downscale_window=self.downscale_window)
        stabilized, reason, message = b.stabilize(history=history, current=current, desired=desired, up=up,
                                                  down=down, now=now)
        if stabilized != desired:
            self._set_condition(conditions, "AbleToScale", "True", reason, message)
        else:
            self._set_condition(conditions, "AbleToScale", "True", "ReadyForNewScale",
                                "recommended size matches current size")
        limited, reason, message = b.limit_rate(history=history, current=current, desired=stabilized,
                                                minimum=minimum, maximum=maximum, up=up, down=down, now=now)
        self._set_condition(conditions, "ScalingLimited", "True" if limited != stabilized else "False", reason, message)
        return limited

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)
