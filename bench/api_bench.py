"""API server throughput over HTTPS: pod create, get, list and delete per second with p50/p99 latency.

    .venv/bin/python bench/api_bench.py [--datastore sqlite|etcd] [--workers 16] [--duration 4]
    .venv/bin/python bench/api_bench.py --kubeconfig ~/.kube/config [--server-pid PID]   # any server

Without `--kubeconfig` it starts its own `kyb server` (tests/cluster.py) on SQLite, or on a private etcd
(tests/etcd_server.py) with `--datastore etcd`, and stops it afterwards. With `--kubeconfig` it drives
whatever server the kubeconfig's current context names (a real Kubernetes cluster, say), authenticating
with the kubeconfig's client certificate or token.

Phases, each `--duration` seconds with `--workers` concurrent tasks on one aiohttp session (keep-alive,
one connection per worker):

  create  POST a small pod (one container, labels) into a fresh namespace, each with a unique name
  get     GET a random created pod
  list    GET the pods of a separate namespace that holds `--list-size` pods
  update  PUT a created pod back with a changed label (the whole object, resourceVersion pinned to the
          last response, as a controller's update is); each worker cycles over its own share of the pods
  status  PUT `pods/{name}/status` with a kubelet-like Running status (conditions, container statuses,
          IPs) whose restart count changes every time, pinned like `update`
  status-patch  a merge PATCH of `pods/{name}/status` (what the kubelet sends), unpinned
  delete  DELETE the created pods (unscheduled, so removed at once), until all are gone or time is up

It prints one JSON document: per phase the operations done, errors, ops/s, p50/p99/max latency in ms,
and, when the server's pid is known, its RSS and the CPU seconds it spent per phase (the client runs on
the same machine and competes for CPU, which the report's `cpus` lets a reader weigh). It never passes
or fails on time; it only reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import ssl
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_seconds, machine, sample

from cluster import ServerProcess
from etcd_server import EtcdServer, etcd_available
from kybernetes.apiserver.auth.kubeconfig import load_kubeconfig

PHASES = ("create", "get", "list", "update", "status", "status-patch", "delete")


def pod_body(*, name: str, namespace: str) -> bytes:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench", "tier": "web"}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
    }).encode()


def pod_status(*, generation: int) -> dict[str, Any]:
    """A kubelet-like status of a running one-container pod; `generation` moves the restart count so that
    every write is a real change."""
    at = "2026-01-01T00:00:00Z"
    conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": at}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                            "PodScheduled")]
    return {
        "phase": "Running", "conditions": conditions, "hostIP": "10.0.0.7", "hostIPs": [{"ip": "10.0.0.7"}],
        "podIP": "10.244.1.9", "podIPs": [{"ip": "10.244.1.9"}], "startTime": at, "qosClass": "Burstable",
        "containerStatuses": [{
            "name": "app", "ready": True, "started": True, "restartCount": generation,
            "image": "registry.k8s.io/pause:3.10", "imageID": "registry.k8s.io/pause@sha256:" + "0" * 64,
            "containerID": "containerd://" + "1" * 64, "state": {"running": {"startedAt": at}},
            "lastState": {},
        }],
    }


@dataclass
class Target:
    base: str
    ssl_context: ssl.SSLContext
    headers: dict[str, str]
    pid: int | None
    description: str


@dataclass
class PhaseResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    elapsed: float = 0.0
    cpu_seconds: float | None = None

    def summary(self) -> dict[str, Any]:
        ops = len(self.latencies)
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(ordered[min(ops - 1, int(p * ops))] * 1000, 2) if ops else 0.0

        out: dict[str, Any] = {
            "ops": ops, "errors": self.errors, "seconds": round(self.elapsed, 2),
            "ops_per_s": round(ops / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(ordered[-1] * 1000, 2) if ops else 0.0,
        }
        if self.first_error:
            out["first_error"] = self.first_error[:300]
        if self.cpu_seconds is not None:
            out["server_cpu_s"] = round(self.cpu_seconds, 2)
            out["server_cpu_ms_per_op"] = round(self.cpu_seconds * 1000 / ops, 3) if ops else None
        return out


# ---- the server's process figures ------------------------------------------------------------------


def _memory_mib(pid: int | None) -> dict[str, float] | None:
    figures = sample(pid) if pid is not None else None
    if figures is None:
        return None
    return {"rss_mib": figures.rss_mib, "peak_rss_mib": figures.peak_rss_mib}


# ---- the workload ----------------------------------------------------------------------------------


async def _run_phase(*, workers: int, duration: float, pid: int | None,
                     op: Callable[[int], Awaitable[bool]]) -> PhaseResult:
    """`op(worker)` does one request and returns False when there is nothing left to do."""
    result = PhaseResult()
    deadline = time.perf_counter() + duration

    async def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                more = await op(index)
            except _Failed as e:
                result.errors += 1
                result.first_error = result.first_error or str(e)
                continue
            result.latencies.append(time.perf_counter() - started)
            if not more:
                return

    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    result.elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(pid)
    if cpu_before is not None and cpu_after is not None:
        result.cpu_seconds = cpu_after - cpu_before
    return result


class _Failed(Exception):
    pass


async def _request(session: aiohttp.ClientSession, method: str, url: str, *, expect: tuple[int, ...],
                   data: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/json"} if data is not None else None
    async with session.request(method, url, data=data, headers=headers) as response:
        body = await response.read()
        if response.status not in expect:
            raise _Failed(f"{method} {url}: {response.status} {body[:200]!r}")
        return body


async def bench(target: Target, *, workers: int, duration: float, list_size: int,
                phases: tuple[str, ...]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(ssl=target.ssl_context, limit=workers + 2, keepalive_timeout=60)
    run_id = uuid.uuid4().hex[:6]
    ns, list_ns = f"bench-{run_id}", f"bench-list-{run_id}"
    report: dict[str, Any] = {"phases": {}}
    async with aiohttp.ClientSession(base_url=target.base, connector=connector, headers=target.headers) as s:
        for name in (ns, list_ns):
            await _request(s, "POST", "/api/v1/namespaces", expect=(201,), data=json.dumps(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).encode())
        pods = f"/api/v1/namespaces/{ns}/pods"
        sem = asyncio.Semaphore(workers)

        async def seed(i: int) -> None:
            async with sem:
                await _request(s, "POST", f"/api/v1/namespaces/{list_ns}/pods", expect=(201,),
                               data=pod_body(name=f"l-{i:05}", namespace=list_ns))

        if "list" in phases:
            await asyncio.gather(*(seed(i) for i in range(list_size)))

        created: list[str] = []
        latest: dict[str, dict[str, Any]] = {}  # name -> the object the last write answered
        counter = iter(range(1 << 62))

        async def create(worker: int) -> bool:
            name = f"p-{next(counter):07}"
            body = await _request(s, "POST", pods, expect=(201,), data=pod_body(name=name, namespace=ns))
            created.append(name)
            latest[name] = json.loads(body)
            return True

        turns = [0] * workers

        def next_own(worker: int) -> str:
            """The worker's next pod: worker i owns pods i, i + workers, ... so no two race on one pod."""
            own = created[worker::workers] or created
            turns[worker] += 1
            return own[turns[worker] % len(own)]

        async def update(worker: int) -> bool:
            name = next_own(worker)
            obj = latest[name]
            obj["metadata"].setdefault("labels", {})["gen"] = str(turns[worker])
            body = await _request(s, "PUT", f"{pods}/{name}", expect=(200,), data=json.dumps(obj).encode())
            latest[name] = json.loads(body)
            return True

        async def status(worker: int) -> bool:
            name = next_own(worker)
            obj = latest[name]
            obj["status"] = pod_status(generation=turns[worker])
            body = await _request(s, "PUT", f"{pods}/{name}/status", expect=(200,),
                                  data=json.dumps(obj).encode())
            latest[name] = json.loads(body)
            return True

        async def status_patch(worker: int) -> bool:
            name = next_own(worker)
            patch = json.dumps({"status": pod_status(generation=turns[worker] + 1_000_000)}).encode()
            async with s.patch(f"{pods}/{name}/status", data=patch,
                               headers={"Content-Type": "application/merge-patch+json"}) as response:
                answer = await response.read()
                if response.status != 200:
                    raise _Failed(f"PATCH {pods}/{name}/status: {response.status} {answer[:200]!r}")
            latest[name] = json.loads(answer)
            return True

        async def get(worker: int) -> bool:
            await _request(s, "GET", f"{pods}/{random.choice(created)}", expect=(200,))
            return True

        async def list_pods(worker: int) -> bool:
            await _request(s, "GET", f"/api/v1/namespaces/{list_ns}/pods", expect=(200,))
            return True

        to_delete: list[str] = []

        async def delete(worker: int) -> bool:
            if not to_delete:
                return False
            await _request(s, "DELETE", f"{pods}/{to_delete.pop()}", expect=(200, 202))
            return bool(to_delete)

        ops: dict[str, Callable[[int], Awaitable[bool]]] = {
            "create": create, "get": get, "list": list_pods, "update": update, "status": status,
            "status-patch": status_patch, "delete": delete}
        for phase in PHASES:
            if phase not in phases:
                continue
            if phase in ("get", "update", "status", "status-patch") and not created:
                continue
            if phase == "delete":
                to_delete[:] = created[::-1]
            result = await _run_phase(workers=workers, duration=duration, pid=target.pid, op=ops[phase])
            report["phases"][phase] = result.summary()
            if phase == "list":
                report["phases"][phase]["items_per_list"] = list_size
        report["memory"] = _memory_mib(target.pid)
    return report


# ---- targets ---------------------------------------------------------------------------------------


def _target_from_kubeconfig(path: Path, *, pid: int | None, description: str) -> Target:
    kc = load_kubeconfig(path)
    headers = {"Authorization": f"Bearer {kc.token}"} if kc.token else {}
    return Target(base=kc.server, ssl_context=kc.ssl_context(), headers=headers, pid=pid,
                  description=description)


@contextmanager
def own_server(datastore: str) -> Iterator[Target]:
    etcd: EtcdServer | None = None
    if datastore == "etcd":
        if not etcd_available():
            raise SystemExit("--datastore etcd needs /usr/bin/etcd")
        etcd = EtcdServer().start()
    server: ServerProcess | None = None
    try:
        server = ServerProcess(datastore=f"etcd://{etcd.endpoint}" if etcd else "sqlite").start()
        assert server.proc is not None
        print(f"kyb server pid {server.proc.pid} on {server.url} ({datastore})", file=sys.stderr, flush=True)
        yield _target_from_kubeconfig(server.kubeconfig, pid=server.proc.pid,
                                      description=f"kyb server ({datastore})")
    finally:
        if server is not None:
            server.stop()
        if etcd is not None:
            etcd.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datastore", choices=("sqlite", "etcd"), default="sqlite",
                        help="for the server this script starts")
    parser.add_argument("--kubeconfig", type=Path, help="drive this cluster instead of starting a server")
    parser.add_argument("--server-pid", type=int, help="with --kubeconfig: the server's pid, for RSS/CPU")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per phase")
    parser.add_argument("--list-size", type=int, default=100, help="pods in the listed namespace")
    parser.add_argument("--phases", default=",".join(PHASES))
    args = parser.parse_args()
    phases = tuple(p for p in args.phases.split(",") if p)
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases: {sorted(unknown)}")

    def run(target: Target) -> dict[str, Any]:
        report = asyncio.run(bench(target, workers=args.workers, duration=args.duration,
                                   list_size=args.list_size, phases=phases))
        return {"target": target.description, "workers": args.workers, "duration_per_phase_s": args.duration,
                "machine": machine(), **report}

    if args.kubeconfig:
        result = run(_target_from_kubeconfig(args.kubeconfig, pid=args.server_pid,
                                             description=f"kubeconfig {args.kubeconfig}"))
    else:
        with own_server(args.datastore) as target:
            result = run(target)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
