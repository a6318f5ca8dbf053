"""What is wrong with a Service's endpoints, as Warning events on the Service (`kubectl describe svc`).

`check_service()` is pure: from the Service, the pods its selector picks and the names of the nodes that
exist, it returns the pods to leave out and the problems to report:

* `SelectorMatchesNoPods` — the selector picks no pod in the namespace (so the Service has no endpoints);
* `PortNotFound` — a service port's named `targetPort` is a container port of none of the selected pods
  (the Service then has endpoints without that port, and the proxy rejects connections to it);
* `FailedToUpdateEndpointSlices` — a pod with an address is bound to a node that no longer exists: it is left out of the
  slices (unless the Service publishes not-ready addresses), in Kubernetes' words ("Error updating Endpoint
  Slices for Service ns/name: skipping Pod p for Service ns/name: Node n not found"), until the pod
  garbage collector removes the orphan.

`Reporter` turns the problems into events only when they change: a problem is reported once when it
appears, not on every sync (the event recorder would aggregate repeats, but each still costs a write).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kybernetes.api.models.core_v1 import Pod, Service
from kybernetes.client import EventRecorder
from kybernetes.controllers.endpoints.pods import find_port, should_pod_be_in_endpoints

__all__ = ["NODE_NOT_FOUND", "NO_PODS", "PORT_NOT_FOUND", "Problem", "Reporter", "ServiceCheck", "check_service"]

NO_PODS = "SelectorMatchesNoPods"
PORT_NOT_FOUND = "PortNotFound"
NODE_NOT_FOUND = "FailedToUpdateEndpointSlices"

Problem = tuple[str, str]  # (reason, message)


@dataclass(slots=True)
class ServiceCheck:
    pods: list[Pod] = field(default_factory=list)  # the pods that may have endpoints
    problems: list[Problem] = field(default_factory=list)


def _name(pod: Pod) -> str:
    return (pod.metadata.name if pod.metadata else None) or ""


def check_service(service: Service, pods: list[Pod], *, nodes: set[str]) -> ServiceCheck:
    """The usable pods of a Service and what to report about it (see the module docstring)."""
    spec = service.spec
    meta = service.metadata
    out = ServiceCheck()
    if spec is None or meta is None:
        return out
    key = f"{meta.namespace}/{meta.name}"
    if not pods:
        selector = ",".join(f"{k}={v}" for k, v in sorted((spec.selector or {}).items()))
        out.problems.append((NO_PODS, f"Selector {selector} matches no pods in namespace {meta.namespace}"))
        return out
    lost: list[str] = []
    for pod in pods:
        node = pod.spec.node_name if pod.spec else None
        # Only a pod that would be an endpoint (it has an address) is one "on a node that is gone".
        if (node and node not in nodes and not spec.publish_not_ready_addresses
                and should_pod_be_in_endpoints(pod, include_terminating=True)):
            lost.append(f"skipping Pod {_name(pod)} for Service {key}: Node {node} not found")
            continue
        out.pods.append(pod)
    if lost:
        out.problems.append((NODE_NOT_FOUND, f"Error updating Endpoint Slices for Service {key}: "
                             + "; ".join(sorted(lost))))
    candidates = [p for p in out.pods if should_pod_be_in_endpoints(p, include_terminating=True)]
    for port in spec.ports or []:
        target = port.target_port
        if not isinstance(target, str) or target.isdigit() or not candidates:
            continue
        if all(find_port(p, port) is None for p in candidates):
            label = f"port {port.name!r}" if port.name else f"port {port.port}"
            out.problems.append((PORT_NOT_FOUND, f"Service {label}: targetPort {target!r} names no "
                                 f"{port.protocol or 'TCP'} container port of the {len(candidates)} selected "
                                 f"pod(s); they get no endpoint for it"))
    return out


class Reporter:
    """Records each problem of a Service once, when it appears; forgets a Service's problems when they go."""

    def __init__(self, *, recorder: EventRecorder | None) -> None:
        self.recorder = recorder
        self.reported: dict[str, set[Problem]] = {}

    def report(self, *, key: str, service: Service, problems: list[Problem]) -> list[Problem]:
        """Record the problems not reported before; returns them."""
        before = self.reported.get(key, set())
        new = [p for p in problems if p not in before]
        if problems:
            self.reported[key] = set(problems)
        else:
            self.reported.pop(key, None)
        if self.recorder is not None:
            for reason, message in new:
                self.recorder.event(service, type="Warning", reason=reason, message=message)
        return new

    def forget(self, key: str) -> None:
        self.reported.pop(key, None)
