"""The kubelet's /stats/summary: CPU rates from cumulative counters, /proc and cgroup (v1, v2) parsing from
fixture files, and the summary document built from the fake runtime's usage on a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.client.clock import FakeClock
from kybernetes.kubelet.agent.stats import NODE_KEY, NodeUsage, Rates, StatsProvider, read_node_usage
from kybernetes.kubelet.runtime.fake import FakeImageService, FakeRuntime
from kybernetes.kubelet.runtime.fake.runtime import WALL_EPOCH
from kybernetes.kubelet.runtime.protocol import ContainerConfig, PodSandboxConfig
from kybernetes.kubelet.runtime.runc.cgroups import Cgroups

S = 1_000_000_000

# ---- rates -----------------------------------------------------------------------------------------------


def test_rate_needs_two_samples_a_window_apart() -> None:
    rates = Rates(min_window_ns=1 * S)
    assert rates.observe(key="c", timestamp_ns=100 * S, cpu_ns=5 * S) is None
    # Closer than the window: no rate yet, and the base sample stays.
    assert rates.observe(key="c", timestamp_ns=100 * S + S // 2, cpu_ns=5 * S + S // 4) is None
    assert rates.observe(key="c", timestamp_ns=102 * S, cpu_ns=6 * S) == S // 2  # 1 s of CPU in 2 s
    assert rates.window_ns("c") == 2 * S
    # A sample too soon after keeps the last rate; the next one is measured from 102 s.
    assert rates.observe(key="c", timestamp_ns=102 * S + 1, cpu_ns=6 * S + 1) == S // 2
    assert rates.observe(key="c", timestamp_ns=112 * S, cpu_ns=8 * S + S // 2) == S // 4


def test_rate_starts_over_when_the_counter_goes_back_and_forgets_unseen_keys() -> None:
    rates = Rates(min_window_ns=S)
    rates.observe(key="c", timestamp_ns=0, cpu_ns=50 * S)
    assert rates.observe(key="c", timestamp_ns=10 * S, cpu_ns=60 * S) == S
    assert rates.observe(key="c", timestamp_ns=20 * S, cpu_ns=1 * S) is None  # a new container under that key
    assert rates.observe(key="c", timestamp_ns=30 * S, cpu_ns=3 * S) == S // 5
    rates.begin_round()
    rates.observe(key="d", timestamp_ns=30 * S, cpu_ns=0)
    rates.end_round()
    assert rates.rate("c") is None and rates.window_ns("c") == 0


# ---- /proc and cgroups -------------------------------------------------------------------------------------

PROC_STAT = """cpu  1000 20 300 50000 40 5 6 7 100 0
cpu0 500 10 150 25000 20 2 3 3 50 0
intr 12345
btime 1767225000
processes 42
"""
MEMINFO = """MemTotal:        8000000 kB
MemFree:         2000000 kB
MemAvailable:    5000000 kB
Inactive(file):  1000000 kB
AnonPages:       1500000 kB
HugePages_Total:       0
"""


def test_node_usage_from_proc(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text(PROC_STAT)
    (tmp_path / "meminfo").write_text(MEMINFO)
    usage = read_node_usage(proc=tmp_path, clock_ticks=100)
    # user + nice + system + irq + softirq + steal = 1338 ticks of 10 ms; idle, iowait and guest are not busy.
    assert usage.cpu_ns == 1338 * 10_000_000
    assert usage.boot_time == 1767225000
    assert usage.memory_total == 8000000 * 1024
    assert usage.memory_usage == 6000000 * 1024
    assert usage.memory_working_set == 5000000 * 1024
    assert usage.memory_rss == 1500000 * 1024


def test_node_usage_of_this_machine() -> None:
    usage = read_node_usage()
    assert usage.cpu_ns > 0 and 0 < usage.memory_working_set <= usage.memory_usage <= usage.memory_total


def test_cgroup_v1_usage_from_files(tmp_path: Path) -> None:
    for controller in ("cpuacct", "memory", "cpu"):
        (tmp_path / controller).mkdir()
        (tmp_path / controller / "cgroup.procs").write_text("")
    pod = "kubepods/podu1/c1"
    (tmp_path / "cpuacct" / pod).mkdir(parents=True)
    (tmp_path / "cpuacct" / pod / "cpuacct.usage").write_text("123456789\n")
    (tmp_path / "memory" / pod).mkdir(parents=True)
    (tmp_path / "memory" / pod / "memory.usage_in_bytes").write_text("10485760\n")
    (tmp_path / "memory" / pod / "memory.stat").write_text(
        "cache 4096\nrss 1000\ninactive_file 99\ntotal_cache 8192\ntotal_rss 3145728\ntotal_inactive_file 2097152\n")
    cg = Cgroups(root=tmp_path)
    assert not cg.v2
    usage = cg.usage(path="/" + pod)
    assert usage.cpu_ns == 123456789
    assert usage.memory_usage == 10485760
    assert usage.memory_working_set == 10485760 - 2097152  # hierarchical inactive file, not the local one
    assert usage.memory_rss == 3145728


def test_cgroup_v2_usage_from_files(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    d = tmp_path / "kubepods" / "podu1" / "c1"
    d.mkdir(parents=True)
    (d / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (d / "memory.current").write_text("20971520\n")
    (d / "memory.stat").write_text("anon 8388608\nfile 12582912\ninactive_file 4194304\nactive_file 8388608\n")
    cg = Cgroups(root=tmp_path)
    assert cg.v2
    usage = cg.usage(path="/kubepods/podu1/c1")
    assert usage.cpu_ns == 2_500_000_000
    assert usage.memory_working_set == 20971520 - 4194304
    assert usage.memory_rss == 8388608


def test_cgroup_usage_of_a_removed_cgroup_is_zero(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    usage = Cgroups(root=tmp_path).usage(path="/gone")
    assert (usage.cpu_ns, usage.memory_working_set, usage.memory_usage) == (0, 0, 0)


# ---- the summary -------------------------------------------------------------------------------------------


class Node:
    """A node whose CPU is busy `millis` of a core, on the fake clock."""

    def __init__(self, clock: FakeClock, millis: int = 1500) -> None:
        self.clock, self.millis = clock, millis

    def __call__(self) -> NodeUsage:
        return NodeUsage(timestamp_ns=int((WALL_EPOCH + self.clock.now()) * S), boot_time=1767225000,
                         cpu_ns=int(self.clock.now() * self.millis * 1_000_000), memory_total=8 << 30,
                         memory_usage=3 << 30, memory_working_set=2 << 30, memory_rss=1 << 30)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def pod(rt: FakeRuntime, name: str, containers: tuple[str, ...], uid: str = "") -> str:
    images = FakeImageService()
    sid = await rt.run_pod_sandbox(config=PodSandboxConfig(uid=uid or f"uid-{name}", name=name, namespace="ns"))
    for c in containers:
        cid = await rt.create_container(sandbox_id=sid, config=ContainerConfig(
            name=c, image=await images.pull_image(image="busybox")))
        await rt.start_container(container_id=cid)
    return sid


async def test_summary_reports_rates_and_working_sets(clock: FakeClock, tmp_path: Path) -> None:
    rt = FakeRuntime(clock=clock)
    rt.set_usage(key="web", cpu_millis=250, memory_bytes=64 << 20)
    rt.set_usage(key="sidecar", cpu_millis=50, memory_bytes=16 << 20)
    await pod(rt, "a", ("web", "sidecar"))
    provider = StatsProvider(runtime=rt, node_name="n1", data_dir=tmp_path, node_usage=Node(clock), clock=clock)
    await provider.sample()
    first = provider.summary()
    assert "usageNanoCores" not in first["node"]["cpu"]
    assert "usageNanoCores" not in first["pods"][0]["containers"][0]["cpu"]

    clock.advance(10)
    await provider.sample()
    doc = provider.summary()
    node = doc["node"]
    assert node["nodeName"] == "n1" and node["startTime"] == "2025-12-31T23:50:00Z"
    assert node["cpu"]["usageNanoCores"] == 1_500_000_000
    assert node["memory"]["workingSetBytes"] == 2 << 30 and node["memory"]["availableBytes"] == 6 << 30
    assert node["fs"]["capacityBytes"] > 0
    (p,) = doc["pods"]
    assert p["podRef"] == {"name": "a", "namespace": "ns", "uid": "uid-a"}
    web, sidecar = p["containers"][1], p["containers"][0]
    assert web["name"] == "web" and web["cpu"]["usageNanoCores"] == 250_000_000
    assert web["cpu"]["usageCoreNanoSeconds"] == 2_500_000_000
    assert web["memory"]["workingSetBytes"] == 64 << 20
    assert sidecar["cpu"]["usageNanoCores"] == 50_000_000
    assert p["cpu"]["usageNanoCores"] == 300_000_000 and p["memory"]["workingSetBytes"] == 80 << 20
    assert web["cpu"]["time"] == "2026-01-01T00:16:50Z"  # the fake wall clock: epoch + 1010 s

    # Usage changes at once for running containers; the rate follows over the next window.
    rt.set_usage(key="web", cpu_millis=1000, memory_bytes=128 << 20)
    clock.advance(10)
    await provider.sample()
    web = provider.summary()["pods"][0]["containers"][1]
    assert web["cpu"]["usageNanoCores"] == 1_000_000_000 and web["memory"]["workingSetBytes"] == 128 << 20
    assert web["cpu"]["usageCoreNanoSeconds"] == 12_500_000_000


async def test_exited_containers_and_stopped_pods_are_not_reported(clock: FakeClock, tmp_path: Path) -> None:
    rt = FakeRuntime(clock=clock)
    keep = await pod(rt, "keep", ("c", "done"))
    stopped = await pod(rt, "stopped", ("c",))
    provider = StatsProvider(runtime=rt, node_name="n1", data_dir=tmp_path, node_usage=Node(clock), clock=clock)
    await provider.sample()
    done = next(c for c in rt.containers.values() if c.config.name == "done")
    rt.kill_container(container_id=done.id, exit_code=0)
    await rt.stop_pod_sandbox(sandbox_id=stopped)
    clock.advance(5)
    await provider.sample()
    doc = provider.summary()
    assert [p["podRef"]["name"] for p in doc["pods"]] == ["keep"]
    assert [c["name"] for c in doc["pods"][0]["containers"]] == ["c"]
    assert doc["pods"][0]["containers"][0]["cpu"]["usageNanoCores"] == 10_000_000  # the default 10m
    assert keep in {s.id for s in provider._sandboxes}
    assert provider.rates.rate(done.id) is None  # forgotten with its container


async def test_fresh_waits_one_window_for_new_containers(tmp_path: Path) -> None:
    clock = FakeClock(auto_advance=True)
    rt = FakeRuntime(clock=clock)
    await pod(rt, "a", ("c",))
    provider = StatsProvider(runtime=rt, node_name="n1", data_dir=tmp_path, node_usage=Node(clock), clock=clock,
                             min_window=1.0)
    start = clock.now()
    await provider.fresh()  # first sample, then one more a window later: every rate is known
    assert clock.now() - start == pytest.approx(1.0)
    doc = provider.summary()
    assert doc["pods"][0]["containers"][0]["cpu"]["usageNanoCores"] == 10_000_000
    assert doc["node"]["cpu"]["usageNanoCores"] == 1_500_000_000
    assert provider.rates.rate(NODE_KEY) == 1_500_000_000
    await provider.fresh()  # nothing new and the last sample is recent: no wait, no sample
    assert clock.now() - start == pytest.approx(1.0)
