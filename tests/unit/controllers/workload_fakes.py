"""An in-memory API for the Job / CronJob / DaemonSet / StatefulSet controller unit tests.

`FakeCluster.resource(Model)` answers the verbs the controllers and the real informers use (list_all,
watch, get, create, update, update_status, patch, delete) from dicts, with one global resourceVersion,
generateName, uids, generation bumps on spec changes, finalizers and deletionTimestamp, resourceVersion
compare-and-swap, and the same error classes as the real client. Because the real `SharedInformerFactory`
runs on top of it, the controllers are exercised through their real handlers, queues and workers.

`Harness` builds a `ControllerContext` on a `FakeClock` (wall time follows it), runs controllers and
informers in a TaskGroup, and `settle()` waits — by yielding to the event loop, never sleeping — until
every watch event is delivered and every controller queue is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from kybernetes.api.models.core_v1 import Pod
from kybernetes.client import FakeClock, ObjectList, SharedInformerFactory, WatchEvent
from kybernetes.client.resource import info_for_model
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import WallClock
from kybernetes.machinery.errors import AlreadyExistsError, ConflictError, NotFoundError
from kybernetes.machinery.patch.json_patches import merge_values
from kybernetes.machinery.timefmt import format_rfc3339

START = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)


@dataclass
class Recorded:
    kind: str
    name: str
    type: str
    reason: str
    message: str


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[Recorded] = []

    def event(self, obj: Any, *, type: str = "Normal", reason: str, message: str) -> None:
        self.events.append(Recorded(obj.__class__.__name__, obj.metadata.name, type, reason, message))

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]

    async def run(self) -> None:
        await asyncio.Event().wait()


@dataclass
class _Kind:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    watchers: list[asyncio.Queue[tuple[str, dict[str, Any]]]] = field(default_factory=list)


class FakeCluster:
    def __init__(self, *, wall: WallClock) -> None:
        self.wall = wall
        self.rv = 1000
        self.kinds: dict[type, _Kind] = {}
        self.uids = itertools.count(1)
        self.names = itertools.count(1)
        self.writes: list[tuple[str, str, str]] = []  # (verb, kind, name)

    def resource(self, model: type) -> FakeResource:
        return FakeResource(cluster=self, model=model)

    def kind(self, model: type) -> _Kind:
        return self.kinds.setdefault(model, _Kind())

    def emit(self, model: type, event: str, obj: dict[str, Any]) -> None:
        kind = self.kind(model)
        snapshot = copy.deepcopy(obj)
        kind.log.append((self.rv, event, snapshot))
        for q in kind.watchers:
            q.put_nowait((event, snapshot))

    def bump(self, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def pending(self) -> int:
        return sum(q.qsize() for k in self.kinds.values() for q in k.watchers)

    # ---- direct access for tests (what a kubelet or a user would do) ---------------------------------------

    def get(self, model: type, key: str) -> Any:
        data = self.kind(model).objects.get(key)
        return None if data is None else msgspec.convert(data, model)

    def list(self, model: type) -> list[Any]:
        return [msgspec.convert(d, model) for _, d in sorted(self.kind(model).objects.items())]

    def names_of(self, model: type) -> list[str]:
        return sorted(d["metadata"]["name"] for d in self.kind(model).objects.values())

    def put(self, model: type, obj: Any) -> Any:
        """Create or replace an object as a user would (no resourceVersion check)."""
        data = msgspec.to_builtins(obj)
        meta = data.setdefault("metadata", {})
        ns = meta.get("namespace")
        key = f"{ns}/{meta['name']}" if ns else meta["name"]
        kind = self.kind(model)
        old = kind.objects.get(key)
        if old is None:
            self._new_meta(meta)
        else:
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            meta["generation"] = old["metadata"].get("generation", 1) + (old.get("spec") != data.get("spec"))
            if "status" not in data and "status" in old:
                data["status"] = old["status"]
        self.bump(data)
        kind.objects[key] = data
        self.emit(model, "MODIFIED" if old else "ADDED", data)
        return msgspec.convert(data, model)

    def set_status(self, model: type, key: str, **status: Any) -> None:
        data = self.kind(model).objects[key]
        data["status"] = merge_values(data.get("status") or {}, status)
        self.bump(data)
        self.emit(model, "MODIFIED", data)

    def pod_state(self, key: str, *, phase: str, ready: bool = False, node: str | None = None) -> None:
        """Move a pod as a kubelet would: phase, Ready condition (transition time = now)."""
        data = self.kind(Pod).objects[key]
        if node:
            data["spec"]["nodeName"] = node
        stamp = format_rfc3339(self.wall())
        data["status"] = {"phase": phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": stamp}]}
        self.bump(data)
        self.emit(Pod, "MODIFIED", data)

    def remove(self, model: type, key: str) -> None:
        data = self.kind(model).objects.pop(key)
        self.bump(data)
        self.emit(model, "DELETED", data)

    def _new_meta(self, meta: dict[str, Any]) -> None:
        meta["uid"] = f"uid-{next(self.uids)}"
        meta["creationTimestamp"] = format_rfc3339(self.wall())
        meta.setdefault("generation", 1)


class FakeResource:
    def __init__(self, *, cluster: FakeCluster, model: type) -> None:
        self.cluster = cluster
        self.model = model
        self.info = info_for_model(model)

    @property
    def _kind(self) -> _Kind:
        return self.cluster.kind(self.model)

    def _key(self, namespace: str | None, name: str) -> str:
        return f"{namespace}/{name}" if namespace and self.info.namespaced else name

    def _out(self, data: dict[str, Any]) -> Any:
        return msgspec.convert(copy.deepcopy(data), self.model)

    def _not_found(self, name: str) -> NotFoundError:
        return NotFoundError.of(resource=self.info.plural, group=self.info.group, name=name)

    async def list_all(self, *, namespace: str | None = None, **_: Any) -> ObjectList[Any]:
        items = [self._out(d) for k, d in sorted(self._kind.objects.items())
                 if namespace is None or d["metadata"].get("namespace") == namespace]
        return ObjectList(items=items, resource_version=str(self.cluster.rv))

    async def watch(self, *, resource_version: str | None = None, **_: Any) -> AsyncIterator[WatchEvent[Any]]:
        since = int(resource_version or 0)
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        for rv, event, obj in self._kind.log:
            if rv > since:
                queue.put_nowait((event, obj))
        self._kind.watchers.append(queue)
        try:
            while True:
                event, obj = await queue.get()
                yield WatchEvent(type=event, object=self._out(obj))
        finally:
            self._kind.watchers.remove(queue)

    async def get(self, *, name: str, namespace: str | None = None, **_: Any) -> Any:
        data = self._kind.objects.get(self._key(namespace, name))
        if data is None:
            raise self._not_found(name)
        return self._out(data)

    async def create(self, obj: Any, *, namespace: str | None = None, **_: Any) -> Any:
        data = msgspec.to_builtins(obj)
        meta = data.setdefault("metadata", {})
        ns = namespace or meta.get("namespace")
        if ns and self.info.namespaced:
            meta["namespace"] = ns
        if not meta.get("name"):
            meta["name"] = f"{meta.get('generateName', '')}{next(self.cluster.names):05d}"
        key = self._key(ns, meta["name"])
        if key in self._kind.objects:
            raise AlreadyExistsError.of(resource=self.info.plural, group=self.info.group, name=meta["name"])
        if self.model is not Pod:
            data.pop("status", None)  # the API server clears status on create (pods get Pending later)
        self.cluster._new_meta(meta)
        self.cluster.bump(data)
        self._kind.objects[key] = data
        self.cluster.writes.append(("create", self.info.kind, meta["name"]))
        self.cluster.emit(self.model, "ADDED", data)
        return self._out(data)

    def _current(self, obj: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
        data = msgspec.to_builtins(obj)
        meta = data["metadata"]
        key = self._key(meta.get("namespace"), meta["name"])
        old = self._kind.objects.get(key)
        if old is None:
            raise self._not_found(meta["name"])
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise ConflictError.stale(resource=self.info.plural, group=self.info.group, name=meta["name"])
        return key, old, data

    def _store(self, key: str, data: dict[str, Any], verb: str) -> Any:
        meta = data["metadata"]
        self.cluster.bump(data)
        self.cluster.writes.append((verb, self.info.kind, meta["name"]))
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self._kind.objects[key]
            self.cluster.emit(self.model, "DELETED", data)
        else:
            self._kind.objects[key] = data
            self.cluster.emit(self.model, "MODIFIED", data)
        return self._out(data)

    async def update(self, obj: Any, **_: Any) -> Any:
        key, old, data = self._current(obj)
        data["status"] = old.get("status")
        if data["status"] is None:
            data.pop("status")
        for k in ("uid", "creationTimestamp", "deletionTimestamp"):
            if k in old["metadata"]:
                data["metadata"][k] = old["metadata"][k]
        data["metadata"]["generation"] = old["metadata"].get("generation", 1) + (old.get("spec") != data.get("spec"))
        return self._store(key, data, "update")

    async def update_status(self, obj: Any, **_: Any) -> Any:
        key, old, data = self._current(obj)
        new = copy.deepcopy(old)
        new["status"] = data.get("status")
        return self._store(key, new, "update_status")

    async def patch(self, *, name: str, patch: Any, namespace: str | None = None, type: str = "merge",
                    subresource: str = "", **_: Any) -> Any:
        assert type == "merge", type
        key = self._key(namespace, name)
        old = self._kind.objects.get(key)
        if old is None:
            raise self._not_found(name)
        want_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise ConflictError.stale(resource=self.info.plural, group=self.info.group, name=name)
        return self._store(key, merge_values(old, patch), "patch")

    async def delete(self, *, name: str, namespace: str | None = None, preconditions: Any = None,
                     **_: Any) -> Any:
        key = self._key(namespace, name)
        old = self._kind.objects.get(key)
        if old is None:
            raise self._not_found(name)
        if preconditions is not None and preconditions.uid and preconditions.uid != old["metadata"]["uid"]:
            raise ConflictError(f"Precondition failed: UID in precondition: {preconditions.uid}")
        self.cluster.writes.append(("delete", self.info.kind, name))
        if old["metadata"].get("finalizers"):
            if not old["metadata"].get("deletionTimestamp"):
                old["metadata"]["deletionTimestamp"] = format_rfc3339(self.cluster.wall())
                self.cluster.bump(old)
                self.cluster.emit(self.model, "MODIFIED", old)
            return self._out(old)
        del self._kind.objects[key]
        self.cluster.bump(old)
        self.cluster.emit(self.model, "DELETED", old)
        return self._out(old)


class Harness:
    """A FakeCluster, a ControllerContext on a FakeClock, and a way to wait for quiet."""

    def __init__(self, *, start: datetime = START) -> None:
        self.clock = FakeClock()
        self.wall = WallClock(clock=self.clock, start=start)
        self.cluster = FakeCluster(wall=self.wall)
        self.informers = SharedInformerFactory(client=self.cluster, clock=self.clock)  # type: ignore[arg-type]
        self.recorder = FakeRecorder()
        self.ctx = ControllerContext(client=self.cluster, informers=self.informers, clock=self.clock,  # type: ignore[arg-type]
                                     options={"job-pod-failure-backoff": "0"})
        self.queues: list[Any] = []

    def use_recorder(self, component: str) -> None:
        self.ctx.recorders[component] = self.recorder  # type: ignore[assignment]

    @contextlib.asynccontextmanager
    async def running(self, *controllers: Any, queues: list[Any]) -> AsyncIterator[Harness]:
        self.queues = queues
        async with asyncio.TaskGroup() as tg:
            informers = tg.create_task(self.informers.run())
            await asyncio.wait_for(self.informers.wait_synced(), 5)
            tasks = [tg.create_task(c.run(workers=2)) for c in controllers]
            await self.settle()
            try:
                yield self
            finally:
                for t in [*tasks, informers]:
                    t.cancel()

    async def settle(self) -> None:
        """Yield until watch events are delivered and the queues are idle for a while."""
        quiet = 0
        for _ in range(20000):
            await asyncio.sleep(0)
            busy = self.cluster.pending() > 0 or any(
                len(q) > 0 or q.statistics().processing > 0 for q in self.queues)
            quiet = 0 if busy else quiet + 1
            if quiet >= 30:
                return
        raise AssertionError("controllers never settled")

    async def advance(self, seconds: float) -> None:
        """Move the fake clock forward in small steps, settling after each (timers fire on the way)."""
        step = 1.0
        remaining = seconds
        while remaining > 0:
            chunk = min(step, remaining)
            self.clock.advance(chunk)
            remaining -= chunk
            await self.settle()
