"""In-memory stand-ins for unit tests of controllers: an informer, a resource client and an event recorder.

`FakeInformer[T]` is a `Lister` over a real `Store` (same indexes, same keys); tests put objects in with
`add` / `update` / `delete`, which call the registered handlers as a real informer would.

`FakeWriter[T]` is an `ObjectWriter` that keeps the "server" state: it assigns names from `generateName`,
UIDs, resourceVersions and creationTimestamps, bumps `generation` when the spec changes, rejects stale
resourceVersions with `ConflictError`, applies merge patches, and records every call in `actions`. With
`echo=True` (the default) each write is immediately reflected into the informer, as if the watch delivered
it at once; with `echo=False` the test calls `flush()` to deliver pending writes when it wants to (to test
expectations). `fail(verb, error, times=)` injects errors.

`FakeRecorder` keeps events as `(type, reason, message)` tuples, per involved object name.
"""

from __future__ import annotations

import builtins
import itertools
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from kybernetes.api.models.meta_v1 import ObjectMeta, Preconditions
from kybernetes.client.store import IndexFunc, Store, object_key
from kybernetes.controllers.common.wallclock import Now
from kybernetes.machinery.errors import AlreadyExistsError, ConflictError, NotFoundError, StatusError
from kybernetes.machinery.patch.json_patches import apply_merge_patch
from kybernetes.machinery.timefmt import format_rfc3339

T = TypeVar("T", bound=msgspec.Struct)

_rv_counter = itertools.count(1)


class FakeInformer(Generic[T]):
    def __init__(self, *, indexers: Mapping[str, IndexFunc[T]] | None = None) -> None:
        self.store: Store[T] = Store(indexers=indexers, key_func=object_key)
        self._handlers: list[tuple[Any, Any, Any]] = []

    def get(self, key: str) -> T | None:
        return self.store.get(key)

    def list(self) -> builtins.list[T]:
        return self.store.list()

    def by_index(self, name: str, value: str) -> builtins.list[T]:
        return self.store.by_index(name, value)

    def add_indexer(self, name: str, func: IndexFunc[T]) -> None:
        if name not in self.store.statistics().indexes:
            self.store.add_indexer(name, func)

    def add_handler(
        self,
        *,
        on_add: Callable[[T], None] | None = None,
        on_update: Callable[[T, T], None] | None = None,
        on_delete: Callable[[T], None] | None = None,
    ) -> None:
        self._handlers.append((on_add, on_update, on_delete))
        for obj in self.store.list():
            if on_add is not None:
                on_add(obj)

    def add(self, obj: T) -> None:
        _, old = self.store.upsert(obj)
        for on_add, on_update, _ in self._handlers:
            if old is None and on_add is not None:
                on_add(obj)
            elif old is not None and on_update is not None:
                on_update(old, obj)

    update = add

    def delete(self, obj: T) -> None:
        self.store.remove(object_key(obj))
        for _, _, on_delete in self._handlers:
            if on_delete is not None:
                on_delete(obj)


class FakeWriter(Generic[T]):
    def __init__(
        self,
        *,
        model: type[T],
        resource: str,
        group: str = "",
        informer: FakeInformer[T] | None = None,
        now: Now,
        echo: bool = True,
        graceful_delete: bool = False,
    ) -> None:
        self.model = model
        self.resource = resource
        self.group = group
        self.informer = informer
        self.now = now
        self.echo = echo
        self.graceful_delete = graceful_delete
        self.objects: dict[str, T] = {}
        self.actions: list[tuple[str, str]] = []
        self._pending: list[tuple[str, T]] = []
        self._failures: dict[str, list[StatusError]] = {}
        self._names = itertools.count(1)

    # ---- test controls -------------------------------------------------------------------------------

    def fail(self, verb: str, error: StatusError, *, times: int = 1) -> None:
        self._failures.setdefault(verb, []).extend([error] * times)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for kind, obj in pending:
            self._deliver(kind, obj)

    def seed(self, obj: T) -> T:
        """Put an object in the server state (and the informer), completing its metadata."""
        stored = self._complete(obj)
        self.objects[object_key(stored)] = stored
        if self.informer is not None:
            self.informer.add(stored)
        return stored

    def verbs(self, verb: str) -> builtins.list[str]:
        return [name for v, name in self.actions if v == verb]

    # ---- internals -----------------------------------------------------------------------------------

    def _deliver(self, kind: str, obj: T) -> None:
        if self.informer is None:
            return
        if kind == "delete":
            self.informer.delete(obj)
        else:
            self.informer.add(obj)

    def _emit(self, kind: str, obj: T) -> None:
        if self.echo:
            self._deliver(kind, obj)
        else:
            self._pending.append((kind, obj))

    def _check_failure(self, verb: str) -> None:
        queued = self._failures.get(verb)
        if queued:
            raise queued.pop(0)

    def _complete(self, obj: T) -> T:
        meta: ObjectMeta = obj.metadata or ObjectMeta()  # type: ignore[attr-defined]
        name = meta.name or f"{meta.generate_name or 'obj-'}{next(self._names):05d}"
        meta = msgspec.structs.replace(
            meta, name=name, generate_name=meta.generate_name, uid=meta.uid or str(uuid.uuid4()),
            resource_version=str(next(_rv_counter)),
            creation_timestamp=meta.creation_timestamp or format_rfc3339(self.now()),
            generation=meta.generation or (1 if hasattr(obj, "spec") else None),
        )
        return msgspec.structs.replace(obj, metadata=meta)

    def _current(self, name: str, namespace: str | None) -> T:
        key = f"{namespace}/{name}" if namespace else name
        found = self.objects.get(key)
        if found is None:
            raise NotFoundError.of(resource=self.resource, group=self.group, name=name)
        return found

    def _store(self, obj: T, *, rv_check: str | None) -> T:
        meta: ObjectMeta = obj.metadata  # type: ignore[attr-defined]
        current = self._current(meta.name or "", meta.namespace)
        current_meta: ObjectMeta = current.metadata  # type: ignore[attr-defined]
        if rv_check and rv_check != current_meta.resource_version:
            raise ConflictError.stale(resource=self.resource, group=self.group, name=meta.name or "")
        generation = current_meta.generation
        if generation is not None and getattr(obj, "spec", None) != getattr(current, "spec", None):
            generation += 1
        meta = msgspec.structs.replace(
            meta, resource_version=str(next(_rv_counter)), generation=generation, uid=current_meta.uid,
            creation_timestamp=current_meta.creation_timestamp,
        )
        stored = msgspec.structs.replace(obj, metadata=meta)
        self.objects[object_key(stored)] = stored
        return stored

    # ---- ObjectWriter --------------------------------------------------------------------------------

    async def get(self, *, name: str, namespace: str | None = None) -> T:
        self.actions.append(("get", name))
        self._check_failure("get")
        return self._current(name, namespace)

    async def create(self, obj: T, *, namespace: str | None = None) -> T:
        meta: ObjectMeta = obj.metadata  # type: ignore[attr-defined]
        self._check_failure("create")
        stored = self._complete(obj)
        key = object_key(stored)
        if key in self.objects:
            raise AlreadyExistsError.of(resource=self.resource, group=self.group, name=meta.name or "")
        self.objects[key] = stored
        self.actions.append(("create", stored.metadata.name))  # type: ignore[attr-defined]
        self._emit("add", stored)
        return stored

    async def update(self, obj: T) -> T:
        meta: ObjectMeta = obj.metadata  # type: ignore[attr-defined]
        self.actions.append(("update", meta.name or ""))
        self._check_failure("update")
        current = self._current(meta.name or "", meta.namespace)
        # The main resource keeps the stored status, as the real server does.
        if hasattr(obj, "status"):
            obj = msgspec.structs.replace(obj, status=current.status)  # type: ignore[attr-defined]
        stored = self._store(obj, rv_check=meta.resource_version)
        self._emit("update", stored)
        return stored

    async def update_status(self, obj: T) -> T:
        meta: ObjectMeta = obj.metadata  # type: ignore[attr-defined]
        self.actions.append(("update_status", meta.name or ""))
        self._check_failure("update_status")
        current = self._current(meta.name or "", meta.namespace)
        merged = msgspec.structs.replace(current, status=obj.status)  # type: ignore[attr-defined]
        if meta.resource_version and meta.resource_version != current.metadata.resource_version:  # type: ignore[attr-defined]
            raise ConflictError.stale(resource=self.resource, group=self.group, name=meta.name or "")
        stored = self._store(merged, rv_check=None)
        self._emit("update", stored)
        return stored

    async def patch(self, *, name: str, patch: Any, namespace: str | None = None) -> T:
        self.actions.append(("patch", name))
        self._check_failure("patch")
        current = self._current(name, namespace)
        doc = msgspec.to_builtins(current)
        wanted_rv = ((patch.get("metadata") or {}) if isinstance(patch, dict) else {}).get("resourceVersion")
        merged = apply_merge_patch(doc, patch)
        obj = msgspec.convert(merged, self.model)
        stored = self._store(obj, rv_check=wanted_rv)
        self._emit("update", stored)
        return stored

    async def delete(self, *, name: str, namespace: str | None = None,
                     preconditions: Preconditions | None = None) -> T | None:
        self.actions.append(("delete", name))
        self._check_failure("delete")
        current = self._current(name, namespace)
        key = object_key(current)
        if self.graceful_delete:
            meta = msgspec.structs.replace(
                current.metadata, deletion_timestamp=format_rfc3339(self.now()),  # type: ignore[attr-defined]
                resource_version=str(next(_rv_counter)),
            )
            stored = msgspec.structs.replace(current, metadata=meta)
            self.objects[key] = stored
            self._emit("update", stored)
            return stored
        del self.objects[key]
        self._emit("delete", current)
        return None


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []  # (object name, type, reason, message)

    def event(self, obj: Any, *, type: str = "Normal", reason: str, message: str) -> None:
        name = obj.metadata.name if getattr(obj, "metadata", None) is not None else ""
        self.events.append((name, type, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, _, reason, _ in self.events]

    def messages(self, reason: str | None = None) -> list[str]:
        return [m for _, _, r, m in self.events if reason is None or r == reason]
