"""A Deployment's status and conditions, computed from its ReplicaSets. Pure functions, no I/O.

Counts: `replicas` / `readyReplicas` / `availableReplicas` sum the ReplicaSets' status, `updatedReplicas` is
the new ReplicaSet's, `unavailableReplicas` = desired pods of all ReplicaSets - available (never negative).

Conditions (as Kubernetes words them):
* `Available`: True `MinimumReplicasAvailable` "Deployment has minimum availability." when at least
  `replicas - maxUnavailable` pods are available, else False `MinimumReplicasUnavailable`.
* `Progressing` (only with a progress deadline): `NewReplicaSetCreated` / `FoundNewReplicaSet` when the new
  ReplicaSet appears; `ReplicaSetUpdated` "ReplicaSet "x" is progressing." whenever the rollout moves (its
  lastUpdateTime is the clock the deadline runs on); `NewReplicaSetAvailable` "... has successfully
  progressed." when complete; False `ProgressDeadlineExceeded` "... has timed out progressing." once no
  progress was seen for `progressDeadlineSeconds`; Unknown `DeploymentPaused` / `DeploymentResumed`.
* `ReplicaFailure`: copied from the new ReplicaSet (else any ReplicaSet) while one has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from kybernetes.api.models.apps_v1 import Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet
from kybernetes.controllers.deployment.scaling import (
    available_replicas,
    max_unavailable,
    ready_replicas,
    replicas_of,
    status_replicas,
    total_replicas,
)
from kybernetes.machinery.timefmt import format_rfc3339, parse_rfc3339

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"

MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_REPLICA_SET_CREATED = "NewReplicaSetCreated"
FOUND_NEW_REPLICA_SET = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"

_MAX_INT32 = 2**31 - 1


def _n(value: int | None) -> int:
    return value or 0


def has_progress_deadline(d: Deployment) -> bool:
    seconds = d.spec.progress_deadline_seconds if d.spec else None
    return seconds is not None and seconds != _MAX_INT32


def new_condition(type_: str, status: str, reason: str, message: str, *, now: datetime) -> DeploymentCondition:
    stamp = format_rfc3339(now)
    return DeploymentCondition(type=type_, status=status, reason=reason, message=message,
                               last_update_time=stamp, last_transition_time=stamp)


def get_condition(status: DeploymentStatus | None, type_: str) -> DeploymentCondition | None:
    for condition in (status.conditions if status is not None else None) or ():
        if condition.type == type_:
            return condition
    return None


def set_condition(status: DeploymentStatus, condition: DeploymentCondition) -> DeploymentStatus:
    """Add or replace the condition of its type; same status and reason → no change; same status → the
    transition time is kept."""
    current = get_condition(status, condition.type or "")
    if current is not None and current.status == condition.status and current.reason == condition.reason:
        return status
    if current is not None and current.status == condition.status:
        condition = msgspec.structs.replace(condition, last_transition_time=current.last_transition_time)
    others = [c for c in status.conditions or () if c.type != condition.type]
    return msgspec.structs.replace(status, conditions=[*others, condition])


def remove_condition(status: DeploymentStatus, type_: str) -> DeploymentStatus:
    kept = [c for c in status.conditions or () if c.type != type_]
    return msgspec.structs.replace(status, conditions=kept or None)


def calculate_status(
    d: Deployment, all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet | None, *, now: datetime
) -> DeploymentStatus:
    rss = [rs for rs in all_rss if rs is not None]
    available = sum(available_replicas(rs) for rs in rss)
    unavailable = max(total_replicas(rss) - available, 0)
    current = d.status or DeploymentStatus()
    status = DeploymentStatus(
        observed_generation=d.metadata.generation if d.metadata else None,
        replicas=sum(status_replicas(rs) for rs in rss) or None,
        updated_replicas=status_replicas(new_rs) or None,
        ready_replicas=sum(ready_replicas(rs) for rs in rss) or None,
        available_replicas=available or None,
        unavailable_replicas=unavailable or None,
        collision_count=current.collision_count,
        conditions=list(current.conditions) if current.conditions else None,
    )
    if available >= replicas_of(d) - max_unavailable(d):
        condition = new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, "Deployment has minimum availability.",
                                  now=now)
    else:
        condition = new_condition(AVAILABLE, "False", MINIMUM_REPLICAS_UNAVAILABLE,
                                  "Deployment does not have minimum availability.", now=now)
    return set_condition(status, condition)


def is_complete(d: Deployment, status: DeploymentStatus) -> bool:
    desired = replicas_of(d)
    generation = (d.metadata.generation if d.metadata else None) or 0
    return (_n(status.updated_replicas) == desired and _n(status.replicas) == desired
            and _n(status.available_replicas) == desired and _n(status.observed_generation) >= generation)


def is_progressing(d: Deployment, status: DeploymentStatus) -> bool:
    old = d.status or DeploymentStatus()
    old_old = _n(old.replicas) - _n(old.updated_replicas)
    new_old = _n(status.replicas) - _n(status.updated_replicas)
    return (_n(status.updated_replicas) > _n(old.updated_replicas) or new_old < old_old
            or _n(status.ready_replicas) > _n(old.ready_replicas)
            or _n(status.available_replicas) > _n(old.available_replicas))


def _deadline(d: Deployment, condition: DeploymentCondition) -> datetime | None:
    if not condition.last_update_time:
        return None
    try:
        since = parse_rfc3339(condition.last_update_time)
    except ValueError:
        return None
    return since + timedelta(seconds=(d.spec.progress_deadline_seconds if d.spec else None) or 0)


def timed_out(d: Deployment, status: DeploymentStatus, *, now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    condition = get_condition(status, PROGRESSING)
    if condition is None or condition.reason == NEW_RS_AVAILABLE:
        return False
    if condition.reason == TIMED_OUT:
        return True
    deadline = _deadline(d, condition)
    return deadline is not None and deadline < now


def _named(d: Deployment, new_rs: ReplicaSet | None) -> str:
    if new_rs is not None and new_rs.metadata is not None:
        return f'ReplicaSet "{new_rs.metadata.name}"'
    return f'Deployment "{d.metadata.name if d.metadata else ""}"'


def replica_failure(all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet | None) -> DeploymentCondition | None:
    for rs in [new_rs, *all_rss]:
        for c in ((rs.status.conditions if rs is not None and rs.status else None) or ()):
            if c.type == REPLICA_FAILURE:
                return DeploymentCondition(type=c.type, status=c.status, reason=c.reason, message=c.message,
                                           last_transition_time=c.last_transition_time,
                                           last_update_time=c.last_transition_time)
    return None


def rollout_status(
    d: Deployment, all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet | None, *, now: datetime
) -> DeploymentStatus:
    """The status during a rollout, with progress estimated (Kubernetes' syncRolloutStatus)."""
    status = calculate_status(d, all_rss, new_rs, now=now)
    if not has_progress_deadline(d):
        status = remove_condition(status, PROGRESSING)
    current = get_condition(d.status, PROGRESSING)
    complete_before = (_n(status.replicas) == _n(status.updated_replicas) and current is not None
                       and current.reason == NEW_RS_AVAILABLE)
    if has_progress_deadline(d) and not complete_before:
        name = _named(d, new_rs)
        if is_complete(d, status):
            status = set_condition(status, new_condition(
                PROGRESSING, "True", NEW_RS_AVAILABLE, f"{name} has successfully progressed.", now=now))
        elif is_progressing(d, status):
            condition = new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, f"{name} is progressing.", now=now)
            if current is not None:
                if current.status == "True":
                    condition = msgspec.structs.replace(condition, last_transition_time=current.last_transition_time)
                status = remove_condition(status, PROGRESSING)
            status = set_condition(status, condition)
        elif timed_out(d, status, now=now):
            status = set_condition(status, new_condition(
                PROGRESSING, "False", TIMED_OUT, f"{name} has timed out progressing.", now=now))
    failure = replica_failure(all_rss, new_rs)
    status = set_condition(status, failure) if failure is not None else remove_condition(status, REPLICA_FAILURE)
    if not status.conditions:
        status = msgspec.structs.replace(status, conditions=None)
    return status


def stuck_requeue_after(d: Deployment, status: DeploymentStatus, *, now: datetime) -> float | None:
    """Seconds until the progress deadline of a rollout that made no progress this time (None: no check)."""
    current = get_condition(d.status, PROGRESSING)
    if not has_progress_deadline(d) or current is None:
        return None
    if is_complete(d, status) or current.reason == TIMED_OUT:
        return None
    deadline = _deadline(d, current)
    if deadline is None:
        return None
    return max((deadline - now).total_seconds(), 0.0) + 1.0
