"""An in-memory stand-in for the API, for the unit tests of the cluster controllers (node lifecycle, node
IPAM, autoscaler, disruption, resource quota).

`FakeClient` answers the typed verbs the controllers use (`resource(Model)`: get, list, create, update,
update_status, patch (merge), delete, get_scale / update_scale; `dynamic(...)`: list, get_scale,
update_scale) from dicts, with a global resourceVersion and compare-and-swap on writes. Every write is
delivered at once to the informers of a `SharedInformerFactory` built on the same client, as a watch would
deliver it, so controllers see their own writes (tests never run the informers). `writes` logs every
write; `fail_next` makes the next write of a verb fail.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec

from kybernetes.api.models.autoscaling_v1 import Scale, ScaleSpec, ScaleStatus
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import EventRecorder, ObjectList, SharedInformerFactory, object_key
from kybernetes.client.resource import info_for_model
from kybernetes.machinery.errors import ConflictError, NotFoundError, StatusError
from kybernetes.machinery.labels import selector_from_api
from kybernetes.machinery.patch.json_patches import merge_values
from kybernetes.machinery.timefmt import now_rfc3339


class FakeResource:
    def __init__(self, *, api: FakeClient, model: type) -> None:
        self.api = api
        self.model = model
        self.info = info_for_model(model)
        self.objects: dict[str, Any] = {}

    def _key(self, name: str, namespace: str | None) -> str:
        return f"{namespace}/{name}" if self.info.namespaced and namespace else name

    def _get(self, name: str, namespace: str | None) -> Any:
        obj = self.objects.get(self._key(name, namespace))
        if obj is None:
            raise NotFoundError(f'{self.info.plural} "{name}" not found')
        return obj

    def _store(self, obj: Any, *, event: str) -> Any:
        meta = msgspec.structs.replace(obj.metadata, resource_version=str(next(self.api.rv)))
        obj = msgspec.structs.replace(obj, metadata=meta)
        key = object_key(obj)
        old = self.objects.get(key)
        self.objects[key] = obj
        self.api.deliver(self.model, obj, old=old, event=event)
        return obj

    def _check(self, verb: str, obj: Any) -> Any:
        self.api.check_failure(verb)
        current = self._get(obj.metadata.name, obj.metadata.namespace)
        if obj.metadata.resource_version and obj.metadata.resource_version != current.metadata.resource_version:
            raise ConflictError(f'Operation cannot be fulfilled on {self.info.plural} "{obj.metadata.name}": '
                                "the object has been modified; please apply your changes to the latest version "
                                "and try again")
        return current

    async def get(self, *, name: str, namespace: str | None = None, **_: Any) -> Any:
        return self._get(name, namespace)

    async def list(self, *, namespace: str | None = None, **_: Any) -> ObjectList[Any]:
        items = [o for o in self.objects.values()
                 if not namespace or getattr(o.metadata, "namespace", None) == namespace]
        return ObjectList(items=items, resource_version=str(next(self.api.rv)))

    async def create(self, obj: Any, **_: Any) -> Any:
        return self.add(obj)

    def add(self, obj: Any) -> Any:
        """Create without going through a coroutine (test set-up)."""
        self.api.check_failure("create")
        meta = obj.metadata
        if object_key(obj) in self.objects:
            raise StatusError.from_status({"code": 409, "reason": "AlreadyExists", "message": "exists"})
        meta = msgspec.structs.replace(
            meta, uid=meta.uid or f"uid-{meta.name}", creation_timestamp=meta.creation_timestamp or now_rfc3339(),
            generation=meta.generation or 1,
        )
        self.api.writes.append(("create", self.info.plural, object_key(obj)))
        return self._store(msgspec.structs.replace(obj, metadata=meta), event="ADDED")

    def put(self, obj: Any) -> Any:
        """Replace an object as another client would (test set-up; no resourceVersion check)."""
        return self._store(obj, event="MODIFIED")

    async def update(self, obj: Any, **_: Any) -> Any:
        current = self._check("update", obj)
        self.api.writes.append(("update", self.info.plural, object_key(obj)))
        if hasattr(obj, "status"):
            obj = msgspec.structs.replace(obj, status=current.status)
        return self._store(obj, event="MODIFIED")

    async def update_status(self, obj: Any, **_: Any) -> Any:
        current = self._check("update_status", obj)
        self.api.writes.append(("update_status", self.info.plural, object_key(obj)))
        return self._store(msgspec.structs.replace(current, status=obj.status), event="MODIFIED")

    async def patch(self, *, name: str, patch: Any, namespace: str | None = None, **_: Any) -> Any:
        self.api.check_failure("patch")
        current = self._get(name, namespace)
        self.api.writes.append(("patch", self.info.plural, self._key(name, namespace)))
        merged = merge_values(msgspec.to_builtins(current), patch)
        return self._store(msgspec.convert(merged, self.model), event="MODIFIED")

    async def delete(self, *, name: str, namespace: str | None = None, **_: Any) -> None:
        self.api.check_failure("delete")
        obj = self._get(name, namespace)
        self.api.writes.append(("delete", self.info.plural, self._key(name, namespace)))
        del self.objects[self._key(name, namespace)]
        self.api.deliver(self.model, obj, old=obj, event="DELETED")

    def remove(self, name: str, namespace: str | None = None) -> None:
        obj = self.objects.pop(self._key(name, namespace))
        self.api.deliver(self.model, obj, old=obj, event="DELETED")

    async def get_scale(self, *, name: str, namespace: str | None = None) -> Scale:
        obj = self._get(name, namespace)
        selector = getattr(obj.spec, "selector", None)
        text = str(selector_from_api(msgspec.to_builtins(selector))) if selector is not None else ""
        return Scale(
            metadata=ObjectMeta(name=name, namespace=namespace, uid=obj.metadata.uid,
                                resource_version=obj.metadata.resource_version),
            spec=ScaleSpec(replicas=obj.spec.replicas or 0),
            status=ScaleStatus(replicas=obj.spec.replicas or 0, selector=text),
        )

    async def update_scale(self, *, name: str, replicas: int, namespace: str | None = None, **_: Any) -> Scale:
        self.api.check_failure("update_scale")
        obj = self._get(name, namespace)
        self.api.writes.append(("update_scale", self.info.plural, self._key(name, namespace)))
        self._store(msgspec.structs.replace(obj, spec=msgspec.structs.replace(obj.spec, replicas=replicas)),
                    event="MODIFIED")
        return await self.get_scale(name=name, namespace=namespace)


class FakeClient:
    def __init__(self) -> None:
        self.rv = itertools.count(100)
        self.resources: dict[type, FakeResource] = {}
        self.factory: SharedInformerFactory | None = None
        self.writes: list[tuple[str, str, str]] = []
        self.failures: dict[str, StatusError] = {}

    def resource(self, model: type) -> Any:
        found = self.resources.get(model)
        if found is None:
            found = self.resources[model] = FakeResource(api=self, model=model)
        return found

    def dynamic(self, *, group: str, version: str, plural: str, namespaced: bool | None = None) -> Any:
        for res in self.resources.values():
            if res.info.group == group and res.info.plural == plural:
                return res
        raise NotFoundError(f"the server could not find the requested resource ({plural}.{group})")

    async def request(self, method: str, path: str, **_: Any) -> Any:
        raise NotFoundError(f"the server could not find the requested resource ({method} {path})")

    def fail_next(self, verb: str, error: StatusError) -> None:
        self.failures[verb] = error

    def check_failure(self, verb: str) -> None:
        error = self.failures.pop(verb, None)
        if error is not None:
            raise error

    def deliver(self, model: type, obj: Any, *, old: Any, event: str) -> None:
        if self.factory is None:
            return
        namespace = getattr(obj.metadata, "namespace", None)
        for (kind, ns, _, _), informer in list(self.factory._informers.items()):
            if kind is not model or (ns is not None and ns != namespace):
                continue
            informer._synced.set()
            if event == "DELETED":
                informer.store.remove(object_key(obj))
                informer._deleted(obj)
            else:
                _, previous = informer.store.upsert(obj)
                if previous is None:
                    informer._added(obj)
                else:
                    informer._updated(previous, obj)


def make_factory(client: FakeClient, **kwargs: Any) -> SharedInformerFactory:
    factory = SharedInformerFactory(client=client, **kwargs)  # type: ignore[arg-type]
    client.factory = factory
    return factory


def recorded_events(recorder: EventRecorder) -> list[tuple[str, str, str]]:
    """Drain the recorder's queue: (type, reason, message) of every event recorded so far."""
    out = []
    while not recorder._queue.empty():
        _, type_, reason, message = recorder._queue.get_nowait()
        recorder._queue.task_done()
        out.append((type_, reason, message))
    return out


async def drain(queue: Any, sync: Any) -> list[str]:
    """Run `sync` on every key queued right now (and any it queues again immediately)."""
    done = []
    while (key := queue.get_nowait()) is not None:
        try:
            await sync(key)
        finally:
            queue.done(key)
        done.append(key)
    return done


def make_context(options: dict[str, str] | None = None) -> tuple[FakeClient, Any]:
    """(fake client, ControllerContext on a FakeClock) for building a controller under test."""
    from kybernetes.client import FakeClock
    from kybernetes.controllers.base import ControllerContext

    client = FakeClient()
    clock = FakeClock()
    factory = make_factory(client, clock=clock)
    ctx = ControllerContext(client=client, informers=factory, clock=clock, options=dict(options or {}))  # type: ignore[arg-type]
    return client, ctx
