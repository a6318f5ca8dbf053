"""The Store contract for watch, compaction and durability, run against every backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kybernetes.storage import CompactedError, Event, EventType, KeyValue
from kybernetes.storage.protocol import WatchOverflowError


async def collect(watch: Any, *, count: int, seconds: float = 10.0) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(seconds):
        async for batch in watch:
            events.extend(batch)
            if len(events) >= count:
                break
    return events


async def test_watch_replays_history_then_streams_live(store: Any, prefix: str) -> None:
    start = await store.current_revision()
    a = await store.create(key=prefix + "a", value=b"a1")
    a2 = await store.update(key=prefix + "a", value=b"a2", expected_revision=a.mod_revision)
    watch = store.watch(prefix=prefix, from_revision=start)
    try:
        replayed = await collect(watch, count=2)
        assert [(e.type, e.kv) for e in replayed] == [(EventType.CREATE, a), (EventType.UPDATE, a2)]
        assert replayed[1].prev == a and replayed[0].prev is None

        deleted = await store.delete(key=prefix + "a")
        b = await store.create(key=prefix + "b", value=b"b1")
        live = await collect(watch, count=2)
    finally:
        await watch.close()
    assert live[0].type is EventType.DELETE
    assert live[0].kv == KeyValue(key=prefix + "a", value=b"a2", create_revision=a.create_revision,
                                  mod_revision=deleted.mod_revision)  # fmt: skip
    assert live[0].prev == a2
    assert live[0].revision == deleted.mod_revision
    assert (live[1].type, live[1].kv) == (EventType.CREATE, b)


async def test_watch_started_during_writes_has_no_gap_and_no_duplicate(store: Any, prefix: str) -> None:
    key = prefix + "k"
    kv = await store.create(key=key, value=b"0")
    total = 150
    last_revision = kv.mod_revision + total  # nobody else writes: the updates take the next revisions
    halfway = asyncio.Event()

    async def writer() -> None:
        nonlocal kv
        for i in range(1, total + 1):
            kv = await store.update(key=key, value=str(i).encode(), expected_revision=kv.mod_revision)
            if i == total // 3:
                halfway.set()

    task = asyncio.create_task(writer())
    await halfway.wait()
    from_revision = kv.mod_revision - 20  # part replay, part live, the subscription racing the writer
    watch = store.watch(prefix=prefix, from_revision=from_revision)
    try:
        events = await collect(watch, count=last_revision - from_revision)
        await task
    finally:
        await watch.close()
    assert [e.revision for e in events] == list(range(from_revision + 1, last_revision + 1))
    assert all(e.type is EventType.UPDATE for e in events)
    assert [int(e.kv.value) for e in events] == [int(e.prev.value) + 1 for e in events if e.prev]


async def test_watch_sees_only_its_prefix(store: Any, prefix: str) -> None:
    start = await store.current_revision()
    watch = store.watch(prefix=prefix + "pods/", from_revision=start)
    try:
        await store.create(key=prefix + "services/a", value=b"s")
        await store.create(key=prefix + "pods", value=b"not under pods/")
        pod = await store.create(key=prefix + "pods/a", value=b"p")
        await store.create(key=prefix + "podsx/a", value=b"s")
        pod2 = await store.create(key=prefix + "pods/b", value=b"p")
        events = await collect(watch, count=2)
    finally:
        await watch.close()
    assert [e.kv for e in events] == [pod, pod2]


async def test_watch_close_ends_iteration(store: Any, prefix: str) -> None:
    watch = store.watch(prefix=prefix, from_revision=await store.current_revision())
    waiting = asyncio.create_task(collect(watch, count=1))
    await store.create(key=prefix + "a", value=b"1")
    assert len(await waiting) == 1
    pending = asyncio.create_task(collect(watch, count=1))
    await asyncio.sleep(0)
    await watch.close()
    assert await pending == []
    assert [batch async for batch in watch] == []


async def test_cancelled_iteration_resumes_without_loss(store: Any, prefix: str) -> None:
    start = await store.current_revision()
    first = await store.create(key=prefix + "a", value=b"1")
    watch = store.watch(prefix=prefix, from_revision=start)
    try:
        assert [e.kv for e in await collect(watch, count=1)] == [first]
        waiting = asyncio.create_task(anext(watch))
        await asyncio.sleep(0)
        waiting.cancel()  # e.g. a timeout around one iteration
        with pytest.raises(asyncio.CancelledError):
            await waiting
        second = await store.create(key=prefix + "b", value=b"2")
        assert [e.kv for e in await collect(watch, count=1)] == [second]
    finally:
        await watch.close()


async def test_compaction(store: Any, prefix: str) -> None:
    a = await store.create(key=prefix + "a", value=b"a1")
    b = await store.create(key=prefix + "b", value=b"b1")
    a2 = await store.update(key=prefix + "a", value=b"a2", expected_revision=a.mod_revision)
    await store.delete(key=prefix + "b")
    compact_at = await store.current_revision()
    c = await store.create(key=prefix + "c", value=b"c1")
    a3 = await store.update(key=prefix + "a", value=b"a3", expected_revision=a2.mod_revision)

    await store.compact(revision=compact_at)
    assert await store.compacted_revision() == compact_at
    with pytest.raises(CompactedError) as compacted:
        await store.list(prefix=prefix, revision=b.mod_revision)
    assert compacted.value.compacted == compact_at
    assert (await store.list(prefix=prefix, revision=compact_at)).items == [a2]
    assert (await store.list(prefix=prefix)).items == [a3, c]

    old_watch = store.watch(prefix=prefix, from_revision=a.mod_revision)
    with pytest.raises(CompactedError):
        await collect(old_watch, count=1)
    await old_watch.close()

    watch = store.watch(prefix=prefix, from_revision=compact_at)
    try:
        events = await collect(watch, count=2)
    finally:
        await watch.close()
    assert [e.kv for e in events] == [c, a3]
    await store.compact(revision=compact_at - 1)  # older than the compacted revision: a no-op
    assert await store.compacted_revision() == compact_at


async def test_durable_across_reopen(backend: str, open_store: Any, prefix: str) -> None:
    if backend == "memory":
        pytest.skip("the memory store keeps nothing across close")
    first = await open_store()
    a = await first.create(key=prefix + "a", value=b"a1")
    a2 = await first.update(key=prefix + "a", value=b"a2", expected_revision=a.mod_revision)
    b = await first.create(key=prefix + "b", value=b"b1")
    gone = await first.delete(key=prefix + "b")
    await first.compact(revision=a2.mod_revision)
    await first.close()

    second = await open_store()
    assert await second.current_revision() >= gone.mod_revision
    assert await second.compacted_revision() == a2.mod_revision
    assert (await second.list(prefix=prefix)).items == [a2]
    assert await second.get(key=prefix + "b") is None
    watch = second.watch(prefix=prefix, from_revision=a2.mod_revision)
    try:
        history = await collect(watch, count=2)
        assert [(e.type, e.kv.key) for e in history] == [(EventType.CREATE, b.key), (EventType.DELETE, b.key)]
        c = await second.create(key=prefix + "c", value=b"c1")  # the revision counter continues
        assert c.mod_revision == await second.current_revision() > gone.mod_revision
        assert (await collect(watch, count=1))[0].kv == c
    finally:
        await watch.close()


async def test_slow_watcher_overflows_without_blocking_writers(backend: str, open_store: Any,
                                                               prefix: str) -> None:  # fmt: skip
    if backend == "etcd":
        pytest.skip("etcd buffers for its watchers itself")
    store = await open_store(watch_buffer=10)
    first = await store.create(key=prefix + "0", value=b"")
    watch = store.watch(prefix=prefix, from_revision=first.mod_revision - 1)
    assert [e.kv for e in await collect(watch, count=1)] == [first]  # now subscribed
    for i in range(1, 31):  # the watcher does not read while these commit
        await store.create(key=f"{prefix}{i}", value=b"")
    delivered: list[Event] = []
    with pytest.raises(WatchOverflowError) as overflow:
        async for batch in watch:
            delivered.extend(batch)
    assert [e.revision for e in delivered] == list(range(first.mod_revision + 1, first.mod_revision + 11))
    assert overflow.value.revision == delivered[-1].revision
