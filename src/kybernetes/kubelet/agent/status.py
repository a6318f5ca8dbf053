"""The pod status a kubelet reports, rendered from the runtime's containers and the agent's own memory.

`build_status` returns the `status` object as JSON (camelCase), written as a merge patch of `pods/status`:
phase, conditions (PodReadyToStartContainers, Initialized, ContainersReady, Ready; PodScheduled is the
scheduler's and left alone), init and app container statuses (state, lastState, restartCount, ready,
started, image, imageID, containerID `<runtime>://<id>`), pod and host IPs, startTime and qosClass.
Sidecars (restartable init containers) count as initialized once started and are part of readiness, not
of the phase. Ready also needs every `readinessGates` condition True (else ReadinessGatesNotReady); the
conditions the kubelet does not own (gates', DisruptionTarget) are carried over, as the merge patch
replaces the list. A terminal phase (Succeeded, Failed) is never left. Transition times and startTime are
carried over from the current status while unchanged, so that `status_differs` is false for a pod whose
status has not really changed and no write is made.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from kybernetes.api.models.core_v1 import Container, Pod, PodStatus
from kybernetes.kubelet.agent.podspec import qos_class
from kybernetes.kubelet.runtime.protocol import ContainerStatus, State
from kybernetes.machinery.timefmt import format_rfc3339

if TYPE_CHECKING:
    from kybernetes.kubelet.agent.pods import ContainerRecord, PodRecord

__all__ = ["build_status", "status_differs"]


def _ts(ns: int) -> str | None:
    return format_rfc3339(datetime.fromtimestamp(ns / 1e9, tz=UTC)) if ns else None


def _terminated(s: ContainerStatus, runtime: str) -> dict[str, Any]:
    body: dict[str, Any] = {"exitCode": s.exit_code, "reason": s.reason or ("Completed" if s.exit_code == 0
                                                                          else "Error"),
                            "startedAt": _ts(s.started_at_ns), "finishedAt": _ts(s.finished_at_ns),
                            "containerID": f"{runtime}://{s.id}"}
    if s.message:
        body["message"] = s.message
    return {"terminated": {k: v for k, v in body.items() if v is not None}}


def _container_status(*, spec: Container, history: list[ContainerStatus], rec: ContainerRecord | None,
                      runtime: str, default_wait: str) -> dict[str, Any]:
    current = history[0] if history else None
    out: dict[str, Any] = {"name": spec.name, "image": spec.image or "", "imageID": "", "ready": False,
                           "restartCount": current.attempt if current is not None else 0, "started": False,
                           "lastState": {}}
    waiting = rec.waiting_reason if rec is not None else ""
    if current is not None:
        out["imageID"] = current.image.repo_digest or current.image.id
        out["containerID"] = f"{runtime}://{current.id}"
    elif rec is not None and rec.image_id:
        out["imageID"] = rec.image_id
    if current is not None and current.state == State.RUNNING:
        out["state"] = {"running": {"startedAt": _ts(current.started_at_ns) or ""}}
        out["ready"] = bool(rec is not None and rec.ready and rec.started)
        out["started"] = bool(rec is None or rec.started)
        if len(history) > 1 and history[1].state == State.EXITED:
            out["lastState"] = _terminated(history[1], runtime)
    elif current is not None and current.state == State.EXITED and not waiting:
        out["state"] = _terminated(current, runtime)
        if len(history) > 1 and history[1].state == State.EXITED:
            out["lastState"] = _terminated(history[1], runtime)
    else:
        body = {"reason": waiting or default_wait}
        if rec is not None and rec.waiting_message:
            body["message"] = rec.waiting_message
        out["state"] = {"waiting": body}
        if current is not None and current.state == State.EXITED:
            out["lastState"] = _terminated(current, runtime)
    return out


def _phase(*, pod: Pod, init: list[dict[str, Any]], app: list[dict[str, Any]], initialized: bool,
           sidecars: set[str]) -> str:
    assert pod.spec is not None
    policy = pod.spec.restart_policy or "Always"
    if not initialized:
        for s in init:
            if s["name"] in sidecars:
                continue  # restarted whatever the pod's policy: never what fails the pod
            term = s["state"].get("terminated")
            if term is None or term["exitCode"] != 0:
                failed = (term is not None or "terminated" in s["lastState"]) and policy == "Never"
                return "Failed" if failed else "Pending"
        return "Pending"
    # Sidecars do not count: a pod whose app containers have finished is finished.
    running = sum(1 for s in app if "running" in s["state"])
    terminated = [s["state"]["terminated"] for s in app if "terminated" in s["state"]]
    restarting = sum(1 for s in app if "waiting" in s["state"] and "terminated" in s["lastState"])
    if running:
        return "Running"
    if terminated and len(terminated) == len(app):
        if policy == "Always" or any("running" in s["state"] for s in init if s["name"] in sidecars):
            return "Running"  # a pod completes only once its sidecars are stopped too
        if any(t["exitCode"] != 0 for t in terminated):
            return "Running" if policy == "OnFailure" else "Failed"
        return "Succeeded"
    if restarting and restarting + len(terminated) == len(app):
        return "Running"
    return "Pending"


def _initialized(*, init: list[dict[str, Any]], app: list[dict[str, Any]], sidecars: set[str]) -> bool:
    """Every regular init container completed and every sidecar started — or the app containers have run
    already (a sidecar restarting later does not make a pod uninitialized again)."""
    if any(s.get("containerID") or "waiting" not in s["state"] or s["lastState"] for s in app):
        return True
    for s in init:
        if s["name"] in sidecars:
            if not s["started"]:
                return False
        elif "terminated" not in s["state"] or s["state"]["terminated"]["exitCode"] != 0:
            return False
    return True


def _gates(pod: Pod, previous: dict[str, dict[str, Any]]) -> list[str]:
    """Messages for the readinessGates whose condition is not True (empty: all gates pass)."""
    assert pod.spec is not None
    out: list[str] = []
    for gate in pod.spec.readiness_gates or []:
        kind = gate.condition_type or ""
        condition = previous.get(kind)
        if condition is None:
            out.append(f'corresponding condition of pod readiness gate "{kind}" does not exist.')
        elif condition.get("status") != "True":
            out.append(f'the status of pod readiness gate "{kind}" is not "True", but {condition.get("status")}')
    return out


def _condition(kind: str, ok: bool, previous: dict[str, Any], now: str, reason: str = "",
               message: str = "") -> dict[str, Any]:
    status = "True" if ok else "False"
    old = previous.get(kind)
    since = old["lastTransitionTime"] if old and old.get("status") == status and old.get(
        "lastTransitionTime") else now
    c: dict[str, Any] = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if not ok and reason:
        c["reason"] = reason
        if message:
            c["message"] = message
    return c


def build_status(*, pod: Pod, record: PodRecord, runtime_statuses: dict[str, list[ContainerStatus]],
                 host_ip: str, runtime_name: str, now: str) -> dict[str, Any]:
    assert pod.spec is not None
    current: dict[str, Any] = msgspec.to_builtins(pod.status) if pod.status is not None else {}
    previous: dict[str, Any] = {c["type"]: c for c in current.get("conditions") or []}
    sidecars = {c.name or "" for c in pod.spec.init_containers or [] if c.restart_policy == "Always"}
    init = [_container_status(spec=c, history=runtime_statuses.get(c.name or "", []),
                              rec=record.containers.get(c.name or ""), runtime=runtime_name,
                              default_wait="PodInitializing")
            for c in pod.spec.init_containers or []]
    app_defaults = [_container_status(spec=c, history=runtime_statuses.get(c.name or "", []),
                                      rec=record.containers.get(c.name or ""), runtime=runtime_name,
                                      default_wait="ContainerCreating")
                    for c in pod.spec.containers or []]
    initialized = _initialized(init=init, app=app_defaults, sidecars=sidecars)
    app = app_defaults if initialized else [
        _container_status(spec=c, history=runtime_statuses.get(c.name or "", []),
                          rec=record.containers.get(c.name or ""), runtime=runtime_name,
                          default_wait="PodInitializing")
        for c in pod.spec.containers or []]
    phase = _phase(pod=pod, init=init, app=app, initialized=initialized, sidecars=sidecars)
    if current.get("phase") in ("Succeeded", "Failed"):
        phase = current["phase"]  # terminal: a pod never leaves it
    unready = [s["name"] for s in init if s["name"] in sidecars and not s["ready"]] + [
        s["name"] for s in app if not s["ready"]]
    ready_msg = f"containers with unready status: [{' '.join(unready)}]"
    uninit = [s["name"] for s in init if (not s["started"] if s["name"] in sidecars else (
        "terminated" not in s["state"] or s["state"]["terminated"]["exitCode"] != 0))]
    completed = phase == "Succeeded"
    gates = _gates(pod, previous)
    if unready or completed:
        ready = _condition("Ready", False, previous, now, "PodCompleted" if completed else "ContainersNotReady",
                           "" if completed else ready_msg)
    else:
        ready = _condition("Ready", not gates, previous, now, "ReadinessGatesNotReady", ", ".join(gates))
    conditions = [
        _condition("PodReadyToStartContainers", bool(record.sandbox_id), previous, now),
        _condition("Initialized", initialized, previous, now, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(uninit)}]"),
        ready,
        _condition("ContainersReady", not unready and not completed, previous, now,
                   "PodCompleted" if completed else "ContainersNotReady", "" if completed else ready_msg),
    ]
    if "PodScheduled" in previous:
        conditions.insert(1, previous["PodScheduled"])
    # Conditions the kubelet does not own (readiness gates', DisruptionTarget, ...) are kept: the status
    # is written as a merge patch, which replaces the whole list.
    conditions += [c for kind, c in previous.items() if kind not in _OWN_CONDITIONS]
    status: dict[str, Any] = {
        "phase": phase, "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "startTime": current.get("startTime") or now, "qosClass": current.get("qosClass") or qos_class(pod),
        "containerStatuses": app,
    }
    if init:
        status["initContainerStatuses"] = init
    if record.pod_ip:
        status["podIP"] = record.pod_ip
        status["podIPs"] = [{"ip": record.pod_ip}]
    return status


_OWN_CONDITIONS = frozenset({"PodScheduled", "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"})


def _normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def status_differs(desired: dict[str, Any], current: PodStatus | None) -> bool:
    have = _normal(msgspec.to_builtins(current)) if current is not None else {}
    want = _normal(desired)
    return any(have.get(k) != v for k, v in want.items())
