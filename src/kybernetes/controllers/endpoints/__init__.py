"""The Endpoints controller: for every Service with a selector, an Endpoints object of the same name listing
the selected pods — ready ones under `addresses`, the others under `notReadyAddresses` — grouped into
subsets by the ports they serve.

Handlers enqueue the service key: on service changes, on pod changes (every service whose selector matches
the old or the new pod), and when an Endpoints object is deleted (it comes back). `sync(key)`:

* service gone → its Endpoints is deleted;
* no selector → nothing (such Endpoints are written by users, or by the API server for `kubernetes`);
* otherwise the desired subsets are computed from the pod cache (`build_subsets`) and written only when
  they, or the labels, differ from what is stored. Labels are the service's, plus
  `endpoints.kubernetes.io/managed-by: endpoint-controller` and, for headless services,
  `service.kubernetes.io/headless`; the `endpoints.kubernetes.io/last-change-trigger-time` annotation
  records when it was written. At most 1000 addresses are kept (then the object is annotated
  `endpoints.kubernetes.io/over-capacity: truncated`), as Kubernetes does.
"""

from __future__ import annotations

import msgspec

from kybernetes.api.models.core_v1 import (
    EndpointAddress,
    EndpointPort,
    Endpoints,
    EndpointSubset,
    ObjectReference,
    Pod,
    Service,
)
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import (
    INDEX_NAMESPACE,
    Client,
    Clock,
    Informer,
    namespace_index,
    split_key,
)
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.endpoints.pods import (
    ServicePodsController,
    find_port,
    is_pod_ready,
    pod_ips,
    should_pod_be_in_endpoints,
    should_set_hostname,
)
from kybernetes.machinery.errors import AlreadyExistsError, NotFoundError
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["MANAGED_BY_LABEL", "MAX_CAPACITY", "EndpointsController", "build_subsets", "new"]

MANAGED_BY_LABEL = "endpoints.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpoint-controller"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
MAX_CAPACITY = 1000

PortKey = tuple[tuple[str, int, str, str], ...]  # (name, port, protocol, appProtocol) per port


def _address(pod: Pod, service: Service, ip: str) -> EndpointAddress:
    meta = pod.metadata or ObjectMeta()
    spec = pod.spec
    return EndpointAddress(
        ip=ip,
        node_name=(spec.node_name if spec else None) or None,
        hostname=spec.hostname if spec is not None and should_set_hostname(pod, service) else None,
        target_ref=ObjectReference(kind="Pod", namespace=meta.namespace, name=meta.name, uid=meta.uid),
    )


def build_subsets(service: Service, pods: list[Pod]) -> tuple[list[EndpointSubset], bool]:
    """The subsets for `service` from the pods it selects, and whether they had to be truncated."""
    spec = service.spec
    if spec is None:
        return [], False
    publish_not_ready = bool(spec.publish_not_ready_addresses)
    ports = spec.ports or []
    headless = spec.cluster_ip == "None"
    groups: dict[PortKey, tuple[list[EndpointAddress], list[EndpointAddress]]] = {}
    for pod in sorted(pods, key=lambda p: ((p.metadata.name or "") if p.metadata else "")):
        if not should_pod_be_in_endpoints(pod, include_terminating=publish_not_ready):
            continue
        ip = pod_ips(pod)[0]
        address = _address(pod, service, ip)
        key: PortKey
        if not ports:
            if not headless:
                continue
            key = ()
        else:
            resolved = []
            for port in ports:
                number = find_port(pod, port)
                if number is None:
                    continue
                resolved.append((port.name or "", number, port.protocol or "TCP", port.app_protocol or ""))
            if not resolved:
                continue
            key = tuple(resolved)
        ready, not_ready = groups.setdefault(key, ([], []))
        if publish_not_ready or is_pod_ready(pod):
            ready.append(address)
        else:
            not_ready.append(address)
    subsets: list[EndpointSubset] = []
    total = 0
    truncated = False
    for key in sorted(groups):
        ready, not_ready = groups[key]
        ready.sort(key=lambda a: (a.ip or "", a.target_ref.uid if a.target_ref else ""))
        not_ready.sort(key=lambda a: (a.ip or "", a.target_ref.uid if a.target_ref else ""))
        room = MAX_CAPACITY - total
        if len(ready) + len(not_ready) > room:
            truncated = True
            ready = ready[:room]
            not_ready = not_ready[: max(0, room - len(ready))]
        total += len(ready) + len(not_ready)
        if not ready and not not_ready:
            continue
        subsets.append(EndpointSubset(
            addresses=ready or None,
            not_ready_addresses=not_ready or None,
            ports=[
                EndpointPort(name=name or None, port=number, protocol=protocol, app_protocol=app or None)
                for name, number, protocol, app in key
            ] or None,
        ))
    return subsets, truncated


def desired_labels(service: Service) -> dict[str, str]:
    meta = service.metadata or ObjectMeta()
    labels = dict(meta.labels or {})
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    if service.spec is not None and service.spec.cluster_ip == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


class EndpointsController(ServicePodsController):
    name = "endpoints"

    def __init__(
        self, *, client: Client, services: Informer[Service], pods: Informer[Pod], endpoints: Informer[Endpoints],
        clock: Clock,
    ) -> None:
        super().__init__(queue_name="endpoints", client=client, services=services, pods=pods, clock=clock)
        self.endpoints = endpoints
        endpoints.add_handler(on_delete=self._endpoints_deleted)

    def _endpoints_deleted(self, endpoints: Endpoints) -> None:
        key = split_key_of(endpoints)
        if self.services.get(key) is not None:
            self.queue.add(key)

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.get(key)
        resource = self.client.resource(Endpoints)
        if service is None:
            try:
                await resource.delete(name=name, namespace=namespace)
            except NotFoundError:
                pass
            return
        selector = service.spec.selector if service.spec else None
        if not selector:
            return
        pods = self.selected_pods(selector, namespace)
        subsets, truncated = build_subsets(service, pods)
        labels = desired_labels(service)
        current = self.endpoints.get(key)
        if current is not None:
            meta = current.metadata or ObjectMeta()
            annotations = dict(meta.annotations or {})
            over = annotations.get(OVER_CAPACITY_ANNOTATION) == "truncated"
            if (current.subsets or []) == subsets and (meta.labels or {}) == labels and over == truncated:
                return
            annotations[TRIGGER_TIME_ANNOTATION] = now_rfc3339()
            if truncated:
                annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
            else:
                annotations.pop(OVER_CAPACITY_ANNOTATION, None)
            updated = msgspec.structs.replace(
                current, subsets=subsets or None,
                metadata=msgspec.structs.replace(meta, labels=labels, annotations=annotations),
            )
            await resource.update(updated)
            return
        annotations = {TRIGGER_TIME_ANNOTATION: now_rfc3339()}
        if truncated:
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        created = Endpoints(
            metadata=ObjectMeta(name=name, namespace=namespace, labels=labels, annotations=annotations),
            subsets=subsets or None,
        )
        try:
            await resource.create(created)
        except AlreadyExistsError:
            # Our cache lags behind the server (or someone else created it): look again shortly.
            self.queue.add_after(key, 0.5)


def split_key_of(obj: Service | Endpoints) -> str:
    meta = obj.metadata or ObjectMeta()
    return f"{meta.namespace}/{meta.name}"


def new(ctx: ControllerContext) -> EndpointsController:
    return EndpointsController(
        client=ctx.client,
        services=ctx.informers.informer(Service, indexers={INDEX_NAMESPACE: namespace_index}),
        pods=ctx.informers.informer(Pod, indexers={INDEX_NAMESPACE: namespace_index}),
        endpoints=ctx.informers.informer(Endpoints),
        clock=ctx.clock,
    )
