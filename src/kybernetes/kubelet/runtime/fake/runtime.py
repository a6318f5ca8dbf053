"""In-memory `Runtime` and `ImageService` for unit tests and the node simulator.

Nothing runs. A container's life is computed from its `FakeBehavior` and an injectable `Clock` (monotonic
seconds, `kybernetes.client.clock`): it is running from `start_container` until `run_seconds` have passed
(then exited with `exit_code`, reason Completed / Error / OOMKilled) or forever when `run_seconds` is None,
or until it is stopped or `kill_container` injects an exit. State is evaluated lazily on each call, so a
`FakeClock` makes every run deterministic and no background task exists. Behaviours are chosen per
container name (falling back to per image, then to `default_behavior`); exec results per command prefix;
port-forwards reach per-port handlers (an echo by default). Stats: while running, a container uses its
behaviour's `cpu_millis` and `memory_bytes`; `set_usage` changes them at once for running containers (and
for later ones), the CPU counter integrating each rate over the time it held.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kybernetes.client.clock import REAL_CLOCK, Clock
from kybernetes.kubelet.runtime.protocol import (
    ContainerConfig,
    ContainerNotFound,
    ContainerStats,
    ContainerStatus,
    CreateContainerError,
    ExecResult,
    ExecSession,
    ExecTimeout,
    ImageConfig,
    ImagePullError,
    ImageRef,
    PodSandboxConfig,
    RegistryAuth,
    Resources,
    RuntimeError_,
    SandboxNotFound,
    SandboxStatus,
    State,
    StdinWriter,
)

WALL_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: fake wall time = epoch + clock.now()


@dataclass(frozen=True)
class FakeBehavior:
    run_seconds: float | None = None  # None: runs until stopped
    exit_code: int = 0
    oom: bool = False  # exits 137 with OOMKilled after run_seconds
    ignores_sigterm: bool = False  # stop waits the whole grace period, then exit 137
    create_error: str = ""  # create_container fails with this message
    start_error: str = ""
    cpu_millis: int = 10  # synthetic usage while running
    memory_bytes: int = 8 << 20


@dataclass
class _Sandbox:
    id: str
    config: PodSandboxConfig
    created_at_ns: int
    ip: str
    ready: bool = True


@dataclass
class _Container:
    id: str
    sandbox_id: str
    config: ContainerConfig
    behavior: FakeBehavior
    created_at: float
    started_at: float | None = None
    exited_at: float | None = None
    exit_code: int = 0
    reason: str = ""
    resources: Resources = field(default_factory=Resources)
    # CPU nanoseconds used up to `usage_since` (clock time), and the usage from then on.
    cpu_ns: int = 0
    usage_since: float | None = None
    cpu_millis: int = 0
    memory_bytes: int = 0
    stdin: bytearray = field(default_factory=bytearray)  # what attach clients wrote
    stdin_closed: bool = False


class _FakeStdin:
    def __init__(self, container: _Container) -> None:
        self._c = container

    async def write(self, data: bytes) -> None:
        self._c.stdin.extend(data)

    async def close(self) -> None:
        if self._c.config.stdin_once:
            self._c.stdin_closed = True


class FakeRuntime:
    def __init__(self, *, clock: Clock = REAL_CLOCK, pod_cidr_prefix: str = "10.88.0.") -> None:
        self.clock = clock
        self.default_behavior = FakeBehavior()
        self.behaviors: dict[str, FakeBehavior] = {}  # by container name, or by image reference
        self.usage: dict[str, tuple[int, int]] = {}  # (cpu millis, memory bytes) by container name or image
        self.exec_results: dict[tuple[str, ...], ExecResult | Exception] = {}
        self.port_handlers: dict[int, Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]] = {}
        self.sandboxes: dict[str, _Sandbox] = {}
        self.containers: dict[str, _Container] = {}
        self.calls: list[str] = []  # e.g. "start_container <id>": what the kubelet asked for, in order
        self._ids = itertools.count(1)
        self._ips = itertools.count(2)
        self._ip_prefix = pod_cidr_prefix
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- test controls --------------------------------------------------------------------------------

    def set_behavior(self, *, key: str, behavior: FakeBehavior) -> None:
        """`key` is a container name or an image reference (a repo tag of the container's image)."""
        self.behaviors[key] = behavior

    def set_usage(self, *, key: str, cpu_millis: int, memory_bytes: int) -> None:
        """The usage of containers whose name (or image reference) is `key`, from now on: running ones change
        at once, later ones start with it (it wins over their behaviour's)."""
        self.usage[key] = (cpu_millis, memory_bytes)
        for c in self.containers.values():
            if self._usage_key(c.config) == key:
                self._account(c)
                c.cpu_millis, c.memory_bytes = cpu_millis, memory_bytes

    def set_exec_result(self, *, command: Sequence[str], result: ExecResult | Exception) -> None:
        """The result of any exec whose argv starts with `command`."""
        self.exec_results[tuple(command)] = result

    def kill_container(self, *, container_id: str, exit_code: int = 137, oom: bool = False) -> None:
        c = self._container(container_id)
        self._settle(c)
        if c.started_at is not None and c.exited_at is None:
            self._exit(c, at=self.clock.now(), code=137 if oom else exit_code, oom=oom)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- helpers --------------------------------------------------------------------------------------

    def _wall_ns(self, t: float | None) -> int:
        return 0 if t is None else int(WALL_EPOCH) * 1_000_000_000 + round(t * 1e9)

    def _new_id(self) -> str:
        return hashlib.sha256(f"fake-{next(self._ids)}".encode()).hexdigest()

    def _sandbox(self, sandbox_id: str) -> _Sandbox:
        try:
            return self.sandboxes[sandbox_id]
        except KeyError:
            raise SandboxNotFound(f"pod sandbox {sandbox_id} not found") from None

    def _container(self, container_id: str) -> _Container:
        try:
            return self.containers[container_id]
        except KeyError:
            raise ContainerNotFound(f"container {container_id} not found") from None

    def _behavior(self, config: ContainerConfig) -> FakeBehavior:
        if config.name in self.behaviors:
            return self.behaviors[config.name]
        for tag in config.image.repo_tags:
            if tag in self.behaviors:
                return self.behaviors[tag]
        return self.default_behavior

    def _usage_key(self, config: ContainerConfig) -> str | None:
        if config.name in self.usage:
            return config.name
        return next((tag for tag in config.image.repo_tags if tag in self.usage), None)

    def _account(self, c: _Container, *, now: float | None = None) -> None:
        """Add the CPU used since `usage_since` up to `now` (or the exit) to the counter."""
        self._settle(c)
        if c.usage_since is None:
            return
        end = c.exited_at if c.exited_at is not None else (self.clock.now() if now is None else now)
        # In whole nanoseconds of the stats' own timestamps, so that rates computed from them are exact.
        elapsed_ns = max(0, self._wall_ns(end) - self._wall_ns(c.usage_since))
        c.cpu_ns += elapsed_ns * c.cpu_millis // 1000
        c.usage_since = end

    @staticmethod
    def _exit(c: _Container, *, at: float, code: int, oom: bool = False) -> None:
        c.exited_at = at
        c.exit_code = code
        c.reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")

    def _settle(self, c: _Container) -> None:
        """Apply the behaviour's scheduled exit if its time has come."""
        b = c.behavior
        if c.started_at is None or c.exited_at is not None or b.run_seconds is None:
            return
        end = c.started_at + b.run_seconds
        if self.clock.now() >= end:
            self._exit(c, at=end, code=137 if b.oom else b.exit_code, oom=b.oom)

    def _state(self, c: _Container) -> State:
        self._settle(c)
        if c.exited_at is not None:
            return State.EXITED
        return State.CREATED if c.started_at is None else State.RUNNING

    # ---- Runtime --------------------------------------------------------------------------------------

    async def version(self) -> tuple[str, str]:
        return "fake", "0.1.0"

    async def run_pod_sandbox(self, *, config: PodSandboxConfig) -> str:
        sid = self._new_id()
        self.calls.append(f"run_pod_sandbox {config.namespace}/{config.name}")
        ip = "" if config.host_network else f"{self._ip_prefix}{next(self._ips)}"
        self.sandboxes[sid] = _Sandbox(id=sid, config=config, created_at_ns=self._wall_ns(self.clock.now()), ip=ip)
        return sid

    async def stop_pod_sandbox(self, *, sandbox_id: str) -> None:
        self.calls.append(f"stop_pod_sandbox {sandbox_id}")
        s = self._sandbox(sandbox_id)
        for c in list(self.containers.values()):
            if c.sandbox_id == sandbox_id and self._state(c) in (State.RUNNING, State.CREATED):
                self._exit(c, at=self.clock.now(), code=137)
        s.ready = False

    async def remove_pod_sandbox(self, *, sandbox_id: str) -> None:
        self.calls.append(f"remove_pod_sandbox {sandbox_id}")
        self.sandboxes.pop(sandbox_id, None)
        for cid in [c.id for c in self.containers.values() if c.sandbox_id == sandbox_id]:
            del self.containers[cid]

    def _sandbox_status(self, s: _Sandbox) -> SandboxStatus:
        return SandboxStatus(
            id=s.id,
            state=State.RUNNING if s.ready else State.EXITED,
            created_at_ns=s.created_at_ns,
            ip=s.ip if s.ready else "",
            netns_path="" if s.config.host_network else f"/run/netns/fake-{s.id[:12]}",
            config=s.config,
        )

    async def pod_sandbox_status(self, *, sandbox_id: str) -> SandboxStatus:
        return self._sandbox_status(self._sandbox(sandbox_id))

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        return [self._sandbox_status(s) for s in self.sandboxes.values()]

    async def create_container(self, *, sandbox_id: str, config: ContainerConfig) -> str:
        s = self._sandbox(sandbox_id)
        if not s.ready:
            raise CreateContainerError(f"pod sandbox {sandbox_id} is not ready")
        behavior = self._behavior(config)
        if behavior.create_error:
            raise CreateContainerError(behavior.create_error)
        cid = self._new_id()
        self.calls.append(f"create_container {config.name}")
        key = self._usage_key(config)
        cpu_millis, memory_bytes = self.usage[key] if key is not None else (behavior.cpu_millis, behavior.memory_bytes)
        self.containers[cid] = _Container(
            id=cid,
            sandbox_id=sandbox_id,
            config=config,
            behavior=behavior,
            created_at=self.clock.now(),
            resources=config.resources,
            cpu_millis=cpu_millis,
            memory_bytes=memory_bytes,
        )
        return cid

    async def start_container(self, *, container_id: str) -> None:
        c = self._container(container_id)
        self.calls.append(f"start_container {c.config.name}")
        if c.behavior.start_error:
            self._exit(c, at=self.clock.now(), code=128)
            c.reason = "StartError"
            raise RuntimeError_(c.behavior.start_error)
        if c.started_at is not None:
            raise RuntimeError_(f"container {container_id} was already started")
        c.started_at = self.clock.now()
        c.usage_since = c.started_at

    async def stop_container(self, *, container_id: str, grace_seconds: float) -> None:
        c = self._container(container_id)
        self.calls.append(f"stop_container {c.config.name} {grace_seconds:g}")
        state = self._state(c)
        if state is State.EXITED:
            return
        if state is State.CREATED or grace_seconds <= 0:
            self._exit(c, at=self.clock.now(), code=137)
            return
        if c.behavior.ignores_sigterm:
            await self.clock.sleep(grace_seconds)
            if self._state(c) is State.RUNNING:
                self._exit(c, at=self.clock.now(), code=137)
            return
        self._exit(c, at=self.clock.now(), code=143)

    async def remove_container(self, *, container_id: str) -> None:
        if container_id in self.containers:
            self.calls.append(f"remove_container {self.containers[container_id].config.name}")
            await self.stop_container(container_id=container_id, grace_seconds=0)
            del self.containers[container_id]

    def _status(self, c: _Container) -> ContainerStatus:
        state = self._state(c)
        return ContainerStatus(
            id=c.id,
            sandbox_id=c.sandbox_id,
            name=c.config.name,
            attempt=c.config.attempt,
            state=state,
            image=c.config.image,
            created_at_ns=self._wall_ns(c.created_at),
            started_at_ns=self._wall_ns(c.started_at),
            finished_at_ns=self._wall_ns(c.exited_at),
            exit_code=c.exit_code if state is State.EXITED else 0,
            reason=c.reason if state is State.EXITED else "",
            log_path=c.config.log_path,
        )

    async def container_status(self, *, container_id: str) -> ContainerStatus:
        return self._status(self._container(container_id))

    async def list_containers(self, *, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [self._status(c) for c in self.containers.values() if sandbox_id in (None, c.sandbox_id)]

    def _exec_result(self, command: Sequence[str]) -> ExecResult | Exception:
        for n in range(len(command), -1, -1):
            if (found := self.exec_results.get(tuple(command[:n]))) is not None:
                return found
        return ExecResult(exit_code=0, stdout=b"", stderr=b"")

    async def _running(self, container_id: str) -> _Container:
        c = self._container(container_id)
        if self._state(c) is not State.RUNNING:
            raise RuntimeError_(f"container {container_id} is not running")
        return c

    async def exec_sync(self, *, container_id: str, command: Sequence[str], deadline_seconds: float) -> ExecResult:
        await self._running(container_id)
        self.calls.append(f"exec_sync {' '.join(command)}")
        result = self._exec_result(command)
        if isinstance(result, ExecTimeout):
            await self.clock.sleep(deadline_seconds)
        if isinstance(result, Exception):
            raise result
        return result

    async def attach_stdin(self, *, container_id: str) -> StdinWriter:
        c = await self._running(container_id)
        if not c.config.stdin or c.stdin_closed:
            raise RuntimeError_(f"container {c.config.name} was not created with stdin")
        self.calls.append(f"attach {c.config.name}")
        return _FakeStdin(c)

    async def exec(self, *, container_id: str, command: Sequence[str], tty: bool, stdin: bool) -> ExecSession:
        await self._running(container_id)
        self.calls.append(f"exec {' '.join(command)}")
        result = self._exec_result(command)
        if isinstance(result, Exception):
            raise result
        return FakeExecSession(result=result, tty=tty)

    async def port_forward(self, *, sandbox_id: str, port: int) -> tuple[object, object]:
        s = self._sandbox(sandbox_id)
        if not s.ready:
            raise RuntimeError_(f"pod sandbox {sandbox_id} is not ready")
        ours, theirs = socket.socketpair()
        handler = self.port_handlers.get(port, _echo)

        async def serve() -> None:
            reader, writer = await asyncio.open_connection(sock=theirs)
            try:
                await handler(reader, writer)
            finally:
                writer.close()

        task = asyncio.create_task(serve())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.open_connection(sock=ours)

    async def container_stats(self, *, container_id: str) -> ContainerStats:
        c = self._container(container_id)
        now = self.clock.now()  # one reading: the counter and its timestamp agree exactly
        self._account(c, now=now)
        running = self._state(c) is State.RUNNING
        return ContainerStats(
            id=container_id,
            timestamp_ns=self._wall_ns(now),
            cpu_usage_ns=c.cpu_ns,
            memory_working_set_bytes=c.memory_bytes if running else 0,
            memory_rss_bytes=c.memory_bytes if running else 0,
        )

    async def update_container_resources(self, *, container_id: str, resources: Resources) -> None:
        c = await self._running(container_id)
        c.resources = resources
        c.config = replace(c.config, resources=resources)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


class FakeExecSession:
    def __init__(self, *, result: ExecResult, tty: bool) -> None:
        self.result = result
        self.tty = tty
        self.stdin = bytearray()
        self.stdin_closed = False
        self.size: tuple[int, int] | None = None

    async def write_stdin(self, data: bytes) -> None:
        self.stdin.extend(data)

    async def close_stdin(self) -> None:
        self.stdin_closed = True

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        if self.result.stdout:
            yield 1, self.result.stdout
        if self.result.stderr:
            yield (1 if self.tty else 2), self.result.stderr

    async def resize(self, *, width: int, height: int) -> None:
        self.size = (width, height)

    async def wait(self) -> int:
        return self.result.exit_code


class FakeImageService:
    """Images "pull" instantly; `fail` maps an image reference to the registry's error message, and with
    `known` set only those references exist (others fail as not found)."""

    def __init__(self, *, layer_root: Path = Path("/nonexistent/fake-layers")) -> None:
        self.images: dict[str, ImageRef] = {}
        self.fail: dict[str, str] = {}
        self.known: set[str] | None = None
        self.configs: dict[str, ImageConfig] = {}
        self.pulls: list[str] = []
        self.layer_root = layer_root

    @staticmethod
    def _normalize(image: str) -> str:
        name = image.split("@", 1)[0]
        if ":" not in name.rsplit("/", 1)[-1]:
            image = image if "@" in image else f"{image}:latest"
        return image

    async def pull_image(self, *, image: str, auth: RegistryAuth | None = None) -> ImageRef:
        ref = self._normalize(image)
        self.pulls.append(ref)
        if ref in self.fail:
            raise ImagePullError(self.fail[ref])
        if self.known is not None and ref not in self.known:
            raise ImagePullError(f"rpc error: manifest for {ref} not found: manifest unknown")
        digest = hashlib.sha256(ref.encode()).hexdigest()
        found = ImageRef(
            id=f"sha256:{digest}",
            repo_tags=(ref,),
            repo_digest=f"{ref.rsplit(':', 1)[0]}@sha256:{hashlib.sha256(digest.encode()).hexdigest()}",
            size=1_000_000,
            config=self.configs.get(ref, ImageConfig(cmd=("sh",))),
            layers=(self.layer_root / digest[:12],),
        )
        self.images[ref] = found
        return found

    async def image_status(self, *, image: str) -> ImageRef | None:
        return self.images.get(self._normalize(image))

    async def list_images(self) -> list[ImageRef]:
        return list(self.images.values())

    async def remove_image(self, *, image: str) -> None:
        self.images.pop(self._normalize(image), None)

    async def fs_usage(self) -> tuple[int, int]:
        return sum(i.size for i in self.images.values()), 100 << 30
