"""Running runc, and conmon as each container's monitor.

`Runc` wraps the runc command line (`--root` is the runtime's own state directory, so several runtimes,
e.g. tests, never see each other's containers) with asyncio subprocesses.

`start_conmon` launches Debian's conmon for a container the way CRI-O does: conmon double-forks (so the
container survives the kubelet), runs `runc create` with the container's stdout/stderr on pipes it holds,
writes them to the log in the CRI format (`<RFC3339Nano> stdout F <line>`), and, when the container exits,
writes its exit code to `exit/<id>` (and `persist/exit`; `persist/oom` when the cgroup saw an OOM kill).
It reports the container's pid, or the error of `runc create`, as one JSON message (`{"data": pid}`) on
the inherited `_OCI_SYNCPIPE` fd; the directories it writes to must exist beforehand.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import time
from dataclasses import dataclass
from pathlib import Path

from kybernetes.kubelet.runtime.protocol import CreateContainerError, RuntimeError_


class RuncError(RuntimeError_):
    reason = "RuncError"


@dataclass(frozen=True)
class RuncState:
    id: str
    pid: int
    status: str  # creating | created | running | paused | stopped
    bundle: str


class Runc:
    def __init__(self, *, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root

    async def run(self, *args: str, limit_seconds: float = 30.0, check: bool = True) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--root",
            str(self.root),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limit_seconds)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuncError(f"runc {args[0]} timed out after {limit_seconds}s") from None
        code = proc.returncode or 0
        if check and code != 0:
            raise RuncError(f"runc {' '.join(args[:1])}: {_runc_message(err)}")
        return code, out, err

    async def state(self, container_id: str) -> RuncState | None:
        code, out, _ = await self.run("state", container_id, check=False)
        if code != 0:
            return None
        data = json.loads(out)
        return RuncState(id=data["id"], pid=int(data.get("pid", 0)), status=data["status"], bundle=data["bundle"])

    async def list(self) -> list[RuncState]:
        _, out, _ = await self.run("list", "--format", "json")
        return [
            RuncState(id=d["id"], pid=int(d.get("pid", 0)), status=d["status"], bundle=d["bundle"])
            for d in (json.loads(out) or [])
        ]

    async def version(self) -> str:
        _, out, _ = await self.run("--version")
        first = out.decode().splitlines()[0] if out else ""
        return first.split()[-1] if first else "unknown"


def _runc_message(err: bytes) -> str:
    """runc's logrus line `time=... level=error msg="..."` → the message."""
    text = err.decode(errors="replace").strip()
    for line in reversed(text.splitlines()):
        if 'msg="' in line:
            return line.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return text or "failed"


@dataclass(frozen=True)
class ConmonPaths:
    bundle: Path
    log: Path
    exit_dir: Path
    persist_dir: Path
    pidfile: Path
    conmon_pidfile: Path
    socket_dir: Path
    conmon_log: Path


async def start_conmon(
    *,
    conmon: str,
    runc: Runc,
    container_id: str,
    name: str,
    paths: ConmonPaths,
    tty: bool = False,
    stdin: bool = False,
    stdin_once: bool = False,
    limit_seconds: float = 30.0,
) -> int:
    """Launch conmon, which runs `runc create`; returns the container's pid once created."""
    def prepare() -> int:
        for d in (paths.exit_dir, paths.persist_dir, paths.socket_dir, paths.log.parent):
            d.mkdir(parents=True, exist_ok=True)
        return os.open(paths.conmon_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    log = await asyncio.to_thread(prepare)
    args = [
        "--api-version", "1",
        "-c", container_id,
        "-u", container_id,
        "-n", name,
        "-r", runc.binary,
        "--runtime-arg", f"--root={runc.root}",
        "-b", str(paths.bundle),
        "-p", str(paths.pidfile),
        "-P", str(paths.conmon_pidfile),
        "-l", f"k8s-file:{paths.log}",
        "--exit-dir", str(paths.exit_dir),
        "-0", str(paths.persist_dir),
        "--socket-dir-path", str(paths.socket_dir),
        "--log-level", "error",
    ]  # fmt: skip
    if tty:
        args.append("-t")
    if stdin:  # conmon holds the container's stdin and feeds it what clients write on its attach socket
        args.append("-i")
        if not stdin_once:
            args.append("--leave-stdin-open")
    read_fd, write_fd = os.pipe()
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                conmon,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "_OCI_SYNCPIPE": str(write_fd)},
                pass_fds=(write_fd,),
                start_new_session=True,
                # conmon 2.1 also drops an `oom` marker into its working directory: keep it in the
                # container's own directory, not wherever the kubelet was started.
                cwd=str(paths.persist_dir),
            )
        finally:
            os.close(log)
        os.close(write_fd)
        write_fd = -1
        await proc.wait()  # the first conmon exits once its daemonised child runs
        message = await asyncio.to_thread(_read_sync_message, read_fd, limit_seconds)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    if message is None:
        detail = ""
        try:
            detail = paths.conmon_log.read_text(errors="replace").strip()[-500:]
        except OSError:
            pass
        raise CreateContainerError(f"conmon did not report the container's creation {detail}".strip())
    data = message.get("data", -1)
    pid = data if isinstance(data, int) else -1
    if pid <= 0:
        raise CreateContainerError(_runc_message(str(message.get("message", "runc create failed")).encode()))
    return pid


def _read_sync_message(fd: int, timeout: float) -> dict[str, object] | None:
    """One JSON object from conmon's sync pipe (conmon keeps the pipe open afterwards, so no EOF)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        try:
            data = json.loads(buf)
        except ValueError:
            continue
        return data if isinstance(data, dict) else None
    try:
        data = json.loads(buf) if buf else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
