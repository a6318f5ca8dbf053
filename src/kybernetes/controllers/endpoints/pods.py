"""What a pod contributes to a Service's endpoints — the rules both the Endpoints and the EndpointSlice
controllers apply, as Kubernetes' endpoint utilities state them:

* a pod counts only with an IP, and (unless terminating pods are asked for) when not being deleted; a
  pod that has finished for good (restartPolicy Never and Succeeded/Failed, OnFailure and Succeeded) does
  not count;
* ready means the pod's `Ready` condition is True;
* a port comes from the service port's targetPort: a number as is, a name looked up among the container
  (and restartable init container) ports of the same protocol; a pod without the named port is left out
  of that port;
* the address carries the pod's hostname when the pod's subdomain is the service's name.

Also what both controllers are built on (`ServicePodsController`): a queue of Service keys fed by Service
changes and by pod changes (every Service of the pod's namespace whose selector matches the old or the new
pod), its workers, and the pods a Service selects.
"""

from __future__ import annotations

from collections.abc import Iterable

from kybernetes.api.models.core_v1 import Pod, Service, ServicePort
from kybernetes.client import INDEX_NAMESPACE, Client, Clock, Informer, WorkQueue, object_key
from kybernetes.controllers.common.pods import is_pod_ready
from kybernetes.controllers.common.queue import run_queue

__all__ = [
    "ServicePodsController",
    "find_port",
    "is_pod_ready",
    "pod_ips",
    "selector_matches",
    "service_keys_for_pod",
    "should_pod_be_in_endpoints",
    "should_set_hostname",
]


def pod_ips(pod: Pod) -> list[str]:
    status = pod.status
    if status is None:
        return []
    ips = [p.ip for p in status.pod_ips or [] if p.ip]
    if not ips and status.pod_ip:
        ips = [status.pod_ip]
    return ips


def should_pod_be_in_endpoints(pod: Pod, *, include_terminating: bool) -> bool:
    if not pod_ips(pod):
        return False
    if not include_terminating and pod.metadata is not None and pod.metadata.deletion_timestamp:
        return False
    phase = pod.status.phase if pod.status else None
    policy = (pod.spec.restart_policy if pod.spec else None) or "Always"
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def find_port(pod: Pod, port: ServicePort) -> int | None:
    """The pod's port number for a service port, or None when the named target port is not there."""
    target = port.target_port if port.target_port is not None else port.port
    if isinstance(target, int):
        return target
    if target is None:
        return None
    if target.isdigit():
        return int(target)
    protocol = port.protocol or "TCP"
    spec = pod.spec
    if spec is None:
        return None
    containers = list(spec.containers or [])
    containers += [c for c in spec.init_containers or [] if c.restart_policy == "Always"]
    for container in containers:
        for cport in container.ports or []:
            if cport.name == target and (cport.protocol or "TCP") == protocol:
                return cport.container_port
    return None


def should_set_hostname(pod: Pod, service: Service) -> bool:
    spec = pod.spec
    if spec is None or not spec.hostname or not spec.subdomain:
        return False
    meta, smeta = pod.metadata, service.metadata
    return (
        meta is not None and smeta is not None and spec.subdomain == smeta.name
        and meta.namespace == smeta.namespace
    )


def selector_matches(selector: dict[str, str], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def service_keys_for_pod(services: Informer[Service], pods: Iterable[Pod]) -> set[str]:
    """Keys of the Services (with selectors) that select any of `pods` (old and new versions of a pod)."""
    keys: set[str] = set()
    for pod in pods:
        meta = pod.metadata
        if meta is None or not meta.namespace:
            continue
        for service in services.by_index(INDEX_NAMESPACE, meta.namespace):
            selector = service.spec.selector if service.spec else None
            if selector and selector_matches(selector, meta.labels):
                keys.add(object_key(service))
    return keys


class ServicePodsController:
    """The part of the Endpoints and EndpointSlice controllers that is the same: see the module docstring.
    Subclasses implement `sync(key)` for a Service key."""

    def __init__(
        self, *, queue_name: str, client: Client, services: Informer[Service], pods: Informer[Pod], clock: Clock,
    ) -> None:
        self.client = client
        self.services = services
        self.pods = pods
        self.queue = WorkQueue(name=queue_name, clock=clock)
        services.add_handler(
            on_add=self._service_changed, on_update=lambda old, new: self._service_changed(new),
            on_delete=self._service_changed,
        )
        pods.add_handler(
            on_add=lambda pod: self._pods_changed(pod),
            on_update=lambda old, new: self._pods_changed(old, new),
            on_delete=lambda pod: self._pods_changed(pod),
        )

    def _service_changed(self, service: Service) -> None:
        self.queue.add(object_key(service))

    def _pods_changed(self, *pods: Pod) -> None:
        for key in service_keys_for_pod(self.services, pods):
            self.queue.add(key)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    async def sync(self, key: str) -> None:
        raise NotImplementedError

    def selected_pods(self, selector: dict[str, str], namespace: str | None) -> list[Pod]:
        """The pods of `namespace` whose labels match a Service's `selector`."""
        return [
            p for p in self.pods.by_index(INDEX_NAMESPACE, namespace or "")
            if selector_matches(selector, p.metadata.labels if p.metadata else None)
        ]
