"""The watch cache over the memory store: replay from a revision, filtered-watch semantics, 410, progress."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.apiserver.watchcache import ADDED, DELETED, MODIFIED, CachedObject, CacheHub, WatchCache
from kybernetes.machinery.errors import GoneError, TimeoutError_
from kybernetes.storage.backends.memory import MemoryStore

PREFIX = "/registry/configmaps/"


def body(name: str, labels: dict[str, str] | None = None) -> bytes:
    return json.dumps({"kind": "ConfigMap", "apiVersion": "v1",
                       "metadata": {"name": name, "namespace": "ns", "labels": labels or {}}}).encode()


@pytest.fixture
async def env() -> AsyncIterator[tuple[MemoryStore, WatchCache, CacheHub]]:
    store = MemoryStore()
    await store.start()
    cache = WatchCache(store=store, prefix=PREFIX, fields_of=lambda obj: {"metadata.name": obj["metadata"]["name"]},
                       capacity=4)
    other = WatchCache(store=store, prefix="/registry/secrets/", fields_of=lambda obj: {})
    hub = CacheHub(store=store)
    hub.add(cache)
    hub.add(other)
    task = asyncio.create_task(hub.run())
    await hub.wait_ready()
    try:
        yield store, cache, hub
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await store.close()


async def drain(q: asyncio.Queue[Any], n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        item = await asyncio.wait_for(q.get(), 2)
        assert item is not None
        event_type, o = item
        out.append((event_type, o.name))
    return out


async def test_replay_from_revision_then_live(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    a = await store.create(key=PREFIX + "ns/a", value=body("a"))
    await store.create(key=PREFIX + "ns/b", value=body("b"))
    await cache.wait_for_revision(await store.current_revision())
    w = cache.watch(from_revision=a.mod_revision, namespace="ns", predicate=None)
    await store.delete(key=PREFIX + "ns/a")
    assert await drain(w.queue, 2) == [(ADDED, "b"), (DELETED, "a")]


async def test_resource_version_zero_starts_with_current_state(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    await store.create(key=PREFIX + "ns/a", value=body("a"))
    await cache.wait_for_revision(await store.current_revision())
    w = cache.watch(from_revision=None, namespace=None, predicate=None)
    assert await drain(w.queue, 1) == [(ADDED, "a")]


async def test_filtered_watch_sees_objects_leave_and_enter(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    kv = await store.create(key=PREFIX + "ns/a", value=body("a", {"app": "x"}))
    await cache.wait_for_revision(kv.mod_revision)

    def app_x(o: CachedObject) -> bool:
        return o.labels.get("app") == "x"

    w = cache.watch(from_revision=kv.mod_revision, namespace=None, predicate=app_x)
    kv = await store.update(key=PREFIX + "ns/a", value=body("a", {"app": "y"}), expected_revision=kv.mod_revision)
    kv = await store.update(key=PREFIX + "ns/a", value=body("a", {"app": "x"}), expected_revision=kv.mod_revision)
    kv = await store.update(key=PREFIX + "ns/a", value=body("a", {"app": "x", "b": "c"}), expected_revision=kv.mod_revision)
    assert await drain(w.queue, 3) == [(DELETED, "a"), (ADDED, "a"), (MODIFIED, "a")]


async def test_too_old_revision_is_gone(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    first = await store.create(key=PREFIX + "ns/a0", value=body("a0"))
    for i in range(1, 8):  # capacity is 4: the first events leave the ring buffer
        await store.create(key=PREFIX + f"ns/a{i}", value=body(f"a{i}"))
    await cache.wait_for_revision(await store.current_revision())
    with pytest.raises(GoneError):
        cache.watch(from_revision=first.mod_revision, namespace=None, predicate=None)
    recent = cache.statistics().oldest_servable_revision
    w = cache.watch(from_revision=recent, namespace=None, predicate=None)
    assert len(await drain(w.queue, 4)) == 4


async def test_writes_elsewhere_advance_every_cache(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    kv = await store.create(key="/registry/secrets/ns/s", value=body("s"))
    # Nothing happened to configmaps, yet a consistent read at the store's revision must not wait.
    await cache.wait_for_revision(kv.mod_revision, within=1.0)
    assert cache.revision >= kv.mod_revision
    with pytest.raises(TimeoutError_):
        await cache.wait_for_revision(kv.mod_revision + 5, within=0.05)


async def test_slow_watcher_is_ended_not_blocking(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    cache.watcher_queue_size = 2
    w = cache.watch(from_revision=await store.current_revision(), namespace=None, predicate=None)
    for i in range(5):
        await store.create(key=PREFIX + f"ns/s{i}", value=body(f"s{i}"))
    await cache.wait_for_revision(await store.current_revision())
    assert w.overflowed and w.closed
