"""The pod status a kubelet reports, rendered from the runtime's containers and the agent's own memory.

`build_status` returns the `status` object as JSON (camelCase), written as a merge patch of `pods/status`:
phase, conditions (PodReadyToStartContainers, Initialized, ContainersReady, Ready; PodScheduled is the
scheduler's and left alone), init and app container statuses (state, lastState, restartCount, ready,
started, image, imageID, containerID `<runtime>://<id>`), pod and host IPs, startTime and qosClass.
Transition times and startTime are carried over from the current status while unchanged, so that
`status_differs` is false for a pod whose status has not really changed and no write is made.
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


def _phase(*, pod: Pod, init: list[dict[str, Any]], app: list[dict[str, Any]]) -> str:
    assert pod.spec is not None
    policy = pod.spec.restart_policy or "Always"
    for s in init:
        term = s["state"].get("terminated")
        if term is None or term["exitCode"] != 0:
            failed = (term is not None or "terminated" in s["lastState"]) and policy == "Never"
            return "Failed" if failed else "Pending"
    running = sum(1 for s in app if "running" in s["state"])
    terminated = [s["state"]["terminated"] for s in app if "terminated" in s["state"]]
    restarting = sum(1 for s in app if "waiting" in s["state"] and "terminated" in s["lastState"])
    if running:
        return "Running"
    if terminated and len(terminated) == len(app):
        if policy == "Always":
            return "Running"
        if any(t["exitCode"] != 0 for t in terminated):
            return "Running" if policy == "OnFailure" else "Failed"
        return "Succeeded"
    if restarting and restarting + len(terminated) == len(app):
        return "Running"
    return "Pending"


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
    init = [_container_status(spec=c, history=runtime_statuses.get(c.name or "", []),
                              rec=record.containers.get(c.name or ""), runtime=runtime_name,
                              default_wait="PodInitializing")
            for c in pod.spec.init_containers or []]
    initialized = all("terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0 for s in init)
    app = [_container_status(spec=c, history=runtime_statuses.get(c.name or "", []),
                             rec=record.containers.get(c.name or ""), runtime=runtime_name,
                             default_wait="ContainerCreating" if initialized else "PodInitializing")
           for c in pod.spec.containers or []]
    phase = _phase(pod=pod, init=init, app=app)
    unready = [s["name"] for s in app if not s["ready"]]
    ready_msg = f"containers with unready status: [{' '.join(unready)}]"
    uninit = [s["name"] for s in init if "terminated" not in s["state"]
              or s["state"]["terminated"]["exitCode"] != 0]
    completed = phase == "Succeeded"
    conditions = [
        _condition("PodReadyToStartContainers", bool(record.sandbox_id), previous, now),
        _condition("Initialized", initialized, previous, now, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(uninit)}]"),
        _condition("Ready", not unready, previous, now, "PodCompleted" if completed else "ContainersNotReady",
                   "" if completed else ready_msg),
        _condition("ContainersReady", not unready, previous, now,
                   "PodCompleted" if completed else "ContainersNotReady", "" if completed else ready_msg),
    ]
    if "PodScheduled" in previous:
        conditions.insert(1, previous["PodScheduled"])
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
