"""Validation of every served kind, on the wire form, with Kubernetes' field paths and messages.

The API server calls `validate_create`, `validate_update` and `validate_status_update` after decoding
(types already checked) and defaulting. Each returns all `FieldError`s at once (empty means valid);
the server wraps them with `InvalidError.of(...)` into a 422.

How: a dispatch table maps (group, kind) to a `Rules` record (see rules.py) contributed by one module
per API group family (core, apps, batch, rbac, autoscaling/policy, networking, cluster). The common
metadata rules (machinery.validation) run here for every kind, known or not; kind rules add the body,
update (immutability) and status checks. Unknown kinds get metadata validation only.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.validation import apps, autoscaling, batch, cluster, core, networking, rbac
from kybernetes.api.validation.rules import Rules
from kybernetes.machinery.errors import FieldError
from kybernetes.machinery.validation import validate_object_meta, validate_object_meta_update

_TABLE: dict[tuple[str, str], Rules] = {}
_TABLE.update({("", k): r for k, r in core.RULES.items()})
_TABLE.update({("apps", k): r for k, r in apps.RULES.items()})
_TABLE.update({("batch", k): r for k, r in batch.RULES.items()})
_TABLE.update({("rbac.authorization.k8s.io", k): r for k, r in rbac.RULES.items()})
_TABLE[("autoscaling", "HorizontalPodAutoscaler")] = autoscaling.HPA_RULES
_TABLE[("autoscaling", "Scale")] = autoscaling.SCALE_RULES
_TABLE[("policy", "PodDisruptionBudget")] = autoscaling.PDB_RULES
_TABLE.update(networking.RULES)
_TABLE.update(cluster.RULES)

_DEFAULT = Rules()


def rules_for(*, group: str, kind: str) -> Rules:
    return _TABLE.get((group, kind), _DEFAULT)


def validated_kinds() -> list[tuple[str, str]]:
    """(group, kind) pairs with kind-specific rules."""
    return sorted(_TABLE)


def validate_create(*, group: str, version: str, kind: str, obj: dict[str, Any], namespaced: bool) -> list[FieldError]:
    rules = rules_for(group=group, kind=kind)
    errs = validate_object_meta(meta=obj.get("metadata"), namespaced=namespaced, name_fn=rules.name)
    if rules.body is not None:
        errs.extend(rules.body(obj, version))
    return errs


def validate_update(
    *, group: str, version: str, kind: str, new: dict[str, Any], old: dict[str, Any], namespaced: bool
) -> list[FieldError]:
    rules = rules_for(group=group, kind=kind)
    errs = validate_object_meta_update(new=new.get("metadata"), old=old.get("metadata"))
    if rules.body is not None and rules.body_on_update:
        errs.extend(rules.body(new, version))
    if rules.update is not None:
        errs.extend(rules.update(new, old, version))
    return errs


def validate_status_update(
    *, group: str, version: str, kind: str, new: dict[str, Any], old: dict[str, Any], namespaced: bool
) -> list[FieldError]:
    rules = rules_for(group=group, kind=kind)
    errs = validate_object_meta_update(new=new.get("metadata"), old=old.get("metadata"))
    if rules.status is not None:
        errs.extend(rules.status(new, old, version))
    return errs


__all__ = ["rules_for", "validate_create", "validate_status_update", "validate_update", "validated_kinds"]
