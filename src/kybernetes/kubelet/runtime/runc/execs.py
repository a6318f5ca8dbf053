"""Commands in running containers: `exec_sync` (run, collect output, enforce a deadline) and interactive
`ExecSession`s, both with `runc exec`, which takes the container's process spec (env, user, capabilities,
cwd) from its bundle and replaces only the argv.

Without a tty the session holds runc's stdin/stdout/stderr pipes (runc exec stays in the foreground and
returns the process's exit code). With a tty, `runc exec --tty` in the foreground
allocates the container's pty and proxies it to its own stdio, which is the slave of a pty the session
owns; output is then one stream (1), and `resize` sets the window size on that pty and sends runc
SIGWINCH (once runc is ready to handle it), on which runc copies the size to the container's terminal.

Deadlines: killing `runc exec` does not kill the process it started in the container, so `runc exec`
writes the process's pid to a file and a timeout SIGKILLs that pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from kybernetes.kubelet.runtime.protocol import ExecResult, ExecTimeout
from kybernetes.kubelet.runtime.runc.monitor import Runc


async def exec_sync(
    *, runc: Runc, container_id: str, command: Sequence[str], deadline_seconds: float, scratch: Path
) -> ExecResult:
    pidfile = scratch / f"exec-{uuid.uuid4().hex[:12]}.pid"
    proc = await asyncio.create_subprocess_exec(
        runc.binary,
        "--root",
        str(runc.root),
        "exec",
        "--pid-file",
        str(pidfile),
        container_id,
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        timeout = deadline_seconds if deadline_seconds > 0 else None
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _kill_pidfile(pidfile)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise ExecTimeout(f"command {list(command)!r} timed out after {deadline_seconds}s") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
    return ExecResult(exit_code=proc.returncode or 0, stdout=out, stderr=err)


def _kill_pidfile(pidfile: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)


class RuncExecSession:
    """One `runc exec` with streams; create with `start_exec`."""

    def __init__(self, *, proc: asyncio.subprocess.Process, master: int | None, pidfile: Path) -> None:
        self._proc = proc
        self._master = master
        self._pidfile = pidfile
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._pumps: list[asyncio.Task[None]] = []
        self._tty_writer: asyncio.StreamWriter | None = None
        self._finisher: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._master is None:
            assert self._proc.stdout is not None and self._proc.stderr is not None
            self._pumps = [
                asyncio.create_task(self._pump(self._proc.stdout, 1)),
                asyncio.create_task(self._pump(self._proc.stderr, 2)),
            ]
        else:
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(self._master), "rb", buffering=0)
            )
            transport, protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, os.fdopen(os.dup(self._master), "wb", buffering=0)
            )
            self._tty_writer = asyncio.StreamWriter(transport, protocol, None, loop)
            self._pumps = [asyncio.create_task(self._pump(reader, 1))]
        self._finisher = asyncio.create_task(self._finish(list(self._pumps)))

    async def _pump(self, reader: asyncio.StreamReader, stream: int) -> None:
        try:
            while chunk := await reader.read(65536):
                await self._queue.put((stream, chunk))
        except OSError:  # EIO from a pty master once the slave side is gone
            pass

    async def _finish(self, pumps: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*pumps, return_exceptions=True)
        await self._queue.put(None)

    async def write_stdin(self, data: bytes) -> None:
        if self._tty_writer is not None:
            self._tty_writer.write(data)
            await self._tty_writer.drain()
        elif self._proc.stdin is not None:
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self._tty_writer is not None:
            self._tty_writer.write(b"\x04")  # EOF for the terminal's line discipline
            await self._tty_writer.drain()
        elif self._proc.stdin is not None:
            self._proc.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self._proc.stdin.wait_closed()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        while True:
            item = await self._queue.get()
            if item is None:
                await self._queue.put(None)  # later callers also see the end
                return
            yield item

    async def resize(self, *, width: int, height: int) -> None:
        if self._master is not None:
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
            # A SIGWINCH that reaches runc before it installed its signal handler is ignored, and the
            # container's terminal keeps its size 0x0 (a resize sent right after the start was lost that way).
            # runc installs the handler before it starts the process and writes the pid file after, so once
            # the file exists the signal is handled; runc also copies the size once when it starts forwarding.
            await self._wait_started()
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGWINCH)

    async def _wait_started(self, *, within: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not self._pidfile.exists() and self._proc.returncode is None:
            if asyncio.get_running_loop().time() >= deadline:
                return
            await asyncio.sleep(0.01)

    async def wait(self) -> int:
        code = await self._proc.wait()
        if self._master is not None:
            # The pty can hold data after the process exits; the slave is closed so reads end with EIO.
            await asyncio.gather(*self._pumps, return_exceptions=True)
        return code

    async def kill(self) -> None:
        _kill_pidfile(self._pidfile)
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        await self.close()

    async def close(self) -> None:
        tasks = [*self._pumps, *([self._finisher] if self._finisher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._tty_writer is not None:
            self._tty_writer.close()
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None
        with contextlib.suppress(FileNotFoundError):
            self._pidfile.unlink()


async def start_exec(
    *, runc: Runc, container_id: str, command: Sequence[str], tty: bool, stdin: bool, scratch: Path
) -> RuncExecSession:
    pidfile = scratch / f"exec-{uuid.uuid4().hex[:12]}.pid"
    args = [runc.binary, "--root", str(runc.root), "exec", "--pid-file", str(pidfile)]
    if not tty:
        proc = await asyncio.create_subprocess_exec(
            *args,
            container_id,
            *command,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        session = RuncExecSession(proc=proc, master=None, pidfile=pidfile)
        await session._start()
        return session
    # runc proxies between its own stdio and the container's pty when it runs in the foreground; its stdio
    # is the slave of a pty we own, so it sees a terminal (and reads window sizes from it on SIGWINCH).
    master, slave = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, "--tty", container_id, *command, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    session = RuncExecSession(proc=proc, master=master, pidfile=pidfile)
    await session._start()
    return session
