"""The status a replica controller writes: counts over the pods it owns, and the ReplicaFailure condition.

* `replicas`: active pods owned (always written, even 0, as Kubernetes does);
* `fullyLabeledReplicas`: of those, pods carrying every label of the template;
* `readyReplicas` / `availableReplicas`: Ready, and Ready for `minReadySeconds`;
* `observedGeneration`: the generation this status was computed for;
* condition `ReplicaFailure` (True, reason `FailedCreate` / `FailedDelete`, the API's error message) while
  creating or deleting pods fails, removed by the first sync whose writes all succeed.
Zero counts other than `replicas` are left out, as the Kubernetes types omit empty fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kybernetes.api.models.core_v1 import Pod
from kybernetes.controllers.common import is_pod_available, is_pod_ready, labels_of
from kybernetes.controllers.replicaset.kinds import ReplicaKind
from kybernetes.machinery.timefmt import format_rfc3339

REPLICA_FAILURE = "ReplicaFailure"


def _nonzero(value: int) -> int | None:
    return value or None


def calculate_status(
    *,
    kind: ReplicaKind[Any],
    owner: Any,
    pods: Sequence[Pod],
    manage_error: Exception | None,
    diff: int,
    now: datetime,
) -> Any:
    spec = owner.spec
    template = spec.template if spec is not None else None
    template_labels = (template.metadata.labels if template is not None and template.metadata else None) or {}
    min_ready = (spec.min_ready_seconds if spec is not None else None) or 0
    fully_labeled = ready = available = 0
    for pod in pods:
        labels = labels_of(pod)
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully_labeled += 1
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready_seconds=min_ready, now=now):
                available += 1

    current = owner.status
    conditions = list((current.conditions if current is not None else None) or ())
    failure = next((c for c in conditions if c.type == REPLICA_FAILURE), None)
    if manage_error is not None and failure is None:
        message = getattr(manage_error, "message", None) or str(manage_error)
        conditions.append(kind.condition_model(
            type=REPLICA_FAILURE, status="True", reason="FailedCreate" if diff < 0 else "FailedDelete",
            message=message, last_transition_time=format_rfc3339(now),
        ))
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.type != REPLICA_FAILURE]

    return kind.status_model(
        replicas=len(pods),
        fully_labeled_replicas=_nonzero(fully_labeled),
        ready_replicas=_nonzero(ready),
        available_replicas=_nonzero(available),
        observed_generation=owner.metadata.generation,
        conditions=conditions or None,
    )
