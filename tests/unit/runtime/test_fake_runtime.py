"""The in-memory runtime: container lives driven by behaviours and a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.client.clock import FakeClock
from kybernetes.kubelet.runtime.fake import FakeBehavior, FakeImageService, FakeRuntime
from kybernetes.kubelet.runtime.protocol import (
    ContainerConfig,
    ContainerNotFound,
    CreateContainerError,
    ExecResult,
    ExecTimeout,
    ImagePullError,
    PodSandboxConfig,
    Resources,
    RuntimeError_,
    SandboxNotFound,
    State,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def rt(clock: FakeClock) -> FakeRuntime:
    return FakeRuntime(clock=clock)


async def start(rt: FakeRuntime, images: FakeImageService, name: str = "app", image: str = "busybox") -> tuple[str, str]:
    sid = await rt.run_pod_sandbox(config=PodSandboxConfig(uid="u1", name="p", namespace="ns"))
    ref = await images.pull_image(image=image)
    cid = await rt.create_container(sandbox_id=sid, config=ContainerConfig(name=name, image=ref))
    await rt.start_container(container_id=cid)
    return sid, cid


async def test_lifecycle_with_clock(rt: FakeRuntime, clock: FakeClock) -> None:
    images = FakeImageService()
    rt.set_behavior(key="job", behavior=FakeBehavior(run_seconds=5, exit_code=2))
    sid, cid = await start(rt, images, name="job")
    sandbox = await rt.pod_sandbox_status(sandbox_id=sid)
    assert sandbox.state is State.RUNNING and sandbox.ip == "10.88.0.2"
    st = await rt.container_status(container_id=cid)
    assert st.state is State.RUNNING and st.started_at_ns > 0
    clock.advance(4.9)
    assert (await rt.container_status(container_id=cid)).state is State.RUNNING
    clock.advance(0.2)
    st = await rt.container_status(container_id=cid)
    assert (st.state, st.exit_code, st.reason) == (State.EXITED, 2, "Error")
    assert st.finished_at_ns - st.started_at_ns == 5_000_000_000
    assert [c.id for c in await rt.list_containers(sandbox_id=sid)] == [cid]
    await rt.stop_pod_sandbox(sandbox_id=sid)
    await rt.remove_pod_sandbox(sandbox_id=sid)
    assert await rt.list_containers() == [] and await rt.list_pod_sandboxes() == []
    with pytest.raises(SandboxNotFound):
        await rt.pod_sandbox_status(sandbox_id=sid)
    with pytest.raises(ContainerNotFound):
        await rt.container_status(container_id=cid)


async def test_completed_oom_and_injected_exit(rt: FakeRuntime, clock: FakeClock) -> None:
    images = FakeImageService()
    rt.set_behavior(key="ok", behavior=FakeBehavior(run_seconds=1))
    rt.set_behavior(key="hog:latest", behavior=FakeBehavior(run_seconds=2, oom=True))
    _, ok = await start(rt, images, name="ok")
    _, hog = await start(rt, images, name="x", image="hog")
    _, forever = await start(rt, images, name="svc")
    clock.advance(3)
    assert (await rt.container_status(container_id=ok)).reason == "Completed"
    st = await rt.container_status(container_id=hog)
    assert (st.exit_code, st.reason) == (137, "OOMKilled")
    assert (await rt.container_status(container_id=forever)).state is State.RUNNING
    rt.kill_container(container_id=forever, exit_code=1)
    st = await rt.container_status(container_id=forever)
    assert (st.state, st.exit_code, st.reason) == (State.EXITED, 1, "Error")


async def test_stop_grace(rt: FakeRuntime, clock: FakeClock) -> None:
    images = FakeImageService()
    rt.set_behavior(key="stubborn", behavior=FakeBehavior(ignores_sigterm=True))
    _, polite = await start(rt, images, name="polite")
    await rt.stop_container(container_id=polite, grace_seconds=30)
    assert (await rt.container_status(container_id=polite)).exit_code == 143
    _, stubborn = await start(rt, images, name="stubborn")
    stop = asyncio.create_task(rt.stop_container(container_id=stubborn, grace_seconds=30))
    await asyncio.sleep(0)
    assert (await rt.container_status(container_id=stubborn)).state is State.RUNNING
    clock.advance(30)
    await stop
    st = await rt.container_status(container_id=stubborn)
    assert st.exit_code == 137 and st.finished_at_ns - st.started_at_ns == 30_000_000_000
    assert rt.calls[-1] == "stop_container stubborn 30"


async def test_errors(rt: FakeRuntime) -> None:
    images = FakeImageService()
    images.fail["bad:latest"] = "manifest unknown"
    with pytest.raises(ImagePullError, match="manifest unknown"):
        await images.pull_image(image="bad")
    images.known = {"busybox:latest"}
    with pytest.raises(ImagePullError, match="not found"):
        await images.pull_image(image="other:1")
    rt.set_behavior(key="broken", behavior=FakeBehavior(create_error="executable file not found"))
    sid = await rt.run_pod_sandbox(config=PodSandboxConfig(uid="u", name="p", namespace="ns"))
    ref = await images.pull_image(image="busybox")
    with pytest.raises(CreateContainerError, match="executable file not found"):
        await rt.create_container(sandbox_id=sid, config=ContainerConfig(name="broken", image=ref))


async def test_exec_stats_update_and_port_forward(rt: FakeRuntime, clock: FakeClock) -> None:
    images = FakeImageService()
    assert (await images.pull_image(image="busybox")).repo_tags == ("busybox:latest",)
    assert [i.repo_tags for i in await images.list_images()] == [("busybox:latest",)]
    sid, cid = await start(rt, images)
    rt.set_exec_result(command=["cat"], result=ExecResult(exit_code=1, stdout=b"o", stderr=b"e"))
    rt.set_exec_result(command=["sleep"], result=ExecTimeout("timed out"))
    r = await rt.exec_sync(container_id=cid, command=["cat", "/x"], deadline_seconds=1)
    assert (r.exit_code, r.stdout, r.stderr) == (1, b"o", b"e")
    assert (await rt.exec_sync(container_id=cid, command=["true"], deadline_seconds=1)).exit_code == 0
    clock.auto_advance = True
    with pytest.raises(ExecTimeout):
        await rt.exec_sync(container_id=cid, command=["sleep", "9"], deadline_seconds=1)
    session = await rt.exec(container_id=cid, command=["cat"], tty=False, stdin=True)
    await session.write_stdin(b"in")
    assert [x async for x in session.output()] == [(1, b"o"), (2, b"e")] and await session.wait() == 1

    clock.advance(10)  # plus the 1 s the timed-out exec waited
    stats = await rt.container_stats(container_id=cid)
    assert stats.cpu_usage_ns == 11 * 10_000_000 and stats.memory_working_set_bytes == 8 << 20
    await rt.update_container_resources(container_id=cid, resources=Resources(memory_limit_bytes=1 << 30))

    reader, writer = await rt.port_forward(sandbox_id=sid, port=80)
    writer.write(b"ping")  # type: ignore[attr-defined]
    assert await reader.readexactly(4) == b"ping"  # type: ignore[attr-defined]
    writer.close()  # type: ignore[attr-defined]
    await rt.close()

    await rt.stop_container(container_id=cid, grace_seconds=0)
    with pytest.raises(RuntimeError_, match="not running"):
        await rt.exec_sync(container_id=cid, command=["true"], deadline_seconds=1)
