"""The pretend life of a pod on a simulated node: when its containers start, become ready, exit, restart.

Nothing runs. A `PodRun` is a small state machine per pod, advanced by time only: `advance(now)` applies
every transition whose moment has passed (so a late timer yields the same history as a punctual one, with
timestamps taken from the moments themselves), `next_deadline()` says when the next one is due (the
simulator's one timer heap wakes the pod then), and `status()` renders the PodStatus a kubelet would report.

How long a container runs and how it ends (`plan_containers`):

* annotation `kybernetes.io/simulate-run-seconds: "N"` → every container exits after N s, with code 0 or
  the code of `kybernetes.io/simulate-exit-code` (which alone means "exits at once with that code");
* otherwise the command decides: `true` / `false` / `exit N` end at once with 0 / 1 / N, `sleep N` ends
  after N s with 0 (also inside `sh -c`); anything else runs until the pod is deleted;
* `kybernetes.io/simulate-ready-after-seconds: "N"` delays readiness of running containers by N s.

An exited container restarts as the pod's restartPolicy says (Always: any exit; OnFailure: non-zero), after
Kubernetes' crash-loop back-off (base doubling per restart, capped) during which it waits in
`CrashLoopBackOff`. When every container has ended for good the pod is Succeeded (all exit codes 0) or
Failed.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from kybernetes.api.models.core_v1 import (
    Container,
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    HostIP,
    Pod,
    PodCondition,
    PodIP,
    PodStatus,
)

__all__ = [
    "ANNOTATION_EXIT_CODE",
    "ANNOTATION_READY_AFTER",
    "ANNOTATION_RUN_SECONDS",
    "ContainerPlan",
    "ContainerRun",
    "PodRun",
    "plan_containers",
    "status_summary",
]

ANNOTATION_RUN_SECONDS = "kybernetes.io/simulate-run-seconds"
ANNOTATION_EXIT_CODE = "kybernetes.io/simulate-exit-code"
ANNOTATION_READY_AFTER = "kybernetes.io/simulate-ready-after-seconds"

WallAt = Callable[[float], str]  # monotonic instant -> RFC 3339 wall time
_MAX_STEPS = 10_000  # transitions applied in one advance(); bounds a pathological zero-length loop

_OWN_CONDITIONS = frozenset(
    {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"}
)
_SLEEP = re.compile(r"^\s*(?:exec\s+)?sleep\s+(\d+(?:\.\d+)?)\s*$")
_EXIT = re.compile(r"^\s*exit\s+(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class ContainerPlan:
    run_seconds: float | None  # None: runs until deleted
    exit_code: int = 0


def _number(annotations: dict[str, str], key: str) -> float | None:
    raw = annotations.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None  # a bad annotation is ignored rather than failing the pod
    return value if value >= 0 else None


def _command_plan(container: Container) -> ContainerPlan | None:
    words = [*(container.command or []), *(container.args or [])]
    if not words:
        return None
    if len(words) >= 3 and words[0].rsplit("/", 1)[-1] in ("sh", "bash", "ash") and words[1] == "-c":
        script = words[2].strip()
        words = shlex.split(script) if script else []
        if not words:
            return ContainerPlan(run_seconds=0.0)
        if m := _SLEEP.match(script):
            return ContainerPlan(run_seconds=float(m.group(1)))
        if m := _EXIT.match(script):
            return ContainerPlan(run_seconds=0.0, exit_code=int(m.group(1)))
    program = words[0].rsplit("/", 1)[-1]
    if program == "true" and len(words) == 1:
        return ContainerPlan(run_seconds=0.0)
    if program == "false" and len(words) == 1:
        return ContainerPlan(run_seconds=0.0, exit_code=1)
    if program == "exit" and len(words) == 2 and words[1].isdigit():
        return ContainerPlan(run_seconds=0.0, exit_code=int(words[1]))
    if program == "sleep" and len(words) == 2:
        try:
            return ContainerPlan(run_seconds=max(0.0, float(words[1])))
        except ValueError:
            return None
    return None


def plan_containers(pod: Pod) -> list[ContainerPlan]:
    """How each of the pod's (regular) containers runs, from the annotations or its command."""
    annotations = (pod.metadata.annotations if pod.metadata else None) or {}
    run = _number(annotations, ANNOTATION_RUN_SECONDS)
    code = _number(annotations, ANNOTATION_EXIT_CODE)
    containers = (pod.spec.containers if pod.spec else None) or []
    if run is not None or code is not None:
        plan = ContainerPlan(run_seconds=run if run is not None else 0.0, exit_code=int(code or 0))
        return [plan for _ in containers]
    return [_command_plan(c) or ContainerPlan(run_seconds=None) for c in containers]


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def image_id(image: str) -> str:
    repo = image.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return f"{repo}@sha256:{_digest(image)}"


@dataclass(slots=True)
class ContainerRun:
    name: str
    image: str
    plan: ContainerPlan
    ready_after: float
    uid: str
    state: str = "running"  # running | waiting | terminated
    since: float = 0.0  # monotonic moment the current state began
    started_at: str = ""  # wall time of the current (or last) start
    restart_count: int = 0
    restart_at: float = 0.0
    backoff: float = 0.0
    last_terminated: ContainerStateTerminated | None = None

    @property
    def container_id(self) -> str:
        return f"fake://{_digest(self.uid, self.name, str(self.restart_count))}"

    def ready(self, now: float) -> bool:
        return self.state == "running" and now >= self.since + self.ready_after

    def next_deadline(self, now: float) -> float | None:
        """The next moment this container changes, after `now` (call after `advance`)."""
        if self.state == "running":
            exit_at = self.since + self.plan.run_seconds if self.plan.run_seconds is not None else None
            ready_at = self.since + self.ready_after
            return min((t for t in (exit_at, ready_at) if t is not None and t > now), default=None)
        if self.state == "waiting":
            return self.restart_at
        return None

    def status(self, *, now: float, pod_ref: str) -> ContainerStatus:
        last = ContainerState(terminated=self.last_terminated) if self.last_terminated else ContainerState()
        if self.state == "running":
            state = ContainerState(running=ContainerStateRunning(started_at=self.started_at))
        elif self.state == "waiting":
            state = ContainerState(waiting=ContainerStateWaiting(
                reason="CrashLoopBackOff",
                message=f"back-off {self.backoff:g}s restarting failed container={self.name} pod={pod_ref}",
            ))
        else:
            state = ContainerState(terminated=self.last_terminated)
            last = ContainerState()
        return ContainerStatus(
            name=self.name, image=self.image, image_id=image_id(self.image),
            container_id=self.container_id if self.state != "waiting" else None,
            ready=self.ready(now), started=self.state == "running", restart_count=self.restart_count,
            state=state, last_state=last,
        )


@dataclass(slots=True)
class PodRun:
    """One pod's simulated containers, and what was chosen once for it (IPs, start time)."""

    uid: str
    node: str
    pod_ip: str
    host_ip: str
    start_time: str
    restart_policy: str
    containers: list[ContainerRun]
    init_containers: list[tuple[str, str]]  # (name, image), all of which completed at start
    conditions_since: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (status, time)
    written_from: str = ""  # resourceVersion our last status write was based on (expectation)

    @classmethod
    def start(cls, *, pod: Pod, node: str, pod_ip: str, host_ip: str, now: float, wall_at: WallAt,
              crash_backoff: float) -> PodRun:
        meta, spec = pod.metadata, pod.spec
        assert meta is not None and spec is not None
        annotations = meta.annotations or {}
        ready_after = _number(annotations, ANNOTATION_READY_AFTER) or 0.0
        started = wall_at(now)
        uid = meta.uid or ""
        containers = [
            ContainerRun(name=c.name or "", image=c.image or "", plan=plan, ready_after=ready_after, uid=uid,
                         since=now, started_at=started, backoff=crash_backoff)
            for c, plan in zip(spec.containers or [], plan_containers(pod), strict=True)
        ]
        return cls(
            uid=uid, node=node, pod_ip=pod_ip, host_ip=host_ip, start_time=started,
            restart_policy=spec.restart_policy or "Always", containers=containers,
            init_containers=[(c.name or "", c.image or "") for c in spec.init_containers or []],
        )

    # ---- time ---------------------------------------------------------------------------------------

    def _restarts(self, code: int) -> bool:
        return self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and code != 0)

    def advance(self, *, now: float, wall_at: WallAt, crash_backoff: float, backoff_cap: float = 300.0) -> None:
        """Apply every transition due by `now`, in order, each stamped with its own moment."""
        for c in self.containers:
            for _ in range(_MAX_STEPS):
                if c.state == "running" and c.plan.run_seconds is not None and c.since + c.plan.run_seconds <= now:
                    ended = c.since + c.plan.run_seconds
                    code = c.plan.exit_code
                    c.last_terminated = ContainerStateTerminated(
                        exit_code=code, reason="Completed" if code == 0 else "Error", started_at=c.started_at,
                        finished_at=wall_at(ended), container_id=c.container_id,
                    )
                    c.since = ended
                    if self._restarts(code):
                        # Kubernetes' crash-loop back-off: base, doubling per restart, capped.
                        c.backoff = min(backoff_cap, crash_backoff * 2 ** min(c.restart_count, 32))
                        c.state, c.restart_at = "waiting", ended + max(c.backoff, 1e-3)
                    else:
                        c.state = "terminated"
                elif c.state == "waiting" and c.restart_at <= now:
                    c.restart_count += 1
                    c.state, c.since, c.started_at = "running", c.restart_at, wall_at(c.restart_at)
                else:
                    break

    def next_deadline(self, *, now: float) -> float | None:
        """When the pod next needs a look (a container exits, restarts or becomes ready), after `now`."""
        return min((t for t in (c.next_deadline(now) for c in self.containers) if t is not None), default=None)

    # ---- status -------------------------------------------------------------------------------------

    def phase(self) -> str:
        if self.containers and all(c.state == "terminated" for c in self.containers):
            codes = [c.last_terminated.exit_code if c.last_terminated else 0 for c in self.containers]
            return "Succeeded" if all(code == 0 for code in codes) else "Failed"
        return "Running"

    def _condition(self, kind: str, status: str, *, now_wall: str, reason: str | None = None,
                   message: str | None = None) -> PodCondition:
        previous = self.conditions_since.get(kind)
        since = previous[1] if previous and previous[0] == status else now_wall
        self.conditions_since[kind] = (status, since)
        return PodCondition(type=kind, status=status, reason=reason, message=message, last_transition_time=since)

    def status(self, *, pod: Pod, now: float, now_wall: str) -> PodStatus:
        """The status to report now (conditions keep their transition times across calls)."""
        meta = pod.metadata
        assert meta is not None
        pod_ref = f"{meta.name}_{meta.namespace}({self.uid})"
        phase = self.phase()
        terminal = phase != "Running"
        statuses = [c.status(now=now, pod_ref=pod_ref) for c in self.containers]
        unready = [c.name for c in self.containers if not c.ready(now)]
        old = pod.status or PodStatus()
        others = [c for c in old.conditions or [] if c.type not in _OWN_CONDITIONS]
        gate_message = _gates_unready(pod, others)
        if terminal:
            ready = self._condition("Ready", "False", now_wall=now_wall, reason="PodCompleted")
            containers_ready = self._condition("ContainersReady", "False", now_wall=now_wall, reason="PodCompleted")
        elif unready:
            message = f"containers with unready status: [{' '.join(unready)}]"
            ready = self._condition("Ready", "False", now_wall=now_wall, reason="ContainersNotReady", message=message)
            containers_ready = self._condition("ContainersReady", "False", now_wall=now_wall,
                                               reason="ContainersNotReady", message=message)
        else:
            containers_ready = self._condition("ContainersReady", "True", now_wall=now_wall)
            if gate_message:
                ready = self._condition("Ready", "False", now_wall=now_wall, reason="ReadinessGatesNotReady",
                                        message=gate_message)
            else:
                ready = self._condition("Ready", "True", now_wall=now_wall)
        scheduled = next((c for c in old.conditions or [] if c.type == "PodScheduled"), None)
        conditions = [
            self._condition("PodReadyToStartContainers", "False" if terminal else "True", now_wall=now_wall),
            self._condition("Initialized", "True", now_wall=now_wall),
            ready,
            containers_ready,
            scheduled or PodCondition(type="PodScheduled", status="True", last_transition_time=self.start_time),
            *others,  # conditions other components own (DisruptionTarget, readiness gates) are kept
        ]
        init_statuses = [
            ContainerStatus(
                name=name, image=image, image_id=image_id(image), ready=True, started=False, restart_count=0,
                container_id=f"fake://{_digest(self.uid, name, 'init')}", last_state=ContainerState(),
                state=ContainerState(terminated=ContainerStateTerminated(
                    exit_code=0, reason="Completed", started_at=self.start_time, finished_at=self.start_time,
                    container_id=f"fake://{_digest(self.uid, name, 'init')}",
                )),
            )
            for name, image in self.init_containers
        ]
        return PodStatus(
            phase=phase, conditions=conditions, host_ip=self.host_ip, host_ips=[HostIP(ip=self.host_ip)],
            pod_ip=self.pod_ip, pod_ips=[PodIP(ip=self.pod_ip)], start_time=self.start_time,
            qos_class=old.qos_class, container_statuses=statuses, init_container_statuses=init_statuses or None,
        )


def _gates_unready(pod: Pod, others: list[PodCondition]) -> str:
    """Why the readiness gates hold the pod back ("" when they do not): each gate's condition, set by some
    other component, must be True."""
    gates = [g.condition_type for g in (pod.spec.readiness_gates if pod.spec else None) or [] if g.condition_type]
    by_type = {c.type: c.status for c in others}
    return "; ".join(
        f'corresponding condition of pod readiness gate "{g}" does not exist.' if g not in by_type
        else f'the status of pod readiness gate "{g}" is not "True", but {by_type[g]}'
        for g in gates if by_type.get(g) != "True"
    )


def status_summary(status: PodStatus | None) -> tuple[object, ...]:
    """What decides whether a status needs writing: phase, IPs, readiness and each container's state."""
    if status is None:
        return ()
    ready = next((c.status for c in status.conditions or [] if c.type == "Ready"), None)
    containers = tuple(
        (c.name, _state_kind(c.state), bool(c.ready), c.restart_count or 0) for c in status.container_statuses or []
    )
    return status.phase, status.pod_ip, status.host_ip, ready, containers


def _state_kind(state: ContainerState | None) -> str:
    if state is None:
        return ""
    if state.running is not None:
        return "running"
    if state.terminated is not None:
        return f"terminated:{state.terminated.exit_code}"
    return "waiting" if state.waiting is not None else ""
