"""The simulator's view of the cluster: the few API calls it makes and the two caches it reads.

`ClusterAPI` is the seam: `ClientCluster` implements it over `kybernetes.client` (so the simulator is an
ordinary API client that works against any Kubernetes-compatible server), and unit tests implement it in
memory. The caches are informers:

* pods: ONE watch over every scheduled pod (`fieldSelector=spec.nodeName!=`); the simulator filters by its
  own node names in memory, which beats one watch per node by far at 1,000 nodes;
* nodes: one watch over the simulated nodes (`labelSelector=kybernetes.io/simulated=true`), only to learn
  `spec.podCIDR` when a node IPAM controller sets it, and to notice a node deleted by someone else.

Writes: pod status through `pods/<name>/status` as an update carrying the cached resourceVersion (a stale
cache is a conflict, retried after the watch catches up); node status as a strategic-merge patch of
`nodes/<name>/status` (conditions are merged by type, so conditions other components add survive); Leases
as updates of the Lease last written (created when missing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from kybernetes.api.models.coordination_v1 import Lease
from kybernetes.api.models.core_v1 import Node, Pod
from kybernetes.api.models.meta_v1 import Preconditions
from kybernetes.client import Client, Clock, Informer
from kybernetes.client.clock import REAL_CLOCK
from kybernetes.kubelet.simulator.nodes import LEASE_NAMESPACE, SIMULATED_LABEL

__all__ = ["FIELD_MANAGER", "ClientCluster", "ClusterAPI", "Source"]

FIELD_MANAGER = "kyb-simulate"

O = TypeVar("O", covariant=True)  # noqa: E741 - the cached object type


class Source(Protocol[O]):
    """A read-only cache with change notifications: what `Informer` offers."""

    def add_handler(
        self,
        *,
        on_add: Callable[[O], None] | None = None,
        on_update: Callable[[O, O], None] | None = None,
        on_delete: Callable[[O], None] | None = None,
    ) -> None: ...

    def get(self, key: str) -> O | None: ...

    async def run(self) -> None: ...

    async def wait_synced(self) -> None: ...


class ClusterAPI(Protocol):
    @property
    def pods(self) -> Source[Pod]: ...

    @property
    def nodes(self) -> Source[Node]: ...

    async def create_node(self, node: Node) -> Node:
        """Raises `AlreadyExistsError` when the node exists."""
        ...

    async def patch_node(self, *, name: str, patch: dict[str, Any]) -> Node: ...

    async def patch_node_status(self, *, name: str, patch: dict[str, Any]) -> Node: ...

    async def delete_node(self, *, name: str) -> None: ...

    async def get_lease(self, *, name: str) -> Lease: ...

    async def create_lease(self, lease: Lease) -> Lease: ...

    async def update_lease(self, lease: Lease) -> Lease: ...

    async def update_pod_status(self, pod: Pod) -> Pod: ...

    async def delete_pod(self, *, namespace: str, name: str, uid: str) -> None:
        """Delete at once (gracePeriodSeconds=0), only if the pod still has this uid."""
        ...


class ClientCluster:
    """`ClusterAPI` over a `kybernetes.client.Client`."""

    def __init__(self, *, client: Client, clock: Clock = REAL_CLOCK) -> None:
        self._pod_api = client.resource(Pod)
        self._node_api = client.resource(Node)
        self._lease_api = client.resource(Lease)
        # managedFields stripped: the simulator never reads them, and a status update from a cached pod
        # without them keeps the server's.
        self._pods: Informer[Pod] = Informer(resource=self._pod_api, field_selector="spec.nodeName!=", clock=clock,
                                             strip_managed_fields=True)
        self._nodes: Informer[Node] = Informer(
            resource=self._node_api, label_selector=f"{SIMULATED_LABEL}=true", clock=clock, strip_managed_fields=True
        )

    @property
    def pods(self) -> Informer[Pod]:
        return self._pods

    @property
    def nodes(self) -> Informer[Node]:
        return self._nodes

    async def create_node(self, node: Node) -> Node:
        return await self._node_api.create(node, field_manager=FIELD_MANAGER)

    async def patch_node(self, *, name: str, patch: dict[str, Any]) -> Node:
        return await self._node_api.patch(name=name, patch=patch, type="strategic", field_manager=FIELD_MANAGER)

    async def patch_node_status(self, *, name: str, patch: dict[str, Any]) -> Node:
        return await self._node_api.patch(
            name=name, patch=patch, type="strategic", subresource="status", field_manager=FIELD_MANAGER
        )

    async def delete_node(self, *, name: str) -> None:
        await self._node_api.delete(name=name)

    async def get_lease(self, *, name: str) -> Lease:
        return await self._lease_api.get(name=name, namespace=LEASE_NAMESPACE)

    async def create_lease(self, lease: Lease) -> Lease:
        return await self._lease_api.create(lease, field_manager=FIELD_MANAGER)

    async def update_lease(self, lease: Lease) -> Lease:
        return await self._lease_api.update(lease, field_manager=FIELD_MANAGER)

    async def update_pod_status(self, pod: Pod) -> Pod:
        return await self._pod_api.update_status(pod, field_manager=FIELD_MANAGER)

    async def delete_pod(self, *, namespace: str, name: str, uid: str) -> None:
        await self._pod_api.delete(
            name=name, namespace=namespace, grace_period_seconds=0, preconditions=Preconditions(uid=uid)
        )
