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

Also the handler-side helper: which Services of a namespace select a pod.
"""

from __future__ import annotations

from collections.abc import Iterable

from kybernetes.api.models.core_v1 import Pod, Service, ServicePort
from kybernetes.client import INDEX_NAMESPACE, Informer, object_key

__all__ = [
    "find_port",
    "is_pod_ready",
    "pod_ips",
    "selector_matches",
    "service_keys_for_pod",
    "should_pod_be_in_endpoints",
    "should_set_hostname",
]


def is_pod_ready(pod: Pod) -> bool:
    status = pod.status
    for condition in (status.conditions if status else None) or []:
        if condition.type == "Ready":
            return condition.status == "True"
    return False


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
