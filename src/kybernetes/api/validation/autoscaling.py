"""Validation of autoscaling (HorizontalPodAutoscaler v1 and v2) and policy/v1 PodDisruptionBudget."""

from __future__ import annotations

from typing import Any

from kybernetes.api.validation.rules import Obj, Rules, spec_of
from kybernetes.machinery.errors import FieldError, invalid, not_supported, required
from kybernetes.machinery.validation import (
    child,
    index,
    is_path_segment_name,
    validate_int_or_percent,
    validate_label_selector,
    validate_nonnegative,
    validate_nonnegative_quantity,
    validate_not_over_100_percent,
)

METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
TARGET_TYPES = ["AverageValue", "Utilization", "Value"]


def _validate_scale_target(ref: dict[str, Any] | None, path: str) -> list[FieldError]:
    ref = ref or {}
    errs: list[FieldError] = []
    for f in ("kind", "name"):
        value = ref.get(f) or ""
        if not value:
            errs.append(required(child(path, f)))
        else:
            errs.extend(invalid(child(path, f), value, m) for m in is_path_segment_name(value))
    return errs


def _validate_target(target: dict[str, Any] | None, path: str) -> list[FieldError]:
    if target is None:
        return [required(path, "must specify a metric target")]
    errs: list[FieldError] = []
    t = target.get("type") or ""
    if not t:
        errs.append(required(child(path, "type"), "must specify a metric target type"))
    elif t not in TARGET_TYPES:
        errs.append(not_supported(child(path, "type"), t, TARGET_TYPES))
    util = target.get("averageUtilization")
    if util is not None and util < 1:
        errs.append(invalid(child(path, "averageUtilization"), util, "must be greater than 0"))
    for f in ("value", "averageValue"):
        if target.get(f) is not None:
            errs.extend(validate_nonnegative_quantity(target[f], child(path, f)))
    if t and not any(target.get(f) is not None for f in ("value", "averageValue", "averageUtilization")):
        errs.append(required(path, "must set either a target value, average value, or average utilization"))
    return errs


def _validate_metric(metric: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    mtype = metric.get("type") or ""
    if not mtype:
        return [required(child(path, "type"), "must specify a metric source type")]
    if mtype not in METRIC_TYPES:
        return [not_supported(child(path, "type"), mtype, METRIC_TYPES)]
    field_name = {"ContainerResource": "containerResource", "External": "external", "Object": "object",
                  "Pods": "pods", "Resource": "resource"}[mtype]
    source = metric.get(field_name)
    if source is None:
        return [required(child(path, field_name), f"must populate information for the given metric source "
                                                  f"(only allowed when type is {mtype})")]
    sp = child(path, field_name)
    if mtype in ("Resource", "ContainerResource"):
        if not source.get("name"):
            errs.append(required(child(sp, "name"), "must specify a resource name"))
        if mtype == "ContainerResource" and not source.get("container"):
            errs.append(required(child(sp, "container"), "must specify a container"))
    else:
        if not (source.get("metric") or {}).get("name"):
            errs.append(required(child(sp, "metric", "name"), "must specify a metric name"))
        if mtype == "Object":
            errs.extend(_validate_scale_target(source.get("describedObject"), child(sp, "describedObject")))
    errs.extend(_validate_target(source.get("target"), child(sp, "target")))
    return errs


def _validate_rules(rules: dict[str, Any] | None, path: str) -> list[FieldError]:
    if rules is None:
        return []
    errs: list[FieldError] = []
    window = rules.get("stabilizationWindowSeconds")
    if window is not None:
        if window < 0:
            errs.append(invalid(child(path, "stabilizationWindowSeconds"), window, "must be greater than or equal to zero"))
        elif window > 3600:
            errs.append(invalid(child(path, "stabilizationWindowSeconds"), window,
                                "must be less than or equal to 3600"))
    select = rules.get("selectPolicy")
    if select is not None and select not in ("Disabled", "Max", "Min"):
        errs.append(not_supported(child(path, "selectPolicy"), select, ["Disabled", "Max", "Min"]))
    policies = rules.get("policies")
    if policies is not None and not policies and select != "Disabled":
        errs.append(required(child(path, "policies"), "must specify at least one Policy"))
    for i, policy in enumerate(policies or []):
        pp = index(child(path, "policies"), i)
        ptype = policy.get("type") or ""
        if ptype not in ("Percent", "Pods"):
            errs.append(not_supported(child(pp, "type"), ptype, ["Percent", "Pods"]))
        if (policy.get("value") or 0) <= 0:
            errs.append(invalid(child(pp, "value"), policy.get("value") or 0, "must be greater than zero"))
        period = policy.get("periodSeconds") or 0
        if period <= 0:
            errs.append(invalid(child(pp, "periodSeconds"), period, "must be greater than zero"))
        elif period > 1800:
            errs.append(invalid(child(pp, "periodSeconds"), period, "must be less than or equal to 1800"))
    return errs


def _hpa(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs = _validate_scale_target(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    min_replicas = spec.get("minReplicas")
    max_replicas = spec.get("maxReplicas") or 0
    if min_replicas is not None and min_replicas < 1:
        errs.append(invalid("spec.minReplicas", min_replicas, "must be greater than or equal to 1"))
    if max_replicas < 1:
        errs.append(invalid("spec.maxReplicas", max_replicas, "must be greater than 0"))
    if min_replicas is not None and max_replicas < min_replicas:
        errs.append(invalid("spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`"))
    if version == "v1":
        cpu = spec.get("targetCPUUtilizationPercentage")
        if cpu is not None and cpu < 1:
            errs.append(invalid("spec.targetCPUUtilizationPercentage", cpu, "must be greater than 0"))
    else:
        for i, metric in enumerate(spec.get("metrics") or []):
            errs.extend(_validate_metric(metric, index("spec.metrics", i)))
        behavior = spec.get("behavior") or {}
        errs.extend(_validate_rules(behavior.get("scaleUp"), "spec.behavior.scaleUp"))
        errs.extend(_validate_rules(behavior.get("scaleDown"), "spec.behavior.scaleDown"))
    return errs


def _hpa_status(new: Obj, old: Obj, version: str) -> list[FieldError]:
    status = new.get("status") or {}
    errs: list[FieldError] = []
    for f in ("currentReplicas", "desiredReplicas"):
        errs.extend(validate_nonnegative(status.get(f), child("status", f)))
    return errs


# ---------------------------------------------------------------- PodDisruptionBudget


def _pdb(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs: list[FieldError] = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        errs.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for f, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
        if value is not None:
            errs.extend(validate_int_or_percent(value, child("spec", f)))
            errs.extend(validate_not_over_100_percent(value, child("spec", f)))
    errs.extend(validate_label_selector(spec.get("selector"), "spec.selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, ["AlwaysAllow", "IfHealthyBudget"]))
    return errs


def _pdb_status(new: Obj, old: Obj, version: str) -> list[FieldError]:
    status = new.get("status") or {}
    errs: list[FieldError] = []
    for f in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        errs.extend(validate_nonnegative(status.get(f), child("status", f)))
    return errs


def _scale(obj: Obj, version: str) -> list[FieldError]:
    """The /scale subresource body (autoscaling/v1 Scale)."""
    return validate_nonnegative(spec_of(obj).get("replicas"), "spec.replicas")


HPA_RULES = Rules(body=_hpa, status=_hpa_status)
SCALE_RULES = Rules(body=_scale)
PDB_RULES = Rules(body=_pdb, status=_pdb_status)
