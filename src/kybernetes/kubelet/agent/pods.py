"""Pod workers: the level-triggered sync of one pod at a time (per pod sequential, pods in parallel).

`PodWorkers.sync(key)` looks at the pod in the informer cache and at what the runtime has for it, does the
next steps, writes the pod status, and re-queues itself for the next moment something is due (a probe, a
back-off deadline, a periodic look at the runtime). The workqueue never hands one key to two workers, which
is what makes the work per pod sequential.

Steps: sandbox (with DNS per dnsPolicy) → volumes → init containers in order, each to completion → app
containers (image per pull policy with back-off, env, argv, mounts, postStart) → restarts per restartPolicy
with CrashLoopBackOff (10 s doubling to 300 s) → probes (startup, then liveness and readiness). A pod with a
deletionTimestamp runs preStop hooks, stops its containers with the grace period, removes its sandbox and
is deleted with grace 0. State the runtime does not keep (back-offs, probe results) lives in `PodRecord`.

Sidecars (init containers with `restartPolicy: Always`) start in their place among the init containers; the
next one waits until the sidecar has *started* (its startup probe passed). They are probed and restarted
(whatever the pod's restartPolicy) beside the app containers, do not hold back the pod's completion (once
the app containers are done for good they are stopped), and on termination stop after the app containers,
in reverse order. A container that cannot be created or started (CreateContainerError, RunContainerError)
gets a Failed event and is retried with the crash back-off; CreateContainerConfigError (a missing Secret
or ConfigMap) is retried on every resync, with one event per distinct error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kybernetes.api.models.core_v1 import Container, Pod
from kybernetes.client import Clock, WorkQueue
from kybernetes.kubelet.agent.api import AgentAPI
from kybernetes.kubelet.agent.podspec import (
    EnvError,
    EnvSources,
    build_argv,
    container_resources,
    dns_config,
    qos_class,
    referenced_objects,
    resolve_env,
)
from kybernetes.kubelet.agent.probes import ProbeState, run_handler
from kybernetes.kubelet.agent.status import build_status, status_differs
from kybernetes.kubelet.agent.volumes import (
    ClaimLookup,
    VolumeError,
    VolumeFetcher,
    container_mounts,
    prepare_volumes,
    teardown_volumes,
)
from kybernetes.kubelet.images.policy import PullBackoff, ensure_image
from kybernetes.kubelet.runtime.protocol import (
    ContainerConfig,
    ContainerStatus,
    ImagePullError,
    ImageService,
    PodSandboxConfig,
    Runtime,
    RuntimeError_,
    State,
)
from kybernetes.machinery.errors import StatusError

__all__ = ["LABEL_CONTAINER", "LABEL_NAME", "LABEL_NAMESPACE", "LABEL_UID", "ContainerRecord", "PodRecord",
           "PodWorkers", "WorkerOptions", "is_sidecar"]

log = logging.getLogger(__name__)

LABEL_UID = "io.kubernetes.pod.uid"
LABEL_NAME = "io.kubernetes.pod.name"
LABEL_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER = "io.kubernetes.container.name"


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    resync_seconds: float = 2.0  # how often a live pod's containers are looked at
    crash_backoff: float = 10.0
    crash_backoff_cap: float = 300.0
    backoff_reset_after: float = 600.0  # a container that ran this long starts its back-off afresh
    volume_refresh_seconds: float = 60.0
    token_seconds: int = 3607
    cgroup_root: str = "/kubepods"  # pods' cgroups are <root>/<qos>/pod<uid> (tests use a unique root)


@dataclass
class ContainerRecord:
    waiting_reason: str = ""
    waiting_message: str = ""
    backoff: float = 0.0
    exited_id: str = ""  # the dead container the back-off was computed for
    exited_at: float = 0.0
    delay: float = 0.0  # the wait before restarting `exited_id`
    instance: str = ""  # container id the probe states belong to
    probes: dict[str, ProbeState] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    image_id: str = ""
    image_ref: str = ""
    pull_error: str = ""  # the registry's answer, repeated while in ImagePullBackOff
    error_message: str = ""  # the last create/start error an event was sent for
    error_backoff: float = 0.0  # the back-off after a create/start error (doubles, reset on a start)
    error_until: float = 0.0


@dataclass
class PodRecord:
    uid: str
    key: str
    sandbox_id: str = ""
    pod_ip: str = ""
    volumes: dict[str, Path] = field(default_factory=dict)
    volumes_at: float = -1e18
    containers: dict[str, ContainerRecord] = field(default_factory=dict)

    def container(self, name: str) -> ContainerRecord:
        return self.containers.setdefault(name, ContainerRecord())


def is_sidecar(container: Container) -> bool:
    """A restartable init container (`restartPolicy: Always`): it keeps running beside the app containers."""
    return container.restart_policy == "Always"


def latest_by_name(statuses: list[ContainerStatus]) -> dict[str, list[ContainerStatus]]:
    """Container statuses grouped by name, newest attempt first."""
    out: dict[str, list[ContainerStatus]] = {}
    for s in sorted(statuses, key=lambda s: (s.attempt, s.created_at_ns), reverse=True):
        out.setdefault(s.name, []).append(s)
    return out


class PodWorkers:
    def __init__(self, *, api: AgentAPI, runtime: Runtime, images: ImageService, queue: WorkQueue,
                 clock: Clock, data_dir: Path, node_name: str, host_ip: str,
                 runtime_name: str = "runc", options: WorkerOptions | None = None,
                 pull_backoff: PullBackoff | None = None) -> None:
        self.api, self.runtime, self.images, self.queue = api, runtime, images, queue
        self.clock, self.data_dir, self.node_name, self.host_ip = clock, data_dir, node_name, host_ip
        self.runtime_name = runtime_name
        self.options = options or WorkerOptions()
        self.pull_backoff = pull_backoff or PullBackoff(clock=clock.now)
        self.records: dict[str, PodRecord] = {}

    # ---- adoption ---------------------------------------------------------------------------------------

    async def adopt(self, *, pods: list[Pod]) -> None:
        """After a restart: keep the sandboxes of pods that still exist, remove the others."""
        by_uid = {p.metadata.uid: p for p in pods if p.metadata is not None and p.metadata.uid}
        for sandbox in await self.runtime.list_pod_sandboxes():
            uid = sandbox.config.uid if sandbox.config is not None else ""
            pod = by_uid.get(uid)
            if pod is None or sandbox.state != State.RUNNING:
                await self._remove_sandbox(sandbox.id)
                continue
            assert pod.metadata is not None
            key = f"{pod.metadata.namespace}/{pod.metadata.name}"
            record = self.records.setdefault(key, PodRecord(uid=uid, key=key))
            if record.sandbox_id and record.sandbox_id != sandbox.id:
                await self._remove_sandbox(sandbox.id)  # a second sandbox for one pod: keep the first
                continue
            record.sandbox_id, record.pod_ip = sandbox.id, sandbox.ip
            log.info("re-adopted sandbox %s of pod %s", sandbox.id, key)

    async def _remove_sandbox(self, sandbox_id: str) -> bool:
        """Remove the sandbox and its containers; False (logged) when the runtime failed to."""
        try:
            for c in await self.runtime.list_containers(sandbox_id=sandbox_id):
                if c.state == State.RUNNING:
                    await self.runtime.stop_container(container_id=c.id, grace_seconds=0)
                await self.runtime.remove_container(container_id=c.id)
            await self.runtime.stop_pod_sandbox(sandbox_id=sandbox_id)
            await self.runtime.remove_pod_sandbox(sandbox_id=sandbox_id)
        except RuntimeError_ as e:
            log.warning("removing sandbox %s: %s", sandbox_id, e)
            return False
        return True

    async def _forget(self, key: str) -> None:
        record = self.records.pop(key, None)
        if record is None:
            return
        if record.sandbox_id:
            await self._remove_sandbox(record.sandbox_id)
        await asyncio.to_thread(teardown_volumes, root=self.data_dir / "pods" / record.uid / "volumes")
        shutil.rmtree(self.data_dir / "pods" / record.uid, ignore_errors=True)

    # ---- sync -------------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        pod = self.api.pods.get(key)
        if pod is None or pod.metadata is None or pod.spec is None:
            await self._forget(key)
            return
        uid = pod.metadata.uid or ""
        record = self.records.get(key)
        if record is not None and record.uid != uid:
            await self._forget(key)  # a new pod under an old name
            record = None
        if record is None:
            record = self.records[key] = PodRecord(uid=uid, key=key)
        if pod.metadata.deletion_timestamp:
            await self._terminate(pod, record)
            return
        phase = pod.status.phase if pod.status else None
        if phase in ("Succeeded", "Failed"):
            # Only sidecars can still run here (a finished pod's app containers have all exited): they get
            # SIGTERM and the grace period, and their final state is reported.
            await self._stop_all(pod, record, grace=self._grace(pod), pre_stop=True)
            await self._write_status(pod, record)
            return
        wake: list[float] = [self.clock.now() + self.options.resync_seconds]
        await self._advance(pod, record, wake)
        await self._write_status(pod, record)
        self.queue.add_after(key, max(0.0, min(wake) - self.clock.now()))

    async def _advance(self, pod: Pod, record: PodRecord, wake: list[float]) -> None:
        assert pod.spec is not None and pod.metadata is not None
        if not await self._ensure_sandbox(pod, record):
            return
        now = self.clock.now()
        if now - record.volumes_at >= self.options.volume_refresh_seconds:
            try:
                record.volumes = await prepare_volumes(
                    pod=pod, root=self.data_dir / "pods" / record.uid / "volumes",
                    fetch=self._fetcher(pod, record), sa_token=await self._wants_token(pod))
                record.volumes_at = now
            except (VolumeError, OSError, StatusError) as e:
                # Retried on every resync; one FailedMount event per distinct error.
                repeated = all(record.container(c.name or "").waiting_message == str(e)
                               for c in pod.spec.containers or [])
                for c in pod.spec.containers or []:
                    rec = record.container(c.name or "")
                    rec.waiting_reason, rec.waiting_message = "CreateContainerConfigError", str(e)
                if not repeated:
                    await self.api.event(pod=pod, reason="FailedMount", message=f"MountVolume.SetUp failed: {e}",
                                         warning=True)
                return
        statuses = latest_by_name(await self.runtime.list_containers(sandbox_id=record.sandbox_id))
        policy = pod.spec.restart_policy or "Always"
        # Once an app container has run, the init phase is over for good: sidecars then restart beside the
        # app containers and no longer hold them back.
        initialized = any(statuses.get(c.name or "") for c in pod.spec.containers or [])
        # The app containers are done for good: the pod completes once its sidecars are stopped, and a
        # stopped sidecar is not started again.
        finished = policy != "Always" and bool(pod.spec.containers) and all(
            (h := statuses.get(c.name or "")) and h[0].state == State.EXITED
            and (policy == "Never" or h[0].exit_code == 0) for c in pod.spec.containers or [])
        for init in pod.spec.init_containers or []:
            history = statuses.get(init.name or "", [])
            current = history[0] if history else None
            if is_sidecar(init) and finished:
                rec = record.container(init.name or "")
                rec.waiting_reason = rec.waiting_message = ""
                continue
            if is_sidecar(init):
                if current is not None and current.state == State.RUNNING:
                    await self._probe(pod, record, init, current, wake)
                    if record.container(init.name or "").started or initialized:
                        continue
                    return  # the next init container waits until this sidecar has started
                if current is None or current.state == State.EXITED:
                    await self._start_or_backoff(pod, record, init, history, wake, init_container=True)
                if initialized:
                    continue
                return
            if initialized:
                continue
            if current is not None and current.state == State.EXITED and current.exit_code == 0:
                continue
            if current is not None and current.state == State.RUNNING:
                return
            if current is not None and current.state == State.EXITED and policy == "Never":
                return  # the pod has failed; the status says so
            await self._start_or_backoff(pod, record, init, history, wake, init_container=True)
            return
        for container in pod.spec.containers or []:
            history = statuses.get(container.name or "", [])
            current = history[0] if history else None
            if current is None:
                await self._start_or_backoff(pod, record, container, history, wake)
            elif current.state == State.RUNNING:
                await self._probe(pod, record, container, current, wake)
            elif current.state == State.EXITED:
                if policy == "Always" or (policy == "OnFailure" and current.exit_code != 0):
                    await self._start_or_backoff(pod, record, container, history, wake)
        if finished:
            await self._stop_all(pod, record, grace=self._grace(pod), pre_stop=True)

    async def _wants_token(self, pod: Pod) -> bool:
        assert pod.spec is not None
        if pod.spec.automount_service_account_token is not None:
            return pod.spec.automount_service_account_token
        sa = await self.api.service_account(namespace=pod.metadata.namespace or "default" if pod.metadata else "",
                                            name=pod.spec.service_account_name or "default")
        return not (sa is not None and sa.automount_service_account_token is False)

    def _fetcher(self, pod: Pod, record: PodRecord) -> VolumeFetcher:
        assert pod.metadata is not None and pod.spec is not None
        ns, name, uid = pod.metadata.namespace or "default", pod.metadata.name or "", pod.metadata.uid or ""
        sa = pod.spec.service_account_name or "default"

        async def token(audience: str, seconds: int) -> str:
            return await self.api.token(namespace=ns, service_account=sa, pod_name=name, pod_uid=uid,
                                        audience=audience, seconds=max(seconds, 600))

        return VolumeFetcher(
            config_map=lambda n: self.api.config_map(namespace=ns, name=n),
            secret=lambda n: self.api.secret(namespace=ns, name=n),
            token=token, ca_pem=lambda: self.api.ca_pem(namespace=ns),
            host_ip=self.host_ip, pod_ip=record.pod_ip, allocatable=self.api.allocatable(),
            claims=ClaimLookup.over(api=self.api, namespace=ns),
        )

    async def _ensure_sandbox(self, pod: Pod, record: PodRecord) -> bool:
        assert pod.metadata is not None and pod.spec is not None
        if record.sandbox_id:
            return True
        meta = pod.metadata
        config = PodSandboxConfig(
            uid=meta.uid or "", name=meta.name or "", namespace=meta.namespace or "default",
            hostname=pod.spec.hostname or (meta.name or "")[:63],
            log_directory=self.data_dir / "logs" / f"{meta.namespace}_{meta.name}_{meta.uid}",
            dns=dns_config(pod=pod), host_network=bool(pod.spec.host_network),
            cgroup_parent=f"/{self.options.cgroup_root.strip('/')}/{qos_class(pod).lower()}/pod{meta.uid}",
            labels={LABEL_UID: meta.uid or "", LABEL_NAME: meta.name or "", LABEL_NAMESPACE: meta.namespace or ""},
        )
        try:
            record.sandbox_id = await self.runtime.run_pod_sandbox(config=config)
            status = await self.runtime.pod_sandbox_status(sandbox_id=record.sandbox_id)
            record.pod_ip = status.ip or (self.host_ip if pod.spec.host_network else "")
        except RuntimeError_ as e:
            log.warning("pod %s: creating the sandbox failed: %s", record.key, e)
            await self.api.event(pod=pod, reason="FailedCreatePodSandBox", message=str(e), warning=True)
            return False
        return True

    # ---- containers -------------------------------------------------------------------------------------

    async def _start_or_backoff(self, pod: Pod, record: PodRecord, container: Container,
                                history: list[ContainerStatus], wake: list[float], *,
                                init_container: bool = False) -> None:
        rec = record.container(container.name or "")
        now = self.clock.now()
        current = history[0] if history else None
        if current is not None and current.state == State.EXITED:
            if rec.exited_id != current.id:
                # A new exit: the first restart is at once, then 10 s, 20 s, ... up to the cap.
                ran = max(0.0, (current.finished_at_ns - current.started_at_ns) / 1e9)
                if ran >= self.options.backoff_reset_after:
                    rec.backoff = 0.0
                rec.exited_id, rec.exited_at, rec.delay = current.id, now, rec.backoff
                rec.backoff = self.options.crash_backoff if rec.backoff == 0 else min(
                    rec.backoff * 2, self.options.crash_backoff_cap)
            if now < rec.exited_at + rec.delay:
                assert pod.metadata is not None
                rec.waiting_reason = "CrashLoopBackOff"
                rec.waiting_message = (f"back-off {rec.delay:g}s restarting failed container={container.name} "
                                       f"pod={pod.metadata.name}_{pod.metadata.namespace}({pod.metadata.uid})")
                wake.append(rec.exited_at + rec.delay)
                return
        attempt = current.attempt + 1 if current is not None else 0
        await self._start(pod, record, container, attempt=attempt, wake=wake)
        # Keep one dead instance (lastState, logs --previous); remove the older ones.
        for old in history[1:]:
            if old.state == State.EXITED:
                try:
                    await self.runtime.remove_container(container_id=old.id)
                except RuntimeError_:
                    pass

    async def _start(self, pod: Pod, record: PodRecord, container: Container, *, attempt: int,
                     wake: list[float]) -> None:
        assert pod.metadata is not None and pod.spec is not None
        rec = record.container(container.name or "")
        image = container.image or ""
        if self.clock.now() < rec.error_until:  # a create/start error backs off like a crashing container
            wake.append(rec.error_until)
            return
        if self.pull_backoff.in_backoff(image):
            rec.waiting_reason = "ImagePullBackOff"
            rec.waiting_message = f'Back-off pulling image "{image}": {rec.pull_error}'.rstrip(": ")
            return
        try:
            auths = await self.api.pull_auths(namespace=pod.metadata.namespace or "default",
                                              names=[s.name or "" for s in pod.spec.image_pull_secrets or []],
                                              image=image)
            ref = await ensure_image(service=self.images, image=image, pull_policy=container.image_pull_policy or "",
                                     auths=auths)
            self.pull_backoff.succeeded(image)
        except ImagePullError as e:
            delay = self.pull_backoff.failed(image)
            wake.append(self.clock.now() + delay)
            rec.waiting_reason, rec.waiting_message = e.reason, str(e)
            rec.pull_error = f"{e.reason}: {e}"
            await self.api.event(pod=pod, reason="Failed", message=f'Failed to pull image "{image}": {e}',
                                 warning=True, field_path=self._field_path(pod, container))
            return
        rec.image_id, rec.image_ref = ref.repo_digest or ref.id, image
        try:
            env = await self._env(pod, record, container)
            argv = build_argv(container=container, image=ref.config, env=dict(env))
            mounts = container_mounts(container=container, volumes=record.volumes)
        except (EnvError, VolumeError, StatusError) as e:
            # Retried on every resync (cheap: the missing object may appear any moment); one event per error.
            await self._failed(pod, rec, container, "CreateContainerConfigError", str(e), wake, backoff=False)
            return
        if not argv:
            await self._failed(pod, rec, container, "CreateContainerError", "no command specified", wake)
            return
        env = [*((kv.split("=", 1)[0], kv.split("=", 1)[1]) for kv in ref.config.env if "=" in kv), *env]
        config = ContainerConfig(
            name=container.name or "", image=ref, attempt=attempt, command=argv,
            working_dir=container.working_dir or ref.config.working_dir,
            env=tuple((k, v) for k, v in env), mounts=mounts,
            log_path=self.data_dir / "logs" / f"{pod.metadata.namespace}_{pod.metadata.name}_{pod.metadata.uid}"
            / (container.name or "") / f"{attempt}.log",
            stdin=bool(container.stdin), stdin_once=bool(container.stdin_once), tty=bool(container.tty),
            resources=container_resources(container, qos=qos_class(pod)),
            labels={LABEL_UID: pod.metadata.uid or "", LABEL_CONTAINER: container.name or ""},
        )
        try:
            cid = await self.runtime.create_container(sandbox_id=record.sandbox_id, config=config)
        except RuntimeError_ as e:
            await self._failed(pod, rec, container, "CreateContainerError", str(e), wake)
            return
        try:
            await self.runtime.start_container(container_id=cid)
        except RuntimeError_ as e:
            with contextlib.suppress(RuntimeError_):
                await self.runtime.remove_container(container_id=cid)  # never ran: nothing to keep of it
            await self._failed(pod, rec, container, "RunContainerError", str(e), wake)
            return
        rec.waiting_reason = rec.waiting_message = rec.error_message = ""
        rec.error_backoff = rec.error_until = 0.0
        rec.probes, rec.instance, rec.ready, rec.started = {}, cid, False, container.startup_probe is None
        await self.api.event(pod=pod, reason="Started", message=f"Started container {container.name}",
                             field_path=self._field_path(pod, container))
        hook = container.lifecycle.post_start if container.lifecycle else None
        if hook is not None:
            ok, message = await run_handler(runtime=self.runtime, container_id=cid, container=container,
                                            pod_ip=record.pod_ip, exec_=hook.exec, http_get=hook.http_get,
                                            tcp_socket=hook.tcp_socket, timeout=30)
            if not ok:
                await self.api.event(pod=pod, reason="FailedPostStartHook", message=message, warning=True)
                await self.runtime.stop_container(container_id=cid, grace_seconds=self._grace(pod))

    async def _failed(self, pod: Pod, rec: ContainerRecord, container: Container, reason: str, message: str,
                      wake: list[float], *, backoff: bool = True) -> None:
        """A container that could not be created or started: a waiting reason, a Failed event (once per
        distinct message when retried on every resync) and, for runtime errors, a back-off before retrying."""
        rec.waiting_reason, rec.waiting_message = reason, message
        if backoff:
            rec.error_backoff = self.options.crash_backoff if rec.error_backoff == 0 else min(
                rec.error_backoff * 2, self.options.crash_backoff_cap)
            rec.error_until = self.clock.now() + rec.error_backoff
            wake.append(rec.error_until)
        elif rec.error_message == message:
            return
        rec.error_message = message
        log.info("pod %s container %s: %s: %s", pod.metadata.name if pod.metadata else "", container.name,
                 reason, message)
        await self.api.event(pod=pod, reason="Failed", message=f"Error: {message}", warning=True,
                             field_path=self._field_path(pod, container))

    @staticmethod
    def _field_path(pod: Pod, container: Container) -> str:
        inits = {c.name for c in (pod.spec.init_containers or [])} if pod.spec is not None else set()
        kind = "initContainers" if container.name in inits else "containers"
        return f"spec.{kind}{{{container.name}}}"

    async def _env(self, pod: Pod, record: PodRecord, container: Container) -> list[tuple[str, str]]:
        assert pod.metadata is not None
        ns = pod.metadata.namespace or "default"
        cms, secrets = referenced_objects(container)
        sources = EnvSources(
            config_maps={n: await self.api.config_map(namespace=ns, name=n) for n in cms},
            secrets={n: await self.api.secret(namespace=ns, name=n) for n in secrets},
            node_allocatable=self.api.allocatable(), host_ip=self.host_ip, pod_ip=record.pod_ip,
        )
        return resolve_env(pod=pod, container=container, sources=sources, base=await self.api.service_env())

    def _grace(self, pod: Pod) -> float:
        assert pod.spec is not None and pod.metadata is not None
        if pod.metadata.deletion_grace_period_seconds is not None:
            return float(pod.metadata.deletion_grace_period_seconds)
        tgp = pod.spec.termination_grace_period_seconds
        return float(30 if tgp is None else tgp)

    # ---- probes -----------------------------------------------------------------------------------------

    async def _probe(self, pod: Pod, record: PodRecord, container: Container, current: ContainerStatus,
                     wake: list[float]) -> None:
        rec = record.container(container.name or "")
        if rec.instance != current.id:  # a container adopted after a restart, or restarted behind our back
            rec.instance, rec.probes = current.id, {}
            rec.started = container.startup_probe is None
            rec.ready = False
        rec.waiting_reason = rec.waiting_message = ""
        now = self.clock.now()
        kinds = ["startup"] if not rec.started else ["liveness", "readiness"]
        for kind in kinds:
            probe = getattr(container, f"{kind}_probe")
            if probe is None:
                if kind == "readiness":
                    rec.ready = True
                continue
            state = rec.probes.setdefault(kind, ProbeState(next_at=now + (probe.initial_delay_seconds or 0)))
            if now < state.next_at:
                wake.append(state.next_at)
                continue
            ok, message = await run_handler(
                runtime=self.runtime, container_id=current.id, container=container, pod_ip=record.pod_ip,
                exec_=probe.exec, http_get=probe.http_get, tcp_socket=probe.tcp_socket,
                timeout=float(probe.timeout_seconds or 1))
            state.record(ok, probe, now=self.clock.now(), message=message)
            wake.append(state.next_at)
            if kind == "startup" and state.result:
                rec.started = True
                wake.append(now)
            elif kind == "readiness" and state.result is not None:
                rec.ready = state.result
            elif kind in ("liveness", "startup") and state.result is False:
                what = "Liveness" if kind == "liveness" else "Startup"
                await self.api.event(pod=pod, reason="Unhealthy", message=f"{what} probe failed: {message}",
                                     warning=True, field_path=self._field_path(pod, container))
                await self.api.event(pod=pod, reason="Killing", field_path=self._field_path(pod, container),
                                     message=f"Container {container.name} failed {what.lower()} probe, "
                                             "will be restarted")
                await self.runtime.stop_container(container_id=current.id,
                                                  grace_seconds=float(probe.termination_grace_period_seconds
                                                                      or self._grace(pod)))
                rec.ready = False
                wake.append(now)
                return

    # ---- termination ------------------------------------------------------------------------------------

    async def _stop_all(self, pod: Pod, record: PodRecord, *, grace: float, pre_stop: bool = False) -> None:
        if not record.sandbox_id:
            return
        assert pod.spec is not None
        specs = {c.name: c for c in [*(pod.spec.containers or []), *(pod.spec.init_containers or [])]}

        async def stop(status: ContainerStatus) -> None:
            spec = specs.get(status.name)
            hook = spec.lifecycle.pre_stop if spec is not None and spec.lifecycle else None
            if pre_stop and hook is not None and spec is not None:
                await run_handler(runtime=self.runtime, container_id=status.id, container=spec,
                                  pod_ip=record.pod_ip, exec_=hook.exec, http_get=hook.http_get,
                                  tcp_socket=hook.tcp_socket, timeout=max(1.0, grace))
            await self.runtime.stop_container(container_id=status.id, grace_seconds=grace)

        running = [c for c in await self.runtime.list_containers(sandbox_id=record.sandbox_id)
                   if c.state == State.RUNNING]
        # App containers stop together; sidecars only after them, in reverse order, so that they serve the
        # app containers' own shutdown (a log shipper, a proxy) until its end.
        sidecars = [c.name for c in pod.spec.init_containers or [] if is_sidecar(c)]
        first = [c for c in running if c.name not in sidecars]
        async with asyncio.TaskGroup() as tg:
            for c in first:
                tg.create_task(stop(c))
        for name in reversed(sidecars):
            for c in running:
                if c.name == name:
                    await stop(c)

    async def _terminate(self, pod: Pod, record: PodRecord) -> None:
        assert pod.metadata is not None
        await self._stop_all(pod, record, grace=self._grace(pod), pre_stop=True)
        await self._write_status(pod, record)
        if record.sandbox_id:
            if not await self._remove_sandbox(record.sandbox_id):
                # The pod leaves the API only once nothing of it is left on the node: try again later.
                raise RuntimeError_(f"sandbox {record.sandbox_id} of {record.key} not removed yet")
            record.sandbox_id = ""
        # Likewise its mounts (memory-backed emptyDirs): unmounted before the pod is gone from the API.
        await asyncio.to_thread(teardown_volumes, root=self.data_dir / "pods" / record.uid / "volumes")
        await self.api.delete_pod(namespace=pod.metadata.namespace or "default", name=pod.metadata.name or "",
                                  uid=pod.metadata.uid or "")

    # ---- status -----------------------------------------------------------------------------------------

    async def _write_status(self, pod: Pod, record: PodRecord) -> None:
        statuses: list[ContainerStatus] = []
        if record.sandbox_id:
            try:
                statuses = await self.runtime.list_containers(sandbox_id=record.sandbox_id)
            except RuntimeError_:
                statuses = []
        desired: dict[str, Any] = build_status(
            pod=pod, record=record, runtime_statuses=latest_by_name(statuses), host_ip=self.host_ip,
            runtime_name=self.runtime_name, now=self.api.now_rfc3339(),
        )
        if status_differs(desired, pod.status):
            assert pod.metadata is not None
            await self.api.patch_pod_status(namespace=pod.metadata.namespace or "default",
                                            name=pod.metadata.name or "", status=desired)
