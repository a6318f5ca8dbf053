"""Watch cache memory: bytes per cached pod and per buffered event, and the cost of unpaged LIST bodies.

    .venv/bin/python bench/watchcache_memory.py [--pods 10000] [--capacity 10000] [--lists 0]

Builds one `WatchCache` for pods (no store: events are applied directly, as the hub does) and feeds it
N creates and then N status updates of realistic pods: a Deployment's pause pod as the ReplicaSet
controller creates it, bound, then Running after a simulator status write, with the managedFields the
API server records for both writers (~4.3 KB of JSON each). `tracemalloc` measures what the cache
holds: total after the updates, then the objects alone (the ring buffer emptied, so the LISTs run
without it), and so the bytes per cached object and per buffered event. The input values are built per event and dropped, as the store's are.

With `--lists K` it then serves K unpaged LISTs of every pod through `ResourceHandlers.list_objects`
(a real aiohttp request object; the connection counts the bytes and keeps none, so the transport's own
buffering is not included) and reports their time, the process's peak RSS rise over them (VmHWM reset
through /proc/self/clear_refs first), the RSS left after them, and the traced peak of one LIST.

With `--paged N` it instead fills a SQLite store with N such pods and times kubectl's paged LIST (pages of
500) through the handler, once while nothing changed and once after writes pushed the snapshot's revision
out of the ring buffer (later pages then read the store).

Run it against another checkout with PYTHONPATH=<checkout>/src to compare. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import copy
import functools
import gc
import json
import sys
import time
import tracemalloc
from typing import Any
from unittest import mock

import msgspec

from kybernetes.api.fields import selectable_fields
from kybernetes.api.resources import RESOURCES
from kybernetes.api.schema import definitions as served_definitions
from kybernetes.apiserver.watchcache import WatchCache
from kybernetes.machinery import managedfields as mf
from kybernetes.storage import Event, EventType, KeyValue

PREFIX = "/registry/pods/"
T0, T1, T2 = "2026-11-25T10:00:00Z", "2026-11-25T10:00:01Z", "2026-11-25T10:00:03Z"


def pod_info() -> Any:
    return next(r for r in RESOURCES if r.plural == "pods" and not r.group)


def pod_template(schema: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(created pod, the same pod Running) with managedFields, as stored (no resourceVersion)."""
    created: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web-0001-7d9c6b5f4-abcde", "generateName": "web-0001-7d9c6b5f4-", "namespace": "density-3",
            "uid": "0b2c3d4e-1111-2222-3333-444455556666", "creationTimestamp": T0,
            "labels": {"app": "web-0001", "pod-template-hash": "7d9c6b5f4", "density.kybernetes.io/run": "r1234"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-0001-7d9c6b5f4",
                                 "uid": "aaaabbbb-cccc-dddd-eeee-ffff00001111", "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "containers": [{
                "name": "pause", "image": "registry.k8s.io/pause:3.10", "imagePullPolicy": "IfNotPresent",
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": True,
                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            }],
            "volumes": [{"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 0, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
            "schedulerName": "default-scheduler", "enableServiceLinks": True, "priority": 0,
            "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300}],
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }
    created = mf.update(old=None, new=created, manager="kube-controller-manager", api_version="v1",
                        schema=schema, now=T0)
    running = copy.deepcopy(created)
    running["spec"]["nodeName"] = "sim-node-0042"
    running["status"] = {
        "phase": "Running", "qosClass": "Burstable", "hostIP": "10.0.0.42", "hostIPs": [{"ip": "10.0.0.42"}],
        "podIP": "10.244.42.17", "podIPs": [{"ip": "10.244.42.17"}], "startTime": T1,
        "conditions": [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": T2}
                       for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                 "PodScheduled")],
        "containerStatuses": [{
            "name": "pause", "ready": True, "restartCount": 0, "image": "registry.k8s.io/pause:3.10",
            "imageID": "",
            "containerID": "sim://0b2c3d4e-pause", "started": True, "state": {"running": {"startedAt": T2}}}],
    }
    running = mf.update(old=created, new=running, manager="kyb-simulator", api_version="v1", schema=schema,
                        now=T2, subresource="status")
    return created, running


def stored_value(template: dict[str, Any], i: int) -> tuple[str, bytes]:
    """The i-th pod's key and stored bytes: unique name, uid and IP, as real pods have."""
    obj = copy.deepcopy(template)
    meta = obj["metadata"]
    meta["name"] = f"web-{i % 100:04d}-7d9c6b5f4-{i:05d}"
    meta["namespace"] = f"density-{i % 10}"
    meta["uid"] = f"0b2c3d4e-1111-2222-3333-{i:012d}"
    if "podIP" in obj["status"]:
        obj["status"]["podIP"] = f"10.244.{i // 250 % 250}.{i % 250}"
    return f"{PREFIX}{meta['namespace']}/{meta['name']}", msgspec.json.encode(obj)


class _Page(msgspec.Struct):
    metadata: dict[str, Any] = {}
    items: list[msgspec.Raw] = []


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def build(*, pods: int, capacity: int) -> tuple[WatchCache, dict[str, Any]]:
    schema = mf.OpenAPIFieldSchema.for_definition(served_definitions(), "io.k8s.api.core.v1.Pod")
    created, running = pod_template(schema)
    values = {kind: [stored_value(template, i) for i in range(min(pods, 2000))]
              for template, kind in ((created, EventType.CREATE), (running, EventType.UPDATE))}

    def fill(cache: WatchCache, count: int, *, given: bool) -> float:
        """Apply `count` creates then `count` updates; seconds spent in `apply` alone when `given`."""
        revision, spent = 1, 0.0
        for template, kind in ((created, EventType.CREATE), (running, EventType.UPDATE)):
            for i in range(count):
                key, value = values[kind][i] if given else stored_value(template, i)
                revision += 1
                event = Event(type=kind, kv=KeyValue(key=key, value=value, create_revision=i + 2,
                                                     mod_revision=revision))
                started = time.perf_counter()
                cache.apply([event])
                spent += time.perf_counter() - started
        return spent

    def new_cache() -> WatchCache:
        return WatchCache(store=None, prefix=PREFIX, capacity=capacity,  # type: ignore[arg-type]
                          fields_of=functools.partial(selectable_fields, pod_info()))

    # CPU of `apply` (decode, resourceVersion, filters' view, ring), untraced, on ready-made values.
    count = min(pods, 2000)
    apply_us = fill(new_cache(), count, given=True) / (2 * count) * 1e6
    values.clear()
    cache = new_cache()
    tracemalloc.start()
    base = traced()
    fill(cache, pods, given=False)
    total = traced() - base
    events = cache.statistics().buffered_events
    # Empty the ring buffer (a private field, present in every version) to weigh the objects alone.
    ring: collections.deque[Any] = cache._events
    ring.clear()
    objects_only = traced() - base
    figures = {
        "pods": pods,
        "capacity": capacity,
        "stored_json_bytes": {"created": len(stored_value(created, 1)[1]), "running": len(stored_value(running, 1)[1])},
        "apply_us_per_event": round(apply_us, 1),
        "traced_total_mib": round(total / 2**20, 1),
        "bytes_per_cached_pod": round(objects_only / pods),
        "buffered_events": events,
        "bytes_per_buffered_event": round((total - objects_only) / events) if events else 0,
        "oldest_servable_revision": cache.statistics().oldest_servable_revision,
    }
    return cache, figures


async def measure_lists(cache: WatchCache, *, lists: int) -> dict[str, Any]:
    """K unpaged LISTs of every pod through the real handler; peak traced bytes of one and RSS growth."""
    from aiohttp.test_utils import make_mocked_request

    from kybernetes.apiserver.handlers import ResourceHandlers
    from kybernetes.apiserver.requestinfo import RequestInfo

    class _Rest:
        info = pod_info()
        from_storage = None

        def __init__(self, cache: WatchCache) -> None:
            self.cache = cache

        def present(self, obj: dict[str, Any]) -> dict[str, Any]:
            return obj

        def present_bytes(self, cached: Any) -> bytes:
            return bytes(cached.data)

        async def sync_cache(self) -> None:
            return None

    class _Writer(mock.Mock):
        """The connection: counts what a streamed response writes, keeps none of it."""

        async def write(self, data: bytes) -> None:
            written[0] += len(data)

        async def write_headers(self, *args: Any) -> None:
            return None

        async def write_eof(self, *args: Any) -> None:
            return None

        async def drain(self) -> None:
            return None

    written = [0]
    rest = _Rest(cache)
    handlers = ResourceHandlers(rests={}, subresources={})
    ri = RequestInfo(is_resource_request=True, path="/api/v1/pods", verb="list", api_prefix="api", version="v1",
                     resource="pods")

    async def one() -> tuple[float, int]:
        written[0] = 0
        request = make_mocked_request("GET", "/api/v1/pods", headers={"Accept": "application/json"},
                                      writer=_Writer())
        started = time.perf_counter()
        response = await handlers.list_objects(request, rest, ri)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        body = getattr(response, "body", None)
        return elapsed, len(body) if isinstance(body, bytes | bytearray) else written[0]

    # RSS: untraced LISTs after the peak (VmHWM) was reset, so the build phase's peak does not hide theirs.
    tracemalloc.stop()
    gc.collect()
    rss_before = proc_status("VmRSS")
    reset_peak_rss()
    times: list[float] = []
    size = 0
    for _ in range(lists):
        elapsed, size = await one()
        times.append(elapsed)
    hwm = proc_status("VmHWM")
    rss_after = proc_status("VmRSS")
    # Peak of one LIST, traced.
    tracemalloc.start()
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    await one()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "lists": lists,
        "body_mib": round(size / 2**20, 1),
        "list_s_p50": round(sorted(times)[len(times) // 2], 3),
        "peak_traced_mib_per_list": round(peak / 2**20, 1),
        "rss_mib_before": round(rss_before / 1024, 1),
        "peak_rss_rise_mib": round((hwm - rss_before) / 1024, 1),
        "rss_rise_after_mib": round((rss_after - rss_before) / 1024, 1),
    }


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def proc_status(field: str) -> int:
    """A kB figure of /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def measure_paged(*, pods: int, page: int) -> dict[str, Any]:
    """kubectl's paged LIST of `pods` pods from a SQLite store through the real handler and watch cache:
    pages served while nothing changed, and after writes pushed the snapshot out of the ring buffer."""
    import tempfile
    from pathlib import Path

    from aiohttp.test_utils import make_mocked_request

    from kybernetes.apiserver.handlers import ResourceHandlers
    from kybernetes.apiserver.requestinfo import RequestInfo
    from kybernetes.apiserver.rest import ResourceREST
    from kybernetes.apiserver.watchcache import CacheHub
    from kybernetes.storage.backends.sqlite import SQLiteStore

    schema = mf.OpenAPIFieldSchema.for_definition(served_definitions(), "io.k8s.api.core.v1.Pod")
    _, running = pod_template(schema)
    with tempfile.TemporaryDirectory(prefix="kyb-wcm-") as tmp:
        store = SQLiteStore(path=Path(tmp) / "state.db")
        await store.start()
        cache = WatchCache(store=store, prefix=PREFIX, fields_of=functools.partial(selectable_fields, pod_info()))
        hub = CacheHub(store=store)
        hub.add(cache)
        task = asyncio.create_task(hub.run())
        try:
            for lo in range(0, pods, 500):
                await asyncio.gather(*(store.create(key=k, value=v) for k, v in
                                       (stored_value(running, i) for i in range(lo, min(pods, lo + 500)))))
            await hub.wait_ready()
            await cache.wait_for_revision(await store.current_revision(), within=60)
            rest = ResourceREST(info=pod_info(), strategy=None, store=store, cache=cache,  # type: ignore[arg-type]
                                decode=lambda **kw: kw["obj"], admission=[])
            handlers = ResourceHandlers(rests={}, subresources={})
            ri = RequestInfo(is_resource_request=True, path="/api/v1/pods", verb="list", api_prefix="api",
                             version="v1", resource="pods")

            async def get(token: str) -> dict[str, Any]:
                query = f"limit={page}" + (f"&continue={token}" if token else "")
                request = make_mocked_request("GET", f"/api/v1/pods?{query}", headers={"Accept": "application/json"})
                response = await handlers.list_objects(request, rest, ri)
                # The client's side kept cheap: items stay raw, only the list metadata is decoded.
                page_: _Page = msgspec.json.decode(getattr(response, "body", b"") or b"{}", type=_Page)
                return {"items": page_.items, "metadata": page_.metadata}

            async def paged(*, disturb: bool) -> tuple[float, int]:
                started = time.perf_counter()
                first = await get("")
                count, token = len(first["items"]), first["metadata"].get("continue", "")
                if disturb:
                    # Writes after the snapshot, more than the ring holds: later pages must read the store.
                    cache.capacity = 1
                    for i in (0, 1):
                        key, value = stored_value(running, i)
                        kv = await store.get(key=key)
                        assert kv is not None
                        await store.update(key=key, value=value, expected_revision=kv.mod_revision)
                    await cache.wait_for_revision(await store.current_revision())
                while token:
                    body = await get(token)
                    count += len(body["items"])
                    token = body["metadata"].get("continue", "")
                return time.perf_counter() - started, count

            quiet_s, quiet_n = await paged(disturb=False)
            moved_s, moved_n = await paged(disturb=True)
            return {"pods": pods, "page": page, "items_seen": [quiet_n, moved_n],
                    "paged_list_s_unchanged": round(quiet_s, 2), "paged_list_s_after_writes": round(moved_s, 2)}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--capacity", type=int, default=10_000, help="the ring buffer's event count")
    parser.add_argument("--lists", type=int, default=0, help="also serve this many unpaged LISTs")
    parser.add_argument("--paged", type=int, default=0,
                        help="instead: time kubectl's paged LIST of this many pods from a SQLite store")
    args = parser.parse_args()
    if args.paged:
        json.dump(asyncio.run(measure_paged(pods=args.paged, page=500)), sys.stdout, indent=2)
        print()
        return
    cache, figures = build(pods=args.pods, capacity=args.capacity)
    if args.lists:
        figures["list"] = asyncio.run(measure_lists(cache, lists=args.lists))
    json.dump(figures, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
