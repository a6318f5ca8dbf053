"""Validation of apps/v1: Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision.

The shared shape: a required, non-empty label selector that must match the pod template's labels, a
template whose restartPolicy is Always, non-negative counters, and (apps/v1) an immutable selector.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.validation.core import validate_pvc_spec
from kybernetes.api.validation.pod import validate_pod_template
from kybernetes.api.validation.rules import Obj, Rules, spec_of
from kybernetes.machinery.errors import FieldError, forbidden, invalid, not_supported, required
from kybernetes.machinery.validation import (
    FIELD_IMMUTABLE,
    child,
    index,
    percent_value,
    selector_is_empty,
    selector_matches,
    validate_dns1123_label,
    validate_immutable,
    validate_int_or_percent,
    validate_label_selector,
    validate_nonnegative,
    validate_not_over_100_percent,
)

SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def _int_or_percent_value(value: Any) -> int:
    p = percent_value(value)
    if p is not None:
        return p
    return value if isinstance(value, int) else 0


def validate_selector_and_template(
    spec: dict[str, Any], *, kind_word: str, extra_volumes: frozenset[str] = frozenset(),
    deadline_message: str | None = None,
) -> list[FieldError]:
    """Selector present and non-empty, template matching it, restartPolicy Always, no activeDeadlineSeconds."""
    errs: list[FieldError] = []
    selector = spec.get("selector")
    if selector is None:
        errs.append(required("spec.selector"))
    else:
        errs.extend(validate_label_selector(selector, "spec.selector"))
        if selector_is_empty(selector):
            errs.append(invalid("spec.selector", selector, f"empty selector is invalid for {kind_word}"))
    template = spec.get("template")
    if template is None:
        errs.append(required("spec.template"))
        return errs
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector is not None and not selector_is_empty(selector) and not selector_matches(selector, labels):
        errs.append(invalid("spec.template.metadata.labels", labels, SELECTOR_MISMATCH))
    errs.extend(validate_pod_template(template, "spec.template", extra_volumes=extra_volumes))
    pod_spec = template.get("spec") or {}
    rp = pod_spec.get("restartPolicy") or ""
    if rp != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", rp, ["Always"]))
    ads = pod_spec.get("activeDeadlineSeconds")
    if ads is not None:
        message = deadline_message or "must not be specified"
        errs.append(invalid("spec.template.spec.activeDeadlineSeconds", ads, message))
    return errs


def _selector_immutable(new: Obj, old: Obj, version: str) -> list[FieldError]:
    return validate_immutable(spec_of(new).get("selector"), spec_of(old).get("selector"), "spec.selector")


def _replica_status(new: Obj, old: Obj, version: str) -> list[FieldError]:
    status = new.get("status") or {}
    errs: list[FieldError] = []
    for f in ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas", "currentReplicas",
              "fullyLabeledReplicas", "unavailableReplicas", "terminatingReplicas", "observedGeneration",
              "collisionCount", "currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
              "numberReady", "updatedNumberScheduled", "numberAvailable", "numberUnavailable"):
        errs.extend(validate_nonnegative(status.get(f), child("status", f)))
    replicas = status.get("replicas")
    if replicas is not None:
        for f in ("readyReplicas", "availableReplicas", "updatedReplicas", "currentReplicas", "fullyLabeledReplicas"):
            if (status.get(f) or 0) > replicas:
                errs.append(invalid(child("status", f), status[f], "cannot be greater than status.replicas"))
    if (status.get("availableReplicas") or 0) > (status.get("readyReplicas") or 0) and "readyReplicas" in status:
        errs.append(invalid("status.availableReplicas", status["availableReplicas"],
                            "cannot be greater than readyReplicas"))
    old_cc = (old.get("status") or {}).get("collisionCount")
    new_cc = status.get("collisionCount")
    if old_cc is not None and (new_cc is None or new_cc < old_cc):
        errs.append(invalid("status.collisionCount", new_cc or 0, "cannot be decremented"))
    return errs


# ---------------------------------------------------------------- Deployment


def _deployment(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs.extend(validate_selector_and_template(spec, kind_word="deployment",
                                               deadline_message="activeDeadlineSeconds in ReplicaSet is not Supported"))
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errs.extend(validate_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type")
    if stype == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            errs.append(forbidden("spec.strategy.rollingUpdate",
                                  "may not be specified when strategy `type` is 'Recreate'"))
    elif stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if ru is None:
            errs.append(required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil"))
        else:
            mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
            errs.extend(validate_int_or_percent(mu, "spec.strategy.rollingUpdate.maxUnavailable"))
            errs.extend(validate_int_or_percent(ms, "spec.strategy.rollingUpdate.maxSurge"))
            if _int_or_percent_value(mu) == 0 and _int_or_percent_value(ms) == 0:
                errs.append(invalid("spec.strategy.rollingUpdate.maxUnavailable", mu if mu is not None else 0,
                                    "may not be 0 when `maxSurge` is 0"))
            errs.extend(validate_not_over_100_percent(mu, "spec.strategy.rollingUpdate.maxUnavailable"))
    elif stype is not None:
        errs.append(not_supported("spec.strategy.type", stype, ["Recreate", "RollingUpdate"]))
    pds = spec.get("progressDeadlineSeconds")
    if pds is not None:
        errs.extend(validate_nonnegative(pds, "spec.progressDeadlineSeconds"))
        if pds <= (spec.get("minReadySeconds") or 0):
            errs.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return errs


# ---------------------------------------------------------------- ReplicaSet


def _replicaset(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    # Kubernetes reuses the Deployment wording for ReplicaSets.
    errs.extend(validate_selector_and_template(spec, kind_word="deployment",
                                               deadline_message="activeDeadlineSeconds in ReplicaSet is not Supported"))
    return errs


# ---------------------------------------------------------------- StatefulSet

_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds")


def _statefulset(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs: list[FieldError] = []
    pmp = spec.get("podManagementPolicy")
    if pmp == "":
        errs.append(required("spec.podManagementPolicy"))
    elif pmp is not None and pmp not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type")
    if stype == "":
        errs.append(required("spec.updateStrategy"))
    elif stype == "OnDelete":
        if strategy.get("rollingUpdate") is not None:
            errs.append(invalid("spec.updateStrategy.rollingUpdate", strategy["rollingUpdate"],
                                "only allowed for updateStrategy 'RollingUpdate'"))
    elif stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate") or {}
        errs.extend(validate_nonnegative(ru.get("partition"), "spec.updateStrategy.rollingUpdate.partition"))
        if ru.get("maxUnavailable") is not None:
            mu = ru["maxUnavailable"]
            errs.extend(validate_int_or_percent(mu, "spec.updateStrategy.rollingUpdate.maxUnavailable"))
            if _int_or_percent_value(mu) == 0:
                errs.append(invalid("spec.updateStrategy.rollingUpdate.maxUnavailable", mu, "must be greater than 0"))
            errs.extend(validate_not_over_100_percent(mu, "spec.updateStrategy.rollingUpdate.maxUnavailable"))
    elif stype is not None:
        errs.append(invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'"))
    retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    for f in ("whenDeleted", "whenScaled"):
        value = retention.get(f)
        if value is not None and value not in ("Retain", "Delete"):
            errs.append(not_supported(child("spec.persistentVolumeClaimRetentionPolicy", f), value,
                                      ["Retain", "Delete"]))
    errs.extend(validate_nonnegative(spec.get("replicas"), "spec.replicas"))
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errs.extend(validate_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    errs.extend(validate_nonnegative((spec.get("ordinals") or {}).get("start"), "spec.ordinals.start"))
    if spec.get("serviceName"):
        errs.extend(validate_dns1123_label(spec["serviceName"], "spec.serviceName"))
    claim_names: set[str] = set()
    for i, claim in enumerate(spec.get("volumeClaimTemplates") or []):
        p = index("spec.volumeClaimTemplates", i)
        name = (claim.get("metadata") or {}).get("name") or ""
        if not name:
            errs.append(required(child(p, "metadata", "name")))
        claim_names.add(name)
        errs.extend(validate_pvc_spec(claim.get("spec") or {}, child(p, "spec")))
    errs.extend(validate_selector_and_template(spec, kind_word="statefulset", extra_volumes=frozenset(claim_names)))
    return errs


def _statefulset_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    ns = {k: v for k, v in spec_of(new).items() if k not in _STS_MUTABLE}
    os_ = {k: v for k, v in spec_of(old).items() if k not in _STS_MUTABLE}
    if ns != os_:
        return [forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                  "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                                  "'minReadySeconds' are forbidden")]
    return []


# ---------------------------------------------------------------- DaemonSet


def _daemonset(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs = validate_selector_and_template(spec, kind_word="daemonset",
                                          deadline_message="activeDeadlineSeconds in DaemonSet is not Supported")
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errs.extend(validate_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type")
    if stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if ru is None:
            errs.append(required("spec.updateStrategy.rollingUpdate"))
        else:
            base = "spec.updateStrategy.rollingUpdate"
            mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
            errs.extend(validate_int_or_percent(mu, child(base, "maxUnavailable")))
            errs.extend(validate_int_or_percent(ms, child(base, "maxSurge")))
            errs.extend(validate_not_over_100_percent(mu, child(base, "maxUnavailable")))
            errs.extend(validate_not_over_100_percent(ms, child(base, "maxSurge")))
            has_unavailable = _int_or_percent_value(mu) != 0
            has_surge = _int_or_percent_value(ms) != 0
            if has_unavailable and has_surge:
                errs.append(invalid(child(base, "maxSurge"), ms, "may not be set when maxUnavailable is non-zero"))
            elif not has_unavailable and not has_surge:
                errs.append(required(child(base, "maxUnavailable"), "cannot be 0 when maxSurge is 0"))
    elif stype == "OnDelete":
        pass
    elif stype is not None:
        errs.append(not_supported("spec.updateStrategy.type", stype, ["OnDelete", "RollingUpdate"]))
    return errs


# ---------------------------------------------------------------- ControllerRevision


def _controller_revision(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if obj.get("data") is None:
        errs.append(required("data", "data is mandatory"))
    errs.extend(validate_nonnegative(obj.get("revision"), "revision"))
    return errs


def _controller_revision_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    if new.get("data") != old.get("data"):
        return [invalid("data", new.get("data"), FIELD_IMMUTABLE)]
    return []


RULES: dict[str, Rules] = {
    "Deployment": Rules(body=_deployment, update=_selector_immutable, status=_replica_status),
    "ReplicaSet": Rules(body=_replicaset, update=_selector_immutable, status=_replica_status),
    "StatefulSet": Rules(body=_statefulset, update=_statefulset_update, status=_replica_status),
    "DaemonSet": Rules(body=_daemonset, update=_selector_immutable, status=_replica_status),
    "ControllerRevision": Rules(body=_controller_revision, update=_controller_revision_update),
}
