"""API load: C concurrent clients doing mixed CRUD while W watchers follow the pods; throughput and latency
per verb, and watch event delay (write sent → event received by each watcher).

    .venv/bin/python bench/api_load.py --watchers 100 [--clients 16] [--duration 10]
    .venv/bin/python bench/api_load.py --watchers 1000
    .venv/bin/python bench/api_load.py --kubeconfig KUBECONFIG [--server-pid PID] ...   # any cluster

Without `--kubeconfig` it starts its own `kyb server` (tests/cluster.py) on SQLite with no components
beside the API server, and stops it afterwards. With `--kubeconfig` it drives whatever server the
kubeconfig names, using only the Kubernetes REST API; process figures then come from `--server-pid`.

The run:
  1. one namespace per client; a LIST of pods gives the resourceVersion the watches start from;
  2. W watches on pods with allowWatchBookmarks: half cluster-wide, half on client 0's namespace. Each
     HTTP/1.1 watch holds its own connection, so one aiohttp connector sized W + C carries everything;
  3. C clients, each in its own namespace, for `--duration` seconds: create / get / list the namespace /
     patch labels / delete, on configmaps and unscheduled pods (deleted at once: no node, no kubelet);
  4. a drain: wait (at most `--drain` s) until every watcher has seen every pod write it should see.

Watch event delay: every pod create and patch carries the wall time it was sent in the annotation
`bench.kybernetes.io/sent`; a delete's send time is kept by namespace/name (a DELETED event shows the
object's last state). The delay of one event at one watcher is its arrival time minus that send time, so
it includes the write's own latency, the fan-out and the client's reading of the stream. The watchers run
in this process, on the same 2 cores as the server and the clients: `bench_cpu_s` tells how much CPU the
benchmark itself took, which a reader should weigh against the server's.

It prints one JSON document; it never passes or fails on time. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Api, cpu_seconds, kyb_control_plane, machine, sample, summarize

from kybernetes.client import ClientConfig, load_config

SENT = "bench.kybernetes.io/sent"
VERBS = ("create", "get", "list", "patch", "delete")
KINDS = ("configmaps", "pods")
_POOL = 8  # objects a client keeps alive per kind before it starts deleting


def log(message: str) -> None:
    print(f"[api-load] {message}", file=sys.stderr, flush=True)


# ---- what a watcher decodes of each event ----------------------------------------------------------


class _Meta(msgspec.Struct, rename="camel"):
    name: str = ""
    namespace: str = ""
    resource_version: str = ""
    annotations: dict[str, str] | None = None


class _Object(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    code: int = 0  # of the Status in an ERROR event
    message: str = ""


class _Event(msgspec.Struct):
    type: str
    object: _Object


class _RvList(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


_event_decoder = msgspec.json.Decoder(_Event)
_rv_decoder = msgspec.json.Decoder(_RvList)


@dataclass
class Shared:
    """State the clients write and the watchers read: send times of deletes, counts of pod writes."""

    deletes_sent: dict[str, float] = field(default_factory=dict)
    pod_writes: Counter[str] = field(default_factory=Counter)  # namespace → successful pod writes
    delays: list[float] = field(default_factory=list)
    events = 0
    bookmarks = 0
    unstamped = 0  # pod events without a send time (not ours)
    established = 0
    dropped = 0  # streams that ended or broke while the run went on
    errored = 0  # non-200 answers and ERROR events
    first_errors: list[str] = field(default_factory=list)
    received_by: list[int] = field(default_factory=list)  # events per watcher
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set on every watch open and event

    async def wait_until(self, done: Callable[[], bool], *, within: float) -> None:
        """Return once `done()` holds or `within` seconds have passed."""
        deadline = time.monotonic() + within
        while not done() and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(self.changed.wait(), min(0.1, max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                pass
            self.changed.clear()

    def error(self, message: str) -> None:
        self.errored += 1
        if len(self.first_errors) < 10:
            self.first_errors.append(message[:300])


async def watcher(api: Api, shared: Shared, *, index: int, namespace: str | None, rv: str,
                  stop: asyncio.Event, max_restarts: int = 20) -> None:
    path = f"api/v1/namespaces/{namespace}/pods" if namespace else "api/v1/pods"
    connected = False
    for _attempt in range(max_restarts + 1):
        if stop.is_set():
            return
        params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "600"}
        try:
            async with api.session.get(path, params=params,
                                       timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
                if response.status != 200:
                    shared.error(f"watch {path}: {response.status} {(await response.read())[:200]!r}")
                    await asyncio.sleep(1)
                    continue
                if not connected:
                    connected = True
                    shared.established += 1
                    shared.changed.set()
                async for line in response.content:
                    now = time.time()
                    if not line.strip():
                        continue
                    event = _event_decoder.decode(line)
                    if event.type == "ERROR":
                        shared.error(f"watch {path}: ERROR {event.object.code} {event.object.message}")
                        break
                    meta = event.object.metadata
                    rv = meta.resource_version or rv
                    if event.type == "BOOKMARK":
                        shared.bookmarks += 1
                        continue
                    shared.events += 1
                    shared.changed.set()
                    shared.received_by[index] += 1
                    sent = (shared.deletes_sent.get(f"{meta.namespace}/{meta.name}") if event.type == "DELETED"
                            else float((meta.annotations or {}).get(SENT, 0)) or None)
                    if sent is None:
                        shared.unstamped += 1
                    else:
                        shared.delays.append(now - sent)
        except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError) as e:
            if not stop.is_set():
                shared.error(f"watch {path}: {e!r}")
        if stop.is_set():
            return
        shared.dropped += 1  # the stream ended under load: resume from the last resourceVersion


# ---- the clients -----------------------------------------------------------------------------------


def _body(*, kind: str, name: str, namespace: str, sent: float) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "labels": {"app": "load", "rev": "0"},
            "annotations": {SENT: repr(sent)}}
    if kind == "configmaps":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"key": "value" * 20}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


_CONTENT = {"POST": "application/json", "PATCH": "application/merge-patch+json"}


async def _timed(api: Api, *, verb: str, kind: str, method: str, path: str,
                 body: dict[str, Any] | None = None) -> bool:
    key = f"{verb} {kind}"
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": _CONTENT[method]} if data is not None else None
    started = time.perf_counter()
    try:
        async with api.session.request(method, path, data=data, headers=headers,
                                       timeout=aiohttp.ClientTimeout(total=60)) as response:
            raw = await response.read()
    except (aiohttp.ClientError, TimeoutError) as e:
        api.failures[key] += 1
        api.error(f"{method} {path}: {e!r}")
        return False
    if response.status >= 300:
        api.failures[key] += 1
        api.error(f"{method} {path}: {response.status} {raw[:300]!r}")
        return False
    api.latency[key].append(time.perf_counter() - started)
    return True


async def client(api: Api, shared: Shared, *, namespace: str, deadline: float, seed: int,
                 max_ops: int = 1_000_000) -> None:
    rng = random.Random(seed)
    live: dict[str, list[str]] = {kind: [] for kind in KINDS}
    counter = 0
    for _ in range(max_ops):
        if time.monotonic() >= deadline:
            return
        kind = rng.choice(KINDS)
        pool = live[kind]
        base = f"api/v1/namespaces/{namespace}/{kind}"
        verb = "create" if len(pool) < 2 else rng.choice(VERBS)
        if verb == "delete" and len(pool) < _POOL:
            verb = "patch"
        if verb == "create":
            counter += 1
            name = f"{kind[:2]}-{counter:06}"
            if await _timed(api, verb=verb, kind=kind, method="POST", path=base,
                            body=_body(kind=kind, name=name, namespace=namespace, sent=time.time())):
                pool.append(name)
                if kind == "pods":
                    shared.pod_writes[namespace] += 1
        elif verb == "get":
            await _timed(api, verb=verb, kind=kind, method="GET", path=f"{base}/{rng.choice(pool)}")
        elif verb == "list":
            await _timed(api, verb=verb, kind=kind, method="GET", path=base)
        elif verb == "patch":
            patch = {"metadata": {"labels": {"rev": str(rng.randrange(1 << 30))},
                                  "annotations": {SENT: repr(time.time())}}}
            ok = await _timed(api, verb=verb, kind=kind, method="PATCH", path=f"{base}/{rng.choice(pool)}",
                              body=patch)
            if ok and kind == "pods":
                shared.pod_writes[namespace] += 1
        else:
            name = pool.pop(rng.randrange(len(pool)))
            if kind == "pods":
                shared.deletes_sent[f"{namespace}/{name}"] = time.time()
            if await _timed(api, verb=verb, kind=kind, method="DELETE", path=f"{base}/{name}") and kind == "pods":
                shared.pod_writes[namespace] += 1


# ---- the run ---------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Options:
    watchers: int = 100
    clients: int = 16
    duration: float = 10.0
    drain: float = 30.0
    establish_timeout: float = 60.0


def _proc(pid: int | None) -> dict[str, Any] | None:
    s = sample(pid) if pid is not None else None
    return None if s is None else {"cpu_s": s.cpu_seconds, "rss_mib": s.rss_mib, "peak_rss_mib": s.peak_rss_mib}


async def run(config: ClientConfig, opts: Options, *, server_pid: int | None) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    namespaces = [f"load-{run_id}-{i}" for i in range(opts.clients)]
    shared = Shared(received_by=[0] * opts.watchers)
    report: dict[str, Any] = {}
    async with Api(config, connections=opts.watchers + opts.clients + 4) as api:
        for ns in namespaces:
            await api.mutate("POST", "api/v1/namespaces", resource="namespaces",
                             body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        async with api.session.get("api/v1/pods", params={"limit": "1"}) as response:
            rv = _rv_decoder.decode(await response.read()).metadata.resource_version
        api.latency.clear()  # the namespaces were set-up, not load
        stop = asyncio.Event()
        cluster_wide = opts.watchers // 2
        t0 = time.monotonic()
        watches = [asyncio.create_task(watcher(api, shared, index=i, rv=rv, stop=stop,
                                               namespace=None if i < cluster_wide else namespaces[0]))
                   for i in range(opts.watchers)]
        await shared.wait_until(lambda: shared.established >= opts.watchers, within=opts.establish_timeout)
        report["watchers"] = {"requested": opts.watchers, "cluster_wide": cluster_wide,
                              "namespaced": opts.watchers - cluster_wide,
                              "established": shared.established,
                              "establish_s": round(time.monotonic() - t0, 2)}
        log(f"{shared.established}/{opts.watchers} watches open after {time.monotonic() - t0:.1f}s")

        server_before, bench_before = _proc(server_pid), cpu_seconds(os.getpid())
        load_started = time.monotonic()
        deadline = load_started + opts.duration
        await asyncio.gather(*(client(api, shared, namespace=ns, deadline=deadline, seed=i)
                               for i, ns in enumerate(namespaces)))
        load_s = time.monotonic() - load_started
        events_in_load = shared.events
        server_after_load = _proc(server_pid)

        # Every pod write reaches every cluster-wide watcher; those in namespace 0 also reach the others.
        expected = (cluster_wide * sum(shared.pod_writes.values())
                    + (opts.watchers - cluster_wide) * shared.pod_writes[namespaces[0]])
        drain_started = time.monotonic()
        await shared.wait_until(lambda: shared.events >= expected, within=opts.drain)
        drain_s = time.monotonic() - drain_started
        server_after, bench_after = _proc(server_pid), cpu_seconds(os.getpid())
        stop.set()
        for task in watches:
            task.cancel()
        await asyncio.gather(*watches, return_exceptions=True)

        ops = {key: len(v) for key, v in api.latency.items()}
        report["load_s"] = round(load_s, 2)
        report["throughput_ops_per_s"] = {"total": round(sum(ops.values()) / load_s, 1),
                                          **{k: round(n / load_s, 1) for k, n in sorted(ops.items())}}
        report["latency_ms"] = api.latency_figures()
        report["pod_writes"] = sum(shared.pod_writes.values())
        report["watch"] = {
            "events_expected": expected, "events_received": shared.events,
            "events_missing": max(0, expected - shared.events),
            "events_per_s_during_load": round(events_in_load / load_s, 1),
            "events_per_s_overall": round(shared.events / (load_s + drain_s), 1),
            "drain_s": round(drain_s, 2),
            "delay_ms": summarize(shared.delays, scale=1000, digits=1, points=(0.5, 0.9, 0.99)),
            "bookmarks": shared.bookmarks, "unstamped_events": shared.unstamped,
            "dropped": shared.dropped, "errored": shared.errored, "first_errors": shared.first_errors,
            "min_events_per_watcher": min(shared.received_by, default=0),
        }
        report["errors"] = api.error_figures()
        if server_before and server_after and server_after_load:
            report["server"] = {
                "cpu_s_during_load": round(server_after_load["cpu_s"] - server_before["cpu_s"], 2),
                "cpu_s_load_and_drain": round(server_after["cpu_s"] - server_before["cpu_s"], 2),
                "rss_mib_before": server_before["rss_mib"], "rss_mib_after": server_after["rss_mib"],
                "peak_rss_mib": server_after["peak_rss_mib"]}
        if bench_before is not None and bench_after is not None:
            report["bench_cpu_s"] = round(bench_after - bench_before, 2)
    return report


@contextmanager
def own_server() -> Iterator[tuple[ClientConfig, int]]:
    from cluster import ServerProcess

    server = ServerProcess(datastore="sqlite", components=())
    try:
        server.start()
        assert server.proc is not None
        log(f"kyb server pid {server.proc.pid} on {server.url} (sqlite, API server only)")
        yield load_config(kubeconfig=str(server.kubeconfig), component="api-load"), server.proc.pid
    finally:
        server.stop()


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:  # the server, our child, inherits the raised limit too
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, help="drive this cluster instead of starting a server")
    parser.add_argument("--server-pid", type=int, help="with --kubeconfig: the server's pid, for RSS/CPU")
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of mixed CRUD")
    parser.add_argument("--drain", type=float, default=30.0, help="at most this long for watchers to catch up")
    args = parser.parse_args()
    opts = Options(watchers=args.watchers, clients=args.clients, duration=args.duration, drain=args.drain)
    _raise_fd_limit(2 * (opts.watchers + opts.clients) + 256)
    head: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                            "config": {"watchers": opts.watchers, "clients": opts.clients,
                                       "duration_s": opts.duration}}
    if args.kubeconfig:
        config = load_config(kubeconfig=str(args.kubeconfig), component="api-load")
        pids = kyb_control_plane(args.server_pid) if args.server_pid else {}
        report = asyncio.run(run(config, opts, server_pid=pids.get("apiserver")))
        result = {"target": f"kubeconfig {args.kubeconfig}", **head, **report}
    else:
        with own_server() as (config, pid):
            report = asyncio.run(run(config, opts, server_pid=pid))
        result = {"target": "kyb server (sqlite, API server only)", **head, **report}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
