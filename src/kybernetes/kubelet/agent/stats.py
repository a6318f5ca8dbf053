"""The kubelet's resource usage summary: `GET /stats/summary` (the Kubernetes kubelet Summary API shape).

    {"node": {"nodeName", "startTime", "cpu": {time, usageNanoCores, usageCoreNanoSeconds},
              "memory": {time, availableBytes, usageBytes, workingSetBytes, rssBytes}, "fs": {...}},
     "pods": [{"podRef": {name, namespace, uid}, "startTime", "cpu", "memory",
               "containers": [{"name", "startTime", "cpu", "memory"}]}]}

Counters come from the runtime (`Runtime.container_stats`: cumulative CPU nanoseconds and the memory working
set of each running container, read from its cgroup by runc) and, for the node, from /proc/stat (busy CPU
ticks) and /proc/meminfo. `usageNanoCores` is a rate: `Rates` keeps one previous sample per container and
for the node, and computes (Δ cpu ns / Δ wall ns) once at least `min_window` has passed since it; samples
closer than that keep the last rate, so the window never shrinks to noise.

Sampling: `StatsProvider.run()` samples every `interval` (10 s, as cAdvisor housekeeping does) in the
background; a request samples again when the last sample is older than `min_window`, and when something
running still has no rate (a container seen for the first time) it waits `min_window` and samples once
more, so an answer carries a rate for everything that runs. `install(app, ...)` adds the route and the
background task to the kubelet server's aiohttp application.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from kybernetes.client.clock import REAL_CLOCK, Clock
from kybernetes.kubelet.runtime.protocol import ContainerStats, Runtime, RuntimeError_, SandboxStatus, State

__all__ = ["NodeUsage", "Rates", "StatsProvider", "install", "read_node_usage"]

log = logging.getLogger(__name__)

NODE_KEY = "/node"
DEFAULT_INTERVAL = 10.0
DEFAULT_MIN_WINDOW = 1.0


# ---- the node: /proc -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NodeUsage:
    timestamp_ns: int
    boot_time: int  # seconds since the epoch (/proc/stat btime)
    cpu_ns: int  # busy CPU time of the whole machine
    memory_total: int
    memory_usage: int  # total - free
    memory_working_set: int  # usage - inactive file cache
    memory_rss: int  # anonymous pages


def _meminfo(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            out[key.strip()] = int(fields[0]) * (1024 if fields[1:2] == ["kB"] else 1)
    return out


def read_node_usage(*, proc: Path = Path("/proc"), clock_ticks: int | None = None) -> NodeUsage:
    """The machine's busy CPU time and memory, from `proc`/stat and `proc`/meminfo (blocking file I/O)."""
    ticks = clock_ticks or os.sysconf("SC_CLK_TCK")
    cpu_ns, boot = 0, 0
    for line in (proc / "stat").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already in user.
            values = [int(v) for v in parts[1:9]] + [0] * 8
            user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
            cpu_ns = (user + nice + system + irq + softirq + steal) * 1_000_000_000 // ticks
        elif parts and parts[0] == "btime":
            boot = int(parts[1])
    mem = _meminfo((proc / "meminfo").read_text())
    total = mem.get("MemTotal", 0)
    usage = max(0, total - mem.get("MemFree", 0))
    return NodeUsage(
        timestamp_ns=time.time_ns(), boot_time=boot, cpu_ns=cpu_ns, memory_total=total, memory_usage=usage,
        memory_working_set=max(0, usage - mem.get("Inactive(file)", 0)), memory_rss=mem.get("AnonPages", 0),
    )


# ---- rates -----------------------------------------------------------------------------------------------


@dataclass
class _Track:
    base_ns: int  # wall time of the sample the next rate is measured from
    base_cpu: int
    rate: int | None = None  # nanocores
    window_ns: int = 0  # the span the rate was measured over
    seen: bool = True


class Rates:
    """usageNanoCores per key from cumulative CPU nanoseconds: Δcpu / Δtime over at least `min_window_ns`."""

    def __init__(self, *, min_window_ns: int = int(DEFAULT_MIN_WINDOW * 1e9)) -> None:
        self.min_window_ns = min_window_ns
        self._tracks: dict[str, _Track] = {}

    def observe(self, *, key: str, timestamp_ns: int, cpu_ns: int) -> int | None:
        """Record a sample; returns the current rate (None until two samples `min_window_ns` apart)."""
        track = self._tracks.get(key)
        if track is None or cpu_ns < track.base_cpu or timestamp_ns < track.base_ns:
            # New, or the counter went back (a restarted container reusing the key): start over.
            self._tracks[key] = _Track(base_ns=timestamp_ns, base_cpu=cpu_ns)
            return None
        track.seen = True
        elapsed = timestamp_ns - track.base_ns
        if elapsed >= self.min_window_ns:
            track.rate = (cpu_ns - track.base_cpu) * 1_000_000_000 // elapsed
            track.window_ns = elapsed
            track.base_ns, track.base_cpu = timestamp_ns, cpu_ns
        return track.rate

    def rate(self, key: str) -> int | None:
        track = self._tracks.get(key)
        return track.rate if track is not None else None

    def window_ns(self, key: str) -> int:
        track = self._tracks.get(key)
        return track.window_ns if track is not None else 0

    def begin_round(self) -> None:
        for track in self._tracks.values():
            track.seen = False

    def end_round(self) -> None:
        """Forget keys the last round did not observe (removed containers)."""
        for key in [k for k, t in self._tracks.items() if not t.seen]:
            del self._tracks[key]


# ---- the summary -----------------------------------------------------------------------------------------


def _rfc3339(ns: int) -> str:
    when = datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _ContainerSample:
    name: str
    pod_key: str  # the sandbox id
    started_at_ns: int
    stats: ContainerStats


class StatsProvider:
    def __init__(self, *, runtime: Runtime, node_name: str, data_dir: Path,
                 node_usage: Callable[[], NodeUsage] = read_node_usage, interval: float = DEFAULT_INTERVAL,
                 min_window: float = DEFAULT_MIN_WINDOW, clock: Clock = REAL_CLOCK) -> None:
        self.runtime, self.node_name, self.data_dir = runtime, node_name, data_dir
        self.node_usage, self.interval, self.min_window, self.clock = node_usage, interval, min_window, clock
        self.rates = Rates(min_window_ns=int(min_window * 1e9))
        self._lock = asyncio.Lock()
        self._sampled_at: float | None = None  # clock.now() of the last sample
        self._node: NodeUsage | None = None
        self._sandboxes: list[SandboxStatus] = []
        self._containers: list[_ContainerSample] = []

    # ---- sampling ------------------------------------------------------------------------------------

    async def sample(self) -> None:
        """Read every running container's counters and the node's, and update the rates."""
        async with self._lock:
            sandboxes = [s for s in await self.runtime.list_pod_sandboxes()
                         if s.state is State.RUNNING and s.config is not None]
            ids = {s.id for s in sandboxes}
            newest: dict[tuple[str, str], Any] = {}
            for c in await self.runtime.list_containers():
                if c.sandbox_id in ids and c.state is State.RUNNING:
                    key = (c.sandbox_id, c.name)
                    if key not in newest or c.attempt > newest[key].attempt:
                        newest[key] = c
            samples: list[_ContainerSample] = []
            for c in newest.values():
                try:
                    stats = await self.runtime.container_stats(container_id=c.id)
                except RuntimeError_:
                    continue  # gone since the listing
                samples.append(_ContainerSample(name=c.name, pod_key=c.sandbox_id, started_at_ns=c.started_at_ns,
                                                stats=stats))
            try:
                node = await asyncio.to_thread(self.node_usage)
            except (OSError, ValueError) as e:
                log.warning("node usage unreadable: %s", e)
                node = None
            self.rates.begin_round()
            for s in samples:
                self.rates.observe(key=s.stats.id, timestamp_ns=s.stats.timestamp_ns, cpu_ns=s.stats.cpu_usage_ns)
            if node is not None:
                self.rates.observe(key=NODE_KEY, timestamp_ns=node.timestamp_ns, cpu_ns=node.cpu_ns)
            self.rates.end_round()
            self._node, self._sandboxes, self._containers = node, sandboxes, samples
            self._sampled_at = self.clock.now()

    def _complete(self) -> bool:
        keys = [s.stats.id for s in self._containers] + ([NODE_KEY] if self._node is not None else [])
        return all(self.rates.rate(k) is not None for k in keys)

    async def fresh(self) -> None:
        """Sample unless the last sample is recent; when something has no rate yet, sample once more after
        `min_window` (a request then waits that long, once per new container)."""
        if self._sampled_at is None or self.clock.now() - self._sampled_at >= self.min_window:
            await self.sample()
        if not self._complete():
            await self.clock.sleep(self.min_window)
            await self.sample()

    async def run(self) -> None:
        """Sample every `interval` until cancelled."""
        while True:
            try:
                await self.sample()
            except Exception:  # a bad round must not end sampling: the next one may succeed
                log.exception("stats sampling failed")
            await self.clock.sleep(self.interval)

    # ---- the document --------------------------------------------------------------------------------

    def _cpu(self, *, key: str, timestamp_ns: int, cpu_ns: int) -> dict[str, Any]:
        out: dict[str, Any] = {"time": _rfc3339(timestamp_ns), "usageCoreNanoSeconds": cpu_ns}
        rate = self.rates.rate(key)
        if rate is not None:
            out["usageNanoCores"] = rate
        return out

    def _fs(self) -> dict[str, Any] | None:
        try:
            st = os.statvfs(self.data_dir)
        except OSError:
            return None
        capacity, available = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        return {"time": _rfc3339(time.time_ns()), "availableBytes": available, "capacityBytes": capacity,
                "usedBytes": (st.f_blocks - st.f_bfree) * st.f_frsize, "inodesFree": st.f_ffree,
                "inodes": st.f_files, "inodesUsed": st.f_files - st.f_ffree}

    def summary(self) -> dict[str, Any]:
        """The Summary document from the last sample."""
        node_doc: dict[str, Any] = {"nodeName": self.node_name, "systemContainers": []}
        n = self._node
        if n is not None:
            node_doc["startTime"] = _rfc3339(n.boot_time * 1_000_000_000)
            node_doc["cpu"] = self._cpu(key=NODE_KEY, timestamp_ns=n.timestamp_ns, cpu_ns=n.cpu_ns)
            node_doc["memory"] = {
                "time": _rfc3339(n.timestamp_ns), "availableBytes": max(0, n.memory_total - n.memory_working_set),
                "usageBytes": n.memory_usage, "workingSetBytes": n.memory_working_set, "rssBytes": n.memory_rss,
            }
        fs = self._fs()
        if fs is not None:
            node_doc["fs"] = fs
        by_pod: dict[str, list[_ContainerSample]] = {}
        for c in self._containers:
            by_pod.setdefault(c.pod_key, []).append(c)
        pods = []
        for s in self._sandboxes:
            assert s.config is not None
            containers = sorted(by_pod.get(s.id, []), key=lambda c: c.name)
            pod: dict[str, Any] = {
                "podRef": {"name": s.config.name, "namespace": s.config.namespace, "uid": s.config.uid},
                "startTime": _rfc3339(s.created_at_ns),
                "containers": [self._container_doc(c) for c in containers],
            }
            if containers:
                latest = max(c.stats.timestamp_ns for c in containers)
                cpu: dict[str, Any] = {"time": _rfc3339(latest),
                                       "usageCoreNanoSeconds": sum(c.stats.cpu_usage_ns for c in containers)}
                rates = [self.rates.rate(c.stats.id) for c in containers]
                if all(r is not None for r in rates):
                    cpu["usageNanoCores"] = sum(r for r in rates if r is not None)
                pod["cpu"] = cpu
                pod["memory"] = {"time": _rfc3339(latest),
                                 "workingSetBytes": sum(c.stats.memory_working_set_bytes for c in containers),
                                 "rssBytes": sum(c.stats.memory_rss_bytes for c in containers)}
            pods.append(pod)
        return {"node": node_doc, "pods": pods}

    def _container_doc(self, c: _ContainerSample) -> dict[str, Any]:
        st = c.stats
        return {
            "name": c.name,
            "startTime": _rfc3339(c.started_at_ns or st.timestamp_ns),
            "cpu": self._cpu(key=st.id, timestamp_ns=st.timestamp_ns, cpu_ns=st.cpu_usage_ns),
            "memory": {"time": _rfc3339(st.timestamp_ns), "workingSetBytes": st.memory_working_set_bytes,
                       "rssBytes": st.memory_rss_bytes},
        }

    # ---- HTTP ----------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            await self.fresh()
        except RuntimeError_ as e:
            return web.Response(text=f"failed to get stats: {e}", status=500, content_type="text/plain")
        return web.json_response(self.summary())


def install(app: web.Application, *, runtime: Runtime, node_name: str, data_dir: Path) -> StatsProvider:
    """Serve `GET /stats/summary` on `app` and sample in the background while it runs."""
    provider = StatsProvider(runtime=runtime, node_name=node_name, data_dir=data_dir)
    app.router.add_get("/stats/summary", provider.handle)

    async def sampler(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(provider.run(), name="stats sampler")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(sampler)
    return provider
