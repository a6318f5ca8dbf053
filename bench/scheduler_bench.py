"""Scheduling throughput: a backlog of pending pods and a burst of new ones, bound onto N nodes.

    .venv/bin/python bench/scheduler_bench.py [--nodes 100] [--backlog 5000] [--burst 2000] [--datastore sqlite]

It starts its own `kyb server` (tests/cluster.py), registers `--nodes` Node objects directly through the API
(allocatable 32 CPU / 128Gi / 110 pods, a Ready condition; no simulator, nothing runs the pods), then:

  backlog  creates `--backlog` pods (10m CPU / 16Mi each) while no scheduler runs, then starts
           `kyb scheduler` as its own process (leader election off) and times from its start until the
           last pod is seen bound by a watch;
  burst    with the scheduler running, creates `--burst` pods as fast as `--workers` concurrent clients
           can, and reports the create rate, the bind rate (first create to last bind) and the per-pod
           latency from the create response to the binding seen by the watch (p50 / p99).

It prints one JSON document, including the CPU seconds the scheduler and the API server spent in each phase
(all processes share this machine's cores, which `cpus` lets a reader weigh). It never passes or fails on
time; it only reports. For comparison (issue 3): kube-scheduler v1.36 on a 2-core machine bound a 5,000-pod
backlog onto 100 fake nodes in about 7 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cluster import ServerProcess
from kybernetes.api.models.core_v1 import (
    Container,
    Namespace,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    Pod,
    PodSpec,
    ResourceRequirements,
)
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import Client, load_config

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_SCHEDULER = (
    "import argparse, sys\n"
    "from kybernetes.cmd import scheduler\n"
    "p = argparse.ArgumentParser(); scheduler.add_arguments(p)\n"
    "sys.exit(scheduler.run(p.parse_args(sys.argv[1:])))\n"
)


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def node_object(name: str, zone: str) -> Node:
    alloc: dict[str, str | int | float] = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return Node(
        metadata=ObjectMeta(name=name, labels={"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}),
        spec=NodeSpec(),
        status=NodeStatus(allocatable=alloc, capacity=alloc, conditions=[NodeCondition(type="Ready", status="True")]),
    )


def pod_object(name: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, labels={"app": "bench"}),
        spec=PodSpec(containers=[Container(name="app", image="registry.k8s.io/pause:3.10",
                                           resources=ResourceRequirements(requests={"cpu": "10m", "memory": "16Mi"}))],
                     termination_grace_period_seconds=0),
    )


async def run_pool(count: int, workers: int, make: Any) -> None:
    it = iter(range(count))

    async def worker() -> None:
        for i in it:
            await make(i)

    await asyncio.gather(*(worker() for _ in range(workers)))


class BindWatch:
    """Watches the namespace's pods and records when each is first seen bound."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.bound_at: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def run(self) -> None:
        pods = self.client.resource(Pod)
        listed = await pods.list(namespace=self.namespace)
        rv = listed.resource_version
        while True:
            async for ev in pods.watch(namespace=self.namespace, resource_version=rv, timeout_seconds=600):
                obj = ev.object
                if obj.metadata and obj.metadata.resource_version:
                    rv = obj.metadata.resource_version
                if ev.type in ("ADDED", "MODIFIED") and obj.spec and obj.spec.node_name and obj.metadata:
                    name = obj.metadata.name or ""
                    if name not in self.bound_at:
                        self.bound_at[name] = time.monotonic()
                        self.changed.set()

    async def wait_bound(self, names: set[str], deadline: float) -> bool:
        while not names.issubset(self.bound_at):
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                return False
        return True


async def bench(args: argparse.Namespace, server: ServerProcess) -> dict[str, Any]:
    config = load_config(kubeconfig=str(server.kubeconfig), component="scheduler-bench")
    report: dict[str, Any] = {"nodes": args.nodes, "cpus": os.cpu_count(), "datastore": args.datastore}
    server_pid = server.proc.pid if server.proc else None
    async with Client(config) as client:
        nodes = client.resource(Node)

        async def make_node(i: int) -> None:
            n = node_object(f"bench-node-{i:05}", zone=f"zone-{i % 3}")
            created = await nodes.create(n)
            if created.status is None or not created.status.allocatable:
                await nodes.update_status(Node(metadata=created.metadata, spec=created.spec, status=n.status))

        await run_pool(args.nodes, args.workers, make_node)
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        await client.resource(Namespace).create(Namespace(metadata=ObjectMeta(name=namespace)))
        pods = client.resource(Pod)

        # -- backlog: pods first, scheduler afterwards ---------------------------------------------
        started = time.monotonic()
        await run_pool(args.backlog, args.workers,
                       lambda i: pods.create(pod_object(f"backlog-{i:06}"), namespace=namespace))
        report["backlog_create_seconds"] = round(time.monotonic() - started, 2)
        watch = BindWatch(client, namespace)
        watcher = asyncio.create_task(watch.run())
        env = {**os.environ, "KYB_LOG_LEVEL": "WARNING"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _SCHEDULER, "--kubeconfig", str(server.kubeconfig), "--leader-elect=false",
            "--bind-concurrency", str(args.bind_concurrency), env=env,
        )
        try:
            cpu_s0, cpu_a0 = cpu_seconds(proc.pid), cpu_seconds(server_pid)
            t0 = time.monotonic()
            names = {f"backlog-{i:06}" for i in range(args.backlog)}
            complete = await watch.wait_bound(names, t0 + args.timeout)
            done = max((watch.bound_at[n] for n in names if n in watch.bound_at), default=t0)
            first = min((watch.bound_at[n] for n in names if n in watch.bound_at), default=t0)
            report["backlog"] = {
                "pods": args.backlog, "bound": len(names & watch.bound_at.keys()), "complete": complete,
                "seconds_from_scheduler_start": round(done - t0, 2),
                "seconds_first_to_last_bind": round(done - first, 2),
                "pods_per_second": round(len(names & watch.bound_at.keys()) / max(done - t0, 1e-9), 1),
                "scheduler_cpu_seconds": round(cpu_seconds(proc.pid) - cpu_s0, 2),
                "apiserver_cpu_seconds": round(cpu_seconds(server_pid) - cpu_a0, 2),
            }

            # -- burst: pods created while the scheduler runs ---------------------------------------
            created_at: dict[str, float] = {}

            async def create_burst(i: int) -> None:
                name = f"burst-{i:06}"
                await pods.create(pod_object(name), namespace=namespace)
                created_at[name] = time.monotonic()

            cpu_s0, cpu_a0 = cpu_seconds(proc.pid), cpu_seconds(server_pid)
            t1 = time.monotonic()
            await run_pool(args.burst, args.workers, create_burst)
            created_done = time.monotonic()
            burst_names = {f"burst-{i:06}" for i in range(args.burst)}
            complete = await watch.wait_bound(burst_names, created_done + args.timeout)
            bound = burst_names & watch.bound_at.keys()
            last = max((watch.bound_at[n] for n in bound), default=t1)
            latencies = sorted(max(0.0, watch.bound_at[n] - created_at[n]) * 1000 for n in bound if n in created_at)
            report["burst"] = {
                "pods": args.burst, "bound": len(bound), "complete": complete,
                "create_per_second": round(args.burst / max(created_done - t1, 1e-9), 1),
                "bound_per_second": round(len(bound) / max(last - t1, 1e-9), 1),
                "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
                "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 1) if latencies else None,
                "scheduler_cpu_seconds": round(cpu_seconds(proc.pid) - cpu_s0, 2),
                "apiserver_cpu_seconds": round(cpu_seconds(server_pid) - cpu_a0, 2),
            }
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            watcher.cancel()
            try:
                await watcher
            except (asyncio.CancelledError, Exception):
                pass
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=32, help="concurrent creating clients")
    parser.add_argument("--bind-concurrency", type=int, default=64)
    parser.add_argument("--datastore", default="sqlite")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up waiting for bindings after this")
    args = parser.parse_args()
    server = ServerProcess(datastore=args.datastore).start()
    try:
        report = asyncio.run(bench(args, server))
    finally:
        server.stop()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
