"""HorizontalPodAutoscaler (autoscaling/v2): scales a workload's `/scale` to keep pod usage near a target.

Kubernetes' horizontal pod autoscaler controller, through the API only. Every
`horizontal-pod-autoscaler-sync-period` (15 s; sooner when the autoscaler's spec changes) each autoscaler is
reconciled:

1. read the target's scale (`GET .../<kind>/<name>/scale`, any kind with a scale subresource);
   `AbleToScale` says whether that worked;
2. outside `[minReplicas, maxReplicas]` → back inside; zero replicas → scaling disabled; otherwise each
   metric proposes a count (`replicas`: the calculator; `Resource` / `ContainerResource` metrics with a
   `Utilization` or `AverageValue` target, read from a `MetricsSource` — `metrics.k8s.io` by default) and
   the largest wins; `ScalingActive` says whether a metric could be used;
3. the proposal is stabilised and rate limited (`behavior`), clamped to min/max (`ScalingLimited`);
4. a change is written through `/scale`, with the event `SuccessfulRescale` ("New size: 4; reason: cpu
   resource utilization (percentage of request) above target");
5. status: `currentReplicas`, `desiredReplicas`, `currentMetrics`, `conditions`, `lastScaleTime`,
   `observedGeneration`.

`new(ctx, metrics=...)` takes another `MetricsSource` (tests use `StaticMetricsSource`).
"""

from __future__ import annotations

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.podautoscaler.controller import HorizontalController
from kybernetes.controllers.podautoscaler.metrics import (
    MetricsError,
    MetricsSource,
    ResourceMetricsAPI,
    StaticMetricsSource,
)

__all__ = [
    "HorizontalController",
    "MetricsError",
    "MetricsSource",
    "ResourceMetricsAPI",
    "StaticMetricsSource",
    "new",
]


def new(ctx: ControllerContext, metrics: MetricsSource | None = None) -> HorizontalController:
    return HorizontalController(ctx=ctx, metrics=metrics)
