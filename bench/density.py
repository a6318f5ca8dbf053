"""Density: N simulated nodes, P pods per node created through Deployments; pod startup latency as SIG
Scalability defines it, scheduling throughput, API latency, LIST latency and the control plane's CPU and memory.

    .venv/bin/python bench/density.py --nodes 100 --pods-per-node 30                        # paced, 20 pods/s
    .venv/bin/python bench/density.py --nodes 100 --deployments 30 --replicas-per-deployment 40 --create-rate 20
    .venv/bin/python bench/density.py --nodes 100 --deployments 10 --replicas-per-deployment 300 --burst
    .venv/bin/python bench/density.py --kubeconfig KUBECONFIG [--server-pid PID] [--pid etcd=PID] ...  # any cluster

Without `--kubeconfig` it starts its own `kyb server` (tests/cluster.py; API server, and the scheduler,
controller-manager and DNS in its one child, `kyb components`) on SQLite, or on a private etcd 3.4 with
`--datastore etcd`; `processes` in the report then has `apiserver`, `components`, `simulator` (and `etcd`),
each process named by its `kyb` subcommand, and `control_plane_peak_rss_mib` sums all but the simulator. With
`--kubeconfig` it
drives whatever cluster the kubeconfig names, Kubernetes included, using only the API; process figures then
come from `--server-pid` (a `kyb server` tree) and `--pid NAME=PID`, or are left out. In both cases it runs
`kyb simulate --nodes N` as its own process (`--no-simulator` when the nodes are already there).

The run: wait until N nodes are Ready; create `--namespaces` namespaces; start one watch over the run's pods
(label `density.kybernetes.io/run=<id>`, all namespaces); create the Deployments (round-robin over the
namespaces) either all at once (`--burst`) or paced so that pods are asked for at `--create-rate` per second
(one Deployment every replicas/rate seconds); meanwhile a probe does `--probe-qps` mutating calls (configmaps
and unscheduled pods: create, update, patch, delete) so API latency is sampled under load; wait until every
pod is Running; then time LISTs of all pods and of one namespace (`--list-repeats` each, consistent reads and
`resourceVersion=0`, and kubectl-style pages of 500).

Pod startup latency (SIG Scalability): the wall time at which the watch delivers the first event showing the
pod Running, minus its `metadata.creationTimestamp`. The timestamp has one-second resolution (truncated), so
that figure over-states the true latency by up to 1 s, exactly as SIG Scalability's own measurement does;
it is reported as `sig_scalability`. `subsecond` replaces the creation time with a sub-second estimate: the
arrival time of the pod's first watch event (ADDED), clamped into [creationTimestamp, creationTimestamp+1 s)
(the true creation lies in that second and before the event's arrival), so it can only under-state the
latency by the watch delay of the ADDED event. The true value lies between the two. `create_to_bound` and
`bound_to_running` split `subsecond` at the first event that shows `spec.nodeName`.

It prints one JSON document; it never passes or fails on time. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Api, ProcSample, kyb_control_plane, machine, sample, summarize

from kybernetes.client import ClientConfig, load_config

RUN_LABEL = "density.kybernetes.io/run"
REPORT_KEYS = (
    "target", "date", "machine", "datastore", "config", "nodes_ready_seconds", "pods", "time_to_all_running_s",
    "create_phase_s", "pods_created_per_s", "pod_startup_latency_s", "scheduling_throughput", "api_latency_ms",
    "list_latency_ms", "processes", "control_plane_peak_rss_mib", "watch", "errors",
)


@dataclass(kw_only=True)
class Options:
    nodes: int = 100
    pods_per_node: int = 30
    replicas_per_deployment: int = 30
    deployments: int | None = None  # default: enough for nodes x pods_per_node pods
    create_rate: float = 20.0  # pods per second, paced mode
    burst: bool = False
    namespaces: int = 10
    list_repeats: int = 5
    probe_qps: float = 5.0
    timeout: float = 600.0
    lease_interval: float = 10.0
    sim_concurrency: int = 32
    simulator: bool = True
    datastore: str = "sqlite"
    kubeconfig: Path | None = None
    server_pid: int | None = None
    pids: dict[str, int] = field(default_factory=dict)
    keep: bool = False
    quiet: bool = False

    def deployment_sizes(self) -> list[int]:
        replicas = self.replicas_per_deployment
        if self.deployments is not None:
            return [replicas] * self.deployments
        total = self.nodes * self.pods_per_node
        count = math.ceil(total / replicas)
        return [min(replicas, total - i * replicas) for i in range(count)]


@dataclass
class Target:
    config: ClientConfig
    kubeconfig: Path | None
    description: str
    datastore: str
    pids: Callable[[], dict[str, int]]  # name → pid of each process to report, looked up when asked
    own: bool  # a control plane this benchmark started (and will throw away)


# ---- the control plane and the simulator -------------------------------------------------------------


@contextmanager
def control_plane(opts: Options) -> Iterator[Target]:
    if opts.kubeconfig is not None:
        config = load_config(kubeconfig=str(opts.kubeconfig), component="density-bench")
        extra = dict(opts.pids)

        def given() -> dict[str, int]:
            tree = kyb_control_plane(opts.server_pid) if opts.server_pid else {}
            return {**tree, **extra}

        yield Target(config=config, kubeconfig=opts.kubeconfig, description=f"kubeconfig {opts.kubeconfig}",
                     datastore="external", pids=given, own=False)
        return

    from cluster import ServerProcess
    from etcd_server import EtcdServer, etcd_available
    from kybernetes.cmd.server import COMPONENTS

    with ExitStack() as stack:
        etcd: EtcdServer | None = None
        if opts.datastore == "etcd":
            if not etcd_available():
                raise SystemExit("--datastore etcd needs /usr/bin/etcd")
            etcd = EtcdServer().start()
            stack.callback(etcd.stop)
        server = ServerProcess(datastore=f"etcd://{etcd.endpoint}" if etcd else "sqlite",
                               components=tuple(COMPONENTS))
        stack.callback(server.stop)
        server.start()
        assert server.proc is not None
        server_pid = server.proc.pid
        etcd_pid = etcd.process.pid if etcd is not None and etcd.process is not None else None

        def own() -> dict[str, int]:
            pids = kyb_control_plane(server_pid)
            if etcd_pid is not None:
                pids["etcd"] = etcd_pid
            return pids

        log(opts, f"kyb server pid {server_pid} on {server.url} ({opts.datastore})")
        yield Target(config=load_config(kubeconfig=str(server.kubeconfig), component="density-bench"),
                     kubeconfig=server.kubeconfig, description=f"kyb server ({opts.datastore})",
                     datastore=opts.datastore, pids=own, own=True)


@dataclass
class SimulatorProcess:
    prefix: str
    proc: subprocess.Popen[bytes] | None
    started: float
    log_path: Path | None

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path else ""


@contextmanager
def simulator(opts: Options, target: Target, run_id: str) -> Iterator[SimulatorProcess]:
    prefix = "density" if target.own else f"density-{run_id}"
    if not opts.simulator:  # someone else's nodes: any N Ready nodes will do
        yield SimulatorProcess(prefix="", proc=None, started=time.monotonic(), log_path=None)
        return
    log_path = Path(tempfile.gettempdir()) / f"kyb-density-sim-{run_id}.log"
    argv = [sys.executable, "-m", "kybernetes.cli.main", "simulate", "--nodes", str(opts.nodes),
            "--name-prefix", prefix, "--lease-interval", str(opts.lease_interval), "--stats-interval", "0",
            "--concurrency", str(opts.sim_concurrency), "--pods", str(max(110, opts.pods_per_node + 10))]
    if target.kubeconfig is not None:
        argv += ["--kubeconfig", str(target.kubeconfig)]
    if not target.own:
        argv.append("--delete-nodes-on-exit")
    env = {**os.environ, "KYB_LOG_LEVEL": "WARNING"}
    with log_path.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    sim = SimulatorProcess(prefix=prefix, proc=proc, started=time.monotonic(), log_path=log_path)
    try:
        yield sim
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60 if not target.own else 15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log_path.unlink(missing_ok=True)


def log(opts: Options, message: str) -> None:
    if not opts.quiet:
        print(f"[density {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- the watch that times every pod --------------------------------------------------------------------


class _Meta(msgspec.Struct, rename="camel"):
    name: str = ""
    namespace: str = ""
    creation_timestamp: str = ""
    resource_version: str = ""


class _Spec(msgspec.Struct, rename="camel"):
    node_name: str = ""


class _Phase(msgspec.Struct):
    phase: str = ""


class _Object(msgspec.Struct):
    # A pod, or the Status of an ERROR event (whose `status` is a string, hence Raw, decoded only for pods).
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    spec: _Spec | None = None
    status: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    code: int = 0
    message: str = ""


class _Event(msgspec.Struct):
    type: str
    object: _Object


class _ListMeta(msgspec.Struct, rename="camel"):
    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")


class _PodList(msgspec.Struct):
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)
    items: list[_Object] = msgspec.field(default_factory=list)


_event_decoder = msgspec.json.Decoder(_Event)
_phase_decoder = msgspec.json.Decoder(_Phase)
_list_decoder = msgspec.json.Decoder(_PodList)


@dataclass(slots=True)
class PodTimes:
    created: float  # creationTimestamp, seconds since the epoch (1 s resolution)
    first_seen: float  # wall time the first event (or list) showing the pod arrived
    bound_at: float | None = None
    running_at: float | None = None

    def created_estimate(self) -> float:
        """The creation instant to sub-second precision: within the creationTimestamp's second, and not
        after the first event's arrival."""
        return max(self.created, min(self.first_seen, self.created + 1.0))


class PodWatch:
    """One watch over the run's pods in every namespace (list, then watch from the list's resourceVersion,
    re-list on 410) that records, per pod, the arrival time of its first event, of the first event showing
    it bound and of the first showing it Running."""

    def __init__(self, api: Api, *, selector: str) -> None:
        self.api = api
        self.selector = selector
        self.pods: dict[str, PodTimes] = {}
        self.bound = self.running = self.failed = 0
        self.last_running = 0.0
        self.started = asyncio.Event()
        self._changed = asyncio.Event()
        self._stamps: dict[str, float] = {}
        self.events = self.restarts = self.relists = self.bookmarks = 0

    async def wait_change(self, *, within: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), within)
        except TimeoutError:
            pass
        self._changed.clear()

    def _stamp(self, text: str) -> float:
        found = self._stamps.get(text)
        if found is None:
            found = self._stamps[text] = datetime.fromisoformat(text).timestamp() if text else time.time()
        return found

    def observe(self, obj: _Object, now: float) -> None:
        meta = obj.metadata
        key = f"{meta.namespace}/{meta.name}"
        times = self.pods.get(key)
        if times is None:
            times = self.pods[key] = PodTimes(created=self._stamp(meta.creation_timestamp), first_seen=now)
        if times.bound_at is None and obj.spec is not None and obj.spec.node_name:
            times.bound_at = now
            self.bound += 1
        if times.running_at is None and len(obj.status):
            phase = _phase_decoder.decode(obj.status).phase
            if phase == "Running":
                times.running_at = self.last_running = now
                self.running += 1
                self._changed.set()
            elif phase == "Failed":
                self.failed += 1
                times.running_at = -1.0  # never counted again
                self.api.error(f"pod {key} Failed")

    async def _list(self) -> str:
        self.relists += 1
        token, rv = "", ""
        while True:
            params = {"labelSelector": self.selector, "limit": "500", **({"continue": token} if token else {})}
            async with self.api.session.get("api/v1/pods", params=params,
                                            timeout=aiohttp.ClientTimeout(total=600)) as response:
                raw = await response.read()
            if response.status != 200:
                raise RuntimeError(f"list pods: {response.status} {raw[:300]!r}")
            now = time.time()
            page = _list_decoder.decode(raw)
            rv = rv or page.metadata.resource_version
            for item in page.items:
                self.observe(item, now)
            token = page.metadata.continue_
            if not token:
                return rv

    async def _watch(self, rv: str) -> str | None:
        """Watch from `rv` until the stream ends; the resourceVersion to go on from, or None to re-list."""
        params = {"watch": "true", "labelSelector": self.selector, "resourceVersion": rv,
                  "allowWatchBookmarks": "true", "timeoutSeconds": "3600"}
        async with self.api.session.get("api/v1/pods", params=params,
                                        timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
            if response.status == 410:
                return None
            if response.status != 200:
                self.api.error(f"watch pods: {response.status} {(await response.read())[:300]!r}")
                await asyncio.sleep(1)
                return rv
            async for line in response.content:
                now = time.time()
                if not line.strip():
                    continue
                event = _event_decoder.decode(line)
                self.events += 1
                if event.type == "ERROR":
                    if event.object.code == 410:
                        return None
                    self.api.error(f"watch pods: ERROR {event.object.code} {event.object.message}")
                    return rv
                rv = event.object.metadata.resource_version or rv
                if event.type == "BOOKMARK":
                    self.bookmarks += 1
                elif event.type in ("ADDED", "MODIFIED"):
                    self.observe(event.object, now)
        return rv

    async def run(self) -> None:
        rv = await self._list()
        self.started.set()
        while True:
            try:
                next_rv = await self._watch(rv)
            except (aiohttp.ClientError, TimeoutError) as e:
                # A dropped stream is not an error of the server's; resume where it ended.
                self.restarts += 1
                print(f"[density] watch restarted after {e!r}", file=sys.stderr)
                await asyncio.sleep(0.2)
                continue
            except msgspec.DecodeError as e:  # an event we cannot read: an error, then a fresh list
                self.api.error(f"watch pods: undecodable event: {e}")
                await asyncio.sleep(1)
                rv = await self._list()
                continue
            self.restarts += 1
            rv = next_rv if next_rv is not None else await self._list()

    def figures(self) -> dict[str, Any]:
        pods = list(self.pods.values())
        running = [p for p in pods if p.running_at is not None and p.running_at > 0]
        sig = [p.running_at - p.created for p in running if p.running_at]
        precise = [p.running_at - p.created_estimate() for p in running if p.running_at]
        bound = [p for p in running if p.bound_at is not None]
        to_bound = [p.bound_at - p.created_estimate() for p in bound if p.bound_at]
        bound_to_running = [p.running_at - p.bound_at for p in bound if p.bound_at and p.running_at]
        binds = sorted(p.bound_at for p in pods if p.bound_at is not None)
        window = binds[-1] - binds[0] if len(binds) > 1 else 0.0
        per_second = Counter(int(t) for t in binds)
        seen = sorted(p.first_seen for p in pods)
        created_window = seen[-1] - seen[0] if len(seen) > 1 else 0.0
        return {
            "pods_created_per_s": round(len(seen) / created_window, 1) if created_window else None,
            "pod_startup_latency_s": {
                "sig_scalability": summarize(sig, digits=3),
                "subsecond": summarize(precise, digits=3),
                "create_to_bound": summarize(to_bound, digits=3),
                "bound_to_running": summarize(bound_to_running, digits=3),
            },
            "scheduling_throughput": {
                "pods_bound": len(binds), "first_to_last_bind_s": round(window, 2),
                "avg_pods_per_s": round(len(binds) / window, 1) if window else None,
                "peak_1s_pods_per_s": max(per_second.values()) if per_second else 0,
            },
        }

    def stats(self) -> dict[str, int]:
        return {"events": self.events, "restarts": self.restarts, "relists": self.relists,
                "bookmarks": self.bookmarks}


# ---- the workload --------------------------------------------------------------------------------------


def deployment_body(*, name: str, namespace: str, replicas: int, run_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {RUN_LABEL: run_id}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, RUN_LABEL: run_id}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                    "name": "pause", "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
            },
        },
    }


async def wait_nodes(api: Api, *, prefix: str, count: int, within: float) -> float | None:
    """Seconds until `count` nodes named `prefix-*` (any nodes: prefix "") are Ready, or None if not
    `within` seconds."""
    started = time.monotonic()
    params = {"labelSelector": "kybernetes.io/simulated=true"} if prefix else {}
    while time.monotonic() - started < within:
        body = await api.get_json("/api/v1/nodes", params=params)
        ready = 0
        for node in (body or {}).get("items", []):
            if prefix and not node["metadata"]["name"].startswith(f"{prefix}-"):
                continue
            conditions = (node.get("status") or {}).get("conditions") or []
            ready += any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        if ready >= count:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    return None


async def probe(api: Api, *, namespace: str, qps: float, stop: asyncio.Event) -> None:
    """Mutating calls at `qps`: a ConfigMap and an unscheduled Pod (a scheduler name nobody serves), each
    created, updated or patched, and deleted; their latency lands in the api_latency figures."""
    interval = 1.0 / qps
    next_at = time.monotonic()
    n = 0

    async def pace() -> None:
        nonlocal next_at
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    cms, pods = f"/api/v1/namespaces/{namespace}/configmaps", f"/api/v1/namespaces/{namespace}/pods"
    while not stop.is_set():
        name = f"probe-{n:06}"
        n += 1
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"n": "0"}}
        created = await api.mutate("POST", cms, body=cm, resource="configmaps")
        await pace()
        if created is not None:
            created["data"] = {"n": "1"}
            await api.mutate("PUT", f"{cms}/{name}", body=created, resource="configmaps")
            await pace()
            await api.mutate("PATCH", f"{cms}/{name}", body={"data": {"n": "2"}}, resource="configmaps")
            await pace()
            await api.mutate("DELETE", f"{cms}/{name}", resource="configmaps")
            await pace()
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"density-probe": "1"}},
               "spec": {"schedulerName": "density-probe-unscheduled", "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
        if await api.mutate("POST", pods, body=pod, resource="pods") is not None:
            await pace()
            await api.mutate("PATCH", f"{pods}/{name}", body={"metadata": {"labels": {"patched": "1"}}},
                             resource="pods")
            await pace()
            await api.mutate("DELETE", f"{pods}/{name}", resource="pods", params={"gracePeriodSeconds": "0"})
        await pace()


async def create_deployments(api: Api, opts: Options, *, namespaces: list[str], run_id: str) -> None:
    sizes = opts.deployment_sizes()

    async def create(i: int, replicas: int) -> None:
        ns = namespaces[i % len(namespaces)]
        body = deployment_body(name=f"density-{i:05}", namespace=ns, replicas=replicas, run_id=run_id)
        await api.mutate("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", body=body, resource="deployments")

    if opts.burst:
        await asyncio.gather(*(create(i, r) for i, r in enumerate(sizes)))
        return
    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    at = 0.0
    for i, replicas in enumerate(sizes):
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        tasks.append(asyncio.create_task(create(i, replicas)))
        at += replicas / opts.create_rate
    await asyncio.gather(*tasks)


async def time_lists(api: Api, *, namespace: str, repeats: int) -> dict[str, Any]:
    variants: list[tuple[str, str, dict[str, str]]] = [
        ("all pods", "/api/v1/pods", {}),
        ("all pods, resourceVersion=0", "/api/v1/pods", {"resourceVersion": "0"}),
        (f"namespace {namespace}", f"/api/v1/namespaces/{namespace}/pods", {}),
        (f"namespace {namespace}, resourceVersion=0", f"/api/v1/namespaces/{namespace}/pods",
         {"resourceVersion": "0"}),
    ]
    out: dict[str, Any] = {}
    for label, path, params in variants:
        times: list[float] = []
        items = size = 0
        for _ in range(repeats):
            seconds, items, size = await api.timed_list(path, params=params)
            times.append(seconds)
        out[label] = {**summarize(times, scale=1000, digits=1, points=(0.5,)), "items": items,
                      "mib": round(size / 2**20, 1)}
    times = []
    pages = items = 0
    for _ in range(repeats):
        seconds, items, pages = await api.paged_list("/api/v1/pods", limit=500)
        times.append(seconds)
    out["all pods, pages of 500 (kubectl)"] = {**summarize(times, scale=1000, digits=1, points=(0.5,)),
                                               "items": items, "pages": pages}
    return out


def process_figures(before: dict[str, ProcSample], at_running: dict[str, ProcSample],
                    after: dict[str, ProcSample]) -> dict[str, Any]:
    """Per process: CPU seconds (in all, and from the first Deployment until the LISTs are done), RSS when
    every pod was Running, RSS and peak RSS (VmHWM) at the end, after the LISTs."""
    out: dict[str, Any] = {}
    for name, end in after.items():
        start, mid = before.get(name), at_running.get(name)
        out[name] = {
            "pid": end.pid, "cpu_seconds_total": round(end.cpu_seconds, 2),
            "cpu_seconds_during_run": round(end.cpu_seconds - start.cpu_seconds, 2)
            if start and start.pid == end.pid else None,
            "rss_mib_all_running": mid.rss_mib if mid and mid.pid == end.pid else None,
            "rss_mib": end.rss_mib, "peak_rss_mib": end.peak_rss_mib,
        }
    return out


def sample_all(pids: dict[str, int]) -> dict[str, ProcSample]:
    found = {name: sample(pid) for name, pid in pids.items()}
    return {name: s for name, s in found.items() if s is not None}


async def bench(opts: Options, target: Target, sim: SimulatorProcess, run_id: str) -> dict[str, Any]:
    sizes = opts.deployment_sizes()
    total = sum(sizes)
    report: dict[str, Any] = {
        "target": target.description, "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "datastore": target.datastore,
        "config": {"nodes": opts.nodes, "pods_per_node": round(total / max(opts.nodes, 1), 2),
                   "deployments": len(sizes), "replicas_per_deployment": opts.replicas_per_deployment,
                   "total_pods": total, "namespaces": min(opts.namespaces, len(sizes)),
                   "mode": "burst" if opts.burst else "paced",
                   "create_rate_pods_per_s": None if opts.burst else opts.create_rate, "run_id": run_id},
    }
    async with Api(target.config) as api:
        ready = await wait_nodes(api, prefix=sim.prefix, count=opts.nodes, within=120 + opts.nodes / 20)
        report["nodes_ready_seconds"] = None if ready is None else round(time.monotonic() - sim.started, 2)
        if ready is None:
            api.error(f"only some of {opts.nodes} nodes became Ready; simulator log:\n{sim.tail()}")
        log(opts, f"{opts.nodes} nodes Ready; creating {total} pods in {len(sizes)} deployments")
        namespaces = [f"density-{run_id}-{i}" for i in range(report["config"]["namespaces"])]
        for ns in namespaces:
            await api.mutate("POST", "/api/v1/namespaces", resource="namespaces",
                             body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        # Pods are refused until a namespace's default ServiceAccount exists (Kubernetes' admission).
        for _ in range(300):
            if await api.get_json(f"/api/v1/namespaces/{namespaces[0]}/serviceaccounts/default",
                                  quiet=True) is not None:
                break
            await asyncio.sleep(0.1)
        watch = PodWatch(api, selector=f"{RUN_LABEL}={run_id}")
        watcher = asyncio.create_task(watch.run())
        await watch.started.wait()
        before = sample_all(target.pids() | ({"simulator": sim.proc.pid} if sim.proc else {}))
        stop_probe = asyncio.Event()
        prober = asyncio.create_task(probe(api, namespace=namespaces[0], qps=opts.probe_qps, stop=stop_probe)
                                     if opts.probe_qps > 0 else asyncio.sleep(0))
        t0 = time.time()
        creator = asyncio.create_task(create_deployments(api, opts, namespaces=namespaces, run_id=run_id))
        deadline = time.monotonic() + opts.timeout
        last_log = 0.0
        create_done: float | None = None
        while watch.running < total and time.monotonic() < deadline:
            if creator.done() and create_done is None:
                create_done = time.time()
                creator.result()
            if sim.proc is not None and sim.proc.poll() is not None:
                api.error(f"the simulator exited with {sim.proc.returncode}:\n{sim.tail()}")
                break
            if time.monotonic() - last_log > 10:
                last_log = time.monotonic()
                log(opts, f"{time.time() - t0:6.1f}s: pods created {len(watch.pods)}, bound {watch.bound}, "
                          f"running {watch.running} / {total}")
            await watch.wait_change(within=1.0)
        await creator
        create_done = create_done or time.time()
        all_running = watch.running >= total
        if not all_running:
            api.error(f"timed out: {watch.running} of {total} pods Running after {opts.timeout}s")
        at_running = sample_all(target.pids() | ({"simulator": sim.proc.pid} if sim.proc else {}))
        stop_probe.set()
        await prober
        log(opts, f"all {total} pods Running after {time.time() - t0:.1f}s" if all_running else "gave up")
        report["pods"] = {"expected": total, "created": len(watch.pods), "bound": watch.bound,
                          "running": watch.running, "failed": watch.failed, "all_running": all_running}
        report["time_to_all_running_s"] = round(watch.last_running - t0, 2) if all_running else None
        report["create_phase_s"] = round(create_done - t0, 2)
        report.update(watch.figures())
        report["api_latency_ms"] = api.latency_figures()
        log(opts, "timing LISTs")
        report["list_latency_ms"] = await time_lists(api, namespace=namespaces[0], repeats=opts.list_repeats)
        after = sample_all(target.pids() | ({"simulator": sim.proc.pid} if sim.proc else {}))
        report["processes"] = process_figures(before, at_running, after)
        report["control_plane_peak_rss_mib"] = round(sum(
            s.peak_rss_mib for name, s in after.items() if name != "simulator"), 1) if after else None
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        report["watch"] = watch.stats()
        if not target.own and not opts.keep:
            for ns in namespaces:
                await api.mutate("DELETE", f"/api/v1/namespaces/{ns}", resource="namespaces")
        report["errors"] = api.error_figures()
    return report


def run(opts: Options) -> dict[str, Any]:
    """The whole benchmark: control plane, simulator, workload; everything started is stopped."""
    run_id = uuid.uuid4().hex[:6]
    with control_plane(opts) as target, simulator(opts, target, run_id) as sim:
        return asyncio.run(bench(opts, target, sim, run_id))


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--pods-per-node", type=int, default=30)
    p.add_argument("--replicas-per-deployment", type=int, default=30)
    p.add_argument("--deployments", type=int, default=None, help="default: nodes x pods-per-node pods")
    p.add_argument("--create-rate", type=float, default=20.0, help="pods asked for per second (paced mode)")
    p.add_argument("--burst", action="store_true", help="create every deployment at once")
    p.add_argument("--namespaces", type=int, default=10)
    p.add_argument("--list-repeats", type=int, default=5)
    p.add_argument("--probe-qps", type=float, default=5.0, help="mutating probe calls per second (0: none)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for every pod to be Running")
    p.add_argument("--lease-interval", type=float, default=10.0, help="of the simulated nodes")
    p.add_argument("--sim-concurrency", type=int, default=32, help="the simulator's writes in flight")
    p.add_argument("--no-simulator", dest="simulator", action="store_false",
                   help="the nodes are there already (any --nodes Ready nodes)")
    p.add_argument("--datastore", choices=("sqlite", "etcd"), default="sqlite", help="of the server started")
    p.add_argument("--kubeconfig", type=Path, help="drive this cluster instead of starting a control plane")
    p.add_argument("--server-pid", type=int, help="with --kubeconfig: a kyb server's pid (its tree is reported)")
    p.add_argument("--pid", action="append", default=[], metavar="NAME=PID", help="another process to report")
    p.add_argument("--keep", action="store_true", help="with --kubeconfig: leave the namespaces behind")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    a = p.parse_args(argv)
    pids = {}
    for item in a.pid:
        name, _, pid = item.partition("=")
        if not pid.isdigit():
            p.error(f"--pid wants NAME=PID, got {item!r}")
        pids[name] = int(pid)
    return Options(nodes=a.nodes, pods_per_node=a.pods_per_node, replicas_per_deployment=a.replicas_per_deployment,
                   deployments=a.deployments, create_rate=a.create_rate, burst=a.burst, namespaces=a.namespaces,
                   list_repeats=a.list_repeats, probe_qps=a.probe_qps, timeout=a.timeout,
                   lease_interval=a.lease_interval, sim_concurrency=a.sim_concurrency, simulator=a.simulator,
                   datastore=a.datastore, kubeconfig=a.kubeconfig, server_pid=a.server_pid, pids=pids,
                   keep=a.keep, quiet=a.quiet)


def main() -> None:
    opts = parse_args()

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through every `finally`, which stops what was started

    signal.signal(signal.SIGTERM, terminate)
    print(json.dumps(run(opts), indent=2))


if __name__ == "__main__":
    main()
