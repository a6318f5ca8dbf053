"""The garbage collector: objects whose owners are gone are deleted; foreground and orphan deletion of
owners are carried out (Kubernetes' garbage collector, over the HTTP API only).

It watches every served kind that can be listed, watched and deleted (Events excepted) through
metadata-only informers (`metadata.MetadataResource`), and keeps the ownership graph of `graph.Graph`.
Two queues of uids are worked on:

**attempt-to-delete** (`attempt_to_delete(uid)`), for an object that may have lost its owners:
re-read it live (gone or replaced → treated as deleted); if it is deleting its dependents, remove the
`foregroundDeletion` finalizer once no dependent with `blockOwnerDeletion` remains (else queue those);
otherwise sort its ownerReferences, each checked live, into *solid* (exists), *dangling* (gone, or a
different uid) and *waiting* (being deleted in the foreground):

* some solid → the object stays; dangling and waiting references are removed from it;
* none solid, some waiting, and the object has dependents of its own → delete it in the foreground (after
  making its references non-blocking if a dependent is itself deleting dependents, to break cycles);
* otherwise → delete it, honouring an `orphan` / `foregroundDeletion` finalizer it already carries,
  background by default. Deletes carry a uid precondition.

**attempt-to-orphan** (`attempt_to_orphan(uid)`), for an owner deleted with the `orphan` finalizer: remove
its ownerReference from every dependent, then remove the finalizer (the server then deletes it).

Writes are JSON merge patches of `metadata` that carry the uid and resourceVersion they were computed from,
so a concurrent change makes them fail with a conflict (and the key is retried) rather than being undone.
The workers start once every informer has listed, so the graph is complete before anything is judged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal, Protocol

from kybernetes.api.resources import ResourceInfo
from kybernetes.client import Client, Clock, Informer, WorkQueue, run_workers
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.garbagecollector.graph import FOREGROUND, ORPHAN, Graph, Identity, Node, OwnerLink
from kybernetes.controllers.garbagecollector.metadata import (
    MetadataResource,
    PartialMeta,
    PartialObject,
    PartialOwner,
    resource_for,
    watchable_resources,
)
from kybernetes.machinery.errors import NotFoundError

__all__ = ["ClusterObjects", "GarbageCollector", "Identity", "ObjectAPI", "OwnerLink", "new"]

log = logging.getLogger(__name__)

Propagation = Literal["Foreground", "Background", "Orphan"]


class ObjectAPI(Protocol):
    """What the collector does to objects; `ClusterObjects` over HTTP, fakes in unit tests."""

    async def get(self, *, info: ResourceInfo, namespace: str, name: str) -> PartialMeta | None: ...

    async def delete(
        self, *, info: ResourceInfo, namespace: str, name: str, uid: str, propagation: Propagation
    ) -> None: ...

    async def patch_metadata(self, *, info: ResourceInfo, namespace: str, name: str, metadata: dict[str, Any]) -> None: ...


class ClusterObjects:
    def __init__(self, *, client: Client) -> None:
        self.client = client
        self._resources: dict[ResourceInfo, MetadataResource] = {}

    def resource(self, info: ResourceInfo) -> MetadataResource:
        found = self._resources.get(info)
        if found is None:
            found = self._resources[info] = MetadataResource(client=self.client, info=info)
        return found

    async def get(self, *, info: ResourceInfo, namespace: str, name: str) -> PartialMeta | None:
        try:
            return (await self.resource(info).get(name=name, namespace=namespace or None)).metadata
        except NotFoundError:
            return None

    async def delete(
        self, *, info: ResourceInfo, namespace: str, name: str, uid: str, propagation: Propagation
    ) -> None:
        from kybernetes.api.models.meta_v1 import Preconditions

        try:
            await self.resource(info).delete(
                name=name, namespace=namespace or None, propagation_policy=propagation,
                preconditions=Preconditions(uid=uid),
            )
        except NotFoundError:
            pass

    async def patch_metadata(self, *, info: ResourceInfo, namespace: str, name: str, metadata: dict[str, Any]) -> None:
        await self.resource(info).patch(name=name, namespace=namespace or None, patch={"metadata": metadata})


def _owner_dict(ref: PartialOwner, *, unblock: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name, "uid": ref.uid}
    if ref.controller is not None:
        out["controller"] = ref.controller
    if ref.block_owner_deletion is not None:
        out["blockOwnerDeletion"] = False if unblock else ref.block_owner_deletion
    return out


class GarbageCollector:
    name = "garbage-collector"

    def __init__(
        self, *, api: ObjectAPI, clock: Clock, informers: dict[ResourceInfo, Informer[PartialObject]] | None = None,
        sync_timeout: float = 30.0,
    ) -> None:
        self.api = api
        self.sync_timeout = sync_timeout
        self.delete_queue = WorkQueue(name="garbage-collector-delete", clock=clock)
        self.orphan_queue = WorkQueue(name="garbage-collector-orphan", clock=clock)
        self.graph = Graph(attempt_to_delete=self.delete_queue.add, attempt_to_orphan=self.orphan_queue.add)
        self.informers = informers or {}
        for info, informer in self.informers.items():
            self._watch(info, informer)

    def _watch(self, info: ResourceInfo, informer: Informer[PartialObject]) -> None:
        def changed(obj: PartialObject) -> None:
            self.graph.observe(info=info, meta=obj.metadata)

        def deleted(obj: PartialObject) -> None:
            self.graph.forget(uid=obj.metadata.uid)

        informer.add_handler(on_add=changed, on_update=lambda old, new: changed(new), on_delete=deleted)

    async def run(self, *, workers: int) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                for informer in self.informers.values():
                    tg.create_task(informer.run())
                await self._wait_synced()
                tg.create_task(run_workers(queue=self.delete_queue, sync=self.attempt_to_delete, workers=workers))
                tg.create_task(run_workers(queue=self.orphan_queue, sync=self.attempt_to_orphan, workers=workers))
        finally:
            self.delete_queue.shutdown()
            self.orphan_queue.shutdown()

    async def _wait_synced(self) -> None:
        """Wait for every informer to list once; after `sync_timeout`, go on without the stragglers (as
        Kubernetes does) rather than never collecting because one resource cannot be listed."""
        waits = [asyncio.ensure_future(i.wait_synced()) for i in self.informers.values()]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=self.sync_timeout)
            for task in pending:
                task.cancel()
        missing = [info.qualified for info, i in self.informers.items() if not i.has_synced]
        if missing:
            log.warning("garbage collector: not all resources synced, proceeding anyway: %s", ", ".join(missing))
        log.info("garbage collector: graph synced (%d objects)", len(self.graph.nodes))

    # ---- attempt to delete ----------------------------------------------------------------------------------

    async def _latest(self, node: Node) -> tuple[ResourceInfo, PartialMeta] | None:
        """The object as the API has it now, or None after recording it as deleted."""
        ident = node.identity
        info = resource_for(ident.api_version, ident.kind)
        if info is None:
            log.warning("garbage collector: %s %s: kind not served; cannot judge it", ident.api_version, ident.kind)
            return None
        latest = None
        if not (info.namespaced and not ident.namespace):
            latest = await self.api.get(info=info, namespace=ident.namespace if info.namespaced else "", name=ident.name)
        if latest is None or latest.uid != ident.uid:
            self.graph.forget(uid=ident.uid, identity=ident, virtual=True)
            return None
        return info, latest

    async def attempt_to_delete(self, uid: str) -> None:
        node = self.graph.nodes.get(uid)
        if node is None:
            return
        if not node.virtual and node.being_deleted and not node.deleting_dependents:
            return  # being deleted by someone else, not waiting on us
        found = await self._latest(node)
        if found is None or node.virtual:
            return  # gone (recorded), or it exists and its informer will show it to us
        info, latest = found
        if node.deleting_dependents:
            await self._process_deleting_dependents(node, info, latest)
            return
        refs = latest.owner_references
        if not refs:
            return
        solid, dangling, waiting = await self._classify(node, refs)
        ident = node.identity
        if solid:
            if not dangling and not waiting:
                return
            drop = {r.uid for r in dangling + waiting}
            log.info("garbage collector: %s %s/%s: removing references to owners gone or being deleted",
                     ident.kind, ident.namespace, ident.name)
            await self._patch(info, latest, {"ownerReferences": [_owner_dict(r) for r in refs if r.uid not in drop]})
            return
        policy: Propagation
        if waiting and node.dependents:
            if any(dep.deleting_dependents for dep in node.dependents):
                # Our dependent waits for its dependents while our owner waits for us: make our references
                # non-blocking, so the owner does not wait on a cycle.
                await self._patch(info, latest, {"ownerReferences": [_owner_dict(r, unblock=True) for r in refs]})
            policy = "Foreground"
        elif ORPHAN in latest.finalizers:
            policy = "Orphan"
        elif FOREGROUND in latest.finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        log.info("garbage collector: deleting %s %s/%s (%s): its owners are gone", ident.kind, ident.namespace,
                 ident.name, policy)
        await self.api.delete(info=info, namespace=ident.namespace, name=ident.name, uid=ident.uid, propagation=policy)

    async def _classify(
        self, node: Node, refs: tuple[PartialOwner, ...]
    ) -> tuple[list[PartialOwner], list[PartialOwner], list[PartialOwner]]:
        solid: list[PartialOwner] = []
        dangling: list[PartialOwner] = []
        waiting: list[PartialOwner] = []
        for ref in refs:
            if self.graph.is_absent(ref.uid):
                dangling.append(ref)
                continue
            info = resource_for(ref.api_version, ref.kind)
            if info is None:
                solid.append(ref)  # an owner we cannot look up is not presumed gone
                continue
            if info.namespaced and not node.identity.namespace:
                dangling.append(ref)  # a cluster-scoped object cannot have a namespaced owner
                continue
            owner = await self.api.get(
                info=info, namespace=node.identity.namespace if info.namespaced else "", name=ref.name
            )
            if owner is None or owner.uid != ref.uid:
                self.graph.mark_absent(ref.uid)
                dangling.append(ref)
            elif owner.deletion_timestamp is not None and FOREGROUND in owner.finalizers:
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _process_deleting_dependents(self, node: Node, info: ResourceInfo, latest: PartialMeta) -> None:
        blocking = node.blocking_dependents()
        if blocking:
            for dep in blocking:
                if not dep.deleting_dependents:
                    self.delete_queue.add(dep.identity.uid)
            return
        if FOREGROUND in latest.finalizers:
            await self._patch(info, latest, {"finalizers": [f for f in latest.finalizers if f != FOREGROUND]})

    async def _patch(self, info: ResourceInfo, latest: PartialMeta, changes: dict[str, Any]) -> None:
        metadata = {**changes, "uid": latest.uid, "resourceVersion": latest.resource_version}
        await self.api.patch_metadata(
            info=info, namespace=latest.namespace or "", name=latest.name, metadata=metadata
        )

    # ---- attempt to orphan ----------------------------------------------------------------------------------

    async def attempt_to_orphan(self, uid: str) -> None:
        node = self.graph.nodes.get(uid)
        if node is None:
            return
        for dep in list(node.dependents):
            found = await self._latest(dep)
            if found is None:
                continue
            info, latest = found
            refs = [r for r in latest.owner_references if r.uid != uid]
            if len(refs) == len(latest.owner_references):
                continue
            await self._patch(info, latest, {"ownerReferences": [_owner_dict(r) for r in refs] or None})
        found = await self._latest(node)
        if found is None:
            return
        info, latest = found
        if ORPHAN in latest.finalizers:
            await self._patch(info, latest, {"finalizers": [f for f in latest.finalizers if f != ORPHAN]})


def new(ctx: ControllerContext) -> GarbageCollector:
    api = ClusterObjects(client=ctx.client)
    informers: dict[ResourceInfo, Informer[PartialObject]] = {
        info: Informer(resource=api.resource(info), clock=ctx.clock) for info in watchable_resources()
    }
    return GarbageCollector(
        api=api, clock=ctx.clock, informers=informers,
        sync_timeout=float(ctx.options.get("garbage-collector-sync-timeout", 30.0)),
    )

