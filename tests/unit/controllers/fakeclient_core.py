"""An in-memory stand-in for `kybernetes.client.Client` for the core controllers' unit tests.

`FakeClient.resource(Model)` gives a `FakeResource` with the typed verbs the controllers use (get, create,
update, update_status, patch of status, delete, list); objects live in `client.objects[(plural, ns, name)]`
as Structs with a global resourceVersion, and every write is logged in `client.calls` as
`(verb, plural, namespace, name)`. `client.request()` records raw requests (the namespace `finalize` PUT).
Informers are built over it (`SharedInformerFactory(client=fake)`) and filled by the tests through
`informer.store.upsert(...)`; nothing is ever listed or watched.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec

from kybernetes.api.models import Model
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client.resource import info_for_model
from kybernetes.machinery.errors import AlreadyExistsError, ConflictError, NotFoundError

Key = tuple[str, str, str]


class FakeResource:
    def __init__(self, client: FakeClient, model: type[Model]) -> None:
        self.client = client
        self.model = model
        self.info = info_for_model(model)

    def _key(self, namespace: str | None, name: str) -> Key:
        return (self.info.plural, namespace or "" if self.info.namespaced else "", name)

    def _bump(self, obj: Any) -> Any:
        rv = str(next(self.client.rv))
        return msgspec.structs.replace(obj, metadata=msgspec.structs.replace(obj.metadata, resource_version=rv))

    async def get(self, *, name: str, namespace: str | None = None) -> Any:
        found = self.client.objects.get(self._key(namespace, name))
        if found is None:
            raise NotFoundError(f'{self.info.plural} "{name}" not found')
        return found

    async def create(self, obj: Any, *, namespace: str | None = None) -> Any:
        meta = obj.metadata or ObjectMeta()
        name = meta.name
        if not name and meta.generate_name:
            name = f"{meta.generate_name}{next(self.client.names):05d}"
        meta = msgspec.structs.replace(meta, name=name, uid=meta.uid or f"uid-{name}")
        obj = msgspec.structs.replace(obj, metadata=meta)
        key = self._key(meta.namespace or namespace, name or "")
        self.client.calls.append(("create", self.info.plural, key[1], key[2]))
        if key in self.client.objects:
            raise AlreadyExistsError(f'{self.info.plural} "{name}" already exists')
        obj = self._bump(obj)
        self.client.objects[key] = obj
        return obj

    async def update(self, obj: Any, **_: Any) -> Any:
        return self._put(obj, verb="update")

    async def update_status(self, obj: Any, **_: Any) -> Any:
        return self._put(obj, verb="update_status")

    def _put(self, obj: Any, *, verb: str) -> Any:
        key = self._key(obj.metadata.namespace, obj.metadata.name)
        self.client.calls.append((verb, self.info.plural, key[1], key[2]))
        current = self.client.objects.get(key)
        if current is None:
            raise NotFoundError(f'{self.info.plural} "{key[2]}" not found')
        if obj.metadata.resource_version and obj.metadata.resource_version != current.metadata.resource_version:
            raise ConflictError("the object has been modified; please apply your changes to the latest version")
        obj = self._bump(obj)
        self.client.objects[key] = obj
        return obj

    async def patch(self, *, name: str, patch: Any, namespace: str | None = None, subresource: str = "",
                    **_: Any) -> Any:
        key = self._key(namespace, name)
        self.client.calls.append(("patch" + (f"/{subresource}" if subresource else ""), self.info.plural, key[1], key[2]))
        self.client.patches.append((key, patch))
        current = self.client.objects.get(key)
        if current is None:
            raise NotFoundError(f'{self.info.plural} "{name}" not found')
        return current

    async def delete(self, *, name: str, namespace: str | None = None, **options: Any) -> None:
        key = self._key(namespace, name)
        self.client.calls.append(("delete", self.info.plural, key[1], key[2]))
        self.client.delete_options.append((key, options))
        if self.client.objects.pop(key, None) is None:
            raise NotFoundError(f'{self.info.plural} "{name}" not found')

    def stored(self) -> list[Any]:
        return [o for (plural, _, _), o in self.client.objects.items() if plural == self.info.plural]


class FakeClient:
    def __init__(self) -> None:
        self.objects: dict[Key, Any] = {}
        self.calls: list[tuple[str, str, str, str]] = []
        self.patches: list[tuple[Key, Any]] = []
        self.delete_options: list[tuple[Key, dict[str, Any]]] = []
        self.requests: list[tuple[str, str, bytes | None]] = []
        self.rv = itertools.count(100)
        self.names = itertools.count(1)
        self.config: Any = None

    def resource(self, model: type[Model]) -> FakeResource:
        return FakeResource(self, model)

    async def request(self, method: str, path: str, *, body: bytes | None = None, **_: Any) -> Any:
        self.requests.append((method, path, body))
        return None

    def writes(self, plural: str | None = None) -> list[tuple[str, str, str, str]]:
        return [c for c in self.calls if plural is None or c[1] == plural]
