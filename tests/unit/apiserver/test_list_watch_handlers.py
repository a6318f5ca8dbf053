"""The list and watch handlers over a memory store and a real watch cache, served by aiohttp's test server:
paged lists (later pages from the cache when it can prove the snapshot, from the store otherwise, 410 when
expired), streamed large lists, and watch streams (batches, bookmarks, overflow)."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kybernetes.api.fields import selectable_fields
from kybernetes.api.resources import RESOURCES
from kybernetes.apiserver import handlers as handlers_module
from kybernetes.apiserver.handlers import ResourceHandlers
from kybernetes.apiserver.requestinfo import parse_request_info
from kybernetes.apiserver.rest import ResourceREST
from kybernetes.apiserver.watchcache import CacheHub, WatchCache
from kybernetes.machinery import errors
from kybernetes.storage.backends.memory import MemoryStore

INFO = next(r for r in RESOURCES if r.plural == "configmaps" and not r.group)
PREFIX = "/registry/configmaps/"


def stored(name: str, *, ns: str = "ns", value: str = "v1", labels: dict[str, str] | None = None) -> bytes:
    return msgspec.json.encode({"kind": "ConfigMap", "apiVersion": "v1",
                                "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": "a"}},
                                "data": {"k": value}})


@dataclass
class Env:
    store: MemoryStore
    cache: WatchCache
    handlers: ResourceHandlers
    session: aiohttp.ClientSession
    server: TestServer
    store_lists: int = 0

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def get(self, path: str, **params: Any) -> Any:
        async with self.session.get(self.url(path), params=params) as r:
            payload = await r.json()
            assert r.status == 200, payload
            return payload

    async def write(self, name: str, **kw: Any) -> int:
        key = PREFIX + f"{kw.get('ns', 'ns')}/{name}"
        kv = await self.store.get(key=key)
        if kv is None:
            kv = await self.store.create(key=key, value=stored(name, **kw))
        else:
            kv = await self.store.update(key=key, value=stored(name, **kw), expected_revision=kv.mod_revision)
        await self.cache.wait_for_revision(kv.mod_revision)
        return kv.mod_revision


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    store = MemoryStore()
    await store.start()
    cache = WatchCache(store=store, prefix=PREFIX, fields_of=functools.partial(selectable_fields, INFO))
    hub = CacheHub(store=store)
    hub.add(cache)
    hub_task = asyncio.create_task(hub.run())
    await hub.wait_ready()
    rest = ResourceREST(info=INFO, strategy=None, store=store, cache=cache,  # type: ignore[arg-type]
                        decode=lambda **kw: kw["obj"], admission=[])
    handlers = ResourceHandlers(rests={("", "v1", "configmaps"): rest}, subresources={}, bookmark_interval=0.05)
    holder: list[Env] = []
    real_list = store.list

    async def counting_list(**kw: Any) -> Any:
        holder[0].store_lists += 1
        return await real_list(**kw)

    store.list = counting_list  # type: ignore[method-assign]

    async def route(request: web.Request) -> web.StreamResponse:
        watch = request.query.get("watch") in ("1", "true")
        ri = parse_request_info(method=request.method, path=request.path, watch=watch)
        try:
            if ri.verb == "watch":
                return await handlers.watch(request, rest, ri)
            return await handlers.list_objects(request, rest, ri)
        except errors.StatusError as e:
            return web.Response(status=e.code, body=b'{"code":%d}' % e.code, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/configmaps", route)
    app.router.add_get("/api/v1/namespaces/{ns}/configmaps", route)
    server = TestServer(app)
    await server.start_server()
    session = aiohttp.ClientSession()
    e = Env(store=store, cache=cache, handlers=handlers, session=session, server=server)
    holder.append(e)
    try:
        yield e
    finally:
        await session.close()
        await server.close()
        hub_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hub_task
        await store.close()


async def pages(env: Env, path: str, *, limit: int, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token = ""
    while True:
        q = {"limit": str(limit), **params}
        if token:
            q["continue"] = token
        page = await env.get(path, **q)
        out.append(page)
        token = page["metadata"].get("continue", "")
        if not token:
            return out


def names(page: dict[str, Any]) -> list[str]:
    return [o["metadata"]["name"] for o in page["items"]]


async def test_pages_come_from_the_cache_while_nothing_changed(env: Env) -> None:
    for i in range(12):
        await env.write(f"o{i:02d}")
    whole = await env.get("/api/v1/configmaps")
    got = await pages(env, "/api/v1/configmaps", limit=5)
    assert env.store_lists == 0
    assert [n for p in got for n in names(p)] == names(whole)
    assert [item for p in got for item in p["items"]] == whole["items"]
    assert [p["metadata"].get("remainingItemCount") for p in got] == [7, 2, None]
    assert {p["metadata"]["resourceVersion"] for p in got} == {whole["metadata"]["resourceVersion"]}
    # Every object carries its own resourceVersion, as the store read would give it.
    for item in whole["items"]:
        kv = await env.store.get(key=PREFIX + "ns/" + item["metadata"]["name"])
        assert kv is not None and item["metadata"]["resourceVersion"] == str(kv.mod_revision)


async def test_pages_after_a_write_in_their_range_read_the_store_at_the_snapshot(env: Env) -> None:
    for i in range(12):
        await env.write(f"o{i:02d}")
    first = await env.get("/api/v1/configmaps", limit="5")
    await env.write("o07", value="v2")  # in the second page's range
    await env.write("o11", value="v2")  # in the third's
    second = await env.get("/api/v1/configmaps", limit="5", **{"continue": first["metadata"]["continue"]})
    assert env.store_lists == 1
    assert names(second) == ["o05", "o06", "o07", "o08", "o09"]
    assert [o["data"]["k"] for o in second["items"]] == ["v1"] * 5  # the snapshot, not the current state
    assert second["metadata"]["remainingItemCount"] == 2
    third = await env.get("/api/v1/configmaps", limit="5", **{"continue": second["metadata"]["continue"]})
    assert names(third) == ["o10", "o11"] and third["items"][1]["data"]["k"] == "v1"
    assert "continue" not in third["metadata"]


async def test_filtered_and_namespaced_pages(env: Env) -> None:
    for i in range(10):
        await env.write(f"o{i}", labels={"app": "x" if i % 2 else "y"})
        await env.write(f"o{i}", ns="other")
    got = await pages(env, "/api/v1/namespaces/ns/configmaps", limit=2, labelSelector="app=x")
    assert [names(p) for p in got] == [["o1", "o3"], ["o5", "o7"], ["o9"]]
    assert all("remainingItemCount" not in p["metadata"] for p in got)
    got = await pages(env, "/api/v1/namespaces/other/configmaps", limit=4)
    assert [names(p) for p in got] == [["o0", "o1", "o2", "o3"], ["o4", "o5", "o6", "o7"], ["o8", "o9"]]
    assert env.store_lists == 0


async def test_expired_continue_token_is_gone(env: Env) -> None:
    for i in range(6):
        await env.write(f"o{i}")
    first = await env.get("/api/v1/configmaps", limit="2")
    env.cache.capacity = 1  # the events after the snapshot leave the buffer...
    await env.write("o3", value="v2")
    await env.write("o4", value="v2")
    await env.store.compact(revision=await env.store.current_revision())  # ...and the store forgets it
    async with env.session.get(env.url("/api/v1/configmaps"),
                               params={"limit": "2", "continue": first["metadata"]["continue"]}) as r:
        assert r.status == 410


async def test_large_lists_are_streamed(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(30):
        await env.write(f"o{i:02d}", value="x" * 100)
    small = await env.get("/api/v1/configmaps")
    monkeypatch.setattr(handlers_module, "LIST_STREAM_BYTES", 1000)
    monkeypatch.setattr(handlers_module, "LIST_CHUNK_BYTES", 700)
    async with env.session.get(env.url("/api/v1/configmaps")) as r:
        assert r.headers.get("Transfer-Encoding") == "chunked"
        raw = await r.read()
    assert json.loads(raw) == small
    async with env.session.get(env.url("/api/v1/namespaces/none/configmaps")) as r:
        assert json.loads(await r.read())["items"] == []


async def test_partial_metadata_and_table_lists_decode_the_items(env: Env) -> None:
    await env.write("a")
    async with env.session.get(env.url("/api/v1/configmaps"),
                               headers={"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}) as r:
        payload = await r.json()
    assert payload["kind"] == "PartialObjectMetadataList"
    assert payload["items"][0]["metadata"]["name"] == "a"
    async with env.session.get(env.url("/api/v1/configmaps"),
                               headers={"Accept": "application/json;as=Table;g=meta.k8s.io;v=v1"}) as r:
        table = await r.json()
    assert table["kind"] == "Table" and table["rows"][0]["cells"][0] == "a"


async def read_lines(resp: aiohttp.ClientResponse, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        line = await asyncio.wait_for(resp.content.readline(), 5)
        assert line, f"stream ended after {out}"
        out.append(json.loads(line))
    return out


async def test_watch_streams_batches_and_ends(env: Env) -> None:
    rev = await env.write("a")
    async with env.session.get(env.url("/api/v1/configmaps"),
                               params={"watch": "1", "resourceVersion": str(rev)}) as r:
        # Several events dispatched at once reach the client in order, each a whole JSON line.
        writes = [env.write(f"b{i}", value=str(i)) for i in range(20)]
        for w in writes:
            await w
        events = await read_lines(r, 20)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", f"b{i}") for i in range(20)]
        assert [e["object"]["metadata"]["resourceVersion"] for e in events] == [
            str(rev + 1 + i) for i in range(20)]


async def test_watch_initial_events_then_end_bookmark_and_periodic_bookmarks(env: Env) -> None:
    await env.write("a")
    await env.write("b")
    params = {"watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
              "resourceVersion": "", "allowWatchBookmarks": "true"}
    async with env.session.get(env.url("/api/v1/configmaps"), params=params) as r:
        events = await read_lines(r, 4)
    assert [e["type"] for e in events[:3]] == ["ADDED", "ADDED", "BOOKMARK"]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert events[3]["type"] == "BOOKMARK"  # the interval is 50 ms here


async def test_watch_timeout_ends_the_stream(env: Env) -> None:
    async with env.session.get(env.url("/api/v1/configmaps"),
                               params={"watch": "1", "timeoutSeconds": "1", "allowWatchBookmarks": "true"}) as r:
        raw = await asyncio.wait_for(r.read(), 5)
    lines = [json.loads(line) for line in raw.splitlines()]
    assert lines and all(e["type"] == "BOOKMARK" for e in lines)


async def test_watcher_that_cannot_keep_up_gets_410(env: Env) -> None:
    rev = await env.write("a")
    env.cache.watcher_queue_size = 2
    async with env.session.get(env.url("/api/v1/configmaps"),
                               params={"watch": "1", "resourceVersion": str(rev)}) as r:
        # Five events in one batch: the third does not fit the watcher's queue.
        for i in range(5):
            await env.store.create(key=PREFIX + f"ns/s{i}", value=stored(f"s{i}"))
        raw = await asyncio.wait_for(r.read(), 5)
    lines = [json.loads(line) for line in raw.splitlines()]
    assert lines[-1]["type"] == "ERROR" and lines[-1]["object"]["code"] == 410
    assert all(e["type"] == "ADDED" for e in lines[:-1]) and len(lines) <= 3
