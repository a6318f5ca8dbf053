"""Defaulting for every served kind, in place on the wire form, as a real API server applies it.

`apply_defaults(group=, version=, kind=, obj=)` looks the kind up in a dispatch table keyed by
(group, kind) and fills absent fields only; unknown kinds are left alone. The per-group modules:
pod.py (pod specs, shared by Pods and every pod template), core.py, workloads.py (apps + batch) and
cluster.py (rbac, autoscaling, storage, scheduling, discovery, networking).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kybernetes.api.defaults import cluster, core, workloads
from kybernetes.api.defaults.pod import default_pod_spec, image_pull_policy
from kybernetes.api.defaults.workloads import generate_job_selector

Defaulter = Callable[[dict[str, Any]], None]

_TABLE: dict[tuple[str, str], Defaulter] = {}
_TABLE.update({("", k): f for k, f in core.DEFAULTERS.items()})
_TABLE.update({("apps", k): f for k, f in workloads.APPS.items()})
_TABLE.update({("batch", k): f for k, f in workloads.BATCH.items()})
_TABLE.update(cluster.BY_GROUP_KIND)


def apply_defaults(*, group: str, version: str, kind: str, obj: dict[str, Any]) -> None:
    """Fill Kubernetes' defaults into `obj` in place; unknown kinds are a no-op."""
    if group == "autoscaling" and kind == "HorizontalPodAutoscaler":
        cluster.hpa(obj, version)
        return
    defaulter = _TABLE.get((group, kind))
    if defaulter is not None:
        defaulter(obj)


def defaulted_kinds() -> list[tuple[str, str]]:
    return sorted([*_TABLE, ("autoscaling", "HorizontalPodAutoscaler")])


__all__ = ["apply_defaults", "default_pod_spec", "defaulted_kinds", "generate_job_selector", "image_pull_policy"]
