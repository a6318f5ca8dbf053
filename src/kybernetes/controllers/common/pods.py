"""Pods as workload controllers see them: active or not, ready, available, and new ones from a template.

* Phase: `pod_phase` (an unset phase is `Pending`); terminal: `Succeeded` or `Failed`.
* Active: not terminating (no `deletionTimestamp`) and not finished (`Succeeded` / `Failed`). Only active
  pods count towards a controller's replicas.
* Ready: the `Ready` condition is `True`.
* Available: ready for at least `minReadySeconds`, measured from the Ready condition's `lastTransitionTime`
  (so with `minReadySeconds: 0` ready means available). `available_at` says when a ready pod will become
  available, so a controller can requeue itself for that moment instead of polling.
* `pod_from_template` builds the pod a controller creates: the template's labels, annotations, finalizers
  and spec, `generateName: <owner>-` (or a fixed `name`, as StatefulSets want) and a controller
  ownerReference with `blockOwnerDeletion`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kybernetes.api.models.core_v1 import Pod, PodCondition, PodTemplateSpec
from kybernetes.api.models.meta_v1 import ObjectMeta, OwnerReference
from kybernetes.controllers.common.wallclock import parse_time

POD_SUCCEEDED = "Succeeded"
POD_FAILED = "Failed"

# generateName leaves room for the 5 random characters the server appends (names are at most 253; labels
# such as the pod's own hostname want 63, which is why Kubernetes trims prefixes for pods too).
_MAX_GENERATE_NAME = 58


def labels_of(obj: Any) -> dict[str, str]:
    meta = getattr(obj, "metadata", None)
    return (meta.labels if meta is not None else None) or {}


def is_terminating(obj: Any) -> bool:
    meta = getattr(obj, "metadata", None)
    return meta is not None and meta.deletion_timestamp is not None


def pod_phase(pod: Pod) -> str:
    return (pod.status.phase if pod.status is not None else None) or "Pending"


def is_pod_terminal(pod: Pod) -> bool:
    """Finished: `Succeeded` or `Failed` (it will not run again)."""
    return pod_phase(pod) in (POD_SUCCEEDED, POD_FAILED)


def is_pod_active(pod: Pod) -> bool:
    """Neither finished nor being deleted (what controllers count as a live replica)."""
    return not is_pod_terminal(pod) and not is_terminating(pod)


def ready_condition(pod: Pod) -> PodCondition | None:
    if pod.status is None:
        return None
    for condition in pod.status.conditions or ():
        if condition.type == "Ready":
            return condition
    return None


def is_pod_ready(pod: Pod) -> bool:
    condition = ready_condition(pod)
    return condition is not None and condition.status == "True"


def ready_since(pod: Pod) -> datetime | None:
    """When the pod last became ready (None when it is not ready or the time is unknown)."""
    condition = ready_condition(pod)
    if condition is None or condition.status != "True":
        return None
    return parse_time(condition.last_transition_time)


def available_at(pod: Pod, *, min_ready_seconds: int) -> datetime | None:
    """The moment a ready pod counts as available; None when it is not ready."""
    if not is_pod_ready(pod):
        return None
    since = ready_since(pod)
    if since is None:
        return None
    return since + timedelta(seconds=min_ready_seconds)


def is_pod_available(pod: Pod, *, min_ready_seconds: int, now: datetime) -> bool:
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    when = available_at(pod, min_ready_seconds=min_ready_seconds)
    # Kubernetes: available once readiness is strictly older than minReadySeconds.
    return when is not None and when < now


def generate_name_prefix(owner_name: str) -> str:
    prefix = f"{owner_name}-"
    return prefix if len(prefix) <= _MAX_GENERATE_NAME else prefix[:_MAX_GENERATE_NAME]


def pod_from_template(
    *, template: PodTemplateSpec, owner_ref: OwnerReference, namespace: str | None, owner_name: str,
    name: str | None = None,
) -> Pod:
    """The pod a controller creates from its template: named `name`, or else by the server from
    `generateName`.

    The template's spec object is shared, not copied: it is only encoded, never changed.
    """
    meta = template.metadata or ObjectMeta()
    return Pod(
        api_version="v1",
        kind="Pod",
        metadata=ObjectMeta(
            name=name,
            generate_name=None if name else generate_name_prefix(owner_name),
            namespace=namespace,
            labels=dict(meta.labels) if meta.labels else None,
            annotations=dict(meta.annotations) if meta.annotations else None,
            finalizers=list(meta.finalizers) if meta.finalizers else None,
            owner_references=[owner_ref],
        ),
        spec=template.spec,
    )
