"""Builders of Services, EndpointSlices and Nodes for the proxy's unit tests."""

from __future__ import annotations

from kybernetes.api.models.core_v1 import (
    ClientIPConfig,
    Node,
    NodeAddress,
    NodeStatus,
    Service,
    ServicePort,
    ServiceSpec,
    SessionAffinityConfig,
)
from kybernetes.api.models.discovery_v1 import Endpoint, EndpointConditions, EndpointPort, EndpointSlice
from kybernetes.api.models.meta_v1 import ObjectMeta

NODE = "node-a"


def service(
    name: str,
    *,
    namespace: str = "default",
    cluster_ip: str = "10.96.0.10",
    ports: list[ServicePort] | None = None,
    type: str = "ClusterIP",
    affinity_timeout: int | None = None,
    affinity: bool = False,
    internal_local: bool = False,
    external_local: bool = False,
    external_ips: list[str] | None = None,
    external_name: str | None = None,
) -> Service:
    config = None
    if affinity_timeout is not None:
        config = SessionAffinityConfig(client_ip=ClientIPConfig(timeout_seconds=affinity_timeout))
    return Service(
        metadata=ObjectMeta(name=name, namespace=namespace, resource_version="1"),
        spec=ServiceSpec(
            type=type,
            cluster_ip=cluster_ip,
            cluster_ips=[cluster_ip] if cluster_ip else None,
            ports=ports if ports is not None else [ServicePort(name="http", port=80, protocol="TCP",
                                                               target_port=8080)],
            session_affinity="ClientIP" if affinity or affinity_timeout is not None else "None",
            session_affinity_config=config,
            internal_traffic_policy="Local" if internal_local else "Cluster",
            external_traffic_policy="Local" if external_local else "Cluster",
            external_ips=external_ips,
            external_name=external_name,
        ),
    )


def endpoint(ip: str, *, node: str = NODE, ready: bool | None = True, serving: bool | None = None,
             terminating: bool | None = None) -> Endpoint:
    return Endpoint(addresses=[ip], node_name=node,
                    conditions=EndpointConditions(ready=ready, serving=serving, terminating=terminating))


def endpoint_slice(
    service_name: str,
    endpoints: list[Endpoint],
    *,
    name: str | None = None,
    namespace: str = "default",
    ports: list[EndpointPort] | None = None,
    address_type: str = "IPv4",
) -> EndpointSlice:
    return EndpointSlice(
        metadata=ObjectMeta(name=name or f"{service_name}-abc", namespace=namespace, resource_version="1",
                            labels={"kubernetes.io/service-name": service_name}),
        address_type=address_type,
        endpoints=endpoints,
        ports=ports if ports is not None else [EndpointPort(name="http", port=8080, protocol="TCP")],
    )


def node(name: str = NODE, *, addresses: tuple[str, ...] = ("192.0.2.10",)) -> Node:
    return Node(
        metadata=ObjectMeta(name=name, resource_version="1"),
        status=NodeStatus(addresses=[NodeAddress(type="InternalIP", address=a) for a in addresses]
                          + [NodeAddress(type="Hostname", address=name)]),
    )
