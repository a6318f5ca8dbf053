"""Render the proxy's whole nftables table as text, from `ServicePortPlan`s and node facts (a pure function).

The text is one `nft -f` transaction: `add table; delete table; table ip <name> { ... }`, so the kernel
swaps the old table for the new one at once or not at all (the `add` makes the `delete` valid on the
first run). Layout of the table:

    map service-ips        ip daddr . meta l4proto . th dport → goto svc-… (ClusterIP) / ext-… (external IPs)
    map service-nodeports  meta l4proto . th dport → goto ext-…          (on NodePort addresses only)
    map no-endpoint-*      the same keys → reject (no endpoints) / drop (none on this node, Local policy)
    set nodeport-ips       this node's addresses (unless --nodeport-addresses gives CIDRs)
    set aff-…              one per endpoint of a ClientIP-affinity Service: client addresses, with timeout

    nat-prerouting / nat-output (dstnat)   → services: the two verdict-map lookups
    filter-input / -forward / -output (-110, new connections) → endpoints-check: the no-endpoint maps
    nat-postrouting (srcnat)               → masquerading: packets marked 0x4000, and optionally pods'
                                             traffic leaving the cluster CIDR
    svc-H-ID   ClusterIP entry: marks off-cluster sources for masquerade, then picks an endpoint
    ext-H-ID   external entry: Cluster policy marks and picks among all endpoints; Local policy sends pods'
               and the node's own traffic to svc-H-ID, and everything else to this node's endpoints or drop
    ep-H-ID/IP/PORT  one endpoint: marks hairpin traffic (source = the endpoint), records affinity, DNATs

An endpoint is picked with `numgen random mod N vmap { i : goto ep-… }`; with ClientIP affinity, a client
found in an endpoint's `aff-` set goes straight to that endpoint first. The sets are dynamic (`update` from
the endpoint chain); because the table is replaced as a whole, the proxy reads the live entries before each
sync and passes them back in `affinity`, so a client keeps its endpoint across syncs.

Names: H is 8 hex digits of a SHA-256 of the plan id (`namespace/name/protocol/portname`), which keeps names
unique whatever the id looks like; the id itself follows so `nft list table` is readable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kybernetes.proxy.servicemap import EndpointInfo, NodeFacts, ServicePortPlan

__all__ = ["MASQUERADE_MARK", "AffinityEntry", "RulesetConfig", "affinity_set_name", "render_ruleset"]

MASQUERADE_MARK = 0x4000
# nft 1.0 knows the symbolic `dstnat` priority only for prerouting; -100 is its value (output hook).
DSTNAT_PRIORITY = -100
# The no-endpoint checks run before DNAT (as kube-proxy's filter chains do), so they see the Service address.
FILTER_PRIORITY = -110


@dataclass(frozen=True, slots=True)
class RulesetConfig:
    table: str = "kyb-proxy"
    cluster_cidr: str = ""  # pods' range: traffic to a ClusterIP from outside it is masqueraded
    nodeport_cidrs: tuple[str, ...] = ()  # NodePorts on local addresses in these; empty: the Node's addresses
    masquerade_outgoing: bool = False  # masquerade pods' traffic to outside the cluster CIDR


@dataclass(frozen=True, slots=True)
class AffinityEntry:
    client: str
    expires: int  # seconds left


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _name(kind: str, plan_id: str) -> str:
    return f"{kind}-{_hash(plan_id)}-{plan_id}"


def endpoint_chain(plan: ServicePortPlan, ep: EndpointInfo) -> str:
    return _name("ep", f"{plan.id}/{ep.ip}/{ep.port}")


def affinity_set_name(plan: ServicePortPlan, ep: EndpointInfo) -> str:
    return _name("aff", f"{plan.id}/{ep.ip}/{ep.port}")


def service_chain(plan: ServicePortPlan) -> str:
    return _name("svc", plan.id)


def external_chain(plan: ServicePortPlan) -> str:
    return _name("ext", plan.id)


class _Table:
    """Accumulates the pieces of one table; `text()` lays them out in a fixed order."""

    def __init__(self) -> None:
        self.service_ips: list[str] = []
        self.service_nodeports: list[str] = []
        self.no_endpoint_services: list[str] = []
        self.no_endpoint_nodeports: list[str] = []
        self.sets: list[str] = []
        self.chains: list[tuple[str, list[str]]] = []

        self._keys: set[tuple[int, str]] = set()
        self.conflicts: list[str] = []

    def chain(self, name: str, rules: list[str]) -> None:
        self.chains.append((name, rules))

    def element(self, target: list[str], key: str, verdict: str) -> None:
        """Add `key : verdict` to a map unless the key is taken: the first plan (by id) keeps it, so one
        bad Service (say, a clashing external IP) never makes the whole transaction fail."""
        if (id(target), key) in self._keys:
            self.conflicts.append(key)
            return
        self._keys.add((id(target), key))
        target.append(f"{key} : {verdict}")


def _elements(items: Sequence[str]) -> str:
    return f"\t\telements = {{ {', '.join(items)} }}\n" if items else ""


def _map(name: str, key: str, items: Sequence[str]) -> str:
    return f"\tmap {name} {{\n\t\ttype {key} : verdict\n{_elements(items)}\t}}\n"


def _reject_rules() -> list[str]:
    # TCP gets a reset (connect() fails at once, with no ICMP rate limit in the way); others port-unreachable.
    return ["meta l4proto tcp reject with tcp reset", "reject with icmp type port-unreachable"]


def _chooser(
    plan: ServicePortPlan, endpoints: Sequence[EndpointInfo], *, affinity: bool
) -> list[str]:
    """Rules that send a packet to one of `endpoints` (affinity first, then at random)."""
    rules: list[str] = []
    if affinity:
        for ep in endpoints:
            rules.append(f"ip saddr @{affinity_set_name(plan, ep)} goto {endpoint_chain(plan, ep)}")
    if len(endpoints) == 1:
        rules.append(f"goto {endpoint_chain(plan, endpoints[0])}")
    else:
        arms = ", ".join(f"{i} : goto {endpoint_chain(plan, ep)}" for i, ep in enumerate(endpoints))
        rules.append(f"numgen random mod {len(endpoints)} vmap {{ {arms} }}")
    return rules


def _render_plan(
    table: _Table, plan: ServicePortPlan, *, node: NodeFacts, config: RulesetConfig,
    affinity: Mapping[str, Sequence[AffinityEntry]],
) -> None:
    proto = plan.protocol
    everyone = plan.all_usable()
    if not everyone:
        # No endpoint anywhere: refuse fast, like kube-proxy, instead of letting clients time out.
        for ip in (*plan.cluster_ips, *plan.external_ips):
            table.element(table.no_endpoint_services, f"{ip} . {proto} . {plan.port}", "goto reject-chain")
        if plan.node_port is not None:
            table.element(table.no_endpoint_nodeports, f"{proto} . {plan.node_port}", "goto reject-chain")
        return

    cluster = plan.cluster_endpoints(node_name=node.name)
    external = plan.external_endpoints(node_name=node.name) if plan.has_external else ()
    with_affinity = plan.affinity_timeout is not None
    svc = service_chain(plan)
    if cluster:
        rules = [f"ip saddr != {config.cluster_cidr} jump mark-for-masquerade"] if config.cluster_cidr else []
        table.chain(svc, rules + _chooser(plan, cluster, affinity=with_affinity))
        for ip in plan.cluster_ips:
            table.element(table.service_ips, f"{ip} . {proto} . {plan.port}", f"goto {svc}")
    else:
        # internalTrafficPolicy: Local and no endpoint here: dropped (the Service has endpoints elsewhere).
        for ip in plan.cluster_ips:
            table.element(table.no_endpoint_services, f"{ip} . {proto} . {plan.port}", "drop")

    if plan.has_external:
        ext = external_chain(plan)
        if not plan.external_local:
            ext_rules = ["jump mark-for-masquerade", *_chooser(plan, external, affinity=with_affinity)]
        else:
            to_cluster = f"goto {svc}" if cluster else "drop"
            ext_rules = []
            if config.cluster_cidr:
                # A pod on this node reaching the NodePort is cluster traffic: any endpoint will do.
                ext_rules.append(f"ip saddr {config.cluster_cidr} {to_cluster}")
            ext_rules += ["fib saddr type local jump mark-for-masquerade", f"fib saddr type local {to_cluster}"]
            ext_rules += _chooser(plan, external, affinity=with_affinity) if external else ["drop"]
        table.chain(ext, ext_rules)
        for ip in plan.external_ips:
            table.element(table.service_ips, f"{ip} . {proto} . {plan.port}", f"goto {ext}")
        if plan.node_port is not None:
            table.element(table.service_nodeports, f"{proto} . {plan.node_port}", f"goto {ext}")

    used = {(e.ip, e.port): e for e in (*cluster, *external)}
    for ep in sorted(used.values(), key=lambda e: plan.endpoints.index(e)):
        rules = [f"ip saddr {ep.ip} jump mark-for-masquerade"]  # hairpin: the reply must come back via us
        if with_affinity:
            name = affinity_set_name(plan, ep)
            rules.append(f"update @{name} {{ ip saddr }}")
            table.sets.append(_affinity_set(name, timeout=plan.affinity_timeout or 0,
                                            entries=affinity.get(name, ())))
        rules.append(f"meta l4proto {proto} dnat to {ep.ip}:{ep.port}")
        table.chain(endpoint_chain(plan, ep), rules)


def _affinity_set(name: str, *, timeout: int, entries: Sequence[AffinityEntry]) -> str:
    live = [f"{e.client} expires {min(e.expires, timeout)}s" for e in entries if e.expires > 0]
    return (f"\tset {name} {{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout {timeout}s\n"
            f"{_elements(live)}\t}}\n")


def render_ruleset(
    *,
    plans: Sequence[ServicePortPlan],
    node: NodeFacts,
    config: RulesetConfig,
    affinity: Mapping[str, Sequence[AffinityEntry]] | None = None,
    conflicts: list[str] | None = None,
) -> str:
    """The complete `nft -f` input replacing the proxy's table; see the module docstring. Map keys that a
    later Service could not have (taken by an earlier one) are appended to `conflicts` when given."""
    table = _Table()
    for plan in plans:
        _render_plan(table, plan, node=node, config=config, affinity=affinity or {})
    if conflicts is not None:
        conflicts.extend(table.conflicts)

    if config.nodeport_cidrs:
        nodeport_match = f"fib daddr type local ip daddr {{ {', '.join(config.nodeport_cidrs)} }}"
    else:
        nodeport_match = "ip daddr @nodeport-ips"
    ports_key = "inet_proto . inet_service"
    full_key = f"ipv4_addr . {ports_key}"
    out: list[str] = [
        f"add table ip {config.table}\n",
        f"delete table ip {config.table}\n",
        f"table ip {config.table} {{\n",
        f"\tset nodeport-ips {{\n\t\ttype ipv4_addr\n{_elements(node.addresses)}\t}}\n",
        _map("service-ips", full_key, table.service_ips),
        _map("service-nodeports", ports_key, table.service_nodeports),
        _map("no-endpoint-services", full_key, table.no_endpoint_services),
        _map("no-endpoint-nodeports", ports_key, table.no_endpoint_nodeports),
        *table.sets,
    ]
    base = [
        ("nat-prerouting", "type nat hook prerouting priority dstnat; policy accept;", ["jump services"]),
        ("nat-output", f"type nat hook output priority {DSTNAT_PRIORITY}; policy accept;", ["jump services"]),
        ("nat-postrouting", "type nat hook postrouting priority srcnat; policy accept;", ["jump masquerading"]),
    ]
    for hook in ("input", "forward", "output"):
        base.append((f"filter-{hook}", f"type filter hook {hook} priority {FILTER_PRIORITY}; policy accept;",
                     ["ct state new jump endpoints-check"]))
    masquerading = [f"meta mark and {MASQUERADE_MARK:#x} != 0 jump masquerade-marked"]
    if config.masquerade_outgoing and config.cluster_cidr:
        masquerading.append(f"ip saddr {config.cluster_cidr} ip daddr != {config.cluster_cidr} masquerade")
    fixed: list[tuple[str, list[str]]] = [
        ("services", ["ip daddr . meta l4proto . th dport vmap @service-ips",
                      f"{nodeport_match} meta l4proto . th dport vmap @service-nodeports"]),
        ("endpoints-check", ["ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
                             f"{nodeport_match} meta l4proto . th dport vmap @no-endpoint-nodeports"]),
        ("masquerading", masquerading),
        # The mark is cleared so it means nothing further on; traffic to this host itself (out of lo) keeps
        # its source, as there is no address on lo to masquerade to and the reply stays local anyway.
        ("masquerade-marked", [f"meta mark set meta mark xor {MASQUERADE_MARK:#x}", 'oifname "lo" return',
                               "masquerade fully-random"]),
        ("mark-for-masquerade", [f"meta mark set meta mark or {MASQUERADE_MARK:#x}"]),
        ("reject-chain", _reject_rules()),
    ]
    for name, header, rules in base:
        out.append(_chain_text(name, rules, header=header))
    for name, rules in fixed + table.chains:
        out.append(_chain_text(name, rules))
    out.append("}\n")
    return "".join(out)


def _chain_text(name: str, rules: Sequence[str], *, header: str = "") -> str:
    lines = [f"\tchain {name} {{\n"]
    if header:
        lines.append(f"\t\t{header}\n")
    lines += [f"\t\t{rule}\n" for rule in rules]
    lines.append("\t}\n")
    return "".join(lines)
