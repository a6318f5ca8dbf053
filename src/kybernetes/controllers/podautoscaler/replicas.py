"""The replica count a metric asks for: Kubernetes' replica calculator, as pure functions.

`utilization_replicas` (target `Utilization`: percent of the pods' requests) and `average_value_replicas`
(target `AverageValue`) both work as Kubernetes' do:

1. group the selected pods: being deleted or Failed → ignored; Pending, or (for cpu) not Ready → unready;
   without a metric → missing; the rest are ready and counted;
2. the usage ratio over the ready pods' metrics; with no unready pods to consider and none missing, the
   answer is the current count when the ratio is within the tolerance (10 %), else
   `ceil(ratio * ready pods)`;
3. otherwise the missing pods are assumed to use 100 % of their request (the target, for average values)
   when scaling down and 0 when scaling up, unready pods 0 when scaling up; if that changes the direction,
   or brings the ratio within tolerance, nothing changes; else `ceil(new ratio * pods with metrics)`,
   never beyond the current count in the wrong direction.

Values are milli-units (see `metrics`). Errors are `ReplicaCalculationError` with Kubernetes' wording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kybernetes.api.models.core_v1 import Pod
from kybernetes.machinery.quantity import Quantity

DEFAULT_TOLERANCE = 0.1


class ReplicaCalculationError(Exception):
    pass


@dataclass(slots=True)
class PodGroups:
    ready: int = 0
    unready: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)


def _ready_condition(pod: Pod) -> str | None:
    for c in (pod.status.conditions if pod.status else None) or []:
        if c.type == "Ready":
            return c.status
    return None


def group_pods(*, pods: list[Pod], metrics: dict[str, int], resource: str) -> PodGroups:
    groups = PodGroups()
    for pod in pods:
        name = (pod.metadata.name if pod.metadata else None) or ""
        phase = pod.status.phase if pod.status else None
        if (pod.metadata is not None and pod.metadata.deletion_timestamp) or phase == "Failed":
            groups.ignored.add(name)
            continue
        if phase == "Pending":
            groups.unready.add(name)
            continue
        if name not in metrics:
            groups.missing.add(name)
            continue
        # Kubernetes looks at start times to forgive cpu bursts of starting pods; not Ready is enough here.
        if resource == "cpu" and _ready_condition(pod) != "True":
            groups.unready.add(name)
            continue
        groups.ready += 1
    return groups


def pod_requests(*, pods: list[Pod], resource: str, container: str = "") -> dict[str, int]:
    """Milli-unit requests of `resource` per pod; every (selected) container must request it."""
    out: dict[str, int] = {}
    for pod in pods:
        name = (pod.metadata.name if pod.metadata else None) or ""
        total = 0
        for c in (pod.spec.containers if pod.spec else None) or []:
            if container and c.name != container:
                continue
            value = (c.resources.requests if c.resources else None) or {}
            if resource not in value:
                raise ReplicaCalculationError(f"missing request for {resource} in container {c.name} of Pod {name}")
            total += Quantity.parse(value[resource]).to_milli()
        out[name] = total
    return out


def utilization_ratio(
    *, metrics: dict[str, int], requests: dict[str, int], target: int
) -> tuple[float, int, int]:
    """(usage ratio, current utilisation in percent, raw average usage in milli-units)."""
    used = requested = entries = 0
    for name, value in metrics.items():
        if name not in requests:
            continue
        used += value
        requested += requests[name]
        entries += 1
    if requested == 0:
        raise ReplicaCalculationError("no metrics returned matched known pods")
    utilization = (used * 100) // requested
    return utilization / target, utilization, used // entries


def _average_ratio(metrics: dict[str, int], target: int) -> tuple[float, int]:
    usage = sum(metrics.values()) // len(metrics)
    return usage / target, usage


def _selected(pods: list[Pod], metrics: dict[str, int]) -> dict[str, int]:
    names = {(p.metadata.name if p.metadata else None) or "" for p in pods}
    return {k: v for k, v in metrics.items() if k in names}


def utilization_replicas(
    *, current: int, target_utilization: int, resource: str, pods: list[Pod], metrics: dict[str, int],
    tolerance: float = DEFAULT_TOLERANCE, container: str = "",
) -> tuple[int, int, int]:
    """(replicas, utilisation %, raw average) for a Utilization target."""
    if not pods:
        raise ReplicaCalculationError("no pods returned by selector while calculating replica count")
    metrics = _selected(pods, metrics)
    groups = group_pods(pods=pods, metrics=metrics, resource=resource)
    for name in groups.ignored | groups.unready:
        metrics.pop(name, None)
    if not metrics:
        raise ReplicaCalculationError("did not receive metrics for targeted pods (pods might be unready)")
    requests = pod_requests(pods=pods, resource=resource, container=container)
    ratio, utilization, raw = utilization_ratio(metrics=metrics, requests=requests, target=target_utilization)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if abs(1.0 - ratio) <= tolerance:
            return current, utilization, raw
        return math.ceil(ratio * groups.ready), utilization, raw
    if groups.missing:
        for name in groups.missing:
            if ratio < 1.0:
                metrics[name] = requests.get(name, 0)
            elif ratio > 1.0:
                metrics[name] = 0
    if scale_up_with_unready:
        for name in groups.unready:
            metrics[name] = 0
    new_ratio, _, _ = utilization_ratio(metrics=metrics, requests=requests, target=target_utilization)
    return _settle(current=current, ratio=ratio, new_ratio=new_ratio, count=len(metrics),
                   tolerance=tolerance), utilization, raw


def average_value_replicas(
    *, current: int, target_milli: int, resource: str, pods: list[Pod], metrics: dict[str, int],
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[int, int]:
    """(replicas, average usage in milli-units) for an AverageValue target."""
    if not pods:
        raise ReplicaCalculationError("no pods returned by selector while calculating replica count")
    if target_milli <= 0:
        raise ReplicaCalculationError("the target average value must be positive")
    metrics = _selected(pods, metrics)
    groups = group_pods(pods=pods, metrics=metrics, resource=resource)
    for name in groups.ignored | groups.unready:
        metrics.pop(name, None)
    if not metrics:
        raise ReplicaCalculationError("did not receive metrics for targeted pods (pods might be unready)")
    ratio, usage = _average_ratio(metrics, target_milli)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if abs(1.0 - ratio) <= tolerance:
            return current, usage
        return math.ceil(ratio * groups.ready), usage
    for name in groups.missing:
        if ratio < 1.0:
            metrics[name] = target_milli
        elif ratio > 1.0:
            metrics[name] = 0
    if scale_up_with_unready:
        for name in groups.unready:
            metrics[name] = 0
    new_ratio, _ = _average_ratio(metrics, target_milli)
    return _settle(current=current, ratio=ratio, new_ratio=new_ratio, count=len(metrics), tolerance=tolerance), usage


def _settle(*, current: int, ratio: float, new_ratio: float, count: int, tolerance: float) -> int:
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposed = math.ceil(new_ratio * count)
    if (new_ratio < 1.0 and proposed > current) or (new_ratio > 1.0 and proposed < current):
        return current
    return proposed
