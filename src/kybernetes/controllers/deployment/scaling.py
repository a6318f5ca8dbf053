"""Replica arithmetic of a Deployment: surge and unavailability budgets, how far the new ReplicaSet may grow,
and how a resize is shared among several active ReplicaSets. Pure functions, no I/O.

* `fenceposts` resolves `maxSurge` (percent rounded up) and `maxUnavailable` (rounded down) against
  `spec.replicas`; if both come out 0, unavailability becomes 1 so the rollout can still move.
* `new_rs_replicas`: Recreate → all replicas at once; RollingUpdate → grow the new ReplicaSet until all
  ReplicaSets together reach `replicas + maxSurge`, never past `replicas`.
* `proportional_sizes`: a resize during a rollout (or while paused) adds or removes replicas across the active
  ReplicaSets in proportion to their size (via their `max-replicas` annotation), largest first, leftovers to
  the first one, so neither the new nor the old template is favoured by a resize.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kybernetes.api.models.apps_v1 import Deployment, ReplicaSet
from kybernetes.controllers.common import scaled_value
from kybernetes.controllers.deployment.revisions import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    creation_order,
    int_annotation,
)

ROLLING_UPDATE = "RollingUpdate"
RECREATE = "Recreate"


def replicas_of(obj: Deployment | ReplicaSet | None) -> int:
    if obj is None or obj.spec is None:
        return 0
    return 1 if obj.spec.replicas is None else obj.spec.replicas


def status_replicas(rs: ReplicaSet | None) -> int:
    return (rs.status.replicas or 0) if rs is not None and rs.status is not None else 0


def available_replicas(rs: ReplicaSet | None) -> int:
    return (rs.status.available_replicas or 0) if rs is not None and rs.status is not None else 0


def ready_replicas(rs: ReplicaSet | None) -> int:
    return (rs.status.ready_replicas or 0) if rs is not None and rs.status is not None else 0


def strategy_type(d: Deployment) -> str:
    strategy = d.spec.strategy if d.spec else None
    return (strategy.type if strategy is not None else None) or ROLLING_UPDATE


def is_rolling(d: Deployment) -> bool:
    return strategy_type(d) == ROLLING_UPDATE


def fenceposts(d: Deployment) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as numbers; raises `ValueError` for malformed values."""
    desired = replicas_of(d)
    strategy = d.spec.strategy if d.spec else None
    rolling = strategy.rolling_update if strategy is not None else None
    surge = scaled_value(rolling.max_surge if rolling else None, total=desired, round_up=True, default="25%")
    unavailable = scaled_value(rolling.max_unavailable if rolling else None, total=desired, round_up=False,
                               default="25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Deployment) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Deployment) -> int:
    desired = replicas_of(d)
    if not is_rolling(d) or desired == 0:
        return 0
    return min(fenceposts(d)[1], desired)


def total_replicas(replica_sets: Sequence[ReplicaSet | None]) -> int:
    return sum(replicas_of(rs) for rs in replica_sets if rs is not None)


def active(replica_sets: Sequence[ReplicaSet | None]) -> list[ReplicaSet]:
    return [rs for rs in replica_sets if rs is not None and replicas_of(rs) > 0]


def new_rs_replicas(d: Deployment, all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet) -> int:
    desired = replicas_of(d)
    if not is_rolling(d):
        return desired
    current = total_replicas(all_rss)
    limit = desired + max_surge(d)
    if current >= limit:
        return replicas_of(new_rs)
    return replicas_of(new_rs) + min(limit - current, desired - replicas_of(new_rs))


def is_saturated(d: Deployment, rs: ReplicaSet | None) -> bool:
    if rs is None:
        return False
    desired = replicas_of(d)
    return (replicas_of(rs) == desired and int_annotation(rs, DESIRED_REPLICAS) == desired
            and available_replicas(rs) == desired)


def find_active_or_latest(new_rs: ReplicaSet | None, old_rss: Sequence[ReplicaSet]) -> ReplicaSet | None:
    """The only active ReplicaSet, or the newest one when none is active; None when several are active."""
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=creation_order, reverse=True)
    running = active([*newest_first, new_rs])
    if not running:
        return new_rs if new_rs is not None else newest_first[0]
    return running[0] if len(running) == 1 else None


def _round_half_away(x: float) -> int:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _fraction(rs: ReplicaSet, d: Deployment) -> int:
    desired = replicas_of(d)
    if desired == 0:
        return -replicas_of(rs)
    deployment_replicas = desired + max_surge(d)
    annotated = int_annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = (d.status.replicas or 0) if d.status else 0
    if annotated <= 0:
        return 0
    return _round_half_away(replicas_of(rs) * deployment_replicas / annotated) - replicas_of(rs)


def _proportion(rs: ReplicaSet, d: Deployment, to_add: int, added: int) -> int:
    if replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_sizes(d: Deployment, replica_sets: Sequence[ReplicaSet]) -> tuple[list[tuple[ReplicaSet, int]], str]:
    """New sizes for the active ReplicaSets of a rolling Deployment being resized, and "up" / "down"."""
    rss = active(replica_sets)
    desired = replicas_of(d)
    allowed = desired + max_surge(d) if desired > 0 else 0
    to_add = allowed - total_replicas(rss)
    operation = ""
    if to_add > 0:
        # Largest first; among equals the newer first.
        rss.sort(key=creation_order, reverse=True)
        rss.sort(key=replicas_of, reverse=True)
        operation = "up"
    elif to_add < 0:
        # Largest first; among equals the older first.
        rss.sort(key=creation_order)
        rss.sort(key=replicas_of, reverse=True)
        operation = "down"
    added = 0
    sizes: list[int] = []
    for rs in rss:
        if to_add != 0:
            share = _proportion(rs, d, to_add, added)
            sizes.append(replicas_of(rs) + share)
            added += share
        else:
            sizes.append(replicas_of(rs))
    if rss and to_add != 0:
        sizes[0] = max(sizes[0] + to_add - added, 0)
    return list(zip(rss, sizes, strict=True)), operation
