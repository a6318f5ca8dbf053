"""The runtime protocol the kubelet drives, shaped after the Kubernetes CRI.

A pod is a *sandbox* (its network namespace with an address on the node's bridge, shared IPC/UTS, its
cgroup parent, its log directory) holding *containers*, each created from an image and started, stopped
and removed on its own. Images are the image service's (`ImageService`): the runtime receives an
`ImageRef` whose root filesystem layers are already unpacked on disk.

Identifiers are opaque strings chosen by the runtime. Every call is async and must not block the event
loop. Errors: `RuntimeError_` (and its subclasses) with a reason the kubelet can show, e.g.
`ContainerNotFound`, `SandboxNotFound`, `CreateContainerError`.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class RuntimeError_(Exception):
    """A runtime failure; `reason` is what the kubelet reports (e.g. CreateContainerError)."""

    reason = "RuntimeError"


class SandboxNotFound(RuntimeError_):
    reason = "SandboxNotFound"


class ContainerNotFound(RuntimeError_):
    reason = "ContainerNotFound"


class CreateContainerError(RuntimeError_):
    reason = "CreateContainerError"


class ExecTimeout(RuntimeError_):
    """`exec_sync` ran past its deadline (the process was killed)."""

    reason = "DeadlineExceeded"


class ImagePullError(RuntimeError_):
    """`reason` is ErrImagePull; the message carries the registry's answer."""

    reason = "ErrImagePull"


# ---- images -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageConfig:
    """What an image's config says about running it (OCI image config)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # "KEY=value"
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageRef:
    """A pulled image: `id` is the config digest (sha256:...), `repo_digest` NAME@sha256:... of the
    manifest, `layers` the unpacked layer directories, lowest first (overlayfs lowerdirs in reverse)."""

    id: str
    repo_tags: tuple[str, ...]
    repo_digest: str
    size: int
    config: ImageConfig
    layers: tuple[Path, ...]


@dataclass(frozen=True)
class RegistryAuth:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""


class ImageService(Protocol):
    async def pull_image(self, *, image: str, auth: RegistryAuth | None = None) -> ImageRef: ...

    async def image_status(self, *, image: str) -> ImageRef | None: ...

    async def list_images(self) -> list[ImageRef]: ...

    async def remove_image(self, *, image: str) -> None: ...

    async def fs_usage(self) -> tuple[int, int]:
        """(bytes used by images, bytes of the filesystem they live on)."""
        ...


# ---- sandboxes and containers -----------------------------------------------------------------------


class State(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int = 0
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass(frozen=True)
class DNSConfig:
    servers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodSandboxConfig:
    uid: str
    name: str
    namespace: str
    attempt: int = 0
    hostname: str = ""
    log_directory: Path | None = None
    dns: DNSConfig | None = None
    port_mappings: tuple[PortMapping, ...] = ()
    host_network: bool = False
    cgroup_parent: str = ""  # absolute cgroup path of the pod, e.g. /kubepods/burstable/pod<uid>
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # Pod-level resource totals, for the pod cgroup (millicores, bytes; 0 = unlimited).
    cpu_limit_millis: int = 0
    memory_limit_bytes: int = 0


@dataclass(frozen=True)
class Mount:
    container_path: str
    host_path: str
    readonly: bool = False
    propagation: str = "private"  # private | rslave | rshared


@dataclass(frozen=True)
class Resources:
    cpu_shares: int = 2  # cgroup v1 shares (v2 weight is derived)
    cpu_quota: int = 0  # microseconds per period; 0 = unlimited
    cpu_period: int = 100_000
    memory_limit_bytes: int = 0
    pids_limit: int = 0
    oom_score_adj: int = 0


@dataclass(frozen=True)
class SecurityConfig:
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()
    readonly_rootfs: bool = False
    privileged: bool = False
    add_capabilities: tuple[str, ...] = ()
    drop_capabilities: tuple[str, ...] = ()
    no_new_privileges: bool = False


@dataclass(frozen=True)
class ContainerConfig:
    name: str
    image: ImageRef
    attempt: int = 0
    command: tuple[str, ...] = ()  # the full argv: entrypoint/cmd already merged by the kubelet
    working_dir: str = ""
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    log_path: Path | None = None  # CRI log format file
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    resources: Resources = field(default_factory=Resources)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SandboxStatus:
    id: str
    state: State
    created_at_ns: int
    ip: str = ""
    netns_path: str = ""
    config: PodSandboxConfig | None = None


@dataclass(frozen=True)
class ContainerStatus:
    id: str
    sandbox_id: str
    name: str
    attempt: int
    state: State
    image: ImageRef
    created_at_ns: int = 0
    started_at_ns: int = 0
    finished_at_ns: int = 0
    exit_code: int = 0
    reason: str = ""  # Completed, Error, OOMKilled, ...
    message: str = ""
    log_path: Path | None = None


@dataclass(frozen=True)
class ContainerStats:
    id: str
    timestamp_ns: int
    cpu_usage_ns: int
    memory_working_set_bytes: int
    memory_rss_bytes: int = 0


class StdinWriter(Protocol):
    """Bytes for a running container's stdin; closing ends this client's session (and the container's
    stdin when it was created with `stdin_once`)."""

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class ExecSession(Protocol):
    """An interactive exec/attach: write stdin, read stdout/stderr frames, resize, wait for the exit."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(stream, data): stream 1 stdout, 2 stderr; ends when the process exits."""
        ...

    async def resize(self, *, width: int, height: int) -> None: ...

    async def wait(self) -> int: ...


class Runtime(Protocol):
    async def version(self) -> tuple[str, str]:
        """(runtime name, version), e.g. ("runc", "1.1.5") — shown as containerRuntimeVersion."""
        ...

    async def run_pod_sandbox(self, *, config: PodSandboxConfig) -> str: ...

    async def stop_pod_sandbox(self, *, sandbox_id: str) -> None: ...

    async def remove_pod_sandbox(self, *, sandbox_id: str) -> None: ...

    async def pod_sandbox_status(self, *, sandbox_id: str) -> SandboxStatus: ...

    async def list_pod_sandboxes(self) -> list[SandboxStatus]: ...

    async def create_container(self, *, sandbox_id: str, config: ContainerConfig) -> str: ...

    async def start_container(self, *, container_id: str) -> None: ...

    async def stop_container(self, *, container_id: str, grace_seconds: float) -> None:
        """SIGTERM, then SIGKILL after `grace_seconds`."""
        ...

    async def remove_container(self, *, container_id: str) -> None: ...

    async def container_status(self, *, container_id: str) -> ContainerStatus: ...

    async def list_containers(self, *, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    async def exec_sync(self, *, container_id: str, command: Sequence[str], deadline_seconds: float) -> ExecResult: ...

    async def exec(self, *, container_id: str, command: Sequence[str], tty: bool, stdin: bool) -> ExecSession: ...

    async def attach_stdin(self, *, container_id: str) -> StdinWriter:
        """A writer to the stdin of a running container created with `stdin` (kubectl attach -i).
        Raises RuntimeError_ when the container keeps no stdin open."""
        ...

    async def port_forward(self, *, sandbox_id: str, port: int) -> tuple[object, object]:
        """An open TCP connection to `port` inside the sandbox's network: (asyncio reader, writer)."""
        ...

    async def container_stats(self, *, container_id: str) -> ContainerStats: ...

    async def update_container_resources(self, *, container_id: str, resources: Resources) -> None: ...
