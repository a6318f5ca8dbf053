"""The rendered nftables table: structure (which maps, chains and rules, in which order) and, where `nft`
is available, the kernel's own check (`nft -c`: validated, never committed, in a throwaway namespace)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from proxy_builders import NODE, endpoint, endpoint_slice, service

from kybernetes.api.models.core_v1 import Service, ServicePort
from kybernetes.api.models.discovery_v1 import EndpointPort, EndpointSlice
from kybernetes.proxy.nft import parse_affinity
from kybernetes.proxy.ruleset import (
    AffinityEntry,
    RulesetConfig,
    affinity_set_name,
    endpoint_chain,
    external_chain,
    render_ruleset,
    service_chain,
)
from kybernetes.proxy.servicemap import NodeFacts, ServicePortPlan, build_plans

CONFIG = RulesetConfig(table="kyb-proxy", cluster_cidr="10.244.0.0/16")
FACTS = NodeFacts(name=NODE, addresses=("192.0.2.10",))
NODEPORT = [ServicePort(name="http", port=80, protocol="TCP", node_port=30080)]


def chains(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for m in re.finditer(r"^\tchain (\S+) \{\n(.*?)^\t\}", text, re.M | re.S):
        found[m.group(1)] = [line.strip() for line in m.group(2).splitlines() if line.strip()]
    return found


def elements(text: str, name: str) -> list[str]:
    m = re.search(rf"^\t(?:map|set) {re.escape(name)} \{{\n(.*?)^\t\}}", text, re.M | re.S)
    assert m, f"no map/set {name}"
    e = re.search(r"elements = \{ (.*) \}", m.group(1))
    return e.group(1).split(", ") if e else []


def render(
    services: list[Service], slices: list[EndpointSlice], *, config: RulesetConfig = CONFIG
) -> tuple[str, list[ServicePortPlan]]:
    plans = build_plans(services=services, slices=slices)
    return render_ruleset(plans=plans, node=FACTS, config=config), plans


def three() -> list[EndpointSlice]:
    return [endpoint_slice("web", [endpoint("10.244.0.11"), endpoint("10.244.0.12"), endpoint("10.244.1.13", node="b")])]


def test_table_is_replaced_in_one_transaction_and_hooks_are_in_place() -> None:
    text, _ = render([], [])
    assert text.startswith("add table ip kyb-proxy\ndelete table ip kyb-proxy\ntable ip kyb-proxy {\n")
    c = chains(text)
    assert c["nat-prerouting"][0] == "type nat hook prerouting priority dstnat; policy accept;"
    assert c["nat-output"] == ["type nat hook output priority -100; policy accept;", "jump services"]
    assert c["nat-postrouting"][1] == "jump masquerading"
    for hook in ("input", "forward", "output"):
        assert c[f"filter-{hook}"][1] == "ct state new jump endpoints-check"
    assert c["services"] == ["ip daddr . meta l4proto . th dport vmap @service-ips",
                             "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"]
    assert elements(text, "nodeport-ips") == ["192.0.2.10"]
    assert elements(text, "service-ips") == []


def test_cluster_ip_picks_among_ready_endpoints_and_dnats() -> None:
    text, (plan,) = render([service("web")], three())
    c = chains(text)
    svc = service_chain(plan)
    assert elements(text, "service-ips") == [f"10.96.0.10 . tcp . 80 : goto {svc}"]
    eps = [endpoint_chain(plan, e) for e in plan.endpoints]
    assert c[svc][0] == "ip saddr != 10.244.0.0/16 jump mark-for-masquerade"
    assert c[svc][1] == f"numgen random mod 3 vmap {{ 0 : goto {eps[0]}, 1 : goto {eps[1]}, 2 : goto {eps[2]} }}"
    assert c[eps[0]] == ["ip saddr 10.244.0.11 jump mark-for-masquerade",  # hairpin
                         "meta l4proto tcp dnat to 10.244.0.11:8080"]
    # Chains come after what they are declared from: base chains, fixed chains, then per service.
    names = list(c)
    assert names.index("services") < names.index(svc) < names.index(eps[0])


def test_single_endpoint_is_a_plain_goto_and_not_ready_ones_are_left_out() -> None:
    slices = [endpoint_slice("web", [endpoint("10.244.0.11"), endpoint("10.244.0.12", ready=False)])]
    text, (plan,) = render([service("web")], slices)
    c = chains(text)
    assert c[service_chain(plan)][-1] == f"goto {endpoint_chain(plan, plan.endpoints[0])}"
    assert endpoint_chain(plan, plan.endpoints[1]) not in c
    assert "10.244.0.12" not in text


def test_headless_service_has_no_rules() -> None:
    text, plans = render([service("web", cluster_ip="None")], three())
    assert plans == []
    assert "10.244.0.11" not in text and "svc-" not in text


def test_service_without_endpoints_is_rejected() -> None:
    text, (plan,) = render([service("web", type="NodePort", ports=NODEPORT)], [])
    assert elements(text, "no-endpoint-services") == ["10.96.0.10 . tcp . 80 : goto reject-chain"]
    assert elements(text, "no-endpoint-nodeports") == ["tcp . 30080 : goto reject-chain"]
    assert elements(text, "service-ips") == []
    assert chains(text)["reject-chain"] == ["meta l4proto tcp reject with tcp reset",
                                            "reject with icmp type port-unreachable"]
    assert service_chain(plan) not in chains(text)


def test_node_port_marks_for_masquerade_with_cluster_policy() -> None:
    text, (plan,) = render([service("web", type="NodePort", ports=NODEPORT)], three())
    ext = external_chain(plan)
    assert elements(text, "service-nodeports") == [f"tcp . 30080 : goto {ext}"]
    rules = chains(text)[ext]
    assert rules[0] == "jump mark-for-masquerade"
    assert rules[1].startswith("numgen random mod 3 vmap")


def test_node_port_cidrs_match_local_addresses_in_them() -> None:
    config = RulesetConfig(table="t", nodeport_cidrs=("192.0.2.0/24", "198.51.100.0/24"))
    text, _ = render([service("web", type="NodePort", ports=NODEPORT)], three(), config=config)
    assert chains(text)["services"][1] == (
        "fib daddr type local ip daddr { 192.0.2.0/24, 198.51.100.0/24 } meta l4proto . th dport vmap @service-nodeports"
    )


def test_external_traffic_policy_local() -> None:
    text, (plan,) = render([service("web", type="NodePort", ports=NODEPORT, external_local=True)], three())
    rules = chains(text)[external_chain(plan)]
    svc = service_chain(plan)
    local = [e for e in plan.endpoints if e.node_name == NODE]
    assert rules[:3] == [f"ip saddr 10.244.0.0/16 goto {svc}", "fib saddr type local jump mark-for-masquerade",
                         f"fib saddr type local goto {svc}"]
    assert rules[3] == (f"numgen random mod 2 vmap {{ 0 : goto {endpoint_chain(plan, local[0])}, "
                        f"1 : goto {endpoint_chain(plan, local[1])} }}")
    assert "jump mark-for-masquerade" not in rules  # the client's address is kept

    remote_only = [endpoint_slice("web", [endpoint("10.244.1.13", node="b")])]
    text, (plan,) = render([service("web", type="NodePort", ports=NODEPORT, external_local=True)], remote_only)
    assert chains(text)[external_chain(plan)][-1] == "drop"
    assert elements(text, "no-endpoint-nodeports") == []


def test_internal_traffic_policy_local() -> None:
    text, (plan,) = render([service("web", internal_local=True)], three())
    rules = chains(text)[service_chain(plan)]
    assert rules[-1].startswith("numgen random mod 2 vmap")
    assert "10.244.1.13" not in text

    remote_only = [endpoint_slice("web", [endpoint("10.244.1.13", node="b")])]
    text, (plan,) = render([service("web", internal_local=True)], remote_only)
    assert elements(text, "no-endpoint-services") == ["10.96.0.10 . tcp . 80 : drop"]
    assert service_chain(plan) not in chains(text)


def test_client_ip_affinity_sets_and_carried_entries() -> None:
    svc = service("web", affinity_timeout=600)
    plans = build_plans(services=[svc], slices=three())
    (plan,) = plans
    first = affinity_set_name(plan, plan.endpoints[0])
    text = render_ruleset(plans=plans, node=FACTS, config=CONFIG,
                          affinity={first: [AffinityEntry(client="10.0.0.7", expires=9999),
                                            AffinityEntry(client="10.0.0.8", expires=0)]})
    rules = chains(text)[service_chain(plan)]
    assert rules[1:4] == [f"ip saddr @{affinity_set_name(plan, e)} goto {endpoint_chain(plan, e)}"
                          for e in plan.endpoints]
    assert rules[4].startswith("numgen random mod 3")
    assert chains(text)[endpoint_chain(plan, plan.endpoints[0])][1] == f"update @{first} {{ ip saddr }}"
    assert "timeout 600s" in text
    assert elements(text, first) == ["10.0.0.7 expires 600s"]  # capped at the timeout; expired ones dropped


def test_parse_affinity_reads_nft_json() -> None:
    document = ('{"nftables": [{"metainfo": {}}, {"set": {"name": "aff-1-x", "timeout": 600, "elem": ['
                '{"elem": {"val": "10.0.0.7", "expires": 99}}, "10.0.0.9"]}}, {"set": {"name": "nodeport-ips", '
                '"elem": ["192.0.2.10"]}}]}')
    assert parse_affinity(document) == {"aff-1-x": [AffinityEntry(client="10.0.0.7", expires=99),
                                                    AffinityEntry(client="10.0.0.9", expires=600)]}


def test_rendering_is_deterministic() -> None:
    a, _ = render([service("b", cluster_ip="10.96.0.2"), service("a")], three())
    b, _ = render([service("a"), service("b", cluster_ip="10.96.0.2")], list(reversed(three())))
    assert a == b


def test_a_clashing_key_keeps_the_first_service_and_the_table_stays_valid() -> None:
    ports = [ServicePort(name="http", port=80, protocol="TCP", node_port=30080)]
    slices = [endpoint_slice(n, [endpoint("10.244.0.11")]) for n in ("a", "b")]
    text, (a, b) = render([service("a", type="NodePort", ports=ports),
                           service("b", cluster_ip="10.96.0.11", type="NodePort", ports=ports)], slices)
    assert elements(text, "service-nodeports") == [f"tcp . 30080 : goto {external_chain(a)}"]
    assert f"10.96.0.11 . tcp . 80 : goto {service_chain(b)}" in elements(text, "service-ips")


def everything() -> str:
    ports = [ServicePort(name="http", port=80, protocol="TCP", node_port=30080),
             ServicePort(name="dns", port=53, protocol="UDP", node_port=30053),
             ServicePort(name="sig", port=7, protocol="SCTP")]
    slice_ports = [EndpointPort(name="http", port=8080, protocol="TCP"), EndpointPort(name="dns", port=53, protocol="UDP"),
                   EndpointPort(name="sig", port=7, protocol="SCTP")]
    loc_ports = [ServicePort(name=p.name, port=p.port, protocol=p.protocol, node_port=p.node_port + 1)
                 if p.node_port else p for p in ports]
    services = [service("web", type="NodePort", ports=ports, affinity=True, external_ips=["198.51.100.7"]),
                service("loc", cluster_ip="10.96.0.11", type="NodePort", ports=loc_ports, external_local=True,
                        internal_local=True),
                service("empty", cluster_ip="10.96.0.12", type="NodePort",
                        ports=[ServicePort(name="http", port=80, protocol="TCP", node_port=30081)])]
    slices = [endpoint_slice(n, [endpoint("10.244.0.11"), endpoint("10.244.1.13", node="b")], ports=slice_ports)
              for n in ("web", "loc")]
    config = RulesetConfig(table="kybtest-proxy", cluster_cidr="10.244.0.0/16", masquerade_outgoing=True)
    plans = build_plans(services=services, slices=slices)
    web = plans[-1]
    affinity = {affinity_set_name(web, web.endpoints[0]): [AffinityEntry(client="10.0.0.7", expires=100)]}
    return render_ruleset(plans=plans, node=FACTS, config=config, affinity=affinity)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                    reason="needs root, nft and unshare")
@pytest.mark.parametrize("cidrs", [(), ("192.0.2.0/24",)])
def test_nft_accepts_the_rendered_table(cidrs: tuple[str, ...]) -> None:
    text = everything()
    if cidrs:
        text = text.replace("ip daddr @nodeport-ips", f"fib daddr type local ip daddr {{ {cidrs[0]} }}")
    # A throwaway network namespace: even check mode never meets the host's ruleset.
    result = subprocess.run(["unshare", "--net", "nft", "-c", "-f", "-"], input=text, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr + "\n" + text


def test_clashing_keys_are_reported_to_the_caller() -> None:
    ports = [ServicePort(name="http", port=80, protocol="TCP", node_port=30080)]
    services = [service("a", type="NodePort", ports=ports),
                service("b", cluster_ip="10.96.0.11", type="NodePort", ports=ports)]
    plans = build_plans(services=services, slices=[endpoint_slice(n, [endpoint("10.244.0.11")]) for n in ("a", "b")])
    conflicts: list[str] = []
    render_ruleset(plans=plans, node=NodeFacts(name="n1", addresses=("192.0.2.1",)), config=RulesetConfig(),
                   conflicts=conflicts)
    assert conflicts == ["tcp . 30080"]
