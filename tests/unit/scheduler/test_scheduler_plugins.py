"""Each default plugin on fake nodes and pods: filter verdicts with Kubernetes' reasons, and scores."""

from __future__ import annotations

from scheduler_fakes import cluster, info, node, node_info, pod

from kybernetes.api.models.core_v1 import (
    Affinity,
    Container,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    PodAffinity,
    PodAffinityTerm,
    PodAntiAffinity,
    PreferredSchedulingTerm,
    ResourceRequirements,
    Taint,
    Toleration,
    TopologySpreadConstraint,
)
from kybernetes.api.models.core_v1 import (
    NodeAffinity as NodeAffinitySpec,
)
from kybernetes.api.models.meta_v1 import LabelSelector
from kybernetes.scheduler.framework import Code, CycleState
from kybernetes.scheduler.nodeinfo import PodInfo, pod_requests
from kybernetes.scheduler.plugins.balancedallocation import BalancedAllocation
from kybernetes.scheduler.plugins.interpodaffinity import InterPodAffinity
from kybernetes.scheduler.plugins.nodeaffinity import NodeAffinity
from kybernetes.scheduler.plugins.nodename import NodeName
from kybernetes.scheduler.plugins.nodeports import NodePorts
from kybernetes.scheduler.plugins.noderesources import NodeResourcesFit
from kybernetes.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kybernetes.scheduler.plugins.podtopologyspread import PodTopologySpread
from kybernetes.scheduler.plugins.tainttoleration import TaintToleration

ZONE = "topology.kubernetes.io/zone"


def _req(key: str, op: str, *values: str) -> NodeSelectorRequirement:
    return NodeSelectorRequirement(key=key, operator=op, values=list(values) or None)


def _required(*terms: NodeSelectorTerm) -> Affinity:
    return Affinity(node_affinity=NodeAffinitySpec(
        required_during_scheduling_ignored_during_execution=NodeSelector(node_selector_terms=list(terms))))


# ---- NodeUnschedulable / NodeName ---------------------------------------------------------------------


def test_unschedulable_node_rejects_unless_tolerated() -> None:
    plugin = NodeUnschedulable()
    cordoned = node_info(node("n1", unschedulable=True))
    status = plugin.filter(CycleState(), info(pod("p")), cordoned)
    assert status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.reasons == ("node(s) were unschedulable",)
    tolerant = pod("q", tolerations=[Toleration(key="node.kubernetes.io/unschedulable", operator="Exists",
                                                effect="NoSchedule")])
    assert plugin.filter(CycleState(), info(tolerant), cordoned) is None
    assert plugin.filter(CycleState(), info(pod("p")), node_info(node("n2"))) is None


def test_node_name() -> None:
    plugin = NodeName()
    p = info(pod("p", node_name="n2"))
    status = plugin.filter(CycleState(), p, node_info(node("n1")))
    assert status is not None and status.reasons == ("node(s) didn't match the requested node name",)
    assert plugin.filter(CycleState(), p, node_info(node("n2"))) is None


# ---- NodeAffinity ------------------------------------------------------------------------------------


def _affinity_filter(p: PodInfo, n: object) -> object:
    plugin = NodeAffinity()
    state = CycleState()
    _, snap = cluster([])
    pre = plugin.pre_filter(state=state, pod=p, snapshot=snap)
    if pre is not None:
        return pre.code
    return plugin.filter(state, p, n)  # type: ignore[arg-type]


def test_node_selector_and_required_affinity_operators() -> None:
    ssd = node_info(node("n1", labels={"disk": "ssd", "cores": "8"}))
    hdd = node_info(node("n2", labels={"disk": "hdd", "cores": "2"}))
    assert _affinity_filter(info(pod("p")), ssd) == Code.SKIP
    sel = info(pod("p", node_selector={"disk": "ssd"}))
    assert _affinity_filter(sel, ssd) is None
    status = _affinity_filter(sel, hdd)
    assert status.reasons == ("node(s) didn't match Pod's node affinity/selector",)  # type: ignore[attr-defined]
    assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE  # type: ignore[attr-defined]
    cases = [
        (_req("disk", "In", "ssd", "nvme"), True, False),
        (_req("disk", "NotIn", "ssd"), False, True),
        (_req("disk", "Exists"), True, True),
        (_req("gpu", "DoesNotExist"), True, True),
        (_req("cores", "Gt", "4"), True, False),
        (_req("cores", "Lt", "4"), False, True),
    ]
    for req, on_ssd, on_hdd in cases:
        p = info(pod("p", affinity=_required(NodeSelectorTerm(match_expressions=[req]))))
        assert (_affinity_filter(p, ssd) is None) is on_ssd, req
        assert (_affinity_filter(p, hdd) is None) is on_hdd, req
    by_name = info(pod("p", affinity=_required(NodeSelectorTerm(match_fields=[_req("metadata.name", "In", "n2")]))))
    assert _affinity_filter(by_name, hdd) is None and _affinity_filter(by_name, ssd) is not None
    # Terms are ORed.
    either = info(pod("p", affinity=_required(NodeSelectorTerm(match_expressions=[_req("disk", "In", "x")]),
                                              NodeSelectorTerm(match_expressions=[_req("disk", "In", "hdd")]))))
    assert _affinity_filter(either, hdd) is None


def test_preferred_node_affinity_scores_by_weight() -> None:
    plugin = NodeAffinity()
    terms = [
        PreferredSchedulingTerm(weight=80, preference=NodeSelectorTerm(match_expressions=[_req("disk", "In", "ssd")])),
        PreferredSchedulingTerm(weight=20, preference=NodeSelectorTerm(match_expressions=[_req("zone", "In", "a")])),
    ]
    p = info(pod("p", affinity=Affinity(node_affinity=NodeAffinitySpec(
        preferred_during_scheduling_ignored_during_execution=terms))))
    nodes = [node_info(node("n1", labels={"disk": "ssd", "zone": "a"})), node_info(node("n2", labels={"zone": "a"})),
             node_info(node("n3"))]
    state = CycleState()
    _, snap = cluster([])
    assert plugin.pre_score(state=state, pod=p, nodes=nodes, snapshot=snap) is None
    scores = [plugin.score(state, p, n) for n in nodes]
    assert scores == [100, 20, 0]
    plugin.normalize(state=state, pod=p, scores=scores)
    assert scores == [100, 20, 0]


# ---- TaintToleration ---------------------------------------------------------------------------------


def test_taints_and_tolerations() -> None:
    plugin = TaintToleration()
    tainted = node_info(node("n1", taints=[Taint(key="dedicated", value="db", effect="NoSchedule")]))
    status = plugin.filter(CycleState(), info(pod("p")), tainted)
    assert status is not None and status.reasons == ("node(s) had untolerated taint {dedicated: db}",)
    assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    ok = [
        Toleration(key="dedicated", operator="Equal", value="db", effect="NoSchedule"),
        Toleration(key="dedicated", operator="Exists"),
        Toleration(operator="Exists"),
    ]
    for tol in ok:
        assert plugin.filter(CycleState(), info(pod("p", tolerations=[tol])), tainted) is None, tol
    wrong = [Toleration(key="dedicated", value="web", effect="NoSchedule"),
             Toleration(key="dedicated", operator="Exists", effect="NoExecute")]
    for tol in wrong:
        assert plugin.filter(CycleState(), info(pod("p", tolerations=[tol])), tainted) is not None, tol
    soft = node_info(node("n2", taints=[Taint(key="spot", effect="PreferNoSchedule")]))
    assert plugin.filter(CycleState(), info(pod("p")), soft) is None
    execute = node_info(node("n3", taints=[Taint(key="bad", effect="NoExecute")]))
    assert plugin.filter(CycleState(), info(pod("p")), execute) is not None


def test_prefer_no_schedule_scores_lower() -> None:
    plugin = TaintToleration()
    p = info(pod("p"))
    nodes = [node_info(node("clean")), node_info(node("spot", taints=[Taint(key="spot", effect="PreferNoSchedule")]))]
    state = CycleState()
    _, snap = cluster([])
    plugin.pre_score(state=state, pod=p, nodes=nodes, snapshot=snap)
    scores = [plugin.score(state, p, n) for n in nodes]
    plugin.normalize(state=state, pod=p, scores=scores)
    assert scores == [100, 0]


# ---- NodeResourcesFit / BalancedAllocation ------------------------------------------------------------


def test_requests_sum_containers_max_init_and_overhead() -> None:
    def c(cpu: str, mem: str) -> Container:
        return Container(name=cpu, resources=ResourceRequirements(requests={"cpu": cpu, "memory": mem}))

    p = pod("p", init_containers=[c("2", "1G"), c("2", "3G")], overhead={"cpu": "100m"})
    assert p.spec is not None
    p.spec.containers = [c("2", "1G"), c("1", "1G")]
    r = pod_requests(p)
    assert (r.milli_cpu, r.memory) == (3100, 3 * 10**9)
    best_effort = PodInfo(pod("be"))
    assert best_effort.requests.is_zero() and best_effort.non_zero == (100, 200 * 1024 * 1024)


def test_resource_fit_reasons() -> None:
    plugin = NodeResourcesFit()
    n = node_info(node("n1", cpu="1", memory="1Gi", pods=2), pod("a", cpu="600m", memory="512Mi", node_name="n1"))
    assert plugin.filter(CycleState(), info(pod("p", cpu="400m")), n) is None
    status = plugin.filter(CycleState(), info(pod("p", cpu="500m", memory="600Mi")), n)
    assert status is not None and status.code == Code.UNSCHEDULABLE
    assert status.reasons == ("Insufficient cpu", "Insufficient memory")
    full = node_info(node("n2", pods=1), pod("a", node_name="n2"))
    status = plugin.filter(CycleState(), info(pod("p")), full)
    assert status is not None and status.reasons == ("Too many pods",)
    gpu_pod = pod("g")
    assert gpu_pod.spec is not None and gpu_pod.spec.containers
    gpu_pod.spec.containers[0].resources = ResourceRequirements(requests={"example.com/gpu": "1"})
    status = plugin.filter(CycleState(), info(gpu_pod), n)
    assert status is not None and status.reasons == ("Insufficient example.com/gpu",)


def test_least_allocated_prefers_emptier_node() -> None:
    plugin = NodeResourcesFit()
    busy = node_info(node("busy", cpu="4", memory="8Gi"), pod("a", cpu="3", memory="6Gi", node_name="busy"))
    idle = node_info(node("idle", cpu="4", memory="8Gi"))
    p = info(pod("p", cpu="1", memory="1Gi"))
    assert plugin.score(CycleState(), p, idle) == 81  # cpu (4-1)/4=75, memory (8-1)/8=87 -> 81
    assert plugin.score(CycleState(), p, busy) < plugin.score(CycleState(), p, idle)


def test_balanced_allocation() -> None:
    plugin = BalancedAllocation()
    _, snap = cluster([])
    state = CycleState()
    p = info(pod("p", cpu="1", memory="1Gi"))
    assert plugin.pre_score(state=state, pod=info(pod("be")), nodes=[], snapshot=snap) is not None  # SKIP
    even = node_info(node("even", cpu="4", memory="4Gi"))
    skewed = node_info(node("skewed", cpu="4", memory="4Gi"), pod("a", cpu="2", node_name="skewed"))
    assert plugin.score(state, p, even) == 100
    assert plugin.score(state, p, skewed) == 75  # fractions .75 and .25 -> std .25


# ---- NodePorts -----------------------------------------------------------------------------------------


def test_host_port_conflicts() -> None:
    plugin = NodePorts()
    _, snap = cluster([])
    n = node_info(node("n1"), pod("a", host_port=8080, node_name="n1"))
    assert plugin.pre_filter(state=CycleState(), pod=info(pod("p")), snapshot=snap) is not None  # SKIP
    status = plugin.filter(CycleState(), info(pod("p", host_port=8080)), n)
    assert status is not None and status.reasons == ("node(s) didn't have free ports for the requested pod ports",)
    assert status.code == Code.UNSCHEDULABLE
    assert plugin.filter(CycleState(), info(pod("p", host_port=8081)), n) is None


# ---- InterPodAffinity -----------------------------------------------------------------------------------


def _term(labels: dict[str, str], key: str = "kubernetes.io/hostname") -> PodAffinityTerm:
    return PodAffinityTerm(label_selector=LabelSelector(match_labels=labels), topology_key=key)


def _ipa_filter(p: PodInfo, nodes: list[object], pods: list[object]) -> dict[str, object]:
    plugin = InterPodAffinity()
    _, snap = cluster(nodes, pods)  # type: ignore[arg-type]
    state = CycleState()
    pre = plugin.pre_filter(state=state, pod=p, snapshot=snap)
    if pre is not None:
        return {n.name: pre.code for n in snap.nodes}
    out: dict[str, object] = {}
    for n in snap.nodes:
        status = plugin.filter(state, p, n)
        out[n.name] = status.reasons[0] if status else None
    return out


def test_required_anti_affinity_spreads_and_existing_anti_affinity_is_symmetric() -> None:
    nodes = [node("n1"), node("n2")]
    web1 = pod("web1", labels={"app": "web"}, node_name="n1")
    anti = pod("web2", labels={"app": "web"},
               affinity=Affinity(pod_anti_affinity=PodAntiAffinity(
                   required_during_scheduling_ignored_during_execution=[_term({"app": "web"})])))
    verdicts = _ipa_filter(info(anti), nodes, [web1])
    assert verdicts == {"n1": "node(s) didn't match pod anti-affinity rules", "n2": None}
    # An existing pod that refuses "app=db" neighbours keeps a db pod off its node.
    guard = pod("guard", node_name="n2", affinity=Affinity(pod_anti_affinity=PodAntiAffinity(
        required_during_scheduling_ignored_during_execution=[_term({"app": "db"})])))
    verdicts = _ipa_filter(info(pod("db", labels={"app": "db"})), nodes, [guard])
    assert verdicts == {"n1": None, "n2": "node(s) didn't satisfy existing pods anti-affinity rules"}
    assert _ipa_filter(info(pod("plain")), nodes, []) == {"n1": Code.SKIP, "n2": Code.SKIP}


def test_required_affinity_by_zone_and_first_pod_of_group() -> None:
    nodes = [node("n1", labels={ZONE: "a"}), node("n2", labels={ZONE: "a"}), node("n3", labels={ZONE: "b"})]
    cache_pod = pod("cache", labels={"app": "cache"}, node_name="n1")
    wants = info(pod("web", affinity=Affinity(pod_affinity=PodAffinity(
        required_during_scheduling_ignored_during_execution=[_term({"app": "cache"}, ZONE)]))))
    verdicts = _ipa_filter(wants, nodes, [cache_pod])
    assert verdicts == {"n1": None, "n2": None, "n3": "node(s) didn't match pod affinity rules"}
    assert set(_ipa_filter(wants, nodes, []).values()) == {"node(s) didn't match pod affinity rules"}
    # A pod whose affinity matches itself may start the group anywhere.
    self_affine = info(pod("c1", labels={"app": "cache"}, affinity=Affinity(pod_affinity=PodAffinity(
        required_during_scheduling_ignored_during_execution=[_term({"app": "cache"}, ZONE)]))))
    assert set(_ipa_filter(self_affine, nodes, []).values()) == {None}


def test_preferred_pod_affinity_scores() -> None:
    from kybernetes.api.models.core_v1 import WeightedPodAffinityTerm

    nodes = [node("n1"), node("n2")]
    plugin = InterPodAffinity()
    _, snap = cluster(nodes, [pod("c", labels={"app": "cache"}, node_name="n2")])
    p = info(pod("web", affinity=Affinity(pod_affinity=PodAffinity(
        preferred_during_scheduling_ignored_during_execution=[
            WeightedPodAffinityTerm(weight=50, pod_affinity_term=_term({"app": "cache"}))]))))
    state = CycleState()
    assert plugin.pre_score(state=state, pod=p, nodes=snap.nodes, snapshot=snap) is None
    scores = [plugin.score(state, p, n) for n in snap.nodes]
    plugin.normalize(state=state, pod=p, scores=scores)
    assert dict(zip([n.name for n in snap.nodes], scores, strict=True)) == {"n1": 0, "n2": 100}


# ---- PodTopologySpread ----------------------------------------------------------------------------------


def _spread(max_skew: int, key: str, when: str = "DoNotSchedule", min_domains: int | None = None) -> list[object]:
    return [TopologySpreadConstraint(max_skew=max_skew, topology_key=key, when_unsatisfiable=when,
                                     min_domains=min_domains,
                                     label_selector=LabelSelector(match_labels={"app": "web"}))]


def test_topology_spread_max_skew_and_missing_label() -> None:
    nodes = [node("a1", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"}), node("x")]
    existing = [pod("w1", labels={"app": "web"}, node_name="a1")]
    plugin = PodTopologySpread()
    _, snap = cluster(nodes, existing)
    p = info(pod("w2", labels={"app": "web"}, topology_spread_constraints=_spread(1, ZONE)))
    state = CycleState()
    assert plugin.pre_filter(state=state, pod=p, snapshot=snap) is None
    verdicts = {n.name: (plugin.filter(state, p, n) or None) for n in snap.nodes}
    assert verdicts["b1"] is None
    assert verdicts["a1"].reasons == ("node(s) didn't match pod topology spread constraints",)  # type: ignore[union-attr]
    assert verdicts["x"].reasons == (  # type: ignore[union-attr]
        "node(s) didn't match pod topology spread constraints (missing required label)",)
    assert verdicts["x"].code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE  # type: ignore[union-attr]
    # minDomains 3 with only two zones: the global minimum counts as 0, so zone b (0 pods) still fits but
    # zone a (1 pod, +1 self) exceeds maxSkew 1.
    p3 = info(pod("w3", labels={"app": "web"}, topology_spread_constraints=_spread(1, ZONE, min_domains=3)))
    state = CycleState()
    plugin.pre_filter(state=state, pod=p3, snapshot=snap)
    assert plugin.filter(state, p3, snap.node_infos["b1"]) is None
    assert plugin.filter(state, p3, snap.node_infos["a1"]) is not None


def test_default_spreading_prefers_nodes_and_zones_without_siblings() -> None:
    nodes = [node("a1", labels={ZONE: "a"}), node("a2", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"})]
    siblings = [pod("s1", owner_uid="rs-1", node_name="a1"), pod("s2", owner_uid="rs-1", node_name="a1")]
    plugin = PodTopologySpread()
    _, snap = cluster(nodes, siblings)
    p = info(pod("s3", owner_uid="rs-1"))
    state = CycleState()
    assert plugin.pre_score(state=state, pod=p, nodes=snap.nodes, snapshot=snap) is None
    scores = [plugin.score(state, p, n) for n in snap.nodes]
    plugin.normalize(state=state, pod=p, scores=scores)
    by_node = dict(zip([n.name for n in snap.nodes], scores, strict=True))
    assert by_node["b1"] > by_node["a2"] > by_node["a1"]
    # A pod without a controller gets no default constraints.
    assert plugin.pre_score(state=CycleState(), pod=info(pod("lone")), nodes=snap.nodes, snapshot=snap) is not None


def test_spread_scores_from_the_owner_index_equal_a_full_scan() -> None:
    """pre_score counts a controller's pods per zone from the cache's index (only nodes holding some);
    the scores must equal those of a scan over every node, with and without node affinity."""
    import random

    rng = random.Random(7)
    nodes = [node(f"n{i:02}", labels={ZONE: f"z{i % 4}", "tier": "gold" if i % 3 else "iron"}) for i in range(40)]
    nodes.append(node("nozone"))
    existing = [pod(f"e{i}", owner_uid=f"rs-{rng.randrange(3)}", node_name=f"n{rng.randrange(40):02}")
                for i in range(150)]
    existing.append(pod("ghosted", owner_uid="rs-0", node_name="not-a-node-yet"))
    _, snap = cluster(nodes, existing)
    index = snap.owner_nodes
    assert index is not None and "not-a-node-yet" in index["rs-0"]
    gold = _required(NodeSelectorTerm(match_expressions=[_req("tier", "In", "gold")]))
    plugin = PodTopologySpread()
    for incoming in (pod("new", owner_uid="rs-0"), pod("new2", owner_uid="rs-1", affinity=gold)):
        p = info(incoming)
        results = []
        for owner_nodes in (index, None):
            snap.owner_nodes = owner_nodes
            state = CycleState()
            assert plugin.pre_score(state=state, pod=p, nodes=snap.nodes[:25], snapshot=snap) is None
            scores = plugin.score_nodes(state, p, snap.nodes[:25])
            assert scores == [plugin.score(state, p, n) for n in snap.nodes[:25]]
            plugin.normalize(state=state, pod=p, scores=scores)
            results.append(scores)
        snap.owner_nodes = index
        assert results[0] == results[1] and len(set(results[0])) > 1
