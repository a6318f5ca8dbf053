"""Which pods go first when a controller scales down: Kubernetes' order, least valuable first.

1. not yet scheduled before scheduled;
2. Pending before Unknown before Running;
3. not ready before ready;
4. lower `controller.kubernetes.io/pod-deletion-cost` before higher;
5. pods doubled up on a node (more pods of the same owner on it) before pods alone on theirs;
6. ready for a shorter time before ready for longer;
7. more container restarts before fewer;
8. newer before older (by creationTimestamp).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from kybernetes.api.models.core_v1 import Pod
from kybernetes.controllers.common.pods import is_pod_ready, ready_since
from kybernetes.controllers.common.wallclock import parse_time

DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"

_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: Pod) -> int:
    annotations = (pod.metadata.annotations if pod.metadata else None) or {}
    try:
        return int(annotations.get(DELETION_COST_ANNOTATION, "0"))
    except ValueError:
        return 0


def _created(pod: Pod) -> datetime | None:
    return parse_time(pod.metadata.creation_timestamp if pod.metadata else None)


def _restarts(pod: Pod) -> int:
    statuses = pod.status.container_statuses if pod.status else None
    return max((s.restart_count or 0 for s in statuses or ()), default=0)


def _rank_key(pod: Pod, node_counts: Counter[str]) -> tuple[object, ...]:
    node = (pod.spec.node_name if pod.spec else None) or ""
    phase = (pod.status.phase if pod.status else None) or "Pending"
    ready = is_pod_ready(pod)
    since = ready_since(pod) if ready else None
    created = _created(pod)
    return (
        1 if node else 0,
        _PHASE_ORDER.get(phase, 0),
        1 if ready else 0,
        _deletion_cost(pod),
        -node_counts[node] if node else 0,
        # Ready more recently (a later time) goes first; unknown ready times count as most recent.
        -(since.timestamp()) if since is not None else float("-inf"),
        -_restarts(pod),
        # Newer first; no timestamp counts as newest.
        -(created.timestamp()) if created is not None else float("-inf"),
        pod.metadata.name if pod.metadata else "",
    )


def pods_to_delete(pods: Sequence[Pod], count: int) -> list[Pod]:
    """The `count` pods to delete first, in deletion order."""
    if count <= 0:
        return []
    node_counts: Counter[str] = Counter((p.spec.node_name if p.spec else None) or "" for p in pods)
    ranked = sorted(pods, key=lambda p: _rank_key(p, node_counts))
    return ranked[:count]
