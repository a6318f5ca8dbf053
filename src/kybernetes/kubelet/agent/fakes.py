"""In-memory `Runtime` and `ImageService` for the agent's tests and `kyb agent --runtime fake` (used when
`kybernetes.kubelet.runtime.fake` is not available). Containers run until `exit()` is called (or for ever);
`exec_sync` answers from `exec_results` (container name → exit code, default 0)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kybernetes.kubelet.runtime.protocol import (
    ContainerConfig,
    ContainerNotFound,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    ExecSession,
    ImageConfig,
    ImagePullError,
    ImageRef,
    PodSandboxConfig,
    RegistryAuth,
    Resources,
    SandboxNotFound,
    SandboxStatus,
    State,
    StdinWriter,
)

__all__ = ["FakeImages", "FakeRuntime"]


@dataclass
class _Container:
    status: ContainerStatus
    config: ContainerConfig


@dataclass
class FakeRuntime:
    sandboxes: dict[str, SandboxStatus] = field(default_factory=dict)
    containers: dict[str, _Container] = field(default_factory=dict)
    exec_results: dict[str, int] = field(default_factory=dict)
    stopped_with: list[tuple[str, float]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ips: itertools.count[int] = field(default_factory=lambda: itertools.count(2))

    async def version(self) -> tuple[str, str]:
        return ("fake", "1.0")

    async def run_pod_sandbox(self, *, config: PodSandboxConfig) -> str:
        sid = f"sandbox{next(self._ids)}"
        self.sandboxes[sid] = SandboxStatus(id=sid, state=State.RUNNING, created_at_ns=time.time_ns(),
                                            ip=f"10.244.0.{next(self._ips)}", config=config)
        self.calls.append(f"sandbox {config.namespace}/{config.name}")
        return sid

    def _sandbox(self, sandbox_id: str) -> SandboxStatus:
        if sandbox_id not in self.sandboxes:
            raise SandboxNotFound(sandbox_id)
        return self.sandboxes[sandbox_id]

    async def stop_pod_sandbox(self, *, sandbox_id: str) -> None:
        self.sandboxes[sandbox_id] = replace(self._sandbox(sandbox_id), state=State.EXITED)

    async def remove_pod_sandbox(self, *, sandbox_id: str) -> None:
        self.sandboxes.pop(sandbox_id, None)
        for cid in [c for c, v in self.containers.items() if v.status.sandbox_id == sandbox_id]:
            del self.containers[cid]

    async def pod_sandbox_status(self, *, sandbox_id: str) -> SandboxStatus:
        return self._sandbox(sandbox_id)

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        return list(self.sandboxes.values())

    async def create_container(self, *, sandbox_id: str, config: ContainerConfig) -> str:
        self._sandbox(sandbox_id)
        cid = f"c{next(self._ids):04d}"
        self.containers[cid] = _Container(
            status=ContainerStatus(id=cid, sandbox_id=sandbox_id, name=config.name, attempt=config.attempt,
                                   state=State.CREATED, image=config.image, created_at_ns=time.time_ns()),
            config=config)
        return cid

    def _get(self, container_id: str) -> _Container:
        if container_id not in self.containers:
            raise ContainerNotFound(container_id)
        return self.containers[container_id]

    async def start_container(self, *, container_id: str) -> None:
        c = self._get(container_id)
        c.status = replace(c.status, state=State.RUNNING, started_at_ns=time.time_ns())
        self.calls.append(f"start {c.config.name}")
        if c.config.command[:1] == ("false",):
            self.exit(container_id, 1)
        elif c.config.command[:1] == ("true",):
            self.exit(container_id, 0)

    def exit(self, container_id: str, code: int, reason: str = "") -> None:
        c = self._get(container_id)
        c.status = replace(c.status, state=State.EXITED, exit_code=code, finished_at_ns=time.time_ns(),
                           reason=reason or ("Completed" if code == 0 else "Error"))

    def running(self, name: str) -> str | None:
        for cid, c in self.containers.items():
            if c.config.name == name and c.status.state == State.RUNNING:
                return cid
        return None

    async def stop_container(self, *, container_id: str, grace_seconds: float) -> None:
        c = self._get(container_id)
        self.stopped_with.append((c.config.name, grace_seconds))
        if c.status.state == State.RUNNING:
            self.exit(container_id, 137 if grace_seconds == 0 else 143)

    async def remove_container(self, *, container_id: str) -> None:
        self.containers.pop(container_id, None)

    async def container_status(self, *, container_id: str) -> ContainerStatus:
        return self._get(container_id).status

    async def list_containers(self, *, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [c.status for c in self.containers.values() if sandbox_id is None or c.status.sandbox_id == sandbox_id]

    async def exec_sync(self, *, container_id: str, command: Sequence[str], deadline_seconds: float) -> ExecResult:
        c = self._get(container_id)
        self.calls.append(f"exec {c.config.name} {' '.join(command)}")
        return ExecResult(exit_code=self.exec_results.get(c.config.name, 0), stdout=b"", stderr=b"")

    async def exec(self, *, container_id: str, command: Sequence[str], tty: bool, stdin: bool) -> ExecSession:
        raise NotImplementedError

    async def attach_stdin(self, *, container_id: str) -> StdinWriter:
        raise NotImplementedError

    async def port_forward(self, *, sandbox_id: str, port: int) -> tuple[object, object]:
        raise NotImplementedError

    async def container_stats(self, *, container_id: str) -> ContainerStats:
        return ContainerStats(id=container_id, timestamp_ns=time.time_ns(), cpu_usage_ns=0,
                              memory_working_set_bytes=0)

    async def update_container_resources(self, *, container_id: str, resources: Resources) -> None:
        return None


@dataclass
class FakeImages:
    """Knows every image except names containing "missing"."""

    pulls: list[str] = field(default_factory=list)
    config: ImageConfig = field(default_factory=lambda: ImageConfig(entrypoint=("/bin/sh",), cmd=("-c", "sleep inf"),
                                                                    env=("PATH=/usr/bin:/bin",)))

    def _ref(self, image: str) -> ImageRef:
        return ImageRef(id="sha256:" + "0" * 64, repo_tags=(image,), repo_digest=f"{image.split(':')[0]}@sha256:"
                        + "1" * 64, size=1, config=self.config, layers=(Path("/nonexistent"),))

    async def pull_image(self, *, image: str, auth: RegistryAuth | None = None) -> ImageRef:
        self.pulls.append(image)
        if "missing" in image:
            raise ImagePullError(f'failed to pull image "{image}": manifest unknown: manifest unknown')
        return self._ref(image)

    async def image_status(self, *, image: str) -> ImageRef | None:
        return None if "missing" in image else self._ref(image)

    async def list_images(self) -> list[ImageRef]:
        return []

    async def remove_image(self, *, image: str) -> None:
        return None

    async def fs_usage(self) -> tuple[int, int]:
        return (0, 1)
