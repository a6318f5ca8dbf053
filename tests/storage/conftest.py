"""Fixtures for the Store contract suite: one `store` per backend (memory, sqlite, etcd).

etcd runs once per session (tests/etcd_server.py) and every test works under its own unique key prefix,
so tests on the shared server do not see each other's keys. `open_store()` opens another store on the
same backing data (same SQLite file, same etcd server; a fresh one for memory) for the durability tests;
every store opened is closed at teardown.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared etcd_server helper

from etcd_server import EtcdServer, etcd_available
from kybernetes.storage import Store
from kybernetes.storage.backends import EtcdStore, MemoryStore, SQLiteStore

BACKENDS = [
    "memory",
    "sqlite",
    pytest.param(
        "etcd",
        marks=[pytest.mark.etcd, pytest.mark.skipif(not etcd_available(), reason="needs /usr/bin/etcd")],
    ),
]

OpenStore = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    if not etcd_available():
        pytest.skip("needs /usr/bin/etcd")
    with EtcdServer() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[OpenStore]:
    opened: list[Store] = []
    server = request.getfixturevalue("etcd_server") if backend == "etcd" else None

    async def factory(**options: Any) -> Any:
        store: Any
        if backend == "memory":
            store = MemoryStore(**options)
        elif backend == "sqlite":
            store = SQLiteStore(path=tmp_path / "state.db", **options)
        else:
            assert server is not None
            store = EtcdStore(endpoints=[server.endpoint], **options)
        await store.start()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Any:
    return await open_store()


@pytest.fixture
def prefix() -> str:
    return f"/registry/test-{uuid.uuid4().hex[:10]}/"
