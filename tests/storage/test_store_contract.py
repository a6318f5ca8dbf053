"""The Store contract, run against every backend (memory, sqlite, etcd): keys, CAS, revisions, lists."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kybernetes.storage import (
    ConflictError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
)
from kybernetes.storage.protocol import FutureRevisionError


async def test_create_then_get(store: Any, prefix: str) -> None:
    key = prefix + "a"
    before = await store.current_revision()
    kv = await store.create(key=key, value=b"one")
    assert kv == KeyValue(key=key, value=b"one", create_revision=before + 1, mod_revision=before + 1)
    assert await store.get(key=key) == kv
    assert await store.get(key=prefix + "missing") is None
    with pytest.raises(KeyExistsError):
        await store.create(key=key, value=b"two")
    assert await store.get(key=key) == kv
    empty = await store.create(key=prefix + "empty", value=b"")
    assert (await store.get(key=prefix + "empty")) == empty


async def test_update_is_compare_and_swap(store: Any, prefix: str) -> None:
    key = prefix + "a"
    created = await store.create(key=key, value=b"v1")
    updated = await store.update(key=key, value=b"v2", expected_revision=created.mod_revision)
    assert updated.value == b"v2"
    assert updated.create_revision == created.create_revision
    assert updated.mod_revision == created.mod_revision + 1
    with pytest.raises(ConflictError) as conflict:
        await store.update(key=key, value=b"v3", expected_revision=created.mod_revision)
    assert conflict.value.current == updated
    with pytest.raises(KeyNotFoundError):
        await store.update(key=prefix + "missing", value=b"x", expected_revision=1)
    assert await store.get(key=key) == updated


async def test_delete(store: Any, prefix: str) -> None:
    key = prefix + "a"
    created = await store.create(key=key, value=b"v1")
    with pytest.raises(ConflictError):
        await store.delete(key=key, expected_revision=created.mod_revision + 100)
    deleted = await store.delete(key=key, expected_revision=created.mod_revision)
    assert deleted == KeyValue(key=key, value=b"v1", create_revision=created.create_revision,
                               mod_revision=created.mod_revision + 1)  # fmt: skip
    assert await store.get(key=key) is None
    with pytest.raises(KeyNotFoundError):
        await store.delete(key=key)
    with pytest.raises(KeyNotFoundError):
        await store.update(key=key, value=b"x", expected_revision=deleted.mod_revision)
    again = await store.create(key=key, value=b"v2")  # a deleted key can be created anew
    assert again.create_revision == again.mod_revision == deleted.mod_revision + 1
    gone = await store.delete(key=key)  # unconditional delete
    assert gone.value == b"v2" and gone.mod_revision == again.mod_revision + 1


async def test_revision_is_global_and_monotonic(store: Any, prefix: str) -> None:
    start = await store.current_revision()
    a = await store.create(key=prefix + "a", value=b"1")
    b = await store.create(key=prefix + "b", value=b"1")
    a2 = await store.update(key=prefix + "a", value=b"2", expected_revision=a.mod_revision)
    with pytest.raises(ConflictError):  # failed writes do not consume a revision
        await store.update(key=prefix + "b", value=b"2", expected_revision=a.mod_revision)
    with pytest.raises(KeyExistsError):
        await store.create(key=prefix + "b", value=b"x")
    b2 = await store.delete(key=prefix + "b")
    assert [a.mod_revision, b.mod_revision, a2.mod_revision, b2.mod_revision] == [
        start + i for i in range(1, 5)
    ]
    assert await store.current_revision() == start + 4


async def test_concurrent_cas_exactly_one_winner_per_revision(store: Any, prefix: str) -> None:
    key = prefix + "counter"
    created = await store.create(key=key, value=b"0")

    # all 16 race on the same expected revision: one wins, the others see the winner's value
    async def attempt(n: int) -> KeyValue | ConflictError:
        try:
            return await store.update(key=key, value=str(n).encode(), expected_revision=created.mod_revision)
        except ConflictError as error:
            return error

    results = await asyncio.gather(*(attempt(n) for n in range(16)))
    winners = [r for r in results if isinstance(r, KeyValue)]
    assert len(winners) == 1
    assert all(r.current == winners[0] for r in results if isinstance(r, ConflictError))

    # 16 workers increment a counter with read-modify-CAS loops: no increment is lost
    won: list[int] = []

    async def incrementer(times: int) -> None:
        for _ in range(times):
            while True:
                current = await store.get(key=key)
                try:
                    kv = await store.update(key=key, value=str(int(current.value) + 1).encode(),
                                            expected_revision=current.mod_revision)  # fmt: skip
                except ConflictError:
                    continue
                won.append(kv.mod_revision)
                break

    await store.update(key=key, value=b"0", expected_revision=winners[0].mod_revision)
    await asyncio.gather(*(incrementer(5) for _ in range(16)))
    assert int((await store.get(key=key)).value) == 80
    assert len(set(won)) == 80


async def test_concurrent_mixed_writes_fail_individually(store: Any, prefix: str) -> None:
    existing = await store.create(key=prefix + "existing", value=b"x")
    start = await store.current_revision()
    results = await asyncio.gather(
        store.create(key=prefix + "dup", value=b"1"),
        store.create(key=prefix + "dup", value=b"2"),
        store.update(key=prefix + "existing", value=b"y", expected_revision=existing.mod_revision - 1),
        store.create(key=prefix + "other", value=b"3"),
        store.delete(key=prefix + "missing"),
        *(store.create(key=f"{prefix}many/{i:03}", value=b"m") for i in range(40)),
        return_exceptions=True,
    )
    # The two creates of one key race: exactly one wins; which one depends on which request reaches the
    # backend first (on etcd they travel over separate connections), and the loser sees the winner's value.
    dup = results[0:2]
    winners = [r for r in dup if isinstance(r, KeyValue)]
    assert len(winners) == 1 and sum(isinstance(r, KeyExistsError) for r in dup) == 1
    assert (await store.get(key=prefix + "dup")).value == winners[0].value
    assert isinstance(results[2], ConflictError) and results[2].current == existing
    assert isinstance(results[3], KeyValue)
    assert isinstance(results[4], KeyNotFoundError)
    revisions = sorted(r.mod_revision for r in results if isinstance(r, KeyValue))
    assert revisions == list(range(start + 1, start + 43))
    assert await store.count(prefix=prefix + "many/") == 40


async def test_list_prefix_limit_and_paging(store: Any, prefix: str) -> None:
    for name in ["b", "a", "c/x", "d", "e"]:
        await store.create(key=prefix + name, value=name.encode())
    await store.create(key=prefix.rstrip("/") + "-sibling/a", value=b"no")  # shares the string up to "/"
    await store.create(key=prefix.rstrip("/"), value=b"no")
    await store.delete(key=prefix + "d")

    listed = await store.list(prefix=prefix)
    assert [kv.key for kv in listed.items] == [prefix + n for n in ["a", "b", "c/x", "e"]]
    assert not listed.more
    assert listed.revision == await store.current_revision()
    assert await store.count(prefix=prefix) == 4

    first = await store.list(prefix=prefix, limit=2)
    assert [kv.key for kv in first.items] == [prefix + "a", prefix + "b"]
    assert first.more and first.remaining == 2
    second = await store.list(prefix=prefix, limit=2, start_key=first.items[-1].key + "\0",
                              revision=first.revision)  # fmt: skip
    assert [kv.key for kv in second.items] == [prefix + "c/x", prefix + "e"]
    assert not second.more
    from_c = await store.list(prefix=prefix, start_key=prefix + "c")
    assert [kv.key for kv in from_c.items] == [prefix + "c/x", prefix + "e"]
    assert (await store.list(prefix=prefix + "zzz")).items == []


async def test_list_at_an_older_revision(store: Any, prefix: str) -> None:
    a = await store.create(key=prefix + "a", value=b"a1")
    b = await store.create(key=prefix + "b", value=b"b1")
    snapshot = await store.current_revision()
    await store.update(key=prefix + "a", value=b"a2", expected_revision=a.mod_revision)
    await store.delete(key=prefix + "b")
    await store.create(key=prefix + "c", value=b"c1")

    old = await store.list(prefix=prefix, revision=snapshot)
    assert old.items == [a, b]
    assert old.revision == snapshot
    paged = await store.list(prefix=prefix, revision=snapshot, limit=1)
    assert paged.items == [a] and paged.more and paged.remaining == 1
    assert [kv.value for kv in (await store.list(prefix=prefix)).items] == [b"a2", b"c1"]
    with pytest.raises(FutureRevisionError):
        await store.list(prefix=prefix, revision=await store.current_revision() + 1000)
