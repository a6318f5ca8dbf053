"""An in-process fake API server for the client's unit tests (served by aiohttp's TestServer in conftest).

It serves core/v1 pods only, from a dict, with a global resourceVersion, paged lists, a watch that streams
from an event log, and knobs the tests turn: `inject(...)` queues canned responses for the next requests
(429 / 5xx / Retry-After), `expire_watches()` ends open watches with a 410 ERROR frame, `compact()` makes
older resourceVersions answer 410, and `silent()` changes the state without telling watchers (what a client
misses while its watch is gone).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message, "metadata": {}}


@dataclass
class Canned:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeApi:
    def __init__(self) -> None:
        self.rv = 100
        self.pods: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[int, str, dict[str, Any]]] = []
        self.compacted = 0
        self.canned: list[Canned] = []
        self.requests: list[web.Request] = []
        self.watchers: list[asyncio.Queue[tuple[str, dict[str, Any]] | None]] = []
        self.watch_count = 0
        self.list_count = 0
        self._silent = False
        self._changed = asyncio.Condition()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait (at most 5 s) until `predicate()` holds; re-checked whenever a list or watch starts or ends."""
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(predicate)

    # ---- state -------------------------------------------------------------------------------------------

    def _bump(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return obj

    def _emit(self, kind: str, obj: dict[str, Any]) -> None:
        self.log.append((self.rv, kind, json.loads(json.dumps(obj))))
        if not self._silent:
            for q in self.watchers:
                q.put_nowait((kind, obj))

    def put(self, namespace: str, name: str, *, labels: dict[str, str] | None = None,
            node: str | None = None, managed_fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        key = f"{namespace}/{name}"
        existed = key in self.pods
        pod = {
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels or {},
                         **({"managedFields": managed_fields} if managed_fields else {})},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **({"nodeName": node} if node else {})},
        }
        self.pods[key] = self._bump(pod)
        self._emit("MODIFIED" if existed else "ADDED", pod)
        return pod

    def remove(self, namespace: str, name: str) -> None:
        pod = self.pods.pop(f"{namespace}/{name}")
        self._bump(pod)
        self._emit("DELETED", pod)

    @contextmanager
    def silent(self) -> Iterator[None]:
        self._silent = True
        try:
            yield
        finally:
            self._silent = False

    def compact(self) -> None:
        self.compacted = self.rv

    def expire_watches(self) -> None:
        for q in self.watchers:
            q.put_nowait(None)

    def end_watches(self) -> None:
        for q in self.watchers:
            q.put_nowait(("END", {}))

    def inject(self, *canned: Canned) -> None:
        self.canned.extend(canned)

    # ---- HTTP --------------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/v1/pods", self.collection)
        app.router.add_route("*", "/api/v1/namespaces/{ns}/pods", self.collection)
        app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}", self.item)
        app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/{sub}", self.item)
        return app

    def _canned(self, request: web.Request) -> web.Response | None:
        self.requests.append(request)
        if not self.canned:
            return None
        c = self.canned.pop(0)
        text = c.body if isinstance(c.body, str) else json.dumps(c.body) if c.body is not None else ""
        return web.Response(status=c.status, text=text, headers=c.headers, content_type="application/json")

    def _not_found(self, name: str) -> web.Response:
        return web.json_response(status_body(404, "NotFound", f'pods "{name}" not found'), status=404)

    async def collection(self, request: web.Request) -> web.StreamResponse:
        canned = self._canned(request)
        if canned is not None:
            return canned
        ns = request.match_info.get("ns")
        if request.method == "POST":
            body = await request.json()
            name = body["metadata"]["name"]
            if f"{ns}/{name}" in self.pods:
                return web.json_response(status_body(409, "AlreadyExists", f'pods "{name}" already exists'),
                                         status=409)
            pod = self.put(ns or "", name)
            return web.json_response(pod, status=201)
        if request.query.get("watch") in ("1", "true"):
            return await self.watch(request, ns)
        self.list_count += 1
        await self._notify()
        items = [p for k, p in sorted(self.pods.items()) if ns is None or k.startswith(ns + "/")]
        selector = request.query.get("labelSelector", "")
        if selector:
            k, _, v = selector.partition("=")
            items = [p for p in items if p["metadata"]["labels"].get(k) == v]
        start = int(request.query.get("continue") or 0)
        limit = int(request.query.get("limit") or 0) or len(items)
        page = items[start:start + limit]
        more = start + limit < len(items)
        meta: dict[str, Any] = {"resourceVersion": str(self.rv)}
        if more:
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": page})

    async def item(self, request: web.Request) -> web.StreamResponse:
        canned = self._canned(request)
        if canned is not None:
            return canned
        ns, name = request.match_info["ns"], request.match_info["name"]
        key = f"{ns}/{name}"
        if request.method == "GET":
            return web.json_response(self.pods[key]) if key in self.pods else self._not_found(name)
        if request.method == "DELETE":
            if key not in self.pods:
                return self._not_found(name)
            pod = self.pods[key]
            self.remove(ns, name)
            return web.json_response(pod)
        if request.method in ("PUT", "PATCH"):
            if key not in self.pods:
                return self._not_found(name)
            body = await request.json()
            pod = self.pods[key]
            if request.method == "PUT":
                if body["metadata"].get("resourceVersion") != pod["metadata"]["resourceVersion"]:
                    return web.json_response(status_body(409, "Conflict", "the object has been modified"),
                                             status=409)
                pod = body
            else:
                if isinstance(body, dict):
                    pod["metadata"]["labels"].update(body.get("metadata", {}).get("labels", {}))
            self.pods[key] = self._bump(pod)
            self._emit("MODIFIED", pod)
            return web.json_response(pod)
        return web.Response(status=405)

    async def watch(self, request: web.Request, ns: str | None) -> web.StreamResponse:
        self.watch_count += 1
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        since = int(request.query.get("resourceVersion") or 0)
        if since < self.compacted:
            frame = {"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")}
            await response.write(json.dumps(frame).encode() + b"\n")
            return response
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        for rv, kind, obj in self.log:
            if rv > since:
                queue.put_nowait((kind, obj))
        self.watchers.append(queue)
        await self._notify()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    frame = {"type": "ERROR", "object": status_body(410, "Expired", "watch expired")}
                    await response.write(json.dumps(frame).encode() + b"\n")
                    break
                kind, obj = item
                if kind == "END":
                    break
                if ns is not None and obj["metadata"]["namespace"] != ns:
                    continue
                await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
        finally:
            self.watchers.remove(queue)
            await self._notify()
        return response
