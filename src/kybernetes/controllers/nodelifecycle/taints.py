"""Taints and tolerations as the node lifecycle and taint eviction logic need them (pure functions).

* The taints this controller owns: `node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable`
  with effect NoExecute (from the Ready condition, False and Unknown), and the NoSchedule taints that mirror
  node conditions (`not-ready`, `unreachable`, `memory-pressure`, `disk-pressure`, `pid-pressure`,
  `network-unavailable`) and `spec.unschedulable` (`unschedulable`). Taints with other keys are the user's
  and are never touched.
* `tolerates(toleration, taint)` is Kubernetes' `ToleratesTaint`; `matching_tolerations` says whether every
  taint is tolerated and by which tolerations; `min_toleration_seconds` is how long a pod may stay
  (None: forever).
"""

from __future__ import annotations

from kybernetes.api.models.core_v1 import Node, NodeCondition, Taint, Toleration

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
PID_PRESSURE = "node.kubernetes.io/pid-pressure"
NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"

NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"

# condition type → {condition status → the NoSchedule taint key it brings}
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": NOT_READY, "Unknown": UNREACHABLE},
    "MemoryPressure": {"True": MEMORY_PRESSURE},
    "DiskPressure": {"True": DISK_PRESSURE},
    "PIDPressure": {"True": PID_PRESSURE},
    "NetworkUnavailable": {"True": NETWORK_UNAVAILABLE},
}
NO_SCHEDULE_KEYS = frozenset({UNSCHEDULABLE, *(k for m in CONDITION_TAINTS.values() for k in m.values())})
NO_EXECUTE_KEYS = frozenset({NOT_READY, UNREACHABLE})


def condition(node: Node, kind: str) -> NodeCondition | None:
    for c in (node.status.conditions if node.status else None) or []:
        if c.type == kind:
            return c
    return None


def ready_status(node: Node) -> str | None:
    """The Ready condition's status (True, False, Unknown), or None when the node never posted one."""
    found = condition(node, "Ready")
    return found.status if found is not None else None


def taints(node: Node) -> list[Taint]:
    return list((node.spec.taints if node.spec else None) or [])


def no_execute_taints(node: Node) -> list[Taint]:
    return [t for t in taints(node) if t.effect == NO_EXECUTE]


def desired_no_schedule(node: Node) -> set[str]:
    keys: set[str] = set()
    for c in (node.status.conditions if node.status else None) or []:
        key = CONDITION_TAINTS.get(c.type or "", {}).get(c.status or "")
        if key:
            keys.add(key)
    if node.spec is not None and node.spec.unschedulable:
        keys.add(UNSCHEDULABLE)
    return keys


def with_no_schedule(node: Node, keys: set[str]) -> list[Taint] | None:
    """The node's taints with our NoSchedule ones set to exactly `keys`; None when nothing changes."""
    current = taints(node)
    ours = {t.key for t in current if t.effect == NO_SCHEDULE and t.key in NO_SCHEDULE_KEYS}
    if ours == keys:
        return None
    kept = [t for t in current if not (t.effect == NO_SCHEDULE and t.key in NO_SCHEDULE_KEYS)]
    return kept + [Taint(key=k, effect=NO_SCHEDULE) for k in sorted(keys)]


def with_no_execute(node: Node, key: str | None, *, now: str) -> list[Taint] | None:
    """The node's taints with our NoExecute taint set to `key` (None: neither); None when nothing changes."""
    current = taints(node)
    ours = [t for t in current if t.effect == NO_EXECUTE and t.key in NO_EXECUTE_KEYS]
    if [t.key for t in ours] == ([key] if key else []):
        return None
    kept = [t for t in current if not (t.effect == NO_EXECUTE and t.key in NO_EXECUTE_KEYS)]
    return kept + ([Taint(key=key, effect=NO_EXECUTE, time_added=now)] if key else [])


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    operator = toleration.operator or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.value or "") == (taint.value or "")
    return False


def matching_tolerations(taint_list: list[Taint], tolerations: list[Toleration]) -> tuple[bool, list[Toleration]]:
    """(every taint tolerated, the first toleration of each taint)."""
    used: list[Toleration] = []
    for taint in taint_list:
        found = next((t for t in tolerations if tolerates(t, taint)), None)
        if found is None:
            return False, []
        used.append(found)
    return True, used


def min_toleration_seconds(used: list[Toleration]) -> float | None:
    """The shortest `tolerationSeconds` (negative counts as 0); None when all tolerate forever.

    With no tolerations at all (no taints to tolerate) the answer is 0, as in Kubernetes; callers only ask
    when there are taints.
    """
    if not used:
        return 0.0
    shortest: float | None = None
    for t in used:
        if t.toleration_seconds is None:
            continue
        seconds = float(max(0, t.toleration_seconds))
        if shortest is None or seconds < shortest:
            shortest = seconds
    return shortest
