"""The garbage collector's view of ownership: a graph of owner uid → dependents, kept from the metadata
informers, and the queue work each change calls for (Kubernetes' GraphBuilder, restated).

A `Node` is one object: its identity (apiVersion, kind, namespace, name, uid), its owner links, the set of
its dependents, and two flags from its metadata — being deleted, and deleting its dependents first
(deletionTimestamp with the `foregroundDeletion` finalizer). An owner referenced before it has been
observed gets a *virtual* node (identity from the ownerReference, in the dependent's namespace) that a
worker verifies against the API; if it does not exist, the worker calls `forget(..., virtual=True)` as if
its deletion had been observed.

What `observe`/`forget` put on the queues (uids):

* a new virtual owner → attempt-to-delete (verify it);
* an object starting to be deleted with `orphan` → attempt-to-orphan;
* an object starting foreground deletion → it and all its dependents → attempt-to-delete;
* a removed or unblocked owner link whose owner is deleting dependents → that owner (it may be done);
* a deleted object → its dependents (their owner is gone), and its owners that are deleting dependents.

Owners that were observed deleted while they still had dependents go into a bounded `absent` set, so the
workers need no API call to know they are gone. Memory is one small node per object.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from kybernetes.api.resources import ResourceInfo
from kybernetes.controllers.garbagecollector.metadata import PartialMeta, PartialOwner, resource_for

__all__ = ["FOREGROUND", "ORPHAN", "Graph", "Identity", "Node", "OwnerLink"]

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
ABSENT_CACHE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Identity:
    api_version: str
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str
    uid: str


@dataclass(frozen=True, slots=True)
class OwnerLink:
    api_version: str
    kind: str
    name: str
    uid: str
    block_owner_deletion: bool = False
    controller: bool = False

    @classmethod
    def of(cls, ref: PartialOwner) -> OwnerLink:
        return cls(
            api_version=ref.api_version, kind=ref.kind, name=ref.name, uid=ref.uid,
            block_owner_deletion=bool(ref.block_owner_deletion), controller=bool(ref.controller),
        )


@dataclass(eq=False, slots=True)
class Node:
    identity: Identity
    owners: tuple[OwnerLink, ...] = ()
    dependents: set[Node] = field(default_factory=set)
    virtual: bool = False
    being_deleted: bool = False
    deleting_dependents: bool = False

    def __hash__(self) -> int:
        return id(self)

    def blocking_dependents(self) -> list[Node]:
        uid = self.identity.uid
        return [
            dep for dep in self.dependents
            if any(link.uid == uid and link.block_owner_deletion for link in dep.owners)
        ]


Enqueue = Callable[[str], None]


class Graph:
    def __init__(self, *, attempt_to_delete: Enqueue, attempt_to_orphan: Enqueue) -> None:
        self.nodes: dict[str, Node] = {}
        self._delete = attempt_to_delete
        self._orphan = attempt_to_orphan
        self._absent: OrderedDict[str, None] = OrderedDict()

    # ---- the absent-owner cache ---------------------------------------------------------------------------

    def mark_absent(self, uid: str) -> None:
        self._absent[uid] = None
        self._absent.move_to_end(uid)
        while len(self._absent) > ABSENT_CACHE_SIZE:
            self._absent.popitem(last=False)

    def is_absent(self, uid: str) -> bool:
        return uid in self._absent

    # ---- changes observed by the informers ------------------------------------------------------------------

    def observe(self, *, info: ResourceInfo, meta: PartialMeta) -> None:
        """An object was added or updated."""
        if not meta.uid:
            return
        identity = Identity(
            api_version=info.api_version, kind=info.kind, namespace=meta.namespace or "", name=meta.name,
            uid=meta.uid,
        )
        owners = tuple(OwnerLink.of(ref) for ref in meta.owner_references if ref.uid)
        node = self.nodes.get(meta.uid)
        was_foreground = False
        if node is None:
            node = Node(identity=identity, owners=owners)
            self.nodes[meta.uid] = node
            self._link(node, owners)
        else:
            was_foreground = node.deleting_dependents
            if node.virtual:
                node.virtual = False
            node.identity = identity
            self._relink(node, owners)
        node.being_deleted = meta.deletion_timestamp is not None
        node.deleting_dependents = node.being_deleted and FOREGROUND in meta.finalizers
        if node.being_deleted and ORPHAN in meta.finalizers:
            self._orphan(meta.uid)
        if node.deleting_dependents and not was_foreground:
            for dep in node.dependents:
                self._delete(dep.identity.uid)
            self._delete(meta.uid)

    def forget(self, *, uid: str, identity: Identity | None = None, virtual: bool = False) -> None:
        """An object was deleted (observed, or — `virtual` — found missing by a worker)."""
        node = self.nodes.get(uid)
        if node is None:
            return
        if virtual and not node.virtual and identity is not None and identity != node.identity:
            return  # a real, observed object: a lookup under other coordinates proves nothing
        del self.nodes[uid]
        for link in node.owners:
            owner = self.nodes.get(link.uid)
            if owner is None:
                continue
            owner.dependents.discard(node)
            if owner.deleting_dependents:
                self._delete(owner.identity.uid)
            elif owner.virtual and not owner.dependents:
                del self.nodes[link.uid]  # nobody refers to it any more
        if node.dependents:
            self.mark_absent(uid)
        for dep in node.dependents:
            self._delete(dep.identity.uid)

    # ---- links --------------------------------------------------------------------------------------------

    def _link(self, node: Node, owners: tuple[OwnerLink, ...]) -> None:
        for link in owners:
            owner = self.nodes.get(link.uid)
            if owner is None:
                info = resource_for(link.api_version, link.kind)
                namespaced = info.namespaced if info is not None else True
                owner = Node(
                    identity=Identity(
                        api_version=link.api_version, kind=link.kind,
                        namespace=node.identity.namespace if namespaced else "", name=link.name, uid=link.uid,
                    ),
                    virtual=True,
                )
                self.nodes[link.uid] = owner
                self._delete(link.uid)  # verify it exists
            owner.dependents.add(node)

    def _relink(self, node: Node, owners: tuple[OwnerLink, ...]) -> None:
        if owners == node.owners:
            return
        old = {link.uid: link for link in node.owners}
        new = {link.uid: link for link in owners}
        added = tuple(link for uid, link in new.items() if uid not in old)
        for uid, link in old.items():
            owner = self.nodes.get(uid)
            if owner is None:
                continue
            replacement = new.get(uid)
            if replacement is None:
                owner.dependents.discard(node)
                if owner.virtual and not owner.dependents:
                    del self.nodes[uid]
                    continue
            unblocked = replacement is None or (link.block_owner_deletion and not replacement.block_owner_deletion)
            if unblocked and owner.deleting_dependents:
                self._delete(uid)
        node.owners = owners
        self._link(node, added)
