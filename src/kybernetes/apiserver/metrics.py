"""The resource metrics API, `metrics.k8s.io/v1beta1`, served by the API server itself (no metrics-server).

    GET /apis/metrics.k8s.io/v1beta1/nodes[/NAME]                       NodeMetrics(List)
    GET /apis/metrics.k8s.io/v1beta1[/namespaces/NS]/pods[/NAME]        PodMetrics(List)
    (labelSelector on the node's / pod's labels; `as=Table` gives Name, CPU, Memory, Window columns)

It computes what metrics-server does: `KubeletScraper` asks each Ready node's kubelet for `/stats/summary`
(concurrently, with a short timeout; the node's InternalIP and daemonEndpoints port, the API server's kubelet
client certificate) and keeps each answer `ttl` seconds, so that `kubectl top` and every autoscaler between
two scrapes share one. Usage is the kubelet's: CPU `usageNanoCores` (a rate over the kubelet's sampling
window) as nanocores ("123456n", or shorter when exact: "250m"), memory the working set in bytes
("1234Ki"). A node whose kubelet cannot be reached, a node without usage yet, and a pod with a container
without usage are left out, as metrics-server leaves them out (`kubectl top` then says "metrics not
available yet"); a GET of one answers NotFound (`podmetrics.metrics.k8s.io "ns/name" not found`).

Only pods the API knows are reported (the API's labels; a sandbox of an older pod of the same name is not
the pod). Nothing is stored; there is no watch.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import aiohttp
from aiohttp import web

from kybernetes.apiserver.handlers import json_response
from kybernetes.apiserver.printers.model import NAME_COLUMN, Column
from kybernetes.apiserver.requestinfo import RequestInfo
from kybernetes.apiserver.rest import ResourceREST
from kybernetes.machinery import errors
from kybernetes.machinery.labels import LabelSelector
from kybernetes.machinery.quantity import Format, Quantity

__all__ = ["METRICS_GROUP", "METRICS_VERSION", "KubeletScraper", "MetricsAPI", "cpu_quantity", "memory_quantity"]

log = logging.getLogger(__name__)

METRICS_GROUP = "metrics.k8s.io"
METRICS_VERSION = "v1beta1"
API_VERSION = f"{METRICS_GROUP}/{METRICS_VERSION}"
DEFAULT_KUBELET_PORT = 10250
# The kubelet measures CPU rates over its sampling interval (stats.DEFAULT_INTERVAL): the reported window.
WINDOW = "10s"

_NOT_ALLOWED = "the server does not allow this method on the requested resource"


def cpu_quantity(nanocores: int) -> str:
    """Nanocores as metrics-server writes them: the shortest exact decimal form ("1500u", "2", "123n")."""
    return Quantity(Fraction(nanocores, 1_000_000_000), Format.DECIMAL_SI).canonical()


def memory_quantity(size: int) -> str:
    """Bytes as a binary-SI quantity ("1234Ki" when a whole number of KiB)."""
    return Quantity(Fraction(size), Format.BINARY_SI).canonical()


def _rfc3339(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kubelet_url(node: dict[str, Any]) -> str | None:
    """https://InternalIP:port of the node's kubelet, None when the node has no address."""
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    address = next((a.get("address") for a in addresses if a.get("type") == "InternalIP" and a.get("address")), None)
    address = address or next((a.get("address") for a in addresses if a.get("address")), None)
    if not address:
        return None
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}"


def node_ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


# ---- scraping --------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    fetched_at: float  # monotonic
    url: str
    summary: dict[str, Any] | None  # None: the kubelet could not be reached


class KubeletScraper:
    """Summaries of the nodes' kubelets, each kept `ttl` seconds; one fetch per node at a time."""

    def __init__(self, *, ssl_context: Callable[[], ssl.SSLContext | None], timeout: float = 5.0,
                 ttl: float = 10.0, now: Callable[[], float] = time.monotonic) -> None:
        self.ssl_context, self.timeout, self.ttl, self.now = ssl_context, timeout, ttl, now
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[_Entry]] = {}
        self.fetches = 0  # statistics: kubelet requests made

    async def _fetch(self, *, name: str, url: str) -> _Entry:
        self.fetches += 1
        summary: dict[str, Any] | None = None
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(f"{url}/stats/summary", ssl=self.ssl_context() or False) as r:
                if r.status == 200:
                    summary = await r.json(content_type=None)
                else:
                    log.info("kubelet of node %s answered %d to /stats/summary", name, r.status)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
            log.info("kubelet of node %s unreachable for stats: %s", name, e)
        return _Entry(fetched_at=self.now(), url=url, summary=summary if isinstance(summary, dict) else None)

    async def summaries(self, *, nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """node name → its kubelet's summary, for the Ready `nodes` whose kubelet answered."""
        wanted: dict[str, str] = {}
        for node in nodes:
            name, url = (node.get("metadata") or {}).get("name", ""), kubelet_url(node)
            if name and url and node_ready(node):
                wanted[name] = url
        now = self.now()
        for name in list(self._entries):
            if name not in wanted:
                del self._entries[name]
        for name, url in wanted.items():
            entry = self._entries.get(name)
            fresh = entry is not None and entry.url == url and now - entry.fetched_at < self.ttl
            if not fresh and name not in self._inflight:
                self._inflight[name] = asyncio.create_task(self._fetch(name=name, url=url))
        tasks = {name: self._inflight[name] for name in wanted if name in self._inflight}
        if tasks:
            await asyncio.wait(tasks.values())
        for name, task in tasks.items():
            if self._inflight.get(name) is task:
                del self._inflight[name]
                self._entries[name] = task.result()
        return {name: e.summary for name, e in self._entries.items() if name in wanted and e.summary is not None}


# ---- the API ---------------------------------------------------------------------------------------------


def _node_metrics(node: dict[str, Any], summary: dict[str, Any], *, now: str) -> dict[str, Any] | None:
    n = summary.get("node") or {}
    cpu, memory = n.get("cpu") or {}, n.get("memory") or {}
    if cpu.get("usageNanoCores") is None or memory.get("workingSetBytes") is None:
        return None
    meta = node.get("metadata") or {}
    metadata: dict[str, Any] = {"name": meta.get("name", ""), "creationTimestamp": now}
    if meta.get("labels"):
        metadata["labels"] = meta["labels"]
    return {"metadata": metadata, "timestamp": cpu.get("time") or now, "window": WINDOW,
            "usage": {"cpu": cpu_quantity(int(cpu["usageNanoCores"])),
                      "memory": memory_quantity(int(memory["workingSetBytes"]))}}


def _pod_metrics(pod: dict[str, Any], stats: dict[str, Any], *, now: str) -> dict[str, Any] | None:
    containers = []
    times = []
    for c in stats.get("containers") or []:
        cpu, memory = c.get("cpu") or {}, c.get("memory") or {}
        if cpu.get("usageNanoCores") is None or memory.get("workingSetBytes") is None:
            return None  # metrics-server reports a pod only when every container has its usage
        times.append(cpu.get("time") or now)
        containers.append({"name": c.get("name", ""),
                           "usage": {"cpu": cpu_quantity(int(cpu["usageNanoCores"])),
                                     "memory": memory_quantity(int(memory["workingSetBytes"]))}})
    if not containers:
        return None
    meta = pod.get("metadata") or {}
    metadata: dict[str, Any] = {"name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                                "creationTimestamp": now}
    if meta.get("labels"):
        metadata["labels"] = meta["labels"]
    return {"metadata": metadata, "timestamp": max(times), "window": WINDOW, "containers": containers}


def _cpu_nanos(text: str) -> int:
    return int(Quantity.parse(text).value * 1_000_000_000)


def _table(*, items: list[dict[str, Any]], pods: bool, include_object: str) -> dict[str, Any]:
    columns = [NAME_COLUMN, Column("CPU", description="CPU usage (nanocores)"),
               Column("Memory", description="Memory usage (working set, bytes)"),
               Column("Window", description="Window over which the usage was measured")]
    rows = []
    for item in items:
        if pods:
            cpu = sum(_cpu_nanos(c["usage"]["cpu"]) for c in item["containers"])
            memory = sum(Quantity.parse(c["usage"]["memory"]).to_int() for c in item["containers"])
            usage = {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)}
        else:
            usage = item["usage"]
        row: dict[str, Any] = {"cells": [item["metadata"]["name"], usage["cpu"], usage["memory"], item["window"]]}
        if include_object == "Object":
            row["object"] = item
        elif include_object in ("", "Metadata"):
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": item["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": [c.to_dict() for c in columns], "rows": rows}


def _wants_table(request: web.Request) -> bool:
    return any("as=Table" in clause.replace(" ", "") for clause in request.headers.get("Accept", "").split(","))


class MetricsAPI:
    """Answers requests for `metrics.k8s.io`; `lookup` gives the API's node and pod resources."""

    def __init__(self, *, lookup: Callable[[str], ResourceREST | None], scraper: KubeletScraper) -> None:
        self.lookup, self.scraper = lookup, scraper

    def _rest(self, qualified: str) -> ResourceREST:
        rest = self.lookup(qualified)
        if rest is None:
            raise errors.InternalError(f"{qualified} are not served")
        return rest

    async def serve(self, request: web.Request, ri: RequestInfo) -> web.StreamResponse:
        if ri.version != METRICS_VERSION or ri.resource not in ("nodes", "pods") or ri.subresource:
            raise errors.NotFoundError("the server could not find the requested resource")
        if ri.verb not in ("get", "list"):
            raise errors.MethodNotAllowedError(_NOT_ALLOWED)
        if ri.resource == "nodes" and ri.namespace:
            raise errors.NotFoundError("the server could not find the requested resource")
        if ri.resource == "pods" and ri.verb == "get" and not ri.namespace:
            raise errors.NotFoundError("the server could not find the requested resource")
        text = request.query.get("labelSelector", "")
        selector = LabelSelector.parse(text) if text else LabelSelector.everything()
        items = await (self._nodes(ri=ri, selector=selector) if ri.resource == "nodes"
                       else self._pods(ri=ri, selector=selector))
        kind = "NodeMetrics" if ri.resource == "nodes" else "PodMetrics"
        if ri.verb == "get":
            if not items:
                name = ri.name if ri.resource == "nodes" else f"{ri.namespace}/{ri.name}"
                raise errors.NotFoundError(f'{kind.lower()}.{METRICS_GROUP} "{name}" not found')
            if _wants_table(request):
                return json_response(_table(items=items, pods=ri.resource == "pods",
                                            include_object=request.query.get("includeObject", "")))
            return json_response({"kind": kind, "apiVersion": API_VERSION, **items[0]}, request=request)
        if _wants_table(request):
            return json_response(_table(items=items, pods=ri.resource == "pods",
                                        include_object=request.query.get("includeObject", "")))
        return json_response({"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items},
                             request=request)

    async def _nodes(self, *, ri: RequestInfo, selector: LabelSelector) -> list[dict[str, Any]]:
        nodes = [o.obj for o in self._rest("nodes").cache.list(namespace=None, predicate=None)
                 if (not ri.name or o.name == ri.name) and selector.matches(o.labels)]
        summaries = await self.scraper.summaries(nodes=nodes)
        now = _rfc3339(datetime.datetime.now(datetime.UTC))
        out = []
        for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
            summary = summaries.get(node["metadata"]["name"])
            found = _node_metrics(node, summary, now=now) if summary is not None else None
            if found is not None:
                out.append(found)
        return out

    async def _pods(self, *, ri: RequestInfo, selector: LabelSelector) -> list[dict[str, Any]]:
        pods = [o.obj for o in self._rest("pods").cache.list(namespace=ri.namespace or None, predicate=None)
                if (not ri.name or o.name == ri.name) and selector.matches(o.labels)]
        node_names = {(p.get("spec") or {}).get("nodeName") for p in pods} - {None, ""}
        if not node_names:
            return []
        nodes = [o.obj for o in self._rest("nodes").cache.list(namespace=None, predicate=None)
                 if o.name in node_names]
        summaries = await self.scraper.summaries(nodes=nodes)
        # By uid: a sandbox of an earlier pod of the same name (maybe on another node) is not this pod.
        stats: dict[tuple[str, str, str], dict[str, Any]] = {}
        for summary in summaries.values():
            for p in summary.get("pods") or []:
                ref = p.get("podRef") or {}
                stats[(ref.get("namespace", ""), ref.get("name", ""), ref.get("uid", ""))] = p
        now = _rfc3339(datetime.datetime.now(datetime.UTC))
        out = []
        for pod in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"])):
            meta = pod["metadata"]
            found = stats.get((meta.get("namespace", ""), meta["name"], meta.get("uid", "")))
            if found is None:
                continue
            metrics = _pod_metrics(pod, found, now=now)
            if metrics is not None:
                out.append(metrics)
        return out
