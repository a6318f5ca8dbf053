"""Validation of cluster-infrastructure kinds: coordination Lease, storage StorageClass, scheduling
PriorityClass and events.k8s.io Event."""

from __future__ import annotations

from kybernetes.api.validation.rules import Obj, Rules, spec_of
from kybernetes.machinery.errors import FieldError, forbidden, invalid, not_supported, required
from kybernetes.machinery.validation import (
    child,
    index,
    is_qualified_name,
    validate_immutable,
    validate_label_name,
    validate_nonnegative,
)

HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}


# ---------------------------------------------------------------- Lease


def _lease(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs: list[FieldError] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    errs.extend(validate_nonnegative(spec.get("leaseTransitions"), "spec.leaseTransitions"))
    strategy = spec.get("strategy")
    if strategy is not None:
        errs.extend(invalid("spec.strategy", strategy, m) for m in is_qualified_name(strategy))
    if spec.get("preferredHolder") and not strategy:
        errs.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return errs


# ---------------------------------------------------------------- StorageClass


def _storage_class(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    provisioner = obj.get("provisioner") or ""
    if not provisioner:
        errs.append(required("provisioner"))
    else:
        errs.extend(invalid("provisioner", provisioner, m) for m in is_qualified_name(provisioner.lower()))
    params = obj.get("parameters") or {}
    if len(params) > 512:
        errs.append(FieldError("parameters", FieldError.TOO_MANY, "must have at most 512 items", len(params)))
    total = 0
    for k, v in params.items():
        if not k:
            errs.append(invalid("parameters", k, "field can not be empty."))
        total += len(k) + len(str(v))
    if total > 256 * 1024:
        errs.append(FieldError("parameters", FieldError.TOO_LONG, "may not be more than 262144 bytes", ""))
    policy = obj.get("reclaimPolicy")
    if policy is not None and policy not in ("Delete", "Retain"):
        errs.append(not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = obj.get("volumeBindingMode")
    if mode is not None and mode not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(not_supported("volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]))
    for i, term in enumerate(obj.get("allowedTopologies") or []):
        for j, expr in enumerate(term.get("matchLabelExpressions") or []):
            p = index(child(index("allowedTopologies", i), "matchLabelExpressions"), j)
            errs.extend(validate_label_name(expr.get("key") or "", child(p, "key")))
            if not expr.get("values"):
                errs.append(required(child(p, "values"), "must specify as least one value"))
    return errs


def _storage_class_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if (new.get("parameters") or {}) != (old.get("parameters") or {}):
        errs.append(forbidden("parameters", "updates to parameters are forbidden."))
    if new.get("provisioner") != old.get("provisioner"):
        errs.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
        errs.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    errs.extend(validate_immutable(new.get("volumeBindingMode"), old.get("volumeBindingMode"), "volumeBindingMode"))
    return errs


# ---------------------------------------------------------------- PriorityClass


def _priority_class(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = (obj.get("metadata") or {}).get("name") or ""
    value = obj.get("value") or 0
    if name in SYSTEM_PRIORITY_CLASSES:
        if value != SYSTEM_PRIORITY_CLASSES[name]:
            errs.append(invalid("value", value, f"value of {name} PriorityClass must be "
                                                f"{SYSTEM_PRIORITY_CLASSES[name]}"))
    elif name.startswith("system-"):
        errs.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved"))
    elif value > HIGHEST_USER_PRIORITY:
        errs.append(forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"))
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in ("Never", "PreemptLowerPriority"):
        errs.append(not_supported("preemptionPolicy", policy, ["Never", "PreemptLowerPriority"]))
    return errs


def _priority_class_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if new.get("value") != old.get("value"):
        errs.append(forbidden("value", "may not be changed in an update."))
    errs.extend(validate_immutable(new.get("preemptionPolicy"), old.get("preemptionPolicy"), "preemptionPolicy"))
    return errs


# ---------------------------------------------------------------- events.k8s.io Event


def _event(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    meta_ns = (obj.get("metadata") or {}).get("namespace") or ""
    regarding_ns = (obj.get("regarding") or {}).get("namespace") or ""
    if regarding_ns and meta_ns and regarding_ns != meta_ns:
        errs.append(invalid("regarding.namespace", regarding_ns, "does not match event.namespace"))
    ev_type = obj.get("type")
    if ev_type and ev_type not in ("Normal", "Warning"):
        errs.append(not_supported("type", ev_type, ["Normal", "Warning"]))
    note = obj.get("note") or ""
    if len(note.encode()) > 1024:
        errs.append(FieldError("note", FieldError.TOO_LONG, "may not be more than 1024 bytes", ""))
    return errs


RULES: dict[tuple[str, str], Rules] = {
    ("coordination.k8s.io", "Lease"): Rules(body=_lease),
    ("storage.k8s.io", "StorageClass"): Rules(body=_storage_class, update=_storage_class_update),
    ("scheduling.k8s.io", "PriorityClass"): Rules(body=_priority_class, update=_priority_class_update),
    ("events.k8s.io", "Event"): Rules(body=_event),
}
