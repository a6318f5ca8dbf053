"""Informers against the fake API server: initial list, watch events, indexes, re-list after 410 with the
missed changes delivered as adds / updates / deletes, connection-loss resume, resync on a FakeClock, the
shared factory, and the store's indexes on their own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer
from client_fake_api import FakeApi

from kybernetes.api.models.core_v1 import Pod
from kybernetes.client import (
    INDEX_NAMESPACE,
    INDEX_NODE_NAME,
    Client,
    FakeClock,
    Informer,
    SharedInformerFactory,
    Store,
    namespace_index,
    node_name_index,
    object_key,
)
from kybernetes.client.store import owner_uid_index

Api = tuple[FakeApi, TestServer]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    def add(self, obj: Pod) -> None:
        self._note("add", obj)

    def update(self, old: Pod, new: Pod) -> None:
        assert object_key(old) == object_key(new)
        self._note("update", new)

    def delete(self, obj: Pod) -> None:
        self._note("delete", obj)

    def _note(self, kind: str, obj: Pod) -> None:
        self.events.append((kind, object_key(obj)))
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        async def until() -> None:
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(until(), 5)


async def settle(predicate: Callable[[], bool]) -> None:
    """Let other tasks run (no time passes) until `predicate()` holds."""
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def informer_for(client: Client, **kwargs: object) -> Informer[Pod]:
    return Informer(resource=client.resource(Pod), clock=FakeClock(auto_advance=True),
                    indexers={INDEX_NAMESPACE: namespace_index, INDEX_NODE_NAME: node_name_index},
                    page_size=2, **kwargs)  # type: ignore[arg-type]


async def test_list_then_watch_with_indexes(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("a", "p1", node="n1")
    api.put("a", "p2")
    api.put("b", "p3", node="n1")
    informer = informer_for(client)
    seen = Recorder()
    informer.add_handler(on_add=seen.add, on_update=seen.update, on_delete=seen.delete)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(informer.run())
        await asyncio.wait_for(informer.wait_synced(), 5)
        assert informer.has_synced
        assert seen.events == [("add", "a/p1"), ("add", "a/p2"), ("add", "b/p3")]
        assert api.list_count == 2  # paged: 2 + 1
        assert {object_key(p) for p in informer.by_index(INDEX_NODE_NAME, "n1")} == {"a/p1", "b/p3"}
        assert [object_key(p) for p in informer.by_index(INDEX_NODE_NAME, "")] == ["a/p2"]
        assert len(informer.by_index(INDEX_NAMESPACE, "a")) == 2

        api.put("b", "p4", node="n2")
        api.put("a", "p2", node="n2")  # scheduled: moves in the node index
        api.remove("a", "p1")
        await seen.wait_for(6)
        assert seen.events[3:] == [("add", "b/p4"), ("update", "a/p2"), ("delete", "a/p1")]
        assert {object_key(p) for p in informer.by_index(INDEX_NODE_NAME, "n2")} == {"b/p4", "a/p2"}
        assert informer.by_index(INDEX_NODE_NAME, "") == []
        assert informer.get("a/p1") is None
        got = informer.get("a/p2")
        assert got is not None and got.spec is not None and got.spec.node_name == "n2"
        stats = informer.statistics()
        assert stats.objects == 3 and stats.events == 3 and stats.resource_version == str(api.rv)
        task.cancel()


async def test_relist_after_410_delivers_the_missed_differences(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("ns", "keep")
    api.put("ns", "change")
    api.put("ns", "vanish")
    informer = informer_for(client)
    seen = Recorder()
    informer.add_handler(on_add=seen.add, on_update=seen.update, on_delete=seen.delete)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(informer.run())
        await informer.wait_synced()
        await api.wait_until(lambda: api.watch_count == 1 and len(api.watchers) == 1)
        # Changes the informer's watch never sees, then history is compacted and the watch expires.
        with api.silent():
            api.put("ns", "change", labels={"v": "2"})
            api.remove("ns", "vanish")
            api.put("ns", "fresh")
        api.compact()
        api.expire_watches()
        await seen.wait_for(6)
        assert sorted(seen.events[3:]) == [("add", "ns/fresh"), ("delete", "ns/vanish"), ("update", "ns/change")]
        assert seen.events[3] == ("delete", "ns/vanish")  # deletes come first
        assert sorted(informer.store.keys()) == ["ns/change", "ns/fresh", "ns/keep"]
        stats = informer.statistics()
        assert stats.relists_gone == 1 and stats.lists == 2
        # And it keeps watching from the new list's resourceVersion.
        await api.wait_until(lambda: len(api.watchers) == 1)
        api.put("ns", "later")
        await seen.wait_for(7)
        assert seen.events[-1] == ("add", "ns/later")
        task.cancel()


async def test_watch_that_ends_is_resumed_from_the_last_resource_version(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("ns", "a")
    informer = informer_for(client)
    seen = Recorder()
    informer.add_handler(on_add=seen.add, on_update=seen.update, on_delete=seen.delete)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(informer.run())
        await informer.wait_synced()
        await api.wait_until(lambda: len(api.watchers) == 1)
        last = informer.last_resource_version
        api.end_watches()  # as at the server's timeout: no error
        await api.wait_until(lambda: api.watch_count == 2)
        assert api.requests[-1].query["resourceVersion"] == last
        api.put("ns", "b")
        await seen.wait_for(2)
        assert seen.events == [("add", "ns/a"), ("add", "ns/b")]
        assert api.list_count == 1  # no re-list needed
        task.cancel()


async def test_resync_reannounces_every_object(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("ns", "a")
    api.put("ns", "b")
    clock = FakeClock()
    informer = Informer(resource=client.resource(Pod), resync_period=30.0, clock=clock)
    seen = Recorder()
    informer.add_handler(on_update=seen.update)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(informer.run())
        await informer.wait_synced()
        await settle(lambda: clock.pending() >= 1)
        assert seen.events == []
        clock.advance(30.0)
        await seen.wait_for(2)
        assert sorted(seen.events) == [("update", "ns/a"), ("update", "ns/b")]
        task.cancel()


async def test_handler_added_after_sync_sees_existing_objects_and_errors_are_contained(
    fake_api: Api, client: Client
) -> None:
    api, _ = fake_api
    api.put("ns", "a")
    informer = informer_for(client)

    def broken(obj: Pod) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(on_add=broken)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(informer.run())
        await informer.wait_synced()
        late = Recorder()
        informer.add_handler(on_add=late.add)
        assert late.events == [("add", "ns/a")]
        api.put("ns", "b")
        await late.wait_for(2)
        assert informer.statistics().handler_errors == 2
        task.cancel()


async def test_shared_factory_shares_informers(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("ns", "a")
    factory = SharedInformerFactory(client=client, clock=FakeClock(auto_advance=True))
    first = factory.informer(Pod)
    assert factory.informer(Pod) is first
    assert factory.informer(Pod, namespace="ns") is not first
    assert factory.informer(Pod, label_selector="x=y") is not first
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(factory.run())
        await asyncio.wait_for(factory.wait_synced(), 5)
        # One asked for after the factory started is run too.
        late = factory.informer(Pod, field_selector="spec.nodeName=n1",
                                indexers={INDEX_NODE_NAME: node_name_index})
        await asyncio.wait_for(late.wait_synced(), 5)
        assert len(factory.statistics()) == 4 and all(s.synced for s in factory.statistics())
        task.cancel()


def test_store_indexes_follow_updates_and_removals() -> None:
    store: Store[Pod] = Store(indexers={"owner": owner_uid_index})
    import msgspec

    def pod(name: str, owners: list[str]) -> Pod:
        return msgspec.convert({"metadata": {"name": name, "namespace": "n", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o, "uid": o} for o in owners]}}, Pod)

    store.upsert(pod("a", ["rs1"]))
    store.upsert(pod("b", ["rs1", "rs2"]))
    assert store.index_keys("owner", "rs1") == ["n/a", "n/b"]
    store.upsert(pod("a", ["rs2"]))
    assert store.index_keys("owner", "rs1") == ["n/b"]
    assert store.index_keys("owner", "rs2") == ["n/a", "n/b"]
    store.remove("n/b")
    assert store.index_values("owner") == ["rs2"]
    store.add_indexer(INDEX_NAMESPACE, namespace_index)
    assert store.index_keys(INDEX_NAMESPACE, "n") == ["n/a"]
    with pytest.raises(KeyError):
        store.by_index("nope", "x")
    assert store.statistics().objects == 1


MANAGED = [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}]


async def test_factory_informers_strip_managed_fields_and_a_transform_runs_after(
        fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("a", "listed", managed_fields=MANAGED)
    factory = SharedInformerFactory(client=client, clock=FakeClock(auto_advance=True))
    informer = factory.informer(Pod)
    seen: list[Pod] = []
    # The informer's own transform sees objects already without managedFields.
    informer.transform = lambda pod: seen.append(pod) or pod  # type: ignore[func-returns-value]
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(factory.run())
        await asyncio.wait_for(factory.wait_synced(), 5)
        api.put("a", "watched", managed_fields=MANAGED)
        await settle(lambda: informer.get("a/watched") is not None)
        for key in ("a/listed", "a/watched"):
            pod = informer.get(key)
            assert pod is not None and pod.metadata is not None
            assert pod.metadata.managed_fields is None and pod.metadata.uid == f"uid-{key[2:]}"
        assert [object_key(p) for p in seen] == ["a/listed", "a/watched"]
        assert all(p.metadata is not None and p.metadata.managed_fields is None for p in seen)
        task.cancel()


async def test_informer_keeps_managed_fields_unless_asked(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("a", "p", managed_fields=MANAGED)
    plain = informer_for(client)
    factory = SharedInformerFactory(client=client, clock=FakeClock(auto_advance=True), strip_managed_fields=False)
    unstripped = factory.informer(Pod)
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(plain.run()), tg.create_task(factory.run())]
        await asyncio.wait_for(plain.wait_synced(), 5)
        await asyncio.wait_for(factory.wait_synced(), 5)
        for informer in (plain, unstripped):
            pod = informer.get("a/p")
            assert pod is not None and pod.metadata is not None and pod.metadata.managed_fields is not None
            assert pod.metadata.managed_fields[0].manager == "kubectl"
        for task in tasks:
            task.cancel()


def test_share_strings_keeps_values_and_shares_equal_strings() -> None:
    import msgspec

    from kybernetes.api.models.core_v1 import Pod
    from kybernetes.client.store import share_strings

    raw = (b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"team-a","labels":{"app":"web"},'
           b'"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","uid":"u-1"}]},'
           b'"spec":{"nodeName":"node-7","containers":[{"name":"c","image":"registry.k8s.io/pause:3.10",'
           b'"args":["-v"]}]},"status":{"phase":"Running","message":"' + b"m" * 100 + b'"}}')
    first, second = (msgspec.json.decode(raw, type=Pod) for _ in range(2))
    assert first.spec.node_name is not second.spec.node_name  # type: ignore[union-attr]
    share_strings(first)
    shared = share_strings(second)
    assert shared is second
    assert msgspec.json.encode(shared) == msgspec.json.encode(msgspec.json.decode(raw, type=Pod))
    assert first.spec.node_name is second.spec.node_name  # type: ignore[union-attr]
    assert first.spec.containers[0].image is second.spec.containers[0].image  # type: ignore[union-attr]
    assert first.metadata.labels["app"] is second.metadata.labels["app"]  # type: ignore[index,union-attr]
    assert first.metadata.owner_references[0].uid is second.metadata.owner_references[0].uid  # type: ignore[index,union-attr]
    assert first.spec.containers[0].args[0] is second.spec.containers[0].args[0]  # type: ignore[index,union-attr]
    assert first.status.message is not second.status.message  # type: ignore[union-attr]  # long: left alone
