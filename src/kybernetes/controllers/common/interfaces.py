"""The seams controllers are written against, so that unit tests can hand them in-memory fakes.

`Lister[T]` is what a controller reads (an informer: `get(key)`, `list()`, `by_index(name, value)`) and where it
registers its enqueue-only handlers. `ObjectWriter[T]` is the subset of a typed resource client's verbs the
workload controllers use. `Recorder` is an event recorder. `kybernetes.client.Informer`, `TypedResource` and
`EventRecorder` satisfy these protocols as they are; `kybernetes.controllers.common.fake` has test doubles.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from kybernetes.api.models.meta_v1 import Preconditions

T = TypeVar("T")


class Lister(Protocol[T]):
    def get(self, key: str) -> T | None: ...

    def list(self) -> builtins.list[T]: ...

    def by_index(self, name: str, value: str) -> builtins.list[T]: ...

    def add_handler(
        self,
        *,
        on_add: Callable[[T], None] | None = None,
        on_update: Callable[[T, T], None] | None = None,
        on_delete: Callable[[T], None] | None = None,
    ) -> None: ...


class ObjectWriter(Protocol[T]):
    async def get(self, *, name: str, namespace: str | None = None) -> T: ...

    async def create(self, obj: T, *, namespace: str | None = None) -> T: ...

    async def update(self, obj: T) -> T: ...

    async def update_status(self, obj: T) -> T: ...

    async def patch(self, *, name: str, patch: Any, namespace: str | None = None) -> T: ...

    async def delete(self, *, name: str, namespace: str | None = None,
                     preconditions: Preconditions | None = None) -> T | None: ...


class Recorder(Protocol):
    def event(self, obj: Any, *, type: str = "Normal", reason: str, message: str) -> None: ...
