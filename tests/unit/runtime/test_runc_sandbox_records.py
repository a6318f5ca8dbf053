"""RuncRuntime's sandbox records through stop and remove, without runc: a hostNetwork sandbox record on disk
needs no network, no container and no mount, so the record bookkeeping is checked on its own."""

from __future__ import annotations

import time
from pathlib import Path

from kybernetes.kubelet.runtime.protocol import PodSandboxConfig, State
from kybernetes.kubelet.runtime.runc import RuncRuntime
from kybernetes.kubelet.runtime.runc.records import SandboxRecord


def _runtime_with_sandbox(tmp_path: Path) -> tuple[RuncRuntime, str]:
    rt = RuncRuntime(state_dir=tmp_path / "rt", network=None, runc="/nonexistent/runc",
                     cgroup_root="/kyb-unit-nonexistent")
    record = SandboxRecord(id="s1", config=PodSandboxConfig(uid="u1", name="p", namespace="d", host_network=True),
                           created_at_ns=time.time_ns(), ready=True,
                           cgroup_parent="/kyb-unit-nonexistent/besteffort/podu1")
    rt.state.save_sandbox(record)
    return rt, record.id


async def test_stop_then_remove_forgets_the_sandbox(tmp_path: Path) -> None:
    rt, sid = _runtime_with_sandbox(tmp_path)
    assert [s.state for s in await rt.list_pod_sandboxes()] == [State.RUNNING]
    await rt.stop_pod_sandbox(sandbox_id=sid)
    assert [s.state for s in await rt.list_pod_sandboxes()] == [State.EXITED]
    await rt.remove_pod_sandbox(sandbox_id=sid)
    assert await rt.list_pod_sandboxes() == []
    assert not (tmp_path / "rt" / "sandboxes" / sid).exists()


async def test_stop_marks_not_ready_before_its_work(tmp_path: Path) -> None:
    rt, sid = _runtime_with_sandbox(tmp_path)
    seen: list[bool] = []

    async def listing(*, sandbox_id: str | None = None) -> list[object]:
        record = rt.state.load_sandbox(sid)
        seen.append(record is not None and record.ready)
        return []

    rt.list_containers = listing  # type: ignore[method-assign,assignment]
    await rt.stop_pod_sandbox(sandbox_id=sid)
    assert seen == [False]
