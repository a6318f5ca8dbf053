"""The arithmetic of a disruption budget, as pure functions (see the package docstring)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from kybernetes.api.models.core_v1 import Pod
from kybernetes.api.models.meta_v1 import Condition
from kybernetes.api.models.policy_v1 import PodDisruptionBudgetStatus
from kybernetes.machinery.timefmt import format_rfc3339, parse_rfc3339

DELETION_TIMEOUT = timedelta(minutes=2)
CONDITION = "DisruptionAllowed"
SUFFICIENT = "SufficientPods"
INSUFFICIENT = "InsufficientPods"
SYNC_FAILED = "SyncFailed"


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-percent against `total` (`"50%"` of 3 → 2 rounding up); raises `ValueError` if malformed."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid value {value!r}")
    percent = int(text[:-1])
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def is_pod_ready(pod: Pod) -> bool:
    for c in (pod.status.conditions if pod.status else None) or []:
        if c.type == "Ready":
            return c.status == "True"
    return False


def disrupted_pods(
    *, pods: list[Pod], status: PodDisruptionBudgetStatus | None, now: datetime
) -> tuple[dict[str, str], datetime | None]:
    """The `disruptedPods` entries still worth keeping, and when the earliest of them expires."""
    recorded = (status.disrupted_pods if status else None) or {}
    kept: dict[str, str] = {}
    recheck: datetime | None = None
    for pod in pods:
        meta = pod.metadata
        if meta is None or not meta.name or meta.deletion_timestamp or meta.name not in recorded:
            continue
        try:
            expected_deletion = parse_rfc3339(recorded[meta.name]) + DELETION_TIMEOUT
        except ValueError:
            continue
        if expected_deletion < now:
            continue  # it was not deleted after all: it counts again
        kept[meta.name] = recorded[meta.name]
        if recheck is None or expected_deletion < recheck:
            recheck = expected_deletion
    return kept, recheck


def count_healthy(*, pods: list[Pod], disrupted: dict[str, str]) -> int:
    healthy = 0
    for pod in pods:
        meta = pod.metadata
        if meta is None or meta.deletion_timestamp or (meta.name or "") in disrupted:
            continue
        if is_pod_ready(pod):
            healthy += 1
    return healthy


def _condition(*, old: list[Condition] | None, status: str, reason: str, message: str, generation: int | None,
               now: datetime) -> list[Condition]:
    """Set the DisruptionAllowed condition; the transition time moves only when the status does."""
    previous = next((c for c in old or [] if c.type == CONDITION), None)
    since = previous.last_transition_time if previous and previous.status == status else None
    condition = Condition(type=CONDITION, status=status, reason=reason, message=message,
                          observed_generation=generation, last_transition_time=since or format_rfc3339(now))
    return [c for c in old or [] if c.type != CONDITION] + [condition]


def build_status(
    *, old: PodDisruptionBudgetStatus | None, generation: int | None, current_healthy: int, desired_healthy: int,
    expected: int, disrupted: dict[str, str], now: datetime,
) -> PodDisruptionBudgetStatus:
    allowed = current_healthy - desired_healthy
    if expected <= 0 or allowed <= 0:
        allowed = 0
    conditions = _condition(
        old=old.conditions if old else None, status="True" if allowed > 0 else "False",
        reason=SUFFICIENT if allowed > 0 else INSUFFICIENT, message="", generation=generation, now=now,
    )
    return PodDisruptionBudgetStatus(
        current_healthy=current_healthy, desired_healthy=desired_healthy, expected_pods=expected,
        disruptions_allowed=allowed, disrupted_pods=disrupted or None, observed_generation=generation,
        conditions=conditions,
    )


def failed_status(
    *, old: PodDisruptionBudgetStatus | None, generation: int | None, message: str, now: datetime
) -> PodDisruptionBudgetStatus:
    """The fail-safe status: no disruption allowed, and the reason why."""
    base = old or PodDisruptionBudgetStatus()
    conditions = _condition(old=base.conditions, status="False", reason=SYNC_FAILED, message=message,
                            generation=generation, now=now)
    return PodDisruptionBudgetStatus(
        current_healthy=base.current_healthy or 0, desired_healthy=base.desired_healthy or 0,
        expected_pods=base.expected_pods or 0, disruptions_allowed=0, disrupted_pods=base.disrupted_pods,
        observed_generation=generation, conditions=conditions,
    )
