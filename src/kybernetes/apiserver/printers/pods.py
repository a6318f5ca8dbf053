"""The pod row: READY, STATUS and RESTARTS computed exactly as `kubectl get pods` shows them.

STATUS is not a field of the pod. It starts from the phase (or status.reason), is overridden by the first init
container that has not finished ("Init:0/2", "Init:CrashLoopBackOff", "Init:Error"), otherwise by the last
regular container that is waiting or terminated ("ContainerCreating", "CrashLoopBackOff", "Completed",
"Error"), and finally by "Terminating" while a deletion is pending. Sidecars (init containers with
restartPolicy Always) count as regular containers for READY and RESTARTS once they have started.
RESTARTS carries "(5m ago)" when a container has terminated before.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from kybernetes.apiserver.printers.format import (
    NONE,
    Obj,
    age,
    doc,
    items,
    meta,
    name,
    num,
    parse_time,
    since,
    spec,
    status,
    sub,
    text,
)
from kybernetes.apiserver.printers.model import AGE_COLUMN, NAME_COLUMN, Cell, Column, Printer

NODE_LOST_REASON = "NodeLost"  # set on pods of an unreachable node; they print as "Unknown" while deleting

POD_COLUMNS = (
    NAME_COLUMN,
    Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column(
        "Restarts",
        description="The number of times the containers in this pod have been restarted and when the last "
        "container in this pod has restarted.",
    ),
    AGE_COLUMN,
    Column("IP", description=doc("core.v1.PodStatus.podIP"), priority=1),
    Column("Node", description=doc("core.v1.PodSpec.nodeName"), priority=1),
    Column("Nominated Node", description=doc("core.v1.PodStatus.nominatedNodeName"), priority=1),
    Column("Readiness Gates", description=doc("core.v1.PodSpec.readinessGates"), priority=1),
)


class _Restarts:
    """Restart count and the newest lastState.terminated.finishedAt seen so far."""

    def __init__(self) -> None:
        self.count = 0
        self.last: datetime.datetime | None = None

    def add(self, container_status: Obj) -> None:
        self.count += num(container_status.get("restartCount"))
        finished = parse_time(sub(container_status, "lastState", "terminated").get("finishedAt"))
        if finished is not None and (self.last is None or finished > self.last):
            self.last = finished


def _terminated_reason(terminated: Obj, *, prefix: str) -> str:
    reason = text(terminated.get("reason"))
    if reason:
        return prefix + reason
    signal = num(terminated.get("signal"))
    if signal != 0:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{num(terminated.get('exitCode'))}"


def _condition_true(pod_status: Obj, condition_type: str) -> bool:
    for condition in items(pod_status.get("conditions")):
        if condition.get("type") == condition_type:
            return condition.get("status") == "True"
    return False


def _pod_cells(pod: Mapping[str, Any], now: datetime.datetime) -> list[Cell]:
    pod_spec, pod_status = spec(pod), status(pod)
    init_specs = items(pod_spec.get("initContainers"))
    sidecars = {text(c.get("name")) for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(items(pod_spec.get("containers"))) + sum(
        1 for c in init_specs if c.get("restartPolicy") == "Always"
    )
    ready = 0
    phase = text(pod_status.get("phase"))
    reason = text(pod_status.get("reason")) or phase
    for condition in items(pod_status.get("conditions")):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    all_restarts, sidecar_restarts = _Restarts(), _Restarts()
    initializing = False
    for index, container in enumerate(items(pod_status.get("initContainerStatuses"))):
        all_restarts.add(container)
        is_sidecar = text(container.get("name")) in sidecars
        if is_sidecar:
            sidecar_restarts.add(container)
        state = sub(container, "state")
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if isinstance(terminated, Mapping) and num(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and container.get("started") is True:
            if container.get("ready") is True:
                ready += 1
            continue
        if isinstance(terminated, Mapping):
            reason = _terminated_reason(terminated, prefix="Init:")
        elif isinstance(waiting, Mapping) and text(waiting.get("reason")) not in ("", "PodInitializing"):
            reason = "Init:" + text(waiting.get("reason"))
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    restarts = all_restarts
    if not initializing or _condition_true(pod_status, "Initialized"):
        # Past initialization only sidecar restarts still count among the init containers'.
        restarts = sidecar_restarts
        has_running = False
        error_reason = ""
        for container in reversed(items(pod_status.get("containerStatuses"))):
            restarts.add(container)
            state = sub(container, "state")
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if isinstance(waiting, Mapping) and text(waiting.get("reason")):
                reason = text(waiting.get("reason"))
            elif isinstance(terminated, Mapping):
                reason = _terminated_reason(terminated, prefix="")
                if num(terminated.get("exitCode")) != 0:
                    error_reason = reason
            elif container.get("ready") is True and isinstance(state.get("running"), Mapping):
                has_running = True
                ready += 1
        # A pod whose last container completed but others still run is not "Completed".
        if reason == "Completed":
            if has_running and _condition_true(pod_status, "Ready"):
                reason = "Running"
            elif error_reason:
                reason = error_reason
            elif has_running:
                reason = "NotReady"

    deleting = meta(pod).get("deletionTimestamp") is not None
    if deleting and pod_status.get("reason") == NODE_LOST_REASON:
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts.count)
    if restarts.count != 0 and restarts.last is not None:
        restarts_text = f"{restarts.count} ({since(restarts.last.isoformat(), now)} ago)"

    return [
        name(pod),
        f"{ready}/{total}",
        reason,
        restarts_text,
        age(pod, now),
        _pod_ip(pod_status) or NONE,
        text(pod_spec.get("nodeName")) or NONE,
        text(pod_status.get("nominatedNodeName")) or NONE,
        _readiness_gates(pod_spec, pod_status),
    ]


def _pod_ip(pod_status: Obj) -> str:
    ips = items(pod_status.get("podIPs"))
    if ips:
        return text(ips[0].get("ip"))
    # Older writers fill only the singular field; Kubernetes converts it into podIPs on read.
    return text(pod_status.get("podIP"))


def _readiness_gates(pod_spec: Obj, pod_status: Obj) -> str:
    gates = items(pod_spec.get("readinessGates"))
    if not gates:
        return NONE
    conditions = items(pod_status.get("conditions"))
    satisfied = 0
    for gate in gates:
        for condition in conditions:
            if condition.get("type") == gate.get("conditionType"):
                satisfied += condition.get("status") == "True"
                break
    return f"{satisfied}/{len(gates)}"


def _pod_conditions(pod: Mapping[str, Any]) -> list[dict[str, str]]:
    phase = status(pod).get("phase")
    if phase == "Succeeded":
        return [_completed("Succeeded", "The pod has completed successfully.")]
    if phase == "Failed":
        return [_completed("Failed", "The pod failed.")]
    return []


def _completed(reason: str, message: str) -> dict[str, str]:
    return {"type": "Completed", "status": "True", "reason": reason, "message": message}


POD_PRINTER = Printer(columns=POD_COLUMNS, cells=_pod_cells, conditions=_pod_conditions)
