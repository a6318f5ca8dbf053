"""The watch cache over the memory store: replay from a revision, filtered-watch semantics, 410, progress."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from kybernetes.apiserver.watchcache import (
    ADDED,
    DELETED,
    MODIFIED,
    CachedObject,
    CacheHub,
    WatchCache,
    WatchQueue,
    with_resource_version,
)
from kybernetes.machinery.errors import GoneError, TimeoutError_
from kybernetes.storage.backends.memory import MemoryStore

PREFIX = "/registry/configmaps/"


def body(name: str, labels: dict[str, str] | None = None, namespace: str = "ns") -> bytes:
    return json.dumps({"kind": "ConfigMap", "apiVersion": "v1",
                       "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}}).encode()


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


async def drain(q: WatchQueue, n: int) -> list[tuple[str, str]]:
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
    # What it got before overflowing, then the end of the watch (its handler answers 410 from there).
    assert await drain(w.queue, 2) == [(ADDED, "s0"), (ADDED, "s1")]
    assert await asyncio.wait_for(w.queue.get(), 2) is None


# ---- objects kept as bytes ------------------------------------------------------------------------------


def _expected(obj: dict[str, Any], rv: int) -> dict[str, Any]:
    out = json.loads(json.dumps(obj))
    out.setdefault("metadata", {})["resourceVersion"] = str(rv)
    return out


SPLICE_CASES: list[tuple[str, bytes]] = [
    ("msgspec form", msgspec.json.encode({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                                          "data": {"k": '"metadata":{ tricky'}})),
    ("empty metadata", msgspec.json.encode({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})),
    ("nested metadata first", msgspec.json.encode({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "spec": {"template": {"metadata": {"labels": {"a": "b"}}}}, "metadata": {"name": "d"}})),
    ("already versioned", msgspec.json.encode({"kind": "ConfigMap", "metadata": {"name": "a",
                                                                               "resourceVersion": "3"}})),
    ("version elsewhere", msgspec.json.encode({"kind": "Event", "metadata": {"name": "e"},
                                               "involvedObject": {"resourceVersion": "9"}})),
    ("whitespace", b'{"kind": "ConfigMap", "metadata": {"name": "a"}}'),
    ("no metadata", b'{"kind":"ConfigMap"}'),
    ("string before metadata", b'{"kind":"a \\"metadata\\":{","metadata":{"name":"a"}}'),
]


@pytest.mark.parametrize(("case", "value"), SPLICE_CASES, ids=[c for c, _ in SPLICE_CASES])
def test_resource_version_is_set_at_the_top_level_only(case: str, value: bytes) -> None:
    want = _expected(json.loads(value), 42)
    assert json.loads(with_resource_version(value, 42)) == want
    assert json.loads(with_resource_version(value, 42, msgspec.json.decode(value))) == want


def test_stored_form_is_spliced_not_reencoded() -> None:
    value = msgspec.json.encode({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c"}]}})
    out = with_resource_version(value, 7)
    # Byte-for-byte the stored value with the version inserted: nothing was decoded and written again.
    assert out == value.replace(b'"metadata":{', b'"metadata":{"resourceVersion":"7",', 1)


async def test_cached_objects_hold_bytes_and_decode_on_demand(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    kv = await store.create(key=PREFIX + "ns/a", value=body("a", {"app": "x"}))
    kv = await store.update(key=PREFIX + "ns/a", value=body("a", {"app": "y"}), expected_revision=kv.mod_revision)
    await cache.wait_for_revision(kv.mod_revision)
    found = cache.get(PREFIX + "ns/a")
    assert found is not None
    assert not hasattr(found, "__dict__")  # slots only
    assert json.loads(found.data)["metadata"]["resourceVersion"] == str(kv.mod_revision)
    assert (found.namespace, found.name, found.labels) == ("ns", "a", {"app": "y"})
    first = found.obj
    first["metadata"]["name"] = "changed"  # a caller's copy: the cache is not affected
    assert found.obj["metadata"]["name"] == "a"
    # The buffered update keeps only the filter view of the version it replaced.
    last = cache._events[-1]
    assert last.prev is not None and last.prev.data == b"" and last.prev.labels == {"app": "x"}


async def test_ring_buffer_is_bounded_by_bytes(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    cache.capacity = 1000
    size = len(body("a0")) + len(b'"resourceVersion":"10",') + 600  # one event's accounted bytes
    cache.capacity_bytes = 3 * size
    revisions = []
    for i in range(8):
        revisions.append((await store.create(key=PREFIX + f"ns/a{i}", value=body(f"a{i}"))).mod_revision)
    await cache.wait_for_revision(revisions[-1])
    stats = cache.statistics()
    assert stats.buffered_events == 3 and stats.buffered_bytes <= cache.capacity_bytes
    # Exactly the revisions whose later events are all still buffered are servable.
    assert stats.oldest_servable_revision == revisions[-4]
    w = cache.watch(from_revision=revisions[-4], namespace=None, predicate=None)
    assert await drain(w.queue, 3) == [(ADDED, "a5"), (ADDED, "a6"), (ADDED, "a7")]
    with pytest.raises(GoneError):
        cache.watch(from_revision=revisions[-4] - 1, namespace=None, predicate=None)


# ---- pages of a past revision from the cache -------------------------------------------------------------


async def _fill(store: MemoryStore, cache: WatchCache, names: list[str]) -> int:
    cache.capacity = 1000
    for n in names:
        await store.create(key=PREFIX + f"ns/{n}", value=body(n, {"app": "x" if n[-1] in "02468" else "y"}))
    rev = await store.current_revision()
    await cache.wait_for_revision(rev)
    return rev


def _names(page: Any) -> list[str]:
    return [o.name for o in page.items]


async def test_snapshot_page_unchanged(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    rev = await _fill(store, cache, [f"o{i}" for i in range(10)])
    page = cache.snapshot_page(revision=rev, key_prefix=PREFIX, start=PREFIX + "ns/o3\x00", limit=3, predicate=None)
    assert page is not None and _names(page) == ["o4", "o5", "o6"] and page.more and page.remaining == 3
    page = cache.snapshot_page(revision=rev, key_prefix=PREFIX, start=PREFIX + "ns/o6\x00", limit=5, predicate=None)
    assert page is not None and _names(page) == ["o7", "o8", "o9"] and not page.more


async def test_snapshot_page_with_writes_after_the_revision(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    rev = await _fill(store, cache, [f"o{i}" for i in range(10)])
    await store.delete(key=PREFIX + "ns/o8")
    await store.create(key=PREFIX + "ns/o85", value=body("o85"))
    await store.create(key=PREFIX + "ns/o95", value=body("o95"))
    kv = await store.get(key=PREFIX + "ns/o9")
    assert kv is not None
    await store.update(key=PREFIX + "ns/o9", value=body("o9", {"new": "1"}), expected_revision=kv.mod_revision)
    await cache.wait_for_revision(await store.current_revision())
    # Before the written keys: served, with the count of what followed at `rev` (o5..o9).
    page = cache.snapshot_page(revision=rev, key_prefix=PREFIX, start=PREFIX, limit=5, predicate=None)
    assert page is not None and _names(page) == ["o0", "o1", "o2", "o3", "o4"] and page.remaining == 5
    # A range holding a written key cannot be proven from memory.
    assert cache.snapshot_page(revision=rev, key_prefix=PREFIX, start=PREFIX + "ns/o4\x00", limit=5,
                               predicate=None) is None
    assert cache.snapshot_page(revision=rev, key_prefix=PREFIX, start=PREFIX + "ns/o7\x00", limit=0,
                               predicate=None) is None
    # The current revision is always servable; a revision before the buffer never is.
    now = cache.snapshot_page(revision=cache.revision, key_prefix=PREFIX, start=PREFIX + "ns/o7\x00", limit=0,
                              predicate=None)
    assert now is not None and _names(now) == ["o85", "o9", "o95"]
    cache.capacity = 1
    await store.create(key=PREFIX + "ns/z", value=body("z"))
    await cache.wait_for_revision(await store.current_revision())
    assert cache.snapshot_page(revision=rev, key_prefix=PREFIX, start=PREFIX, limit=1, predicate=None) is None


async def test_snapshot_page_filtered_and_by_namespace(env: tuple[MemoryStore, WatchCache, CacheHub]) -> None:
    store, cache, _ = env
    rev = await _fill(store, cache, [f"o{i}" for i in range(10)])
    await store.create(key=PREFIX + "other/o0", value=body("o0", namespace="other"))
    await cache.wait_for_revision(await store.current_revision())

    def app_x(o: CachedObject) -> bool:
        return o.labels.get("app") == "x"

    page = cache.snapshot_page(revision=rev, key_prefix=PREFIX + "ns/", start=PREFIX + "ns/", limit=2,
                               predicate=app_x)
    assert page is not None and _names(page) == ["o0", "o2"] and page.more
    page = cache.snapshot_page(revision=rev, key_prefix=PREFIX + "ns/", start=PREFIX + "ns/o6\x00", limit=2,
                               predicate=app_x)
    assert page is not None and _names(page) == ["o8"] and not page.more
    # The write in another namespace does not concern a page of "ns".
    assert cache.list(namespace="ns", predicate=None)[-1].key == PREFIX + "ns/o9"
    assert [o.key for o in cache.list(namespace="other", predicate=None)] == [PREFIX + "other/o0"]
