"""`RuncRuntime`: the `Runtime` protocol over runc, conmon, overlayfs, cgroups and the pod network.

Sandbox (`run_pod_sandbox`): a network namespace with an address on the node bridge (`PodNetwork`),
pinned UTS (with the pod's hostname) and IPC namespaces, resolv.conf / hosts / hostname files and a /dev/shm
tmpfs shared by its containers (`podfiles`), and the pod cgroup with the pod-wide limits (`cgroups`). No
pause process: see `podfiles` for why.

Container: `create_container` mounts an overlayfs root (the image's layer directories read-only, a
per-container upper/work dir), writes the OCI bundle's config.json (`spec.build_spec`) and has conmon run
`runc create` (`monitor.start_conmon`); `start_container` is `runc start`. Status comes from conmon's exit
file when there is one (exit code, finish time; OOMKilled from conmon's oom file or the cgroup's OOM-kill
counter) and from `runc state` otherwise. `stop_container` sends SIGTERM, waits up to the grace period
for the exit file, then SIGKILL, and waits again; `remove_container` deletes the runc container (which
removes its cgroup), unmounts the root and deletes the bundle.

Everything the runtime knows is in its state directory (`records`) and runc's, so a new `RuncRuntime`
over the same directory re-adopts every sandbox and container with their processes untouched.
Subprocesses run through asyncio; file, mount and netlink work runs in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from kybernetes.kubelet.network.podnetwork import PodNetwork
from kybernetes.kubelet.runtime.protocol import (
    ContainerConfig,
    ContainerNotFound,
    ContainerStats,
    ContainerStatus,
    CreateContainerError,
    ExecResult,
    ExecSession,
    PodSandboxConfig,
    Resources,
    RuntimeError_,
    SandboxNotFound,
    SandboxStatus,
    State,
    StdinWriter,
)
from kybernetes.kubelet.runtime.runc import cgroups, execs, podfiles, spec, syscalls
from kybernetes.kubelet.runtime.runc.monitor import ConmonPaths, Runc, RuncError, start_conmon
from kybernetes.kubelet.runtime.runc.records import ContainerRecord, SandboxRecord, StateDir, write_atomic

OOM_EXIT_CODE = 137


class RuncRuntime:
    def __init__(
        self,
        *,
        state_dir: Path,
        network: PodNetwork | None,
        runc: str = "/usr/sbin/runc",
        conmon: str = "/usr/bin/conmon",
        cgroup_root: str = "/kubepods",
    ) -> None:
        self.state = StateDir(root=state_dir)
        self.state.create()
        self.network = network
        self.runc = Runc(binary=runc, root=self.state.runc_root)
        self.conmon = conmon
        self.cgroup_root = "/" + cgroup_root.strip("/")
        self.cgroups = cgroups.Cgroups()
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def version(self) -> tuple[str, str]:
        return "runc", await self.runc.version()

    # ---- sandboxes ------------------------------------------------------------------------------------

    async def run_pod_sandbox(self, *, config: PodSandboxConfig) -> str:
        sandbox_id = uuid.uuid4().hex
        hostname = (config.hostname or config.name)[:63]
        cgroup_parent = config.cgroup_parent or f"{self.cgroup_root}/pod{config.uid}"
        record = SandboxRecord(
            id=sandbox_id, config=config, created_at_ns=time.time_ns(), cgroup_parent=cgroup_parent, hostname=hostname
        )
        # The record goes first, so that a crash half-way leaves something that stop/remove can clean up.
        await asyncio.to_thread(self.state.save_sandbox, record)
        try:
            if not config.host_network:
                if self.network is None:
                    raise RuntimeError_("this runtime has no pod network; only hostNetwork pods can run")
                att = await self.network.setup(sandbox_id=sandbox_id)
                record.ip, record.netns_path = att.ip, att.netns_path
            await asyncio.to_thread(self._prepare_sandbox, record)
            record.ready = True
            await asyncio.to_thread(self.state.save_sandbox, record)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.remove_pod_sandbox(sandbox_id=sandbox_id)
            raise
        return sandbox_id

    def _prepare_sandbox(self, record: SandboxRecord) -> None:
        d = self.state.sandbox_dir(record.id)
        podfiles.write_pod_files(directory=d, dns=record.config.dns, ip=record.ip, hostname=record.hostname)
        podfiles.mount_shm(directory=d)
        if not record.config.host_network:
            podfiles.pin_namespaces(directory=d, hostname=record.hostname)
        cpu_quota = record.config.cpu_limit_millis * 100 if record.config.cpu_limit_millis > 0 else 0
        self.cgroups.ensure(
            path=record.cgroup_parent, cpu_quota_us=cpu_quota, memory_limit=record.config.memory_limit_bytes
        )

    def _sandbox(self, sandbox_id: str) -> SandboxRecord:
        record = self.state.load_sandbox(sandbox_id)
        if record is None:
            raise SandboxNotFound(f"pod sandbox {sandbox_id} not found")
        return record

    async def stop_pod_sandbox(self, *, sandbox_id: str) -> None:
        """Kill every container of the sandbox and release its network (address, veth, namespace)."""
        record = await asyncio.to_thread(self._sandbox, sandbox_id)
        # Not ready from the first step: a stop interrupted half-way (a cancelled kubelet) must not leave a
        # record that lists as RUNNING and would be re-adopted as a live pod.
        if record.ready:
            record.ready = False
            await asyncio.to_thread(self.state.save_sandbox, record)
        live = [c for c in await self.list_containers(sandbox_id=sandbox_id) if c.state in (State.RUNNING, State.CREATED)]
        await asyncio.gather(*(self.stop_container(container_id=c.id, grace_seconds=0) for c in live))
        async with self._lock(sandbox_id):
            if self.network is not None and not record.config.host_network:
                await self.network.teardown(sandbox_id=sandbox_id)
            record.ready = False
            record.ip = ""
            await asyncio.to_thread(self.state.save_sandbox, record)

    async def remove_pod_sandbox(self, *, sandbox_id: str) -> None:
        record = await asyncio.to_thread(self.state.load_sandbox, sandbox_id)
        if record is None:
            return
        containers = await self.list_containers(sandbox_id=sandbox_id)
        await asyncio.gather(*(self.remove_container(container_id=c.id) for c in containers))
        async with self._lock(sandbox_id):
            if self.network is not None and not record.config.host_network:
                await self.network.teardown(sandbox_id=sandbox_id)
            await asyncio.to_thread(self.cgroups.remove, path=record.cgroup_parent)
            await asyncio.to_thread(podfiles.release, directory=self.state.sandbox_dir(sandbox_id))
        self._locks.pop(sandbox_id, None)

    def _sandbox_status(self, record: SandboxRecord) -> SandboxStatus:
        return SandboxStatus(
            id=record.id,
            state=State.RUNNING if record.ready else State.EXITED,
            created_at_ns=record.created_at_ns,
            ip=record.ip,
            netns_path=record.netns_path,
            config=record.config,
        )

    async def pod_sandbox_status(self, *, sandbox_id: str) -> SandboxStatus:
        return self._sandbox_status(await asyncio.to_thread(self._sandbox, sandbox_id))

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        def load() -> list[SandboxRecord]:
            return [r for i in self.state.sandbox_ids() if (r := self.state.load_sandbox(i)) is not None]

        return [self._sandbox_status(r) for r in await asyncio.to_thread(load)]

    # ---- containers -----------------------------------------------------------------------------------

    def _pod_paths(self, sandbox: SandboxRecord) -> spec.PodPaths:
        d = self.state.sandbox_dir(sandbox.id)
        shared = not sandbox.config.host_network
        return spec.PodPaths(
            netns=sandbox.netns_path if shared else "",
            uts=str(d / "ns" / "uts") if shared else "",
            ipc=str(d / "ns" / "ipc") if shared else "",
            resolv_conf=str(d / "resolv.conf"),
            hosts=str(d / "hosts"),
            hostname_file=str(d / "hostname"),
            shm=str(d / "shm"),
            hostname=sandbox.hostname,
        )

    def _conmon_paths(self, record: ContainerRecord) -> ConmonPaths:
        d = self.state.container_dir(record.id)
        return ConmonPaths(
            bundle=d,
            log=Path(record.log_path),
            exit_dir=d / "exit",
            persist_dir=d / "persist",
            pidfile=d / "pidfile",
            conmon_pidfile=d / "conmon.pid",
            socket_dir=self.state.sockets,
            conmon_log=d / "conmon.log",
        )

    async def create_container(self, *, sandbox_id: str, config: ContainerConfig) -> str:
        sandbox = await asyncio.to_thread(self._sandbox, sandbox_id)
        if not sandbox.ready:
            raise CreateContainerError(f"pod sandbox {sandbox_id} is not ready")
        container_id = uuid.uuid4().hex
        d = self.state.container_dir(container_id)
        record = ContainerRecord(
            id=container_id,
            sandbox_id=sandbox_id,
            config=config,
            created_at_ns=time.time_ns(),
            log_path=str(config.log_path or d / f"{config.name}_{config.attempt}.log"),
            cgroups_path=f"{sandbox.cgroup_parent}/{container_id}",
        )
        try:
            await asyncio.to_thread(self._prepare_bundle, record, sandbox)
            await start_conmon(
                conmon=self.conmon,
                runc=self.runc,
                container_id=container_id,
                name=config.name,
                paths=self._conmon_paths(record),
                tty=config.tty,
                stdin=config.stdin,
                stdin_once=config.stdin_once,
            )
        except BaseException as e:
            with contextlib.suppress(Exception):
                await self._discard(record)
            if isinstance(e, ValueError | OSError):
                raise CreateContainerError(str(e)) from e
            raise
        return container_id

    def _prepare_bundle(self, record: ContainerRecord, sandbox: SandboxRecord) -> None:
        d = self.state.container_dir(record.id)
        for sub in ("rootfs", "upper", "work"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.state.save_container(record)
        layers = [str(p) for p in reversed(record.config.image.layers)]
        if not layers:
            (d / "empty").mkdir(exist_ok=True)
            layers = [str(d / "empty")]
        for m in record.config.mounts:
            if not os.path.exists(m.host_path):
                raise CreateContainerError(f"mount source {m.host_path} for {m.container_path} does not exist")
        document = spec.build_spec(
            config=record.config,
            rootfs=d / "rootfs",
            pod=self._pod_paths(sandbox),
            cgroups_path=record.cgroups_path,
            memory_swap=self.cgroups.memsw,
            nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[1],
            annotations={"io.kubernetes.cri.sandbox-id": sandbox.id, "io.kubernetes.container.name": record.config.name},
        )
        syscalls.mount(
            source="overlay",
            target=str(d / "rootfs"),
            fstype="overlay",
            data=f"lowerdir={':'.join(layers)},upperdir={d / 'upper'},workdir={d / 'work'}",
        )
        write_atomic(d / "config.json", json.dumps(document, indent=1).encode())

    async def _discard(self, record: ContainerRecord) -> None:
        await self.runc.run("delete", "--force", record.id, check=False)
        await asyncio.to_thread(self._remove_bundle, record)

    def _remove_bundle(self, record: ContainerRecord) -> None:
        self.state.forget_container(record.id)
        d = self.state.container_dir(record.id)
        rootfs = str(d / "rootfs")
        if syscalls.is_mountpoint(rootfs):
            try:
                syscalls.umount(target=rootfs)
            except OSError:
                syscalls.umount(target=rootfs, detach=True)
        shutil.rmtree(d, ignore_errors=True)

    def _container(self, container_id: str) -> ContainerRecord:
        record = self.state.load_container(container_id)
        if record is None:
            raise ContainerNotFound(f"container {container_id} not found")
        return record

    async def start_container(self, *, container_id: str) -> None:
        async with self._lock(container_id):
            record = await asyncio.to_thread(self._container, container_id)
            try:
                await self.runc.run("start", container_id)
            except RuncError as e:
                raise RuntimeError_(f"starting container {record.config.name}: {e}") from e
            record.started_at_ns = time.time_ns()
            await asyncio.to_thread(self.state.save_container, record)

    def _exit_code(self, record: ContainerRecord) -> tuple[int, int] | None:
        """(exit code, finish time ns) from conmon's exit file, if the container has exited."""
        path = self.state.container_dir(record.id) / "exit" / record.id
        try:
            text = path.read_text().strip()
            return int(text), path.stat().st_mtime_ns
        except (OSError, ValueError):
            return None

    def _exit_or_monitor(self, record: ContainerRecord) -> tuple[tuple[int, int] | None, bool]:
        """(exit code and time if it exited, whether its conmon is alive)."""
        exited = self._exit_code(record)
        return exited, exited is None and self._conmon_pid(record) is not None

    def _conmon_pid(self, record: ContainerRecord) -> int | None:
        """The pid of the container's conmon, if that process is alive (its command line names the container)."""
        try:
            pid = int((self.state.container_dir(record.id) / "conmon.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if record.id.encode() in cmdline else None

    def _oom_killed(self, record: ContainerRecord) -> bool:
        if (self.state.container_dir(record.id) / "persist" / "oom").exists():
            return True
        return self.cgroups.oom_kills(path=record.cgroups_path) > 0

    async def container_status(self, *, container_id: str) -> ContainerStatus:
        record = await asyncio.to_thread(self._container, container_id)
        return await self._status(record)

    async def _status(self, record: ContainerRecord) -> ContainerStatus:
        exited, monitored = await asyncio.to_thread(self._exit_or_monitor, record)
        state, reason, code, finished = State.UNKNOWN, "", 0, 0
        if exited is None and monitored and record.started_at_ns:
            # Started, no exit file, and its conmon still waits on it: running. This spares a `runc state`
            # process per container per status query (every pod sync, every stats and log-rotation pass).
            state = State.RUNNING
        elif exited is None:
            rs = await self.runc.state(record.id)
            if rs is not None and rs.status == "created":
                state = State.CREATED
            elif rs is not None and rs.status in ("running", "paused"):
                state = State.RUNNING
            elif rs is not None and rs.status == "stopped":
                # conmon writes the exit file a moment after the process is reaped.
                for _ in range(50):
                    await asyncio.sleep(0.02)
                    if (exited := await asyncio.to_thread(self._exit_code, record)) is not None:
                        break
        if exited is not None:
            code, finished = exited
            state = State.EXITED
            if code == 0:
                reason = "Completed"
            elif code == OOM_EXIT_CODE and await asyncio.to_thread(self._oom_killed, record):
                reason = "OOMKilled"
            else:
                reason = "Error"
        return ContainerStatus(
            id=record.id,
            sandbox_id=record.sandbox_id,
            name=record.config.name,
            attempt=record.config.attempt,
            state=state,
            image=record.config.image,
            created_at_ns=record.created_at_ns,
            started_at_ns=record.started_at_ns,
            finished_at_ns=finished,
            exit_code=code,
            reason=reason,
            log_path=Path(record.log_path),
        )

    async def list_containers(self, *, sandbox_id: str | None = None) -> list[ContainerStatus]:
        def load() -> list[ContainerRecord]:
            return [r for r in self.state.load_containers() if sandbox_id is None or r.sandbox_id == sandbox_id]

        records = await asyncio.to_thread(load)
        return list(await asyncio.gather(*(self._status(r) for r in records)))

    async def _wait_exit(self, record: ContainerRecord, limit_seconds: float) -> bool:
        deadline = time.monotonic() + limit_seconds
        delay = 0.01
        while True:
            if await asyncio.to_thread(self._exit_code, record) is not None:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.2)

    async def stop_container(self, *, container_id: str, grace_seconds: float) -> None:
        async with self._lock(container_id):
            record = await asyncio.to_thread(self._container, container_id)
            if await asyncio.to_thread(self._exit_code, record) is not None:
                return
            rs = await self.runc.state(container_id)
            if rs is None or rs.status == "stopped":
                await self._wait_exit(record, 5)
                return
            if grace_seconds > 0 and rs.status != "created":
                await self.runc.run("kill", container_id, "TERM", check=False)
                if await self._wait_exit(record, grace_seconds):
                    return
            await self.runc.run("kill", container_id, "KILL", check=False)
            if not await self._wait_exit(record, 10):
                raise RuntimeError_(f"container {container_id} did not exit after SIGKILL")

    async def remove_container(self, *, container_id: str) -> None:
        record = await asyncio.to_thread(self.state.load_container, container_id)
        if record is None:
            return
        await self.stop_container(container_id=container_id, grace_seconds=0)
        async with self._lock(container_id):
            await self.runc.run("delete", "--force", container_id, check=False)
            await asyncio.to_thread(self._kill_conmon, record)
            await asyncio.to_thread(self._remove_bundle, record)
        self._locks.pop(container_id, None)

    def _kill_conmon(self, record: ContainerRecord) -> None:
        # conmon exits by itself after writing the exit file; this covers a container that never started.
        pid = self._conmon_pid(record)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # ---- exec, port-forward, stats, update -------------------------------------------------------------

    async def _running(self, container_id: str) -> ContainerRecord:
        record = await asyncio.to_thread(self._container, container_id)
        rs = await self.runc.state(container_id)
        if rs is None or rs.status != "running":
            raise RuntimeError_(f"container {container_id} is not running")
        return record

    async def exec_sync(self, *, container_id: str, command: Sequence[str], deadline_seconds: float) -> ExecResult:
        await self._running(container_id)
        return await execs.exec_sync(
            runc=self.runc,
            container_id=container_id,
            command=command,
            deadline_seconds=deadline_seconds,
            scratch=self.state.container_dir(container_id),
        )

    async def attach_stdin(self, *, container_id: str) -> StdinWriter:
        record = await asyncio.to_thread(self._container, container_id)
        if not record.config.stdin:
            raise RuntimeError_(f"container {record.config.name} was not created with stdin")
        await self._running(container_id)
        # conmon's attach socket: SOCK_SEQPACKET, what a client writes goes to the container's stdin.
        path = self.state.sockets / container_id / "attach"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, str(path))
        except OSError as e:
            sock.close()
            raise RuntimeError_(f"attaching to {record.config.name}: {e}") from e
        return _SocketStdin(sock)

    async def exec(self, *, container_id: str, command: Sequence[str], tty: bool, stdin: bool) -> ExecSession:
        await self._running(container_id)
        return await execs.start_exec(
            runc=self.runc,
            container_id=container_id,
            command=command,
            tty=tty,
            stdin=stdin,
            scratch=self.state.container_dir(container_id),
        )

    async def port_forward(self, *, sandbox_id: str, port: int) -> tuple[object, object]:
        sandbox = await asyncio.to_thread(self._sandbox, sandbox_id)
        if not sandbox.ready:
            raise RuntimeError_(f"pod sandbox {sandbox_id} is not ready")
        if sandbox.config.host_network or not sandbox.netns_path:
            return await asyncio.open_connection("127.0.0.1", port)
        sock = await asyncio.to_thread(podfiles.open_socket_in_netns, netns_path=sandbox.netns_path)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def reopen_container_log(self, *, container_id: str) -> None:
        """Have conmon start a new log file under the container's log path (after the kubelet renamed the old
        one away): message 2 (reopen logs) on conmon's control fifo `<bundle>/ctl`. Returns once the new
        file exists."""
        record = await self._running(container_id)
        ctl = self.state.container_dir(container_id) / "ctl"

        def send() -> None:
            fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                os.write(fd, b"2 0 0\n")
            finally:
                os.close(fd)

        try:
            await asyncio.to_thread(send)
        except OSError as e:
            raise RuntimeError_(f"container {container_id}: reopening its log: {e}") from e
        log_path = Path(record.log_path)
        for _ in range(100):
            if await asyncio.to_thread(log_path.exists):
                return
            await asyncio.sleep(0.01)
        raise RuntimeError_(f"container {container_id}: conmon did not reopen {log_path}")

    async def container_stats(self, *, container_id: str) -> ContainerStats:
        record = await asyncio.to_thread(self._container, container_id)
        usage = await asyncio.to_thread(self.cgroups.usage, path=record.cgroups_path)
        return ContainerStats(
            id=container_id,
            timestamp_ns=time.time_ns(),
            cpu_usage_ns=usage.cpu_ns,
            memory_working_set_bytes=usage.memory_working_set,
            memory_rss_bytes=usage.memory_rss,
        )

    async def update_container_resources(self, *, container_id: str, resources: Resources) -> None:
        record = await self._running(container_id)
        args = ["update", f"--cpu-share={max(2, resources.cpu_shares)}", f"--cpu-period={resources.cpu_period}"]
        args.append(f"--cpu-quota={resources.cpu_quota if resources.cpu_quota > 0 else -1}")
        if resources.memory_limit_bytes > 0:
            args.append(f"--memory={resources.memory_limit_bytes}")
            if self.cgroups.memsw:
                args.append(f"--memory-swap={resources.memory_limit_bytes}")
        if resources.pids_limit > 0:
            args.append(f"--pids-limit={resources.pids_limit}")
        await self.runc.run(*args, container_id)
        record.config = replace(record.config, resources=resources)
        await asyncio.to_thread(self.state.save_container, record)


class _SocketStdin:
    """A client of conmon's attach socket that only writes (output is read from the container's log)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        for i in range(0, len(data), 8192):  # conmon reads the socket in buffers of this size
            await loop.sock_sendall(self._sock, data[i:i + 8192])

    async def close(self) -> None:
        self._sock.close()
