"""A pod's pretend timeline: plans from annotations and commands, restarts, and the status it reports."""

from __future__ import annotations

import msgspec

from kybernetes.api.models.core_v1 import Container, Pod, PodCondition, PodReadinessGate, PodSpec, PodStatus
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.kubelet.simulator.podrun import ContainerPlan, PodRun, plan_containers, status_summary


def wall_at(t: float) -> str:
    return f"T{t:g}"


def make_pod(*, annotations: dict[str, str] | None = None, containers: list[Container] | None = None,
             restart_policy: str = "Always", init: list[Container] | None = None) -> Pod:
    return Pod(
        metadata=ObjectMeta(name="p", namespace="ns", uid="u", annotations=annotations),
        spec=PodSpec(containers=containers or [Container(name="c", image="busybox")], restart_policy=restart_policy,
                     init_containers=init, node_name="n"),
        status=PodStatus(phase="Pending", qos_class="BestEffort",
                         conditions=[PodCondition(type="PodScheduled", status="True", last_transition_time="S")]),
    )


def start(pod: Pod, *, now: float = 0.0, backoff: float = 10.0) -> PodRun:
    return PodRun.start(pod=pod, node="n", pod_ip="10.0.0.2", host_ip="172.18.0.2", now=now, wall_at=wall_at,
                        crash_backoff=backoff)


def test_plans_from_annotations_and_commands() -> None:
    def plan(**kw: object) -> list[ContainerPlan]:
        return plan_containers(make_pod(**kw))  # type: ignore[arg-type]

    assert plan() == [ContainerPlan(run_seconds=None)]
    assert plan(annotations={"kybernetes.io/simulate-run-seconds": "5"}) == [ContainerPlan(run_seconds=5.0)]
    assert plan(annotations={"kybernetes.io/simulate-exit-code": "3"}) == [ContainerPlan(run_seconds=0.0, exit_code=3)]
    assert plan(annotations={"kybernetes.io/simulate-run-seconds": "x"}) == [ContainerPlan(run_seconds=None)]
    cmd = [
        Container(name="a", command=["true"]),
        Container(name="b", command=["/bin/false"]),
        Container(name="c", command=["sh", "-c", "exit 4"]),
        Container(name="d", command=["sleep"], args=["7"]),
        Container(name="e", command=["/bin/sh", "-c", "sleep 2"]),
        Container(name="f", command=["nginx", "-g", "daemon off;"]),
    ]
    assert plan(containers=cmd) == [
        ContainerPlan(run_seconds=0.0), ContainerPlan(run_seconds=0.0, exit_code=1),
        ContainerPlan(run_seconds=0.0, exit_code=4), ContainerPlan(run_seconds=7.0),
        ContainerPlan(run_seconds=2.0), ContainerPlan(run_seconds=None),
    ]


def test_running_pod_status() -> None:
    pod = make_pod(init=[Container(name="init", image="busybox")],
                   containers=[Container(name="c", image="nginx:1.27")])
    run = start(pod)
    status = run.status(pod=pod, now=0.0, now_wall="T0")
    assert status.phase == "Running"
    assert status.pod_ip == "10.0.0.2" and status.pod_ips and status.pod_ips[0].ip == "10.0.0.2"
    assert status.host_ip == "172.18.0.2" and status.start_time == "T0" and status.qos_class == "BestEffort"
    conditions = {c.type: c for c in status.conditions or []}
    assert {k: c.status for k, c in conditions.items()} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True", "ContainersReady": "True",
        "PodScheduled": "True",
    }
    assert conditions["PodScheduled"].last_transition_time == "S"  # kept from the binding
    (c,) = status.container_statuses or []
    assert c.ready and c.started and c.restart_count == 0
    assert c.state is not None and c.state.running is not None and c.state.running.started_at == "T0"
    assert c.container_id and c.container_id.startswith("fake://")
    assert c.image == "nginx:1.27" and c.image_id and c.image_id.startswith("nginx@sha256:")
    (i,) = status.init_container_statuses or []
    assert i.state is not None and i.state.terminated is not None
    assert i.state.terminated.reason == "Completed" and i.state.terminated.exit_code == 0
    assert run.next_deadline(now=0.0) is None  # runs forever: no timer


def test_run_seconds_then_succeeded_with_never() -> None:
    pod = make_pod(annotations={"kybernetes.io/simulate-run-seconds": "2"}, restart_policy="Never")
    run = start(pod, now=10.0)
    assert run.next_deadline(now=10.0) == 12.0
    run.advance(now=11.9, wall_at=wall_at, crash_backoff=10)
    assert run.phase() == "Running"
    run.advance(now=15.0, wall_at=wall_at, crash_backoff=10)  # late: the exit is still stamped at 12
    assert run.phase() == "Succeeded"
    status = run.status(pod=pod, now=15.0, now_wall="T15")
    (c,) = status.container_statuses or []
    assert c.state is not None and c.state.terminated is not None
    assert (c.state.terminated.exit_code, c.state.terminated.reason) == (0, "Completed")
    assert c.state.terminated.finished_at == "T12" and c.state.terminated.started_at == "T10"
    assert not c.ready and not c.started
    ready = next(x for x in status.conditions or [] if x.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "PodCompleted")
    assert run.next_deadline(now=15.0) is None


def test_exit_code_fails_with_never_and_restarts_with_on_failure() -> None:
    failing = {"kybernetes.io/simulate-exit-code": "3", "kybernetes.io/simulate-run-seconds": "1"}
    never = start(make_pod(annotations=failing, restart_policy="Never"))
    never.advance(now=1.0, wall_at=wall_at, crash_backoff=10)
    assert never.phase() == "Failed"
    on_failure = make_pod(annotations=failing, restart_policy="OnFailure")
    run = start(on_failure)
    run.advance(now=1.0, wall_at=wall_at, crash_backoff=10)
    assert run.phase() == "Running"
    (c,) = run.status(pod=on_failure, now=1.0, now_wall="T1").container_statuses or []
    assert c.state is not None and c.state.waiting is not None and c.state.waiting.reason == "CrashLoopBackOff"
    assert c.last_state is not None and c.last_state.terminated is not None
    assert c.last_state.terminated.exit_code == 3 and c.last_state.terminated.reason == "Error"
    assert run.next_deadline(now=1.0) == 11.0  # back-off 10 s
    run.advance(now=11.0, wall_at=wall_at, crash_backoff=10)
    (c,) = run.status(pod=on_failure, now=11.0, now_wall="T11").container_statuses or []
    assert c.restart_count == 1 and c.state is not None and c.state.running is not None
    assert c.state.running.started_at == "T11"
    # Second exit at 12, back-off doubles: restart at 32; a late advance applies both steps.
    run.advance(now=32.5, wall_at=wall_at, crash_backoff=10)
    (c,) = run.status(pod=on_failure, now=32.5, now_wall="T32.5").container_statuses or []
    assert c.restart_count == 2 and c.state is not None and c.state.running is not None
    assert c.state.running.started_at == "T32"
    run.advance(now=40.0, wall_at=wall_at, crash_backoff=10)  # exited at 33; the next back-off is 40 s
    (c,) = run.status(pod=on_failure, now=40.0, now_wall="T40").container_statuses or []
    assert c.state is not None and c.state.waiting is not None and run.next_deadline(now=40.0) == 73.0


def test_on_failure_success_ends_and_always_restarts_after_success() -> None:
    done = {"kybernetes.io/simulate-run-seconds": "1"}
    run = start(make_pod(annotations=done, restart_policy="OnFailure"))
    run.advance(now=1.0, wall_at=wall_at, crash_backoff=10)
    assert run.phase() == "Succeeded"
    always = start(make_pod(annotations=done, restart_policy="Always"), backoff=1)
    always.advance(now=2.0, wall_at=wall_at, crash_backoff=1)
    assert always.phase() == "Running" and always.containers[0].restart_count == 1


def test_ready_after_and_transition_times() -> None:
    pod = make_pod(annotations={"kybernetes.io/simulate-ready-after-seconds": "5"})
    run = start(pod)
    status = run.status(pod=pod, now=0.0, now_wall="T0")
    ready = next(x for x in status.conditions or [] if x.type == "Ready")
    assert (ready.status, ready.reason, ready.message) == ("False", "ContainersNotReady",
                                                           "containers with unready status: [c]")
    assert run.next_deadline(now=0.0) == 5.0
    status = run.status(pod=pod, now=5.0, now_wall="T5")
    ready = next(x for x in status.conditions or [] if x.type == "Ready")
    assert (ready.status, ready.last_transition_time) == ("True", "T5")
    initialized = next(x for x in status.conditions or [] if x.type == "Initialized")
    assert initialized.last_transition_time == "T0"  # unchanged condition keeps its time
    assert run.next_deadline(now=5.0) is None


def test_status_summary_ignores_timestamps_only() -> None:
    pod = make_pod()
    run = start(pod)
    a = run.status(pod=pod, now=0.0, now_wall="T0")
    b = run.status(pod=pod, now=0.0, now_wall="T99")
    assert status_summary(a) == status_summary(b)
    assert status_summary(a) != status_summary(pod.status)
    assert status_summary(None) == ()


def test_readiness_gates_and_foreign_conditions() -> None:
    pod = make_pod()
    assert pod.spec is not None and pod.status is not None
    gated = msgspec.structs.replace(
        pod, spec=msgspec.structs.replace(pod.spec, readiness_gates=[PodReadinessGate(condition_type="lb/ready")]),
    )
    run = start(gated)
    status = run.status(pod=gated, now=0.0, now_wall="T0")
    ready = next(x for x in status.conditions or [] if x.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "ReadinessGatesNotReady")
    assert ready.message == 'corresponding condition of pod readiness gate "lb/ready" does not exist.'
    # Another component sets the gate (and the eviction machinery a DisruptionTarget): both are kept.
    foreign = [PodCondition(type="lb/ready", status="True"), PodCondition(type="DisruptionTarget", status="True")]
    opened = msgspec.structs.replace(gated, status=msgspec.structs.replace(
        pod.status, conditions=[*(pod.status.conditions or []), *foreign]))
    status = run.status(pod=opened, now=1.0, now_wall="T1")
    by_type = {c.type: c for c in status.conditions or []}
    assert by_type["Ready"].status == "True" and by_type["Ready"].last_transition_time == "T1"
    assert by_type["lb/ready"].status == "True" and by_type["DisruptionTarget"].status == "True"
