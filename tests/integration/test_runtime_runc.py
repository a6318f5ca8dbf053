"""The runc runtime against real runc, conmon, overlayfs, cgroups and network namespaces (root only).

A busybox image is built on the fly (a layer directory with Debian's static busybox and its applet
links), so no registry is involved. All names carry a random `kt....` prefix and every test cleans up
what it made; the module's teardown asserts that no namespace, veth, mount or cgroup is left behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kybernetes.kubelet.network import PodNetwork
from kybernetes.kubelet.runtime.protocol import (
    ContainerConfig,
    DNSConfig,
    ExecTimeout,
    ImageConfig,
    ImageRef,
    Mount,
    PodSandboxConfig,
    Resources,
    State,
)
from kybernetes.kubelet.runtime.runc import RuncRuntime
from kybernetes.kubelet.runtime.runc.cgroups import Cgroups

pytestmark = [
    pytest.mark.runtime,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(
        not all(os.path.exists(p) for p in ("/usr/sbin/runc", "/usr/bin/conmon", "/usr/bin/busybox")),
        reason="needs runc, conmon and busybox-static",
    ),
]

BUSYBOX = "/usr/bin/busybox"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> ImageRef:
    layer = tmp_path_factory.mktemp("busybox-layer")
    (layer / "bin").mkdir()
    (layer / "etc").mkdir()
    (layer / "tmp").mkdir(mode=0o1777)
    shutil.copy(BUSYBOX, layer / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (layer / "bin" / applet).symlink_to("busybox")
    (layer / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    (layer / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return ImageRef(
        id="sha256:" + uuid.uuid4().hex * 2,
        repo_tags=("busybox:test",),
        repo_digest="",
        size=2_000_000,
        config=ImageConfig(cmd=("sh",), env=("PATH=/bin",)),
        layers=(layer,),
    )


class Env:
    def __init__(self, root: Path) -> None:
        tag = uuid.uuid4().hex[:4]
        self.prefix = f"kt{tag}"
        self.bridge = f"kt{tag}br"
        self.cgroup_root = f"/kt{tag}"
        self.cidr = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:], 16)}.0/24"
        self.state_dir = root / "runtime"

    def network(self) -> PodNetwork:
        return PodNetwork(bridge=self.bridge, pod_cidr=self.cidr, prefix=self.prefix, state_dir=self.state_dir / "net")

    def runtime(self) -> RuncRuntime:
        return RuncRuntime(state_dir=self.state_dir, network=self.network(), cgroup_root=self.cgroup_root)

    def leftovers(self) -> dict[str, list[str]]:
        netns = [n for n in os.listdir("/run/netns")] if os.path.isdir("/run/netns") else []
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f if str(self.state_dir) in line]
        cgroups = [
            str(p)
            for p in Path("/sys/fs/cgroup").glob(f"*{self.cgroup_root}/*")
            if p.is_dir()
        ]
        return {
            "netns": [n for n in netns if n.startswith(self.prefix)],
            "veth": [line.split(":")[1].strip() for line in links.splitlines() if f" {self.prefix}" in line and self.bridge not in line],
            "mounts": mounts,
            "cgroups": cgroups,
        }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("rt"))
    yield e
    # Last-resort cleanup of anything a failed test left, then the assertions of issue 4 item 7.
    async def cleanup() -> None:
        rt = e.runtime()
        for s in await rt.list_pod_sandboxes():
            await rt.remove_pod_sandbox(sandbox_id=s.id)
        await e.network().remove_bridge()

    asyncio.run(cleanup())
    left = e.leftovers()
    Cgroups().remove(path=e.cgroup_root)
    assert left == {"netns": [], "veth": [], "mounts": [], "cgroups": []}


@pytest.fixture
async def runtime(env: Env) -> AsyncIterator[RuncRuntime]:
    rt = env.runtime()
    yield rt


def sandbox_config(name: str) -> PodSandboxConfig:
    return PodSandboxConfig(
        uid=uuid.uuid4().hex,
        name=name,
        namespace="default",
        hostname=name,
        dns=DNSConfig(servers=("10.96.0.10",), searches=("default.svc.cluster.local",), options=("ndots:5",)),
    )


def container(image: ImageRef, name: str, script: str, **kw: object) -> ContainerConfig:
    return ContainerConfig(name=name, image=image, command=("sh", "-c", script), **kw)  # type: ignore[arg-type]


async def wait_for(predicate, limit: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while True:
        result = await predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


HTTPD = "mkdir -p /www && echo hello-from-pod > /www/index.html && echo hello && exec httpd -f -p 8080 -h /www"


async def test_pod_lifecycle(runtime: RuncRuntime, image: ImageRef, env: Env, tmp_path: Path) -> None:
    before = env.leftovers()
    sid = await runtime.run_pod_sandbox(config=sandbox_config("web"))
    try:
        status = await runtime.pod_sandbox_status(sandbox_id=sid)
        assert status.state is State.RUNNING and status.ip
        t0 = time.perf_counter()
        cid = await runtime.create_container(sandbox_id=sid, config=container(image, "web", HTTPD, log_path=tmp_path / "web.log"))
        t1 = time.perf_counter()
        await runtime.start_container(container_id=cid)
        t2 = time.perf_counter()
        print(f"\ncreate {1000 * (t1 - t0):.1f} ms, start {1000 * (t2 - t1):.1f} ms")
        assert (await runtime.container_status(container_id=cid)).state is State.RUNNING

        # CRI log format.
        await wait_for(lambda: _async((tmp_path / "web.log").exists() and " stdout F hello" in (tmp_path / "web.log").read_text()))

        # The pod's address is reachable from the host.
        async def fetch() -> str:
            try:
                return await asyncio.to_thread(
                    lambda: urllib.request.urlopen(f"http://{status.ip}:8080/", timeout=2).read().decode()
                )
            except OSError:
                return ""

        assert "hello-from-pod" in await wait_for(fetch)

        # exec_sync: output, exit codes, pod files, hostname.
        r = await runtime.exec_sync(container_id=cid, command=["sh", "-c", "echo out; echo err >&2; exit 3"], deadline_seconds=5)
        assert (r.exit_code, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
        r = await runtime.exec_sync(container_id=cid, command=["cat", "/etc/resolv.conf", "/etc/hosts"], deadline_seconds=5)
        assert b"nameserver 10.96.0.10" in r.stdout and f"{status.ip}\tweb".encode() in r.stdout
        r = await runtime.exec_sync(container_id=cid, command=["hostname"], deadline_seconds=5)
        assert r.stdout == b"web\n"
        with pytest.raises(ExecTimeout):
            await runtime.exec_sync(container_id=cid, command=["sleep", "30"], deadline_seconds=0.5)

        # A second container shares the network (localhost), IPC and UTS.
        cid2 = await runtime.create_container(sandbox_id=sid, config=container(image, "side", "sleep 3600"))
        await runtime.start_container(container_id=cid2)
        r = await runtime.exec_sync(
            container_id=cid2, command=["sh", "-c", "timeout 3 wget -qO- http://127.0.0.1:8080/"], deadline_seconds=10
        )
        assert r.stdout == b"hello-from-pod\n", r

        # port-forward into the pod's network namespace.
        reader, writer = await runtime.port_forward(sandbox_id=sid, port=8080)
        writer.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")  # type: ignore[attr-defined]
        body = await reader.read()  # type: ignore[attr-defined]
        writer.close()  # type: ignore[attr-defined]
        assert b"200 OK" in body and b"hello-from-pod" in body

        # Interactive exec without a tty.
        session = await runtime.exec(container_id=cid, command=["cat"], tty=False, stdin=True)
        await session.write_stdin(b"ping\n")
        await session.close_stdin()
        out = b"".join([data async for stream, data in session.output() if stream == 1])
        assert out == b"ping\n" and await session.wait() == 0

        # With a tty.
        session = await runtime.exec(container_id=cid, command=["sh"], tty=True, stdin=True)
        await session.resize(width=100, height=30)
        await session.write_stdin(b"stty size; exit 7\n")
        out = b"".join([data async for _, data in session.output()])
        assert b"30 100" in out and await session.wait() == 7

        # Stats.
        stats = await runtime.container_stats(container_id=cid)
        assert stats.cpu_usage_ns > 0 and stats.memory_working_set_bytes > 0

        # Live resource update.
        await runtime.update_container_resources(container_id=cid, resources=Resources(memory_limit_bytes=64 << 20))

        # A new runtime object over the same state re-adopts the running containers, same processes.
        pid_before = (await runtime.runc.state(cid)).pid  # type: ignore[union-attr]
        fresh = env.runtime()
        listed = {c.id: c for c in await fresh.list_containers(sandbox_id=sid)}
        assert listed[cid].state is State.RUNNING and listed[cid2].state is State.RUNNING
        assert (await fresh.runc.state(cid)).pid == pid_before  # type: ignore[union-attr]
        assert [s.id for s in await fresh.list_pod_sandboxes()] == [sid]

        await fresh.stop_container(container_id=cid, grace_seconds=2)
        st = await fresh.container_status(container_id=cid)
        assert st.state is State.EXITED and st.finished_at_ns >= st.started_at_ns > 0
    finally:
        await runtime.stop_pod_sandbox(sandbox_id=sid)
        await runtime.remove_pod_sandbox(sandbox_id=sid)
    assert env.leftovers() == before
    assert await runtime.list_pod_sandboxes() == [] and await runtime.list_containers() == []


async def test_graceful_stop_and_exit_codes(runtime: RuncRuntime, image: ImageRef, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    sid = await runtime.run_pod_sandbox(config=sandbox_config("grace"))
    try:
        trap = "trap 'echo term > /out/termed; exit 0' TERM; echo ready > /out/ready; while true; do sleep 0.1; done"
        cid = await runtime.create_container(
            sandbox_id=sid, config=container(image, "trap", trap, mounts=(Mount(container_path="/out", host_path=str(out)),))
        )
        await runtime.start_container(container_id=cid)
        await wait_for(lambda: _async((out / "ready").exists()))
        await runtime.stop_container(container_id=cid, grace_seconds=10)
        st = await runtime.container_status(container_id=cid)
        assert (out / "termed").read_text() == "term\n"
        assert (st.state, st.exit_code, st.reason) == (State.EXITED, 0, "Completed")

        cid = await runtime.create_container(sandbox_id=sid, config=container(image, "fail", "exit 3"))
        await runtime.start_container(container_id=cid)
        st = await wait_for(lambda: _exited(runtime, cid))
        assert (st.exit_code, st.reason) == (3, "Error")

        # A process ignoring SIGTERM is killed after the grace period.
        cid = await runtime.create_container(sandbox_id=sid, config=container(image, "stubborn", "trap '' TERM; while true; do sleep 0.1; done"))
        await runtime.start_container(container_id=cid)
        t0 = time.monotonic()
        await runtime.stop_container(container_id=cid, grace_seconds=0.5)
        st = await runtime.container_status(container_id=cid)
        assert st.exit_code == 137 and st.reason == "Error" and time.monotonic() - t0 >= 0.5

        # A command that does not exist fails at create or start with a clear message.
        with pytest.raises(Exception, match="no-such-binary"):
            bad = ContainerConfig(name="bad", image=image, command=("/no-such-binary",))
            cid = await runtime.create_container(sandbox_id=sid, config=bad)
            await runtime.start_container(container_id=cid)
    finally:
        await runtime.remove_pod_sandbox(sandbox_id=sid)


async def test_oom_killed(runtime: RuncRuntime, image: ImageRef) -> None:
    sid = await runtime.run_pod_sandbox(config=sandbox_config("hog"))
    try:
        hog = container(image, "hog", "tail /dev/zero", resources=Resources(memory_limit_bytes=20 << 20))
        cid = await runtime.create_container(sandbox_id=sid, config=hog)
        await runtime.start_container(container_id=cid)
        st = await wait_for(lambda: _exited(runtime, cid), limit=30)
        assert (st.exit_code, st.reason) == (137, "OOMKilled")
    finally:
        await runtime.remove_pod_sandbox(sandbox_id=sid)


async def test_create_start_latency(runtime: RuncRuntime, image: ImageRef) -> None:
    sid = await runtime.run_pod_sandbox(config=sandbox_config("bench"))
    try:
        times = []
        for i in range(10):
            t0 = time.perf_counter()
            cid = await runtime.create_container(sandbox_id=sid, config=container(image, f"c{i}", "sleep 60"))
            await runtime.start_container(container_id=cid)
            times.append(time.perf_counter() - t0)
        times.sort()
        print(f"\ncreate+start: median {1000 * times[len(times) // 2]:.1f} ms, max {1000 * times[-1]:.1f} ms")
        assert len(await runtime.list_containers(sandbox_id=sid)) == 10
    finally:
        t0 = time.perf_counter()
        await runtime.remove_pod_sandbox(sandbox_id=sid)
        print(f"remove sandbox with 10 containers: {1000 * (time.perf_counter() - t0):.1f} ms")


async def _async(value: object) -> object:
    return value


async def _exited(runtime: RuncRuntime, cid: str):  # type: ignore[no-untyped-def]
    st = await runtime.container_status(container_id=cid)
    return st if st.state is State.EXITED else None
