"""`ResourceREST.update` starting from the watch cache: no store read when the cache is current, and the
store's answer whenever the cache lags it (pinned resourceVersions, concurrent writes, no-ops, deletions).

The cache is loaded from a memory store and then deliberately not fed the store's later events, so it
stays behind the store exactly where a test wants it; `reload()` brings it up to date.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kybernetes.api.fields import selectable_fields
from kybernetes.api.resources import ResourceInfo, lookup
from kybernetes.apiserver.auth.authn import UserInfo
from kybernetes.apiserver.patching import managed_fields_updater
from kybernetes.apiserver.registry.pods import PodStrategy
from kybernetes.apiserver.registry.strategy import Strategy
from kybernetes.apiserver.rest import RequestContext, ResourceREST
from kybernetes.apiserver.watchcache import WatchCache
from kybernetes.machinery import errors
from kybernetes.storage import KeyValue
from kybernetes.storage.backends.memory import MemoryStore

Transform = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class CountingStore(MemoryStore):
    """A memory store that counts point reads (the read an update from the cache saves)."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, *, key: str) -> KeyValue | None:
        self.gets += 1
        return await super().get(key=key)


def _decode(*, obj: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    # The schema decoder's unknown-field warning, reduced to one made-up field.
    if "bogus" in obj:
        obj = {k: v for k, v in obj.items() if k != "bogus"}
        ctx.warnings.append('unknown field "bogus"')
    return obj


@dataclass
class Env:
    store: CountingStore
    cache: WatchCache
    rest: ResourceREST

    async def reload(self) -> None:
        await self.cache.load(revision=0)

    def ctx(self, **kw: Any) -> RequestContext:
        kw.setdefault("field_manager", "test")
        return RequestContext(user=UserInfo(name="admin"), namespace="ns", **kw)

    async def stored(self, name: str) -> dict[str, Any]:
        kv = await MemoryStore.get(self.store, key=self.rest.key(namespace="ns", name=name))
        assert kv is not None
        obj: dict[str, Any] = json.loads(kv.value)
        obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
        return obj

    async def write_behind_cache(self, name: str, change: Callable[[dict[str, Any]], None]) -> str:
        """A write the cache does not see (it is not fed events): returns the new resourceVersion."""
        obj = await self.stored(name)
        rv = int(obj["metadata"].pop("resourceVersion"))
        change(obj)
        kv = await self.store.update(key=self.rest.key(namespace="ns", name=name),
                                     value=json.dumps(obj).encode(), expected_revision=rv)
        return str(kv.mod_revision)


async def _env(info: ResourceInfo, strategy: Strategy) -> AsyncIterator[Env]:
    store = CountingStore()
    await store.start()
    cache = WatchCache(store=store, prefix=f"/registry/{info.storage_prefix}/",
                       fields_of=lambda obj: selectable_fields(info, obj))
    rest = ResourceREST(info=info, strategy=strategy, store=store, cache=cache, decode=_decode, admission=[],
                        managed_fields=managed_fields_updater(info))
    await cache.load(revision=0)
    try:
        yield Env(store=store, cache=cache, rest=rest)
    finally:
        await store.close()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    info = lookup("", "v1", "configmaps")
    assert info is not None
    async for e in _env(info, Strategy(info)):
        yield e


@pytest.fixture
async def pods() -> AsyncIterator[Env]:
    info = lookup("", "v1", "pods")
    assert info is not None
    async for e in _env(info, PodStrategy(info)):
        yield e


async def _create_cm(env: Env, name: str = "cm", data: dict[str, str] | None = None,
                     finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    created = await env.rest.create(ctx=env.ctx(), obj={"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                                                        "data": data or {"a": "1"}})
    await env.reload()
    return created


def _set(key: str, value: str, *, pin: str | None = None, drop_rv: bool = True) -> Transform:
    """A patch-like transform: set data[key] on the current object, pinning `pin` (or nothing)."""

    async def transform(current: dict[str, Any]) -> dict[str, Any]:
        current.setdefault("data", {})[key] = value
        if pin is not None:
            current["metadata"]["resourceVersion"] = pin
        elif drop_rv:
            current["metadata"].pop("resourceVersion", None)
        return current

    return transform


def _replace(desired: dict[str, Any]) -> Transform:
    async def transform(current: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(desired)

    return transform


async def test_update_from_a_current_cache_reads_nothing_from_the_store(env: Env) -> None:
    created = await _create_cm(env)
    env.store.gets = 0
    obj, was_created = await env.rest.update(ctx=env.ctx(), name="cm", transform=_set("b", "2"))
    assert not was_created
    assert env.store.gets == 0
    assert obj["data"] == {"a": "1", "b": "2"}
    assert int(obj["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert await env.stored("cm") == obj
    # The cached object is not touched by the update (it is shared with readers).
    cached = env.cache.get(env.rest.key(namespace="ns", name="cm"))
    assert cached is not None and json.loads(cached.data)["data"] == {"a": "1"}


async def test_pinned_current_resource_version_from_the_cache(env: Env) -> None:
    created = await _create_cm(env)
    env.store.gets = 0
    obj, _ = await env.rest.update(ctx=env.ctx(), name="cm",
                                   transform=_set("b", "2", pin=created["metadata"]["resourceVersion"]))
    assert env.store.gets == 0
    assert obj["data"]["b"] == "2"


async def test_pinned_rv_newer_than_the_cache_is_no_false_conflict(env: Env) -> None:
    """The client read its own write (rv from the response) before the cache saw it."""
    await _create_cm(env)
    newer = await env.write_behind_cache("cm", lambda o: o["data"].update(b="2"))
    obj, _ = await env.rest.update(ctx=env.ctx(), name="cm", transform=_set("c", "3", pin=newer))
    assert obj["data"] == {"a": "1", "b": "2", "c": "3"}
    assert env.store.gets == 1
    assert await env.stored("cm") == obj


async def test_pinned_rv_older_than_the_cache_is_a_conflict_without_a_store_read(env: Env) -> None:
    created = await _create_cm(env)
    await env.rest.update(ctx=env.ctx(), name="cm", transform=_set("b", "2"))
    await env.reload()
    env.store.gets = 0
    with pytest.raises(errors.ConflictError) as e:
        await env.rest.update(ctx=env.ctx(), name="cm",
                              transform=_set("c", "3", pin=created["metadata"]["resourceVersion"]))
    assert e.value.code == 409
    assert "the object has been modified" in e.value.message
    assert env.store.gets == 0


async def test_pinned_rv_equal_to_a_stale_cache_is_a_conflict(env: Env) -> None:
    created = await _create_cm(env)
    await env.write_behind_cache("cm", lambda o: o["data"].update(b="2"))
    with pytest.raises(errors.ConflictError):
        await env.rest.update(ctx=env.ctx(), name="cm",
                              transform=_set("c", "3", pin=created["metadata"]["resourceVersion"]))
    assert (await env.stored("cm"))["data"] == {"a": "1", "b": "2"}


async def test_unpinned_update_on_a_stale_cache_keeps_the_concurrent_write(env: Env) -> None:
    await _create_cm(env)
    await env.write_behind_cache("cm", lambda o: o["data"].update(b="2"))
    obj, _ = await env.rest.update(ctx=env.ctx(), name="cm", transform=_set("c", "3"))
    assert obj["data"] == {"a": "1", "b": "2", "c": "3"}
    assert await env.stored("cm") == obj


async def test_no_op_on_a_stale_cache_is_decided_by_the_store(env: Env) -> None:
    """Against the cache (a=1) the update is a no-op; against the store (a=2) it is not, and must be written."""
    await _create_cm(env)
    await env.write_behind_cache("cm", lambda o: o["data"].update(a="2"))
    obj, _ = await env.rest.update(ctx=env.ctx(), name="cm", transform=_set("a", "1"))
    assert obj["data"] == {"a": "1"}
    assert (await env.stored("cm"))["data"] == {"a": "1"}


async def test_no_op_on_a_current_cache_writes_nothing(env: Env) -> None:
    created = await _create_cm(env)
    obj, _ = await env.rest.update(ctx=env.ctx(), name="cm", transform=_set("a", "1"))
    assert obj["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert await env.store.current_revision() == int(created["metadata"]["resourceVersion"])


async def test_transform_error_on_a_stale_cache_is_retried_on_the_store(env: Env) -> None:
    """An error that only the stale copy causes (a patch's `test` op, say) is not the answer."""
    await _create_cm(env)
    await env.write_behind_cache("cm", lambda o: o["data"].update(b="2"))

    async def needs_b(current: dict[str, Any]) -> dict[str, Any]:
        if "b" not in current["data"]:
            raise errors.InvalidError("testing value /data/b failed")
        current["data"]["c"] = "3"
        current["metadata"].pop("resourceVersion")
        return current

    obj, _ = await env.rest.update(ctx=env.ctx(), name="cm", transform=needs_b)
    assert obj["data"] == {"a": "1", "b": "2", "c": "3"}


async def test_real_errors_still_reach_the_client(env: Env) -> None:
    await _create_cm(env)
    with pytest.raises(errors.BadRequestError, match="does not match the name on the URL"):
        await env.rest.update(ctx=env.ctx(), name="cm", transform=_replace(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}, "data": {}}))


async def test_warnings_of_an_abandoned_cache_attempt_are_not_repeated(env: Env) -> None:
    await _create_cm(env)
    await env.write_behind_cache("cm", lambda o: o["data"].update(b="2"))
    ctx = env.ctx()

    async def patch_with_unknown_field(current: dict[str, Any]) -> dict[str, Any]:
        current["data"]["c"] = "3"
        current["bogus"] = True
        current["metadata"].pop("resourceVersion")
        return env.rest.decode(obj=current, ctx=ctx)

    await env.rest.update(ctx=ctx, name="cm", transform=patch_with_unknown_field)
    assert ctx.warnings == ['unknown field "bogus"']


async def test_key_in_the_cache_but_gone_from_the_store(env: Env) -> None:
    await _create_cm(env)
    await env.store.delete(key=env.rest.key(namespace="ns", name="cm"))
    with pytest.raises(errors.NotFoundError):
        await env.rest.update(ctx=env.ctx(), name="cm", transform=_set("b", "2"))

    async def create() -> dict[str, Any]:
        await env.reload()  # create refuses a name the cache still holds
        return await env.rest.create(ctx=env.ctx(), obj={"apiVersion": "v1", "kind": "ConfigMap",
                                                         "metadata": {"name": "cm"}, "data": {"new": "1"}})

    obj, was_created = await env.rest.update(ctx=env.ctx(), name="cm", transform=_set("b", "2"),
                                             create_missing=create)
    assert was_created and obj["data"] == {"new": "1"}


async def test_key_not_yet_in_the_cache_is_read_from_the_store(env: Env) -> None:
    await env.rest.create(ctx=env.ctx(), obj={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                                              "data": {"a": "1"}})
    assert env.cache.get(env.rest.key(namespace="ns", name="cm")) is None
    obj, _ = await env.rest.update(ctx=env.ctx(), name="cm", transform=_set("b", "2"))
    assert obj["data"] == {"a": "1", "b": "2"}
    assert env.store.gets == 1


async def test_dry_run_answers_from_the_store(env: Env) -> None:
    await _create_cm(env)
    newer = await env.write_behind_cache("cm", lambda o: o["data"].update(b="2"))
    obj, _ = await env.rest.update(ctx=env.ctx(dry_run=True), name="cm", transform=_set("c", "3"))
    assert obj["data"] == {"a": "1", "b": "2", "c": "3"}
    assert (await env.stored("cm"))["metadata"]["resourceVersion"] == newer


async def test_removing_the_last_finalizer_deletes_from_the_cache_path(env: Env) -> None:
    await _create_cm(env, finalizers=["example.com/hold"])
    gone, still = await env.rest.delete(ctx=env.ctx(), name="cm", options={})
    assert still and gone["metadata"]["deletionTimestamp"]
    await env.reload()
    env.store.gets = 0

    async def drop_finalizers(current: dict[str, Any]) -> dict[str, Any]:
        current["metadata"]["finalizers"] = []
        return current

    obj, _ = await env.rest.update(ctx=env.ctx(), name="cm", transform=drop_finalizers)
    assert obj["metadata"]["name"] == "cm"
    assert env.store.gets == 0
    assert await MemoryStore.get(env.store, key=env.rest.key(namespace="ns", name="cm")) is None


async def test_removing_the_last_finalizer_on_a_stale_cache(env: Env) -> None:
    await _create_cm(env, finalizers=["example.com/hold"])
    await env.rest.delete(ctx=env.ctx(), name="cm", options={})
    await env.reload()
    await env.write_behind_cache("cm", lambda o: o["data"].update(b="2"))

    async def drop_finalizers(current: dict[str, Any]) -> dict[str, Any]:
        current["metadata"]["finalizers"] = []
        current["metadata"].pop("resourceVersion")
        return current

    obj, _ = await env.rest.update(ctx=env.ctx(), name="cm", transform=drop_finalizers)
    assert obj["data"] == {"a": "1", "b": "2"}  # the deleted object is the store's, not the cache's
    assert await MemoryStore.get(env.store, key=env.rest.key(namespace="ns", name="cm")) is None


async def test_status_update_from_the_cache_keeps_spec_and_records_managed_fields(pods: Env) -> None:
    created = await pods.rest.create(ctx=pods.ctx(), obj={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    })
    await pods.reload()
    pods.store.gets = 0
    desired = copy.deepcopy(created)
    desired["spec"]["containers"][0]["image"] = "ignored"
    desired["status"] = {"phase": "Running", "podIP": "10.244.0.9"}
    obj, _ = await pods.rest.update(ctx=pods.ctx(field_manager="kubelet"), name="p", transform=_replace(desired),
                                    subresource="status")
    assert pods.store.gets == 0
    assert obj["spec"]["containers"][0]["image"] == "busybox"
    assert obj["status"]["phase"] == "Running" and obj["status"]["qosClass"] == "BestEffort"
    managers = {(e["manager"], e.get("subresource", "")) for e in obj["metadata"]["managedFields"]}
    assert ("kubelet", "status") in managers
    assert await pods.stored("p") == obj


async def test_generate_name_clash_retries_with_the_object_as_sent(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from kybernetes.apiserver import rest as rest_module

    suffixes = iter(["aaaaa", "aaaaa", "bbbbb"])
    monkeypatch.setattr(rest_module, "random_suffix", lambda n=5: next(suffixes))
    sent = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cm-", "labels": {"a": "b"}},
            "data": {"k": "v"}}
    first = await env.rest.create(ctx=env.ctx(), obj=copy.deepcopy(sent))
    await env.reload()
    second = await env.rest.create(ctx=env.ctx(), obj=copy.deepcopy(sent))
    assert (first["metadata"]["name"], second["metadata"]["name"]) == ("cm-aaaaa", "cm-bbbbb")
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert len(second["metadata"]["managedFields"]) == 1
    assert second["data"] == {"k": "v"} and second["metadata"]["labels"] == {"a": "b"}
    assert await env.stored("cm-bbbbb") == second
