"""Container log rotation by size, as the kubelet's `--container-log-max-size` / `--container-log-max-files`.

    rotator = LogRotator(runtime=runtime, max_size=10 * 2**20, max_files=5)
    await rotator.run()          # every `interval` seconds until cancelled; or `await rotator.rotate_once()`

A running container whose log (`<attempt>.log`, written by its monitor) has grown past `max_size` gets it
renamed to `<attempt>.log.<YYYYmmdd-HHMMSS>` and the runtime is asked to reopen it (`reopen_container_log`:
the monitor starts a new file under the old name and keeps writing there). Rotated files beyond
`max_files - 1` (the live file counts as one, as in Kubernetes) are deleted, oldest first. When the runtime
cannot reopen the log, the rename is undone, so that no output is lost to an unlinked file.

Only the live log of a *running* container is rotated: an exited container's log is what `logs
--previous` reads, and it no longer grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from kybernetes.kubelet.runtime.protocol import Runtime, RuntimeError_, State

__all__ = ["LogRotator", "rotated_files", "rotation_name"]

log = logging.getLogger(__name__)


def rotation_name(path: Path, *, now: float) -> Path:
    """`0.log` → `0.log.20240102-150405` (a second suffix when that name is taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    candidate = path.with_name(f"{path.name}.{stamp}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{stamp}.{n}")
        n += 1
    return candidate


def rotated_files(path: Path) -> list[Path]:
    """The rotated files of the log at `path`, oldest first."""
    try:
        siblings = [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".")]
    except OSError:
        return []
    return sorted(siblings, key=lambda p: (p.stat().st_mtime_ns, p.name))


class LogRotator:
    def __init__(self, *, runtime: Runtime, max_size: int, max_files: int, interval: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        if max_files < 2:
            raise ValueError("container-log-max-files must be at least 2")
        self.runtime, self.max_size, self.max_files = runtime, max_size, max_files
        self.interval, self.clock = interval, clock

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.rotate_once()
            except RuntimeError_ as e:
                log.warning("log rotation: %s", e)

    async def rotate_once(self) -> list[Path]:
        """Rotate every running container's log that is over the limit; returns the new rotated files."""
        reopen = getattr(self.runtime, "reopen_container_log", None)
        if reopen is None or self.max_size <= 0:
            return []
        done: list[Path] = []
        for c in await self.runtime.list_containers():
            if c.state != State.RUNNING or c.log_path is None:
                continue
            rotated = await asyncio.to_thread(self._rename_if_large, c.log_path)
            if rotated is None:
                continue
            try:
                await reopen(container_id=c.id)
            except RuntimeError_ as e:
                log.warning("container %s: reopening its log failed, rotation undone: %s", c.id, e)
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(os.replace, rotated, c.log_path)
                continue
            await asyncio.to_thread(self._prune, c.log_path)
            done.append(rotated)
        return done

    def _rename_if_large(self, path: Path) -> Path | None:
        try:
            if path.stat().st_size < self.max_size:
                return None
            target = rotation_name(path, now=self.clock())
            os.rename(path, target)
        except OSError:
            return None
        return target

    def _prune(self, path: Path) -> None:
        old = rotated_files(path)
        for p in old[: max(0, len(old) - (self.max_files - 1))]:
            with contextlib.suppress(OSError):
                p.unlink()
