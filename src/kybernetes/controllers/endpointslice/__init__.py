"""The EndpointSlice controller: for every Service with a selector, EndpointSlices (discovery.k8s.io/v1)
listing the selected pods, at most 100 endpoints per slice (option `max-endpoints-per-slice`).

Each slice carries `kubernetes.io/service-name: <service>` and
`endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, the service's own labels, an
ownerReference to the service (controller, blockOwnerDeletion), `addressType: IPv4`, and per endpoint its
pod IP, the conditions `ready` (serving and not terminating, or the service publishes not-ready
addresses), `serving` (the pod is Ready) and `terminating` (the pod is being deleted), nodeName, the
node's zone, hostname when the pod's subdomain is the service, and a targetRef to the pod. Terminating
pods stay listed (as terminating) until they are gone, unlike in Endpoints.

Endpoints are grouped by the set of ports they serve (named target ports resolve per pod); `reconcile`
lays each group out over the existing slices for the same ports in name order, updating only the slices
whose content changes, creating (generateName `<service>-`) or deleting the difference. A service without
any endpoints keeps one empty placeholder slice, as in Kubernetes.

Handlers enqueue service keys: service changes, pod changes (services selecting the old or new pod), and
changes to our slices made by others (their service). A deleted service's slices are deleted here (the
garbage collector would also get them through the ownerReference). Node additions and deletions bring
back the services of the pods on that node.

What is wrong with a Service's endpoints (a selector matching nothing, a named port no pod has, a pod on a
node that is gone, which is left out) is reported as Warning events on the Service (`report`).
"""

from __future__ import annotations

from kybernetes.api.models.core_v1 import Node, ObjectReference, Pod, Service
from kybernetes.api.models.discovery_v1 import Endpoint, EndpointConditions, EndpointSlice
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import (
    INDEX_NAMESPACE,
    INDEX_NODE_NAME,
    Client,
    Clock,
    EventRecorder,
    Informer,
    namespace_index,
    node_name_index,
    object_key,
    split_key,
)
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.endpoints.pods import (
    ServicePodsController,
    find_port,
    is_pod_ready,
    pod_ips,
    service_keys_for_pod,
    should_pod_be_in_endpoints,
    should_set_hostname,
)
from kybernetes.controllers.endpointslice.reconcile import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    PortKey,
    SliceReconciler,
)
from kybernetes.controllers.endpointslice.report import Reporter, check_service

__all__ = ["DEFAULT_MAX_ENDPOINTS", "EndpointSliceController", "desired_endpoints", "new"]

DEFAULT_MAX_ENDPOINTS = 100
ZONE_LABEL = "topology.kubernetes.io/zone"
INDEX_SERVICE = "service"


def _is_ipv4(ip: str) -> bool:
    return ":" not in ip


def desired_endpoints(
    service: Service, pods: list[Pod], *, zone_of: dict[str, str] | None = None
) -> dict[PortKey, list[Endpoint]]:
    """Endpoints grouped by the ports they serve, in pod-name order."""
    spec = service.spec
    if spec is None:
        return {}
    publish_not_ready = bool(spec.publish_not_ready_addresses)
    groups: dict[PortKey, list[Endpoint]] = {}
    for pod in sorted(pods, key=lambda p: ((p.metadata.name or "") if p.metadata else "")):
        if not should_pod_be_in_endpoints(pod, include_terminating=True):
            continue
        addresses = [ip for ip in pod_ips(pod) if _is_ipv4(ip)]
        if not addresses:
            continue
        key = tuple(
            (port.name or "", number, port.protocol or "TCP", port.app_protocol or "")
            for port in spec.ports or []
            if (number := find_port(pod, port)) is not None
        )
        meta = pod.metadata or ObjectMeta()
        node = pod.spec.node_name if pod.spec else None
        serving = publish_not_ready or is_pod_ready(pod)
        terminating = bool(meta.deletion_timestamp)
        endpoint = Endpoint(
            addresses=addresses[:1],
            conditions=EndpointConditions(
                ready=publish_not_ready or (serving and not terminating), serving=serving, terminating=terminating
            ),
            hostname=pod.spec.hostname if pod.spec is not None and should_set_hostname(pod, service) else None,
            node_name=node or None,
            zone=(zone_of or {}).get(node or "") or None,
            target_ref=ObjectReference(kind="Pod", namespace=meta.namespace, name=meta.name, uid=meta.uid),
        )
        groups.setdefault(key, []).append(endpoint)
    return groups


def _service_of_slice(slice_: EndpointSlice) -> list[str]:
    meta = slice_.metadata
    name = (meta.labels or {}).get(SERVICE_NAME_LABEL) if meta else None
    return [f"{meta.namespace}/{name}"] if meta is not None and name else []


class EndpointSliceController(ServicePodsController):
    name = "endpointslice"

    def __init__(
        self, *, client: Client, services: Informer[Service], pods: Informer[Pod], slices: Informer[EndpointSlice],
        nodes: Informer[Node], clock: Clock, max_endpoints: int = DEFAULT_MAX_ENDPOINTS,
        recorder: EventRecorder | None = None,
    ) -> None:
        super().__init__(queue_name="endpointslice", client=client, services=services, pods=pods, clock=clock)
        self.slices = slices
        self.nodes = nodes
        self.max_endpoints = max_endpoints
        slices.add_handler(
            on_add=self._slice_changed, on_update=lambda old, new: self._slice_changed(new),
            on_delete=self._slice_changed,
        )
        nodes.add_handler(on_add=self._node_changed, on_update=None, on_delete=self._node_changed)
        self.reporter = Reporter(recorder=recorder)
        # Expectations: service key -> slice name -> resourceVersion we wrote (None: we deleted it). A sync
        # waits until the slice cache has caught up with our own writes, or it would create duplicates.
        self._expected: dict[str, dict[str, str | None]] = {}

    def _slice_changed(self, slice_: EndpointSlice) -> None:
        for key in _service_of_slice(slice_):
            self.queue.add(key)

    def _node_changed(self, node: Node) -> None:
        """A node came or went: the services of its pods (left out while their node is missing) resync."""
        name = node.metadata.name if node.metadata else None
        if not name:
            return
        for key in service_keys_for_pod(self.services, self.pods.by_index(INDEX_NODE_NAME, name)):
            self.queue.add(key)

    def _zones(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for node in self.nodes.list():
            meta = node.metadata
            zone = (meta.labels or {}).get(ZONE_LABEL) if meta else None
            if meta is not None and meta.name and zone:
                out[meta.name] = zone
        return out

    def _caught_up(self, key: str, namespace: str | None) -> bool:
        expected = self._expected.get(key)
        if not expected:
            return True
        for name, rv in expected.items():
            cached = self.slices.get(f"{namespace}/{name}")
            if rv is None:
                if cached is not None:
                    return False
            elif cached is None or _rv(cached) < _rv_value(rv):
                return False
        del self._expected[key]
        return True

    async def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        if not self._caught_up(key, namespace):
            self.queue.add_after(key, 1.0)  # the slice events bring it back sooner
            return
        reconciler = SliceReconciler(client=self.client, max_endpoints=self.max_endpoints)
        try:
            await self._sync(key, namespace, reconciler)
        finally:
            if reconciler.written:
                self._expected[key] = reconciler.written

    async def _sync(self, key: str, namespace: str | None, reconciler: SliceReconciler) -> None:
        existing = self.slices.by_index(INDEX_SERVICE, key)
        service = self.services.get(key)
        if service is None:
            self.reporter.forget(key)
            await reconciler.delete_all(existing)
            return
        selector = service.spec.selector if service.spec else None
        if not selector or (service.spec is not None and service.spec.type == "ExternalName"):
            self.reporter.forget(key)
            return  # selectorless slices are someone else's (mirroring, or the user)
        nodes = {n.metadata.name for n in self.nodes.list() if n.metadata is not None and n.metadata.name}
        checked = check_service(service, self.selected_pods(selector, namespace), nodes=nodes)
        desired = desired_endpoints(service, checked.pods, zone_of=self._zones())
        await reconciler.reconcile(service=service, desired=desired, existing=existing)
        self.reporter.report(key=object_key(service), service=service, problems=checked.problems)


def _rv_value(rv: str) -> int:
    return int(rv) if rv.isdigit() else 0


def _rv(slice_: EndpointSlice) -> int:
    return _rv_value((slice_.metadata.resource_version if slice_.metadata else None) or "")


def new(ctx: ControllerContext) -> EndpointSliceController:
    return EndpointSliceController(
        client=ctx.client,
        services=ctx.informers.informer(Service, indexers={INDEX_NAMESPACE: namespace_index}),
        pods=ctx.informers.informer(Pod, indexers={INDEX_NAMESPACE: namespace_index,
                                                   INDEX_NODE_NAME: node_name_index}),
        slices=ctx.informers.informer(
            EndpointSlice, label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}",
            indexers={INDEX_SERVICE: _service_of_slice},
        ),
        nodes=ctx.informers.informer(Node),
        clock=ctx.clock,
        max_endpoints=int(ctx.options.get("max-endpoints-per-slice", DEFAULT_MAX_ENDPOINTS)),
        recorder=ctx.recorder("endpointslice-controller"),
    )

