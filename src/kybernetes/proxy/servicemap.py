"""What the proxy has to program, as plain data: Services + EndpointSlices + this node → `ServicePortPlan`s.

`build_plans()` is pure: it reads API objects and returns one `ServicePortPlan` per (Service, port,
protocol) that needs rules, sorted by id so that the rendered ruleset is stable (an unchanged cluster gives
byte-identical text, which is how the proxy skips no-op syncs).

Facts carried over from Kubernetes (wire semantics, not code):
- headless Services (`clusterIP: None`) and `ExternalName` Services get no rules; only IPv4 addresses are
  programmed for now (the table is family `ip`);
- a Service's endpoints are the EndpointSlices labelled `kubernetes.io/service-name=<name>` in its
  namespace; a slice port matches a Service port by name (both may be empty) and protocol; only the first
  address of an endpoint is used, and an endpoint seen in two slices counts once;
- `conditions.ready` unset means ready, `serving` unset means "as ready", `terminating` unset means false;
- the usable endpoints of a set are the ready ones, or, when none is ready, the serving-and-terminating
  ones (so connections drain to pods shutting down instead of failing while replacements start);
- `internalTrafficPolicy: Local` limits cluster traffic (ClusterIP) to endpoints on this node, and
  `externalTrafficPolicy: Local` does the same for external traffic (NodePort, externalIPs, load-balancer
  ingress IPs); the usable-endpoint rule is applied after that filter.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kybernetes.api.models.core_v1 import Node, Service, ServicePort
from kybernetes.api.models.discovery_v1 import EndpointSlice

__all__ = [
    "DEFAULT_AFFINITY_TIMEOUT",
    "SERVICE_NAME_LABEL",
    "EndpointInfo",
    "NodeFacts",
    "ServicePortPlan",
    "build_plans",
    "node_facts",
    "usable_endpoints",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds; sessionAffinityConfig.clientIP.timeoutSeconds' default
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
# Names end up in nft identifiers: the API server only admits DNS labels, but one object that slipped past
# (another server, an old bug) must not make the whole transaction fail, so anything else is skipped.
_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")


def _port_ok(port: int | None) -> bool:
    return port is not None and 0 < port < 65536


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    ip: str
    port: int
    node_name: str = ""
    ready: bool = True
    serving: bool = True
    terminating: bool = False


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the renderer needs to know about the node it runs on."""

    name: str
    addresses: tuple[str, ...] = ()  # IPv4 InternalIP / ExternalIP, for NodePorts


@dataclass(frozen=True, slots=True)
class ServicePortPlan:
    namespace: str
    name: str
    port_name: str
    protocol: str  # "tcp" | "udp" | "sctp"
    port: int
    cluster_ips: tuple[str, ...]
    node_port: int | None = None
    external_ips: tuple[str, ...] = ()
    affinity_timeout: int | None = None  # seconds, when sessionAffinity is ClientIP
    internal_local: bool = False
    external_local: bool = False
    endpoints: tuple[EndpointInfo, ...] = ()

    @property
    def id(self) -> str:
        """`namespace/name/protocol/portname`: unique per plan, and readable in chain names."""
        return f"{self.namespace}/{self.name}/{self.protocol}/{self.port_name}"

    @property
    def has_external(self) -> bool:
        return self.node_port is not None or bool(self.external_ips)

    def all_usable(self) -> tuple[EndpointInfo, ...]:
        return usable_endpoints(self.endpoints)

    def cluster_endpoints(self, *, node_name: str) -> tuple[EndpointInfo, ...]:
        """Where ClusterIP traffic may go (internalTrafficPolicy)."""
        return _by_policy(self.endpoints, local=self.internal_local, node_name=node_name)

    def external_endpoints(self, *, node_name: str) -> tuple[EndpointInfo, ...]:
        """Where NodePort / external IP traffic from outside the node may go (externalTrafficPolicy)."""
        return _by_policy(self.endpoints, local=self.external_local, node_name=node_name)


def usable_endpoints(endpoints: Iterable[EndpointInfo]) -> tuple[EndpointInfo, ...]:
    candidates = tuple(endpoints)
    ready = tuple(e for e in candidates if e.ready)
    if ready:
        return ready
    return tuple(e for e in candidates if e.serving and e.terminating)


def _by_policy(endpoints: tuple[EndpointInfo, ...], *, local: bool, node_name: str) -> tuple[EndpointInfo, ...]:
    if local:
        endpoints = tuple(e for e in endpoints if e.node_name == node_name)
    return usable_endpoints(endpoints)


def node_facts(*, name: str, node: Node | None) -> NodeFacts:
    addresses: list[str] = []
    if node is not None and node.status is not None:
        for address in node.status.addresses or []:
            if address.type in ("InternalIP", "ExternalIP") and address.address and _is_v4(address.address):
                if address.address not in addresses:
                    addresses.append(address.address)
    return NodeFacts(name=name, addresses=tuple(addresses))


def _is_v4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def _slices_by_service(slices: Iterable[EndpointSlice]) -> dict[tuple[str, str], list[EndpointSlice]]:
    grouped: dict[tuple[str, str], list[EndpointSlice]] = {}
    for s in slices:
        meta = s.metadata
        if meta is None or s.address_type != "IPv4":
            continue
        service = (meta.labels or {}).get(SERVICE_NAME_LABEL)
        if not service:
            continue
        grouped.setdefault((meta.namespace or "", service), []).append(s)
    return grouped


def _endpoints_for_port(
    slices: list[EndpointSlice], *, port_name: str, protocol: str
) -> tuple[EndpointInfo, ...]:
    found: dict[tuple[str, int], EndpointInfo] = {}
    for s in sorted(slices, key=lambda s: (s.metadata.name or "") if s.metadata else ""):
        target = next(
            (p.port for p in s.ports or []
             if (p.name or "") == port_name and (p.protocol or "TCP") == protocol and _port_ok(p.port)),
            None,
        )
        if target is None:
            continue
        for ep in s.endpoints or []:
            if not ep.addresses or not _is_v4(ep.addresses[0]):
                continue
            conditions = ep.conditions
            ready = True if conditions is None or conditions.ready is None else conditions.ready
            serving = ready if conditions is None or conditions.serving is None else conditions.serving
            terminating = bool(conditions is not None and conditions.terminating)
            info = EndpointInfo(ip=ep.addresses[0], port=target, node_name=ep.node_name or "", ready=ready,
                                serving=serving, terminating=terminating)
            key = (info.ip, info.port)
            seen = found.get(key)
            # The same endpoint in two slices (mid-move between slices): the more available copy wins.
            if seen is None or (info.ready, info.serving) > (seen.ready, seen.serving):
                found[key] = info
    return tuple(sorted(found.values(), key=lambda e: (ipaddress.ip_address(e.ip), e.port)))


def _plan_for_port(service: Service, port: ServicePort, slices: list[EndpointSlice]) -> ServicePortPlan | None:
    spec = service.spec
    meta = service.metadata
    if spec is None or meta is None or port.port is None or not _port_ok(port.port):
        return None
    if port.name and not _NAME.fullmatch(port.name):
        return None
    api_protocol = port.protocol or "TCP"
    protocol = PROTOCOLS.get(api_protocol)
    if protocol is None:
        return None
    cluster_ips = tuple(ip for ip in (spec.cluster_ips or [spec.cluster_ip or ""]) if _is_v4(ip))
    if not cluster_ips:
        return None
    external = [*(spec.external_ips or [])]
    if service.status is not None and service.status.load_balancer is not None:
        external += [i.ip for i in service.status.load_balancer.ingress or [] if i.ip]
    affinity = None
    if spec.session_affinity == "ClientIP":
        config = spec.session_affinity_config
        timeout = config.client_ip.timeout_seconds if config and config.client_ip else None
        affinity = timeout or DEFAULT_AFFINITY_TIMEOUT
    node_port = port.node_port if spec.type in ("NodePort", "LoadBalancer") and _port_ok(port.node_port) else None
    return ServicePortPlan(
        namespace=meta.namespace or "default",
        name=meta.name or "",
        port_name=port.name or "",
        protocol=protocol,
        port=port.port,
        cluster_ips=cluster_ips,
        node_port=node_port,
        external_ips=tuple(dict.fromkeys(ip for ip in external if _is_v4(ip))),
        affinity_timeout=affinity,
        internal_local=spec.internal_traffic_policy == "Local",
        external_local=spec.external_traffic_policy == "Local",
        endpoints=_endpoints_for_port(slices, port_name=port.name or "", protocol=api_protocol),
    )


def build_plans(*, services: Iterable[Service], slices: Iterable[EndpointSlice]) -> list[ServicePortPlan]:
    """Every (Service, port) that needs rules, sorted by id; headless and ExternalName Services have none."""
    grouped = _slices_by_service(slices)
    plans: list[ServicePortPlan] = []
    for service in services:
        spec, meta = service.spec, service.metadata
        if spec is None or meta is None or spec.type == "ExternalName":
            continue
        if not spec.cluster_ip or spec.cluster_ip == "None":
            continue  # headless: DNS answers with the pods, nothing to balance
        if not _NAME.fullmatch(meta.name or "") or not _NAME.fullmatch(meta.namespace or "default"):
            continue
        mine = grouped.get((meta.namespace or "default", meta.name or ""), [])
        for port in spec.ports or []:
            plan = _plan_for_port(service, port, mine)
            if plan is not None:
                plans.append(plan)
    plans.sort(key=lambda p: p.id)
    return plans
