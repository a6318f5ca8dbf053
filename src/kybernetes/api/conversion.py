"""Conversion between the served versions of one kind that share storage.

Two kinds are served in two group/versions over one store (see `resources.storage_info`):
- HorizontalPodAutoscaler: autoscaling/v2 (stored) <-> autoscaling/v1. v1 only has a CPU utilization target;
  it is the v2 `Resource` metric `cpu` with a `Utilization` target. What v1 cannot express (other metrics,
  behavior, current metrics, conditions) travels in annotations, as Kubernetes does, so v2 -> v1 -> v2 is
  lossless.
- Event: core/v1 (stored) <-> events.k8s.io/v1. The same object with renamed fields
  (involvedObject <-> regarding, message <-> note, source <-> deprecatedSource, count / firstTimestamp /
  lastTimestamp <-> deprecatedCount / deprecatedFirstTimestamp / deprecatedLastTimestamp,
  reportingComponent <-> reportingController).

`convert(obj=..., group=..., to_version=...)` takes a wire dict (its `apiVersion` says what it is) and returns
a new dict in `group/to_version`; the input is not modified.
"""

from __future__ import annotations

import copy
import json
from typing import Any

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"


def convert(*, obj: dict[str, Any], group: str, to_version: str) -> dict[str, Any]:
    """Convert `obj` to `group/to_version` (`group` "" is core). Raises ValueError for an unknown pair."""
    source = obj.get("apiVersion", "")
    target = f"{group}/{to_version}" if group else to_version
    kind = obj.get("kind", "")
    out = copy.deepcopy(obj)
    if source == target:
        return out
    if kind == "HorizontalPodAutoscaler" and {source, target} == {"autoscaling/v1", "autoscaling/v2"}:
        return _hpa_to_v1(out) if to_version == "v1" else _hpa_to_v2(out)
    if kind == "Event" and {source, target} == {"v1", "events.k8s.io/v1"}:
        return _event_rename(out, _CORE_TO_EVENTS if group else _EVENTS_TO_CORE, target)
    raise ValueError(f"cannot convert {kind} from {source!r} to {target!r}")


# --- HorizontalPodAutoscaler ---------------------------------------------------------------------------


def _is_cpu_utilization(metric: dict[str, Any], current: bool) -> bool:
    resource = metric.get("resource") or {}
    value = resource.get("current" if current else "target") or {}
    if metric.get("type") != "Resource" or resource.get("name") != "cpu":
        return False
    return "averageUtilization" in value if current else value.get("type") == "Utilization"


def _split_cpu(metrics: list[dict[str, Any]], current: bool) -> tuple[int | None, list[dict[str, Any]]]:
    for i, metric in enumerate(metrics):
        if _is_cpu_utilization(metric, current):
            value = metric["resource"]["current" if current else "target"].get("averageUtilization")
            return value, metrics[:i] + metrics[i + 1 :]
    return None, metrics


def _hpa_to_v1(hpa: dict[str, Any]) -> dict[str, Any]:
    hpa["apiVersion"] = "autoscaling/v1"
    annotations: dict[str, str] = {}
    spec = hpa.get("spec")
    if isinstance(spec, dict):
        cpu, others = _split_cpu(spec.pop("metrics", None) or [], current=False)
        if cpu is not None:
            spec["targetCPUUtilizationPercentage"] = cpu
        if others:
            annotations[METRICS_ANNOTATION] = json.dumps(others, separators=(",", ":"))
        behavior = spec.pop("behavior", None)
        if behavior is not None:
            annotations[BEHAVIOR_ANNOTATION] = json.dumps(behavior, separators=(",", ":"))
    status = hpa.get("status")
    if isinstance(status, dict):
        cpu, others = _split_cpu(status.pop("currentMetrics", None) or [], current=True)
        if cpu is not None:
            status["currentCPUUtilizationPercentage"] = cpu
        if others:
            annotations[CURRENT_METRICS_ANNOTATION] = json.dumps(others, separators=(",", ":"))
        conditions = status.pop("conditions", None)
        if conditions:
            annotations[CONDITIONS_ANNOTATION] = json.dumps(conditions, separators=(",", ":"))
    if annotations:
        hpa.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
    return hpa


def _pop_annotation(hpa: dict[str, Any], key: str) -> Any:
    annotations = (hpa.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or key not in annotations:
        return None
    raw = annotations.pop(key)
    if not annotations:
        hpa["metadata"].pop("annotations")
    try:
        return json.loads(raw)
    except ValueError:
        return None  # a hand-edited, unparsable annotation carries nothing


def _cpu_metric(value: int, current: bool) -> dict[str, Any]:
    if current:
        return {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": value}}}
    target = {"type": "Utilization", "averageUtilization": value}
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


def _hpa_to_v2(hpa: dict[str, Any]) -> dict[str, Any]:
    hpa["apiVersion"] = "autoscaling/v2"
    others = _pop_annotation(hpa, METRICS_ANNOTATION)
    behavior = _pop_annotation(hpa, BEHAVIOR_ANNOTATION)
    current_others = _pop_annotation(hpa, CURRENT_METRICS_ANNOTATION)
    conditions = _pop_annotation(hpa, CONDITIONS_ANNOTATION)
    spec = hpa.get("spec")
    if isinstance(spec, dict):
        metrics: list[dict[str, Any]] = []
        cpu = spec.pop("targetCPUUtilizationPercentage", None)
        if cpu is not None:
            metrics.append(_cpu_metric(cpu, current=False))
        if isinstance(others, list):
            metrics.extend(others)
        if metrics:
            spec["metrics"] = metrics
        if isinstance(behavior, dict):
            spec["behavior"] = behavior
    status = hpa.get("status")
    if isinstance(status, dict):
        current: list[dict[str, Any]] = []
        cpu = status.pop("currentCPUUtilizationPercentage", None)
        if cpu is not None:
            current.append(_cpu_metric(cpu, current=True))
        if isinstance(current_others, list):
            current.extend(current_others)
        if current:
            status["currentMetrics"] = current
        if isinstance(conditions, list):
            status["conditions"] = conditions
    return hpa


# --- Event ---------------------------------------------------------------------------------------------

_CORE_TO_EVENTS = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "count": "deprecatedCount",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "reportingComponent": "reportingController",
}
_EVENTS_TO_CORE = {new: old for old, new in _CORE_TO_EVENTS.items()}


def _event_rename(event: dict[str, Any], renames: dict[str, str], api_version: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in event.items():
        out[renames.get(key, key)] = value
    out["apiVersion"] = api_version
    return out
