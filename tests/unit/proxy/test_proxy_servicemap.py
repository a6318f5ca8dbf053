"""Services + EndpointSlices → ServicePortPlans: which ports get rules and which endpoints they use."""

from __future__ import annotations

from proxy_builders import NODE, endpoint, endpoint_slice, node, service

from kybernetes.api.models.core_v1 import ServicePort
from kybernetes.api.models.discovery_v1 import EndpointPort
from kybernetes.proxy.servicemap import DEFAULT_AFFINITY_TIMEOUT, EndpointInfo, build_plans, node_facts


def test_cluster_ip_service_gets_one_plan_per_port_with_its_endpoints() -> None:
    svc = service("web", ports=[ServicePort(name="http", port=80, protocol="TCP"),
                                ServicePort(name="dns", port=53, protocol="UDP")])
    slices = [endpoint_slice("web", [endpoint("10.244.0.12"), endpoint("10.244.0.11")],
                             ports=[EndpointPort(name="http", port=8080, protocol="TCP"),
                                    EndpointPort(name="dns", port=5353, protocol="UDP")])]
    plans = build_plans(services=[svc], slices=slices)
    assert [p.id for p in plans] == ["default/web/tcp/http", "default/web/udp/dns"]
    http, dns = plans
    assert http.cluster_ips == ("10.96.0.10",) and http.port == 80 and http.node_port is None
    assert [(e.ip, e.port) for e in http.endpoints] == [("10.244.0.11", 8080), ("10.244.0.12", 8080)]
    assert [(e.ip, e.port) for e in dns.endpoints] == [("10.244.0.11", 5353), ("10.244.0.12", 5353)]


def test_headless_and_external_name_services_get_no_plans() -> None:
    slices = [endpoint_slice("headless", [endpoint("10.244.0.11")]), endpoint_slice("ext", [endpoint("10.244.0.12")])]
    services = [service("headless", cluster_ip="None"),
                service("ext", cluster_ip="", type="ExternalName", external_name="example.com")]
    assert build_plans(services=services, slices=slices) == []


def test_slices_of_other_services_namespaces_and_families_are_ignored() -> None:
    slices = [
        endpoint_slice("web", [endpoint("10.244.0.11")]),
        endpoint_slice("other", [endpoint("10.244.0.99")]),
        endpoint_slice("web", [endpoint("10.244.0.98")], namespace="elsewhere"),
        endpoint_slice("web", [endpoint("fd00::1")], name="web-v6", address_type="IPv6"),
    ]
    (plan,) = build_plans(services=[service("web")], slices=slices)
    assert [e.ip for e in plan.endpoints] == ["10.244.0.11"]


def test_port_matches_by_name_and_protocol() -> None:
    slices = [endpoint_slice("web", [endpoint("10.244.0.11")],
                             ports=[EndpointPort(name="other", port=9999, protocol="TCP"),
                                    EndpointPort(name="http", port=8081, protocol="UDP")])]
    (plan,) = build_plans(services=[service("web")], slices=slices)
    assert plan.endpoints == ()  # no slice port named http over TCP
    assert plan.all_usable() == ()


def test_endpoint_in_two_slices_counts_once_and_the_ready_copy_wins() -> None:
    slices = [endpoint_slice("web", [endpoint("10.244.0.11", ready=False)], name="web-1"),
              endpoint_slice("web", [endpoint("10.244.0.11", ready=True)], name="web-2")]
    (plan,) = build_plans(services=[service("web")], slices=slices)
    assert plan.endpoints == (EndpointInfo(ip="10.244.0.11", port=8080, node_name=NODE),)


def test_ready_endpoints_only_with_terminating_fallback() -> None:
    slices = [endpoint_slice("web", [
        endpoint("10.244.0.11", ready=True),
        endpoint("10.244.0.12", ready=False, serving=True, terminating=True),
        endpoint("10.244.0.13", ready=False),
        endpoint("10.244.0.14", ready=None),  # unset means ready
    ])]
    (plan,) = build_plans(services=[service("web")], slices=slices)
    assert [e.ip for e in plan.all_usable()] == ["10.244.0.11", "10.244.0.14"]

    draining = [endpoint_slice("web", [
        endpoint("10.244.0.12", ready=False, serving=True, terminating=True),
        endpoint("10.244.0.13", ready=False, serving=False, terminating=True),
        endpoint("10.244.0.15", ready=False),
    ])]
    (plan,) = build_plans(services=[service("web")], slices=draining)
    assert [e.ip for e in plan.all_usable()] == ["10.244.0.12"]


def test_traffic_policies_local_restrict_to_this_node() -> None:
    slices = [endpoint_slice("web", [endpoint("10.244.0.11", node=NODE), endpoint("10.244.1.11", node="node-b")])]
    (cluster,) = build_plans(services=[service("web", type="NodePort")], slices=slices)
    assert len(cluster.cluster_endpoints(node_name=NODE)) == 2
    (local,) = build_plans(services=[service("web", type="NodePort", internal_local=True, external_local=True)],
                           slices=slices)
    assert [e.ip for e in local.cluster_endpoints(node_name=NODE)] == ["10.244.0.11"]
    assert [e.ip for e in local.external_endpoints(node_name=NODE)] == ["10.244.0.11"]
    assert local.external_endpoints(node_name="node-c") == ()
    assert len(local.all_usable()) == 2


def test_node_port_affinity_and_external_ips() -> None:
    ports = [ServicePort(name="http", port=80, protocol="TCP", node_port=30080)]
    (clusterip,) = build_plans(services=[service("a", ports=ports)], slices=[])
    assert clusterip.node_port is None  # a ClusterIP Service's nodePort field means nothing
    (nodeport,) = build_plans(services=[service("a", ports=ports, type="NodePort", affinity=True,
                                                external_ips=["198.51.100.7", "fd00::7"])], slices=[])
    assert nodeport.node_port == 30080
    assert nodeport.affinity_timeout == DEFAULT_AFFINITY_TIMEOUT
    assert nodeport.external_ips == ("198.51.100.7",)
    (timed,) = build_plans(services=[service("a", affinity_timeout=60)], slices=[])
    assert timed.affinity_timeout == 60


def test_node_facts_keep_ipv4_node_addresses() -> None:
    facts = node_facts(name=NODE, node=node(addresses=("192.0.2.10", "fd00::10", "192.0.2.10")))
    assert facts.addresses == ("192.0.2.10",)
    assert node_facts(name=NODE, node=None).addresses == ()


def test_objects_that_could_break_the_table_are_skipped_alone() -> None:
    bad_name = service("bad name")
    bad_port = service("p", cluster_ip="10.96.0.11", ports=[ServicePort(name="x y", port=80, protocol="TCP"),
                                                           ServicePort(name="big", port=70000, protocol="TCP"),
                                                           ServicePort(name="ok", port=81, protocol="TCP")])
    good = service("web", cluster_ip="10.96.0.12")
    plans = build_plans(services=[bad_name, bad_port, good], slices=[])
    assert [p.id for p in plans] == ["default/p/tcp/ok", "default/web/tcp/http"]
