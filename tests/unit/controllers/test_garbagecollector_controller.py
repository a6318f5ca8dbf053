"""The garbage collector's graph and decisions on a fake object API: dangling owners, foreground (blocking
dependents first, then the finalizer), orphaning, virtual owners verified against the API."""

from __future__ import annotations

from typing import Any

from kybernetes.api.resources import ResourceInfo
from kybernetes.client import FakeClock
from kybernetes.controllers.garbagecollector import GarbageCollector
from kybernetes.controllers.garbagecollector.metadata import PartialMeta, PartialOwner, resource_for


def _info(kind: str) -> ResourceInfo:
    found = resource_for("v1", kind)
    assert found is not None
    return found


CM, SECRET, NODE = _info("ConfigMap"), _info("Secret"), _info("Node")


def owner(name: str, *, block: bool = False, kind: str = "ConfigMap") -> PartialOwner:
    return PartialOwner(api_version="v1", kind=kind, name=name, uid=f"uid-{name}", block_owner_deletion=block or None)


def meta(name: str, *, owners: tuple[PartialOwner, ...] = (), finalizers: tuple[str, ...] = (),
         deleting: bool = False, namespace: str = "ns") -> PartialMeta:
    return PartialMeta(name=name, namespace=namespace, uid=f"uid-{name}", resource_version="1", owner_references=owners,
                       finalizers=finalizers, deletion_timestamp="2026-01-01T00:00:00Z" if deleting else None)


class FakeObjects:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], PartialMeta] = {}
        self.deleted: list[tuple[str, str, str]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self.gets = 0

    def put(self, info: ResourceInfo, m: PartialMeta) -> PartialMeta:
        self.objects[(info.plural, m.namespace or "", m.name)] = m
        return m

    async def get(self, *, info: ResourceInfo, namespace: str, name: str) -> PartialMeta | None:
        self.gets += 1
        return self.objects.get((info.plural, namespace, name))

    async def delete(self, *, info: ResourceInfo, namespace: str, name: str, uid: str, propagation: str) -> None:
        self.deleted.append((info.plural, name, propagation))
        self.objects.pop((info.plural, namespace, name), None)

    async def patch_metadata(self, *, info: ResourceInfo, namespace: str, name: str, metadata: dict[str, Any]) -> None:
        self.patched.append((name, metadata))


def drain(gc: GarbageCollector) -> list[str]:
    keys = []
    while (key := gc.delete_queue.get_nowait()) is not None:
        gc.delete_queue.done(key)
        keys.append(key)
    return keys


async def test_dependent_of_deleted_owner_is_deleted_in_background() -> None:
    api = FakeObjects()
    gc = GarbageCollector(api=api, clock=FakeClock())
    gc.graph.observe(info=CM, meta=api.put(CM, meta("owner")))
    gc.graph.observe(info=SECRET, meta=api.put(SECRET, meta("dep", owners=(owner("owner"),))))
    assert drain(gc) == []  # the owner is known and present: nothing to do
    del api.objects[("configmaps", "ns", "owner")]
    gc.graph.forget(uid="uid-owner")
    assert drain(gc) == ["uid-dep"]
    gets = api.gets
    await gc.attempt_to_delete("uid-dep")
    assert api.deleted == [("secrets", "dep", "Background")]
    assert api.gets == gets + 1  # the dependent itself; the owner is known absent without asking


async def test_dependent_with_a_live_owner_loses_only_the_dangling_reference() -> None:
    api = FakeObjects()
    gc = GarbageCollector(api=api, clock=FakeClock())
    gc.graph.observe(info=CM, meta=api.put(CM, meta("alive")))
    gc.graph.observe(info=SECRET, meta=api.put(SECRET, meta("dep", owners=(owner("alive"), owner("gone")))))
    assert drain(gc) == ["uid-gone"]  # a virtual owner, to be verified
    await gc.attempt_to_delete("uid-gone")
    assert "uid-gone" not in gc.graph.nodes
    assert drain(gc) == ["uid-dep"]
    await gc.attempt_to_delete("uid-dep")
    assert api.deleted == []
    [(name, patch)] = api.patched
    assert name == "dep"
    assert [r["uid"] for r in patch["ownerReferences"]] == ["uid-alive"]
    assert patch["uid"] == "uid-dep" and patch["resourceVersion"] == "1"


async def test_virtual_owner_that_exists_is_kept() -> None:
    api = FakeObjects()
    gc = GarbageCollector(api=api, clock=FakeClock())
    api.put(CM, meta("late"))
    gc.graph.observe(info=SECRET, meta=api.put(SECRET, meta("dep", owners=(owner("late"),))))
    await gc.attempt_to_delete("uid-late")
    assert gc.graph.nodes["uid-late"].virtual
    gc.graph.observe(info=CM, meta=meta("late"))
    assert not gc.graph.nodes["uid-late"].virtual
    assert api.deleted == []


async def test_foreground_deletes_dependents_then_removes_finalizer() -> None:
    api = FakeObjects()
    gc = GarbageCollector(api=api, clock=FakeClock())
    gc.graph.observe(info=CM, meta=api.put(CM, meta("owner")))
    gc.graph.observe(info=SECRET, meta=api.put(SECRET, meta("blocker", owners=(owner("owner", block=True),))))
    gc.graph.observe(info=SECRET, meta=api.put(SECRET, meta("loose", owners=(owner("owner"),))))
    deleting = api.put(CM, meta("owner", finalizers=("foregroundDeletion",), deleting=True))
    gc.graph.observe(info=CM, meta=deleting)
    queued = drain(gc)
    assert set(queued) == {"uid-owner", "uid-blocker", "uid-loose"}
    await gc.attempt_to_delete("uid-owner")
    assert api.patched == []  # a blocking dependent remains
    for uid in ("uid-blocker", "uid-loose"):
        await gc.attempt_to_delete(uid)
    assert sorted(api.deleted) == [("secrets", "blocker", "Background"), ("secrets", "loose", "Background")]
    gc.graph.forget(uid="uid-blocker")
    assert "uid-owner" in drain(gc)
    await gc.attempt_to_delete("uid-owner")
    [(name, patch)] = api.patched
    assert name == "owner" and patch["finalizers"] == []


async def test_dependent_with_own_dependents_is_deleted_in_foreground() -> None:
    api = FakeObjects()
    gc = GarbageCollector(api=api, clock=FakeClock())
    gc.graph.observe(info=CM, meta=api.put(CM, meta("top", finalizers=("foregroundDeletion",), deleting=True)))
    gc.graph.observe(info=CM, meta=api.put(CM, meta("mid", owners=(owner("top", block=True),))))
    gc.graph.observe(info=SECRET, meta=api.put(SECRET, meta("leaf", owners=(owner("mid", block=True),))))
    await gc.attempt_to_delete("uid-mid")
    assert api.deleted == [("configmaps", "mid", "Foreground")]


async def test_orphan_removes_references_then_finalizer() -> None:
    api = FakeObjects()
    gc = GarbageCollector(api=api, clock=FakeClock())
    gc.graph.observe(info=CM, meta=api.put(CM, meta("owner")))
    gc.graph.observe(info=SECRET, meta=api.put(SECRET, meta("dep", owners=(owner("owner"), owner("other")))))
    gc.graph.observe(info=CM, meta=api.put(CM, meta("owner", finalizers=("orphan",), deleting=True)))
    assert gc.orphan_queue.get_nowait() == "uid-owner"
    await gc.attempt_to_orphan("uid-owner")
    assert [(n, p.get("ownerReferences"), p.get("finalizers")) for n, p in api.patched] == [
        ("dep", [{"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": "uid-other"}], None),
        ("owner", None, []),
    ]
    assert api.deleted == []


async def test_cluster_scoped_object_with_namespaced_owner_is_dangling() -> None:
    api = FakeObjects()
    gc = GarbageCollector(api=api, clock=FakeClock())
    api.put(CM, meta("cm", namespace="ns"))
    gc.graph.observe(info=NODE, meta=api.put(NODE, meta("node", owners=(owner("cm"),), namespace="")))
    await gc.attempt_to_delete("uid-cm")  # the virtual owner, looked up cluster-wide: impossible, so absent
    await gc.attempt_to_delete("uid-node")
    assert api.deleted == [("nodes", "node", "Background")]


def test_graph_relinks_when_owner_references_change() -> None:
    gc = GarbageCollector(api=FakeObjects(), clock=FakeClock())
    gc.graph.observe(info=CM, meta=meta("a"))
    gc.graph.observe(info=CM, meta=meta("b"))
    gc.graph.observe(info=SECRET, meta=meta("dep", owners=(owner("a"),)))
    assert [d.identity.name for d in gc.graph.nodes["uid-a"].dependents] == ["dep"]
    gc.graph.observe(info=SECRET, meta=meta("dep", owners=(owner("b"),)))
    assert not gc.graph.nodes["uid-a"].dependents
    assert [d.identity.name for d in gc.graph.nodes["uid-b"].dependents] == ["dep"]
    gc.graph.forget(uid="uid-dep")
    assert not gc.graph.nodes["uid-b"].dependents
