"""The Store protocol: what the API server needs from a key-value store, in etcd v3's terms.

- One revision counter for the whole store, increasing by one for every create, update and delete.
  A key's `mod_revision` is the revision of its last write; `resourceVersion` on the wire is that number.
- `create` fails if the key exists; `update` and `delete` are compare-and-swap on the key's mod_revision.
- `list` reads a consistent snapshot (at the current revision, or at an older `revision` still within the
  compaction window), in key order, paged by `limit` with `start_key` (exclusive of nothing: the first
  key returned is >= start_key).
- `watch(prefix, from_revision)` yields every event with revision > from_revision, in revision order,
  first the history then live events, never a gap and never a duplicate. If from_revision is older than
  the compacted revision it raises `CompactedError` (the API answers 410 Gone). A watcher that cannot keep
  up ends with `WatchOverflowError` instead of slowing the writers down.
- `compact(revision)` drops history at or below `revision`; later reads of older revisions fail.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


class StorageError(Exception):
    """Base of storage errors; the registry layer turns them into Status errors."""


class KeyExistsError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class KeyNotFoundError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class ConflictError(StorageError):
    """The key's mod_revision is not the expected one. `current` is what is there now."""

    def __init__(self, key: str, current: KeyValue | None) -> None:
        super().__init__(f"revision conflict on {key}")
        self.key = key
        self.current = current


class CompactedError(StorageError):
    """The requested revision is older than the compacted revision."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"required revision {requested} has been compacted (compacted revision {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StorageError):
    """A read asked for a revision the store has not reached yet (the API's "Too large resource version")."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"required revision {requested} is a future revision (current revision {current})")
        self.requested = requested
        self.current = current


class WatchOverflowError(StorageError):
    """A watcher fell too far behind the writers and its bounded buffer overflowed; the watch has ended.

    Every event up to and including `revision` was delivered. The consumer may watch again from
    `revision` (which fails with CompactedError if that history is gone by then); the API server ends
    the client's watch stream, and the client re-watches or re-lists as Kubernetes clients do.
    """

    def __init__(self, revision: int) -> None:
        super().__init__(f"watcher fell behind; events after revision {revision} were not delivered")
        self.revision = revision


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventType(enum.Enum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class Event:
    """One change. For DELETE, `kv.value` is the value just before the delete and `kv.mod_revision`
    is the revision of the delete itself. `prev` is the previous value for UPDATE and DELETE."""

    type: EventType
    kv: KeyValue
    prev: KeyValue | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[KeyValue]
    revision: int  # the revision the snapshot was read at
    more: bool  # True when limit cut the list short; continue from the next key after items[-1]
    remaining: int = 0  # how many keys after this page (only meaningful when more is True)


class Watch(Protocol):
    """A running watch: iterate batches of events; `close()` ends it (iteration then stops)."""

    def __aiter__(self) -> AsyncIterator[list[Event]]: ...

    async def close(self) -> None: ...


class Store(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int: ...

    async def get(self, *, key: str) -> KeyValue | None: ...

    async def create(self, *, key: str, value: bytes) -> KeyValue:
        """Store a new key; returns it with its revisions. Raises KeyExistsError."""
        ...

    async def update(self, *, key: str, value: bytes, expected_revision: int) -> KeyValue:
        """Replace the key if its mod_revision is `expected_revision`.
        Raises KeyNotFoundError, or ConflictError carrying the current value."""
        ...

    async def delete(self, *, key: str, expected_revision: int | None = None) -> KeyValue:
        """Delete the key (if `expected_revision` is given, only at that mod_revision).
        Returns the deleted value with mod_revision set to the delete's revision.
        Raises KeyNotFoundError or ConflictError."""
        ...

    async def list(self, *, prefix: str, revision: int = 0, limit: int = 0, start_key: str = "") -> ListResult:
        """Keys under `prefix` (a string prefix, e.g. '/registry/pods/default/'), in key order.
        revision 0 means current. Raises CompactedError for a revision below the compacted one."""
        ...

    async def count(self, *, prefix: str) -> int: ...

    def watch(self, *, prefix: str, from_revision: int) -> Watch:
        """Events under `prefix` with revision > from_revision. Raises CompactedError (on first
        iteration at the latest) when from_revision < compacted revision."""
        ...

    async def compact(self, *, revision: int) -> None: ...
