"""Beyond the shared contract: the datastore factory, the background compactor, SQLite specifics."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kybernetes.storage import ConflictError, KeyExistsError, StorageError
from kybernetes.storage.backends import EtcdStore, MemoryStore, SQLiteStore
from kybernetes.storage.backends.compactor import compact_once, run_compactor
from kybernetes.storage.factory import open_store


def test_open_store_parses_datastores(tmp_path: Path) -> None:
    sqlite_store = open_store(datastore="sqlite", data_dir=tmp_path)
    assert isinstance(sqlite_store, SQLiteStore) and sqlite_store.path == tmp_path / "state.db"
    assert isinstance(open_store(datastore="memory", data_dir=tmp_path), MemoryStore)
    etcd = open_store(datastore="etcd://10.0.0.1:2379,10.0.0.2:2379", data_dir=tmp_path)
    assert isinstance(etcd, EtcdStore) and etcd._urls == ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
    secure = open_store(datastore="etcd+https://db:2379", data_dir=tmp_path)
    assert isinstance(secure, EtcdStore) and secure._urls == ["https://db:2379"]
    for bad in ["postgres://x", "etcd://", "etcd://h:1?ca=/x", "etcd+https://h:1?token=x"]:
        with pytest.raises(ValueError):
            open_store(datastore=bad, data_dir=tmp_path)


async def test_compactor_keeps_one_interval_and_a_minimum_of_revisions() -> None:
    store = MemoryStore()
    ticks: asyncio.Queue[None] = asyncio.Queue()
    slept = asyncio.Event()

    async def fake_sleep(_seconds: float) -> None:
        slept.set()
        await ticks.get()

    for i in range(10):
        await store.create(key=f"/k{i}", value=b"")
    task = asyncio.create_task(run_compactor(store=store, interval=60, keep=3, sleep=fake_sleep))
    try:
        await slept.wait()  # the compactor noted revision 10 and sleeps
        for i in range(10, 15):
            await store.create(key=f"/k{i}", value=b"")
        slept.clear()
        ticks.put_nowait(None)
        await slept.wait()  # first tick: compacts at what was current one interval ago
        assert await store.compacted_revision() == 10
        slept.clear()
        ticks.put_nowait(None)
        await slept.wait()  # second tick: 15 is current, keep=3 holds it at 12
        assert await store.compacted_revision() == 12
    finally:
        task.cancel()
    assert await compact_once(store=store, target=5, keep=0) is None  # already past 5


async def test_sqlite_schema_rejects_a_lost_update(tmp_path: Path) -> None:
    store = SQLiteStore(path=tmp_path / "state.db")
    await store.start()
    kv = await store.create(key="/a", value=b"1")
    await store.close()
    connection = sqlite3.connect(tmp_path / "state.db")
    try:
        insert = (
            "INSERT INTO kv (name, created, deleted, create_revision, prev_revision, value) "
            "VALUES (?, 0, 0, ?, ?, ?)"
        )
        connection.execute(insert, ("/a", kv.create_revision, kv.mod_revision, b"2"))
        with pytest.raises(sqlite3.IntegrityError):  # a second writer that also read revision 1
            connection.execute(insert, ("/a", kv.create_revision, kv.mod_revision, b"3"))
        connection.commit()
    finally:
        connection.close()

    reopened = SQLiteStore(path=tmp_path / "state.db")
    await reopened.start()
    try:  # the store picks up the other writer's row and its CAS still holds
        current = await reopened.get(key="/a")
        assert current is not None and current.value == b"2" and current.mod_revision == 2
        with pytest.raises(ConflictError):
            await reopened.update(key="/a", value=b"x", expected_revision=kv.mod_revision)
        with pytest.raises(KeyExistsError):
            await reopened.create(key="/a", value=b"x")
    finally:
        await reopened.close()


async def test_sqlite_revision_survives_compacting_away_the_newest_row(tmp_path: Path) -> None:
    store = SQLiteStore(path=tmp_path / "state.db")
    await store.start()
    await store.create(key="/a", value=b"1")
    gone = await store.delete(key="/a")
    await store.compact(revision=gone.mod_revision)  # removes every row, the tombstone included
    assert (await store.list(prefix="/")).items == []
    await store.close()

    reopened = SQLiteStore(path=tmp_path / "state.db")
    await reopened.start()
    try:
        assert await reopened.current_revision() == gone.mod_revision
        assert (await reopened.create(key="/a", value=b"2")).mod_revision == gone.mod_revision + 1
    finally:
        await reopened.close()


async def test_sqlite_writes_after_close_fail_cleanly(tmp_path: Path) -> None:
    store = SQLiteStore(path=tmp_path / "state.db")
    await store.start()
    pending = [asyncio.ensure_future(store.create(key=f"/k{i}", value=b"")) for i in range(20)]
    await asyncio.sleep(0)  # the writes are queued; close must still commit them
    await store.close()
    assert [kv.mod_revision for kv in await asyncio.gather(*pending)] == list(range(1, 21))
    with pytest.raises(StorageError, match="not running"):
        await store.create(key="/late", value=b"")
