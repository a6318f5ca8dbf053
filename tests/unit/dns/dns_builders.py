"""Builders for the DNS unit tests: Services and EndpointSlices as the API serves them, and a handler
that answers wire-format queries in process (no sockets)."""

from __future__ import annotations

from typing import Any

import dns.message
import dns.rdatatype

from kybernetes.api.models.core_v1 import Service, ServicePort, ServiceSpec
from kybernetes.api.models.discovery_v1 import Endpoint, EndpointConditions, EndpointPort, EndpointSlice
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.dns import ClusterIndex, DNSHandler, Forwarder, ZoneResolver


def service(name: str, namespace: str = "default", *, cluster_ip: str | None = "10.96.0.20",
            ports: list[tuple[str | None, int, str]] | None = None, **spec: Any) -> Service:
    ips = [cluster_ip] if cluster_ip else None
    return Service(
        metadata=ObjectMeta(name=name, namespace=namespace, uid=f"uid-{name}"),
        spec=ServiceSpec(cluster_ip=cluster_ip, cluster_ips=ips,
                         ports=[ServicePort(name=n, port=p, protocol=proto) for n, p, proto in ports or []], **spec),
    )


def headless(name: str, namespace: str = "default", **kw: Any) -> Service:
    return service(name, namespace, cluster_ip="None", **kw)


def endpoint(ip: str, *, hostname: str | None = None, ready: bool | None = True) -> Endpoint:
    conditions = None if ready is None else EndpointConditions(ready=ready)
    return Endpoint(addresses=[ip], hostname=hostname, conditions=conditions)


def endpoint_slice(service_name: str, *endpoints: Endpoint, namespace: str = "default", name: str | None = None,
                   ports: list[tuple[str | None, int, str]] | None = None,
                   address_type: str = "IPv4") -> EndpointSlice:
    return EndpointSlice(
        metadata=ObjectMeta(name=name or f"{service_name}-abcde", namespace=namespace,
                            labels={"kubernetes.io/service-name": service_name}),
        address_type=address_type,
        endpoints=list(endpoints),
        ports=[EndpointPort(name=n, port=p, protocol=proto) for n, p, proto in ports or []],
    )


def handler(index: ClusterIndex, *, forwarder: Forwarder | None = None, ready: bool = True) -> DNSHandler:
    return DNSHandler(resolver=ZoneResolver(index=index, domain="cluster.local", ttl=5, dns_ip="10.96.0.10"),
                      forwarder=forwarder or Forwarder(upstreams=[]), ready=lambda: ready)


async def ask(h: DNSHandler, name: str, rdtype: str = "A", *, tcp: bool = False,
              use_edns: int | bool | None = None, payload: int = 1232) -> dns.message.Message:
    if use_edns is None or use_edns is False:
        query = dns.message.make_query(name, rdtype)
    else:
        query = dns.message.make_query(name, rdtype, use_edns=use_edns, payload=payload)
    wire = await h.handle(query.to_wire(), tcp=tcp)
    assert wire is not None
    response = dns.message.from_wire(wire)
    assert response.id == query.id
    return response


def values(response: dns.message.Message, rdtype: str = "") -> list[str]:
    """The answer section's rdata as text, of one type (or all), sorted."""
    wanted = dns.rdatatype.from_text(rdtype) if rdtype else None
    return sorted(rd.to_text() for rrset in response.answer if wanted is None or rrset.rdtype == wanted
                  for rd in rrset)
