"""`LogRotator`: size-based rotation of running containers' logs, pruning, and undoing a failed reopen."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kybernetes.kubelet.agent.logrotate import LogRotator, rotated_files, rotation_name
from kybernetes.kubelet.runtime.protocol import ContainerStatus, ImageConfig, ImageRef, RuntimeError_, State

IMAGE = ImageRef(id="sha256:0", repo_tags=(), repo_digest="", size=0, config=ImageConfig(), layers=())


@dataclass
class Runtime:
    statuses: list[ContainerStatus]
    fail: bool = False
    reopened: list[str] = field(default_factory=list)

    async def list_containers(self, *, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return self.statuses

    async def reopen_container_log(self, *, container_id: str) -> None:
        if self.fail:
            raise RuntimeError_("conmon is gone")
        self.reopened.append(container_id)
        status = next(s for s in self.statuses if s.id == container_id)
        assert status.log_path is not None
        status.log_path.write_bytes(b"")  # the monitor starts a fresh file under the old name


def status(cid: str, path: Path, state: State = State.RUNNING) -> ContainerStatus:
    return ContainerStatus(id=cid, sandbox_id="s", name=cid, attempt=0, state=state, image=IMAGE, log_path=path)


async def test_rotates_large_logs_of_running_containers_only(tmp_path: Path) -> None:
    big, small, dead = tmp_path / "big.log", tmp_path / "small.log", tmp_path / "dead.log"
    big.write_bytes(b"x" * 100)
    small.write_bytes(b"x" * 10)
    dead.write_bytes(b"x" * 100)
    rt = Runtime([status("big", big), status("small", small), status("dead", dead, State.EXITED)])
    now = 1_700_000_000.0
    rotator = LogRotator(runtime=rt, max_size=50, max_files=3, clock=lambda: now)  # type: ignore[arg-type]
    done = await rotator.rotate_once()
    assert done == [tmp_path / "big.log.20231114-221320"]
    assert done[0].read_bytes() == b"x" * 100 and big.read_bytes() == b""
    assert rt.reopened == ["big"] and small.stat().st_size == 10 and dead.stat().st_size == 100


async def test_keeps_max_files_minus_one_rotated(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    rt = Runtime([status("c", log)])
    t = [1_700_000_000.0]
    rotator = LogRotator(runtime=rt, max_size=1, max_files=3, clock=lambda: t[0])  # type: ignore[arg-type]
    for i in range(4):
        log.write_bytes(f"round {i}\n".encode())
        t[0] += 1
        await rotator.rotate_once()
    kept = rotated_files(log)
    assert [p.read_text() for p in kept] == ["round 2\n", "round 3\n"]


async def test_failed_reopen_undoes_the_rename(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_bytes(b"x" * 100)
    rt = Runtime([status("c", log)], fail=True)
    rotator = LogRotator(runtime=rt, max_size=10, max_files=2)  # type: ignore[arg-type]
    assert await rotator.rotate_once() == []
    assert log.read_bytes() == b"x" * 100 and rotated_files(log) == []


def test_rotation_name_is_unique(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    first = rotation_name(log, now=0)
    first.write_bytes(b"")
    assert first.name == "0.log.19700101-000000"
    assert rotation_name(log, now=0).name == "0.log.19700101-000000.1"


def test_needs_two_files() -> None:
    with pytest.raises(ValueError):
        LogRotator(runtime=Runtime([]), max_size=1, max_files=1)  # type: ignore[arg-type]
