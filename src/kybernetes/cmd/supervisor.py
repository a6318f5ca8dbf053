"""Child processes under one supervisor: started, restarted with back-off when they exit, stopped with
SIGTERM (then SIGKILL) when the supervisor stops.

`kyb server` runs the scheduler, the controller-manager and the DNS this way, as one child process
(`kyb components`, `components_argv`) that reaches the API server over HTTPS like any other client (the one
rule) and gets a core of its own on a multi-core machine instead of sharing the API server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger("kybernetes.supervisor")


@dataclass(frozen=True)
class Child:
    name: str
    argv: Sequence[str]


def kyb_argv(*args: str) -> list[str]:
    """The command line that runs `kyb ARGS` with this interpreter."""
    return [sys.executable, "-m", "kybernetes.cli.main", *args]


SEPARATOR = "--"  # between the components of a `kyb components` command line


def components_argv(components: Mapping[str, Sequence[str]]) -> list[str]:
    """The command line of `kyb components` running these components (name → the flags of its own command);
    here rather than in cmd/components.py so that `kyb server` does not import the components."""
    args: list[str] = []
    for name, flags in components.items():
        if args:
            args.append(SEPARATOR)
        args.extend([name, *flags])
    return kyb_argv("components", *args)


async def supervise(child: Child, *, min_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
    """Run `child` until cancelled, restarting it when it exits."""
    backoff = min_backoff
    while True:
        proc = await asyncio.create_subprocess_exec(*child.argv, stdin=asyncio.subprocess.DEVNULL)
        log.info("started %s (pid %d)", child.name, proc.pid)
        try:
            started = asyncio.get_running_loop().time()
            code = await proc.wait()
        except asyncio.CancelledError:
            await stop_process(proc)
            raise
        ran = asyncio.get_running_loop().time() - started
        backoff = min_backoff if ran > 60 else min(backoff * 2, max_backoff)
        log.warning("%s exited with %s; restarting in %.1fs", child.name, code, backoff)
        await asyncio.sleep(backoff)


async def stop_process(proc: asyncio.subprocess.Process, *, grace: float = 10.0, group: bool = False) -> None:
    """SIGTERM, then SIGKILL (to its whole process group with `group`) if it is not gone within `grace`."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
