"""The Service proxy (`kyb proxy`): Services + EndpointSlices → one nftables table per node, replaced atomically.

Pipeline, one module per step:

    informers (Service, EndpointSlice, own Node) ──request_sync──▶ proxier (coalescing loop)
        ──▶ servicemap.build_plans   (pure: which Service ports, which endpoints, per traffic policy)
        ──▶ ruleset.render_ruleset   (pure: the whole table as `nft -f` text)
        ──▶ nft.Nft.apply            (`nft -f -`: one kernel transaction)

Covered: ClusterIP (TCP/UDP/SCTP), NodePort, externalIPs and load-balancer ingress IPs, ready endpoints with
the serving/terminating fallback, ClientIP session affinity, hairpin, internal/external traffic policy Local,
reject for Services without endpoints; headless and ExternalName Services get no rules. IPv4 only for now.
"""

from kybernetes.proxy.nft import Nft, NftError
from kybernetes.proxy.proxier import Proxier, ProxyOptions, ProxyStatistics, RulesetApplier
from kybernetes.proxy.ruleset import AffinityEntry, RulesetConfig, render_ruleset
from kybernetes.proxy.servicemap import EndpointInfo, NodeFacts, ServicePortPlan, build_plans, node_facts

__all__ = [
    "AffinityEntry",
    "EndpointInfo",
    "Nft",
    "NftError",
    "NodeFacts",
    "Proxier",
    "ProxyOptions",
    "ProxyStatistics",
    "RulesetApplier",
    "RulesetConfig",
    "ServicePortPlan",
    "build_plans",
    "node_facts",
    "render_ruleset",
]
