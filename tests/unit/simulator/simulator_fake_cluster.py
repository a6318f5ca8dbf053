"""An in-memory `ClusterAPI` for the simulator's unit tests.

Objects live in dicts with a resourceVersion counter; updates are compare-and-swap on it (a stale write is a
`ConflictError`), and the two sources tell their handlers of every change on the next loop iteration, as a
watch would deliver them a moment after the write. Every write is recorded in `writes` for assertions.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from kybernetes.api.models.coordination_v1 import Lease
from kybernetes.api.models.core_v1 import Node, NodeSpec, Pod
from kybernetes.client import object_key
from kybernetes.machinery.errors import AlreadyExistsError, ConflictError, NotFoundError

O = TypeVar("O")  # noqa: E741


class FakeSource(Generic[O]):
    def __init__(self) -> None:
        self.items: dict[str, O] = {}
        self.handlers: list[tuple[Any, Any, Any]] = []

    def add_handler(
        self,
        *,
        on_add: Callable[[O], None] | None = None,
        on_update: Callable[[O, O], None] | None = None,
        on_delete: Callable[[O], None] | None = None,
    ) -> None:
        self.handlers.append((on_add, on_update, on_delete))

    def get(self, key: str) -> O | None:
        return self.items.get(key)

    async def run(self) -> None:
        # Like an informer's initial list: everything already stored is announced as an add.
        for obj in list(self.items.values()):
            for on_add, _, _ in self.handlers:
                if on_add is not None:
                    on_add(obj)
        await asyncio.Event().wait()

    async def wait_synced(self) -> None:
        return None

    def put(self, obj: O) -> None:
        """Store now; tell the handlers on the next loop iteration (a watch event arriving)."""
        key = object_key(obj)
        old = self.items.get(key)
        self.items[key] = obj
        for on_add, on_update, _ in self.handlers:
            if old is None and on_add is not None:
                asyncio.get_running_loop().call_soon(on_add, obj)
            elif old is not None and on_update is not None:
                asyncio.get_running_loop().call_soon(on_update, old, obj)

    def remove(self, key: str) -> None:
        old = self.items.pop(key, None)
        if old is not None:
            for _, _, on_delete in self.handlers:
                if on_delete is not None:
                    asyncio.get_running_loop().call_soon(on_delete, old)


class FakeCluster:
    def __init__(self) -> None:
        self._pods: FakeSource[Pod] = FakeSource()
        self._nodes: FakeSource[Node] = FakeSource()
        self.leases: dict[str, Lease] = {}
        self.writes: list[tuple[str, str]] = []  # (verb, name)
        self.conflicts_to_inject = 0
        self._rv = itertools.count(1)
        self._uid = itertools.count(1)

    @property
    def pods(self) -> FakeSource[Pod]:
        return self._pods

    @property
    def nodes(self) -> FakeSource[Node]:
        return self._nodes

    def _stamp(self, meta: Any, *, new: bool) -> Any:
        changes: dict[str, Any] = {"resource_version": str(next(self._rv))}
        if new:
            changes["uid"] = f"uid-{next(self._uid)}"
        return msgspec.structs.replace(meta, **changes)

    # ---- test controls ----------------------------------------------------------------------------------

    def add_pod(self, pod: Pod) -> Pod:
        assert pod.metadata is not None
        pod = msgspec.structs.replace(pod, metadata=self._stamp(pod.metadata, new=True))
        self._pods.put(pod)
        return pod

    def pod(self, key: str) -> Pod:
        found = self._pods.get(key)
        assert found is not None, f"pod {key} is gone"
        return found

    def mark_deleted(self, key: str, *, grace: int) -> None:
        pod = self.pod(key)
        assert pod.metadata is not None
        meta = msgspec.structs.replace(pod.metadata, deletion_timestamp="2030-01-01T00:00:00Z",
                                       deletion_grace_period_seconds=grace)
        self._pods.put(msgspec.structs.replace(pod, metadata=self._stamp(meta, new=False)))

    def set_pod_cidr(self, name: str, cidr: str) -> None:
        node = self._nodes.get(name)
        assert node is not None and node.metadata is not None
        spec = msgspec.structs.replace(node.spec or NodeSpec(), pod_cidr=cidr, pod_cidrs=[cidr])
        self._nodes.put(msgspec.structs.replace(node, spec=spec, metadata=self._stamp(node.metadata, new=False)))

    def count(self, verb: str, name: str | None = None) -> int:
        return sum(1 for v, n in self.writes if v == verb and (name is None or n == name))

    # ---- ClusterAPI -------------------------------------------------------------------------------------

    async def create_node(self, node: Node) -> Node:
        assert node.metadata is not None and node.metadata.name
        self.writes.append(("create_node", node.metadata.name))
        for _ in range(5):
            await asyncio.sleep(0)  # a round trip: pods listed meanwhile are seen before the node exists
        if node.metadata.name in self._nodes.items:
            raise AlreadyExistsError(f'nodes "{node.metadata.name}" already exists')
        node = msgspec.structs.replace(node, metadata=self._stamp(node.metadata, new=True))
        self._nodes.put(node)
        return node

    def _node(self, name: str) -> Node:
        node = self._nodes.get(name)
        if node is None:
            raise NotFoundError(f'nodes "{name}" not found')
        return node

    async def patch_node(self, *, name: str, patch: dict[str, Any]) -> Node:
        self.writes.append(("patch_node", name))
        node = self._node(name)
        assert node.metadata is not None
        labels = {**(node.metadata.labels or {}), **patch.get("metadata", {}).get("labels", {})}
        node = msgspec.structs.replace(node, metadata=self._stamp(
            msgspec.structs.replace(node.metadata, labels=labels), new=False))
        self._nodes.put(node)
        return node

    async def patch_node_status(self, *, name: str, patch: dict[str, Any]) -> Node:
        self.writes.append(("patch_node_status", name))
        node = self._node(name)
        assert node.metadata is not None
        status = msgspec.to_builtins(node.status) if node.status else {}
        status.update(patch["status"])
        node = msgspec.convert({**msgspec.to_builtins(node), "status": status}, Node)
        node = msgspec.structs.replace(node, metadata=self._stamp(node.metadata, new=False))
        self._nodes.put(node)
        return node

    async def delete_node(self, *, name: str) -> None:
        self.writes.append(("delete_node", name))
        self._node(name)
        self._nodes.remove(name)

    async def get_lease(self, *, name: str) -> Lease:
        if name not in self.leases:
            raise NotFoundError(f'leases.coordination.k8s.io "{name}" not found')
        return self.leases[name]

    async def create_lease(self, lease: Lease) -> Lease:
        assert lease.metadata is not None and lease.metadata.name
        self.writes.append(("create_lease", lease.metadata.name))
        if lease.metadata.name in self.leases:
            raise AlreadyExistsError("exists")
        name = lease.metadata.name
        lease = msgspec.structs.replace(lease, metadata=self._stamp(lease.metadata, new=True))
        self.leases[name] = lease
        return lease

    async def update_lease(self, lease: Lease) -> Lease:
        assert lease.metadata is not None and lease.metadata.name
        self.writes.append(("update_lease", lease.metadata.name))
        current = self.leases.get(lease.metadata.name)
        if current is None:
            raise NotFoundError("gone")
        assert current.metadata is not None
        if current.metadata.resource_version != lease.metadata.resource_version:
            raise ConflictError("the object has been modified")
        name = lease.metadata.name
        lease = msgspec.structs.replace(lease, metadata=self._stamp(lease.metadata, new=False))
        self.leases[name] = lease
        return lease

    async def update_pod_status(self, pod: Pod) -> Pod:
        assert pod.metadata is not None
        key = object_key(pod)
        self.writes.append(("update_pod_status", key))
        current = self._pods.get(key)
        if current is None:
            raise NotFoundError(f'pods "{pod.metadata.name}" not found')
        assert current.metadata is not None
        if self.conflicts_to_inject > 0:
            self.conflicts_to_inject -= 1
            raise ConflictError("injected conflict")
        if current.metadata.resource_version != pod.metadata.resource_version:
            raise ConflictError("the object has been modified")
        stored = msgspec.structs.replace(current, status=pod.status, metadata=self._stamp(current.metadata, new=False))
        self._pods.put(stored)
        return stored

    async def delete_pod(self, *, namespace: str, name: str, uid: str) -> None:
        key = f"{namespace}/{name}"
        self.writes.append(("delete_pod", key))
        current = self._pods.get(key)
        if current is None:
            raise NotFoundError(f'pods "{name}" not found')
        assert current.metadata is not None
        if current.metadata.uid != uid:
            raise ConflictError("Precondition failed: UID in precondition")
        self._pods.remove(key)
