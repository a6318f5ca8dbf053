"""In-process store with the full Store semantics (revisions, CAS, history, watch, compaction) for tests.

State: every key keeps its versions as `(revision, KeyValue | None)` (None is a tombstone) so reads at an
older revision work like in etcd; a sorted key list serves prefix ranges; an event log in revision order
serves watch replay. All of it is touched only from the event loop and no method awaits while mutating,
so each operation is atomic. Compaction at C keeps, per key, the newest version at or below C (dropping
it too when it is a tombstone) and drops events at or below C: the snapshot at C stays readable, older
ones answer CompactedError.
"""

from __future__ import annotations

import builtins
from bisect import bisect_left, bisect_right, insort

from kybernetes.storage.backends._fanout import DEFAULT_WATCH_BUFFER, HubWatch, WatchHub
from kybernetes.storage.protocol import (
    CompactedError,
    ConflictError,
    Event,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StorageError,
)

_Version = tuple[int, KeyValue | None]


class MemoryStore:
    def __init__(self, *, watch_buffer: int = DEFAULT_WATCH_BUFFER) -> None:
        self._revision = 0
        self._compacted = 0
        self._versions: dict[str, builtins.list[_Version]] = {}
        self._keys: builtins.list[str] = []  # sorted; every key with at least one version
        self._events: builtins.list[Event] = []  # revision order, only events above the compacted revision
        self._hub = WatchHub(buffer_size=watch_buffer)
        self._closed = False

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._closed = True
        self._hub.close()

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    def _latest(self, key: str) -> KeyValue | None:
        versions = self._versions.get(key)
        return versions[-1][1] if versions else None

    async def get(self, *, key: str) -> KeyValue | None:
        return self._latest(key)

    def _commit(self, *, key: str, kv: KeyValue | None, event: Event) -> None:
        self._check_open()
        versions = self._versions.get(key)
        if versions is None:
            versions = self._versions[key] = []
            insort(self._keys, key)
        versions.append((event.kv.mod_revision, kv))
        self._revision = event.kv.mod_revision
        self._events.append(event)
        self._hub.publish([event])

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("store is closed")

    async def create(self, *, key: str, value: bytes) -> KeyValue:
        self._check_open()
        if self._latest(key) is not None:
            raise KeyExistsError(key)
        revision = self._revision + 1
        kv = KeyValue(key=key, value=value, create_revision=revision, mod_revision=revision)
        self._commit(key=key, kv=kv, event=Event(type=EventType.CREATE, kv=kv))
        return kv

    def _check_expected(self, *, key: str, expected_revision: int | None) -> KeyValue:
        current = self._latest(key)
        if current is None:
            raise KeyNotFoundError(key)
        if expected_revision is not None and current.mod_revision != expected_revision:
            raise ConflictError(key, current)
        return current

    async def update(self, *, key: str, value: bytes, expected_revision: int) -> KeyValue:
        self._check_open()
        prev = self._check_expected(key=key, expected_revision=expected_revision)
        revision = self._revision + 1
        kv = KeyValue(key=key, value=value, create_revision=prev.create_revision, mod_revision=revision)
        self._commit(key=key, kv=kv, event=Event(type=EventType.UPDATE, kv=kv, prev=prev))
        return kv

    async def delete(self, *, key: str, expected_revision: int | None = None) -> KeyValue:
        self._check_open()
        prev = self._check_expected(key=key, expected_revision=expected_revision)
        revision = self._revision + 1
        kv = KeyValue(key=key, value=prev.value, create_revision=prev.create_revision, mod_revision=revision)
        self._commit(key=key, kv=None, event=Event(type=EventType.DELETE, kv=kv, prev=prev))
        return kv

    def _read_revision(self, revision: int) -> int:
        if revision == 0:
            return self._revision
        if revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        if revision > self._revision:
            raise FutureRevisionError(revision, self._revision)
        return revision

    def _at(self, key: str, revision: int) -> KeyValue | None:
        versions = self._versions[key]
        index = bisect_right(versions, revision, key=lambda version: version[0])
        return versions[index - 1][1] if index else None

    async def list(
        self, *, prefix: str, revision: int = 0, limit: int = 0, start_key: str = ""
    ) -> ListResult:
        read_revision = self._read_revision(revision)
        items: builtins.list[KeyValue] = []
        remaining = 0
        for index in range(bisect_left(self._keys, max(prefix, start_key)), len(self._keys)):
            key = self._keys[index]
            if not key.startswith(prefix):
                break
            kv = self._at(key, read_revision)
            if kv is None:
                continue
            if limit and len(items) >= limit:
                remaining += 1
            else:
                items.append(kv)
        return ListResult(items=items, revision=read_revision, more=remaining > 0, remaining=remaining)

    async def count(self, *, prefix: str) -> int:
        count = 0
        for index in range(bisect_left(self._keys, prefix), len(self._keys)):
            key = self._keys[index]
            if not key.startswith(prefix):
                break
            count += self._versions[key][-1][1] is not None
        return count

    async def _replay(self, *, prefix: str, after: int, limit: int) -> builtins.list[Event]:
        if after < self._compacted:
            raise CompactedError(after, self._compacted)
        events: builtins.list[Event] = []
        for event in self._events[bisect_right(self._events, after, key=lambda e: e.kv.mod_revision) :]:
            if event.kv.key.startswith(prefix):
                events.append(event)
                if len(events) >= limit:
                    break
        return events

    def watch(self, *, prefix: str, from_revision: int) -> HubWatch:
        return HubWatch(hub=self._hub, replay=self._replay, prefix=prefix, from_revision=from_revision)

    async def compact(self, *, revision: int) -> None:
        self._check_open()
        if revision <= self._compacted:
            return
        if revision > self._revision:
            raise FutureRevisionError(revision, self._revision)
        for key in builtins.list(self._keys):
            versions = self._versions[key]
            index = bisect_right(versions, revision, key=lambda version: version[0])
            if index == 0:
                continue
            keep_from = index - 1 if versions[index - 1][1] is not None else index
            del versions[:keep_from]
            if not versions:
                del self._versions[key]
                self._keys.pop(bisect_left(self._keys, key))
        del self._events[: bisect_right(self._events, revision, key=lambda e: e.kv.mod_revision)]
        self._compacted = revision
