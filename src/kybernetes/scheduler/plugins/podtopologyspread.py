"""PodTopologySpread: `topologySpreadConstraints` (filter for DoNotSchedule, score for ScheduleAnyway), and
the default spreading of a controller's pods.

Filter: for each DoNotSchedule constraint, count the matching pods (same namespace, selector, not
terminating) per topology value over the eligible nodes — nodes that carry every constraint's topology key
and pass the pod's required node affinity / nodeSelector (nodeAffinityPolicy: Honor; taints are ignored, the
default nodeTaintsPolicy). A node is refused when `count(its domain) + (1 if the pod matches itself) - global
minimum > maxSkew` ("node(s) didn't match pod topology spread constraints", Unschedulable), or when it lacks
a topology key ("... (missing required label)", UnschedulableAndUnresolvable). With `minDomains` and fewer
eligible domains than that, the global minimum is taken as 0.

Score: for ScheduleAnyway constraints, `Σ count(domain) * log(domains + 2) + (maxSkew - 1)` per node, then
inverted and scaled so the emptiest domain gets 100 (Kubernetes' formula). A pod with no constraints at all
that belongs to a controller gets Kubernetes' system defaults — hostname maxSkew 3 and zone maxSkew 5, both
ScheduleAnyway — which is how ReplicaSet / StatefulSet / Job pods spread over nodes and zones (what the old
SelectorSpread plugin did). Kubernetes matches those defaults by the selectors of the Services and
controllers that select the pod; here they match the pods of the same controller (same controller owner
UID), which the per-node owner counts in NodeInfo answer in O(1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from kybernetes.api.models.core_v1 import TopologySpreadConstraint
from kybernetes.machinery.labels import LabelSelector, Operator, Requirement
from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import MAX_NODE_SCORE, SKIP, CycleState, Status
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo, label_selector_of
from kybernetes.scheduler.plugins.nodeaffinity import RequiredNodeAffinity

NAME = "PodTopologySpread"
CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
NODE_LABEL_NOT_MATCH = CONSTRAINTS_NOT_MATCH + " (missing required label)"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"

_REJECT_SKEW = Status.unschedulable(CONSTRAINTS_NOT_MATCH, plugin=NAME)
_REJECT_LABEL = Status.unschedulable(NODE_LABEL_NOT_MATCH, plugin=NAME, resolvable=False)


@dataclass(frozen=True, slots=True)
class Constraint:
    max_skew: int
    topology_key: str
    min_domains: int
    selector: LabelSelector
    owner_uid: str = ""  # default constraints: the pods of this controller

    def matches(self, pod: PodInfo, namespace: str) -> bool:
        if pod.namespace != namespace or pod.terminating:
            return False
        if self.owner_uid:
            return pod.controller_uid == self.owner_uid
        return self.selector.matches(pod.labels)

    def count_on(self, node: NodeInfo, namespace: str) -> int:
        if self.owner_uid:
            return node.owner_counts.get(self.owner_uid, 0)
        return sum(1 for p in node.pods.values() if self.matches(p, namespace))


def constraints_of(pod: PodInfo, *, when: str) -> list[Constraint]:
    spec = pod.pod.spec
    out: list[Constraint] = []
    raw: Sequence[TopologySpreadConstraint] = (spec.topology_spread_constraints if spec else None) or ()
    for c in raw:
        if (c.when_unsatisfiable or "DoNotSchedule") != when or not c.topology_key:
            continue
        selector = label_selector_of(c.label_selector)
        if c.match_label_keys and c.label_selector is not None:
            try:
                extra = [
                    Requirement.build(key=k, operator=Operator.IN, values=[pod.labels[k]])
                    for k in c.match_label_keys if k in pod.labels
                ]
            except ValueError:
                extra = []
            selector = LabelSelector.of([*selector.requirements, *extra])
        out.append(Constraint(max_skew=c.max_skew or 1, topology_key=c.topology_key,
                              min_domains=c.min_domains or 1, selector=selector))
    return out


def default_constraints(pod: PodInfo) -> list[Constraint]:
    if not pod.controller_uid:
        return []
    nothing = LabelSelector.nothing()
    return [
        Constraint(max_skew=3, topology_key=HOSTNAME, min_domains=1, selector=nothing, owner_uid=pod.controller_uid),
        Constraint(max_skew=5, topology_key=ZONE, min_domains=1, selector=nothing, owner_uid=pod.controller_uid),
    ]


@dataclass(slots=True)
class _FilterState:
    constraints: list[Constraint]
    affinity: RequiredNodeAffinity
    counts: list[dict[str, int]]
    _minimums: list[int] | None = None

    def clone(self) -> _FilterState:
        return _FilterState(self.constraints, self.affinity, [dict(c) for c in self.counts])

    def minimum(self, i: int) -> int:
        if self._minimums is None:
            self._minimums = [
                0 if len(c) < k.min_domains else min(c.values(), default=0)
                for c, k in zip(self.counts, self.constraints, strict=True)
            ]
        return self._minimums[i]

    def eligible(self, node: NodeInfo) -> bool:
        labels = node.labels
        return all(c.topology_key in labels for c in self.constraints) and self.affinity.matches(node)

    def update(self, pod: PodInfo, other: PodInfo, node: NodeInfo, delta: int) -> None:
        if not self.eligible(node):
            return
        for i, c in enumerate(self.constraints):
            if c.matches(other, pod.namespace):
                tv = node.labels[c.topology_key]
                self.counts[i][tv] = self.counts[i].get(tv, 0) + delta
        self._minimums = None


@dataclass(slots=True)
class _ScoreState:
    """What score reads, computed once per cycle by pre_score: per constraint its weight and, for every
    topology key but the hostname, the matching pods per domain."""

    constraints: list[Constraint]
    nodes: list[NodeInfo]
    ignored: set[str] = field(default_factory=set)
    counts: list[dict[str, int]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


class PodTopologySpread:
    name = NAME

    # ---- filter --------------------------------------------------------------------------------------

    def pre_filter(self, *, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> Status | None:
        constraints = constraints_of(pod, when="DoNotSchedule")
        if not constraints:
            return SKIP
        s = _FilterState(constraints=constraints, affinity=RequiredNodeAffinity.of(pod),
                         counts=[{} for _ in constraints])
        for node in snapshot.nodes:
            if not s.eligible(node):
                continue
            for i, c in enumerate(constraints):
                tv = node.labels[c.topology_key]
                s.counts[i][tv] = s.counts[i].get(tv, 0) + c.count_on(node, pod.namespace)
        state[NAME] = s
        return None

    def add_pod(self, *, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> None:
        s: _FilterState | None = state.get(NAME)
        if s is not None:
            s.update(pod, added, node, 1)

    def remove_pod(self, *, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo) -> None:
        s: _FilterState | None = state.get(NAME)
        if s is not None:
            s.update(pod, removed, node, -1)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _FilterState = state[NAME]
        labels = node.labels
        for i, c in enumerate(s.constraints):
            tv = labels.get(c.topology_key)
            if tv is None:
                return _REJECT_LABEL
            self_match = 1 if c.matches(pod, pod.namespace) else 0
            if s.counts[i].get(tv, 0) + self_match - s.minimum(i) > c.max_skew:
                return _REJECT_SKEW
        return None

    # ---- score ---------------------------------------------------------------------------------------

    def pre_score(
        self, *, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], snapshot: Snapshot
    ) -> Status | None:
        spec = pod.pod.spec
        if spec is not None and spec.topology_spread_constraints:
            constraints = constraints_of(pod, when="ScheduleAnyway")
            require_all = True
        else:
            constraints = default_constraints(pod)
            require_all = False
        if not constraints:
            return SKIP
        s = _ScoreState(constraints=constraints, nodes=nodes, counts=[{} for _ in constraints])
        if require_all:
            keys = [c.topology_key for c in constraints]
            s.ignored = {n.name for n in nodes if not all(k in n.labels for k in keys)}
        # The domains of the nodes to score (the hostname is counted per node, in score).
        for i, c in enumerate(constraints):
            if c.topology_key != HOSTNAME:
                key, ignored = c.topology_key, s.ignored
                s.counts[i] = dict.fromkeys(
                    {tv for n in nodes if (tv := n.labels.get(key)) is not None and n.name not in ignored}, 0)
            size = len(nodes) - len(s.ignored) if c.topology_key == HOSTNAME else len(s.counts[i])
            s.weights.append(math.log(size + 2))
        if any(s.counts):
            self._count_domains(s, pod=pod, snapshot=snapshot, require_all=require_all)
        state[NAME + "/score"] = s
        return None

    @staticmethod
    def _count_domains(s: _ScoreState, *, pod: PodInfo, snapshot: Snapshot, require_all: bool) -> None:
        """Matching pods per domain, over every node of the snapshot (not only those scored) that passes the
        pod's required node affinity. The default constraints count a controller's pods: only the nodes that
        hold some are visited (the cache's index), not all of them."""
        constraints = s.constraints
        affinity = RequiredNodeAffinity.of(pod)
        owner = constraints[0].owner_uid
        index = snapshot.owner_nodes
        candidates: list[NodeInfo] | None = None
        if owner and index is not None and all(c.owner_uid == owner for c in constraints):
            candidates = []
            for name in index.get(owner, {}):
                node = snapshot.get(name)
                if node is not None:
                    candidates.append(node)
        for node in snapshot.nodes if candidates is None else candidates:
            labels = node.labels
            if require_all and not all(c.topology_key in labels for c in constraints):
                continue
            if not affinity.empty and not affinity.matches(node):
                continue
            for i, c in enumerate(constraints):
                counts = s.counts[i]
                tv = labels.get(c.topology_key)
                if tv is not None and tv in counts:
                    counts[tv] += c.count_on(node, pod.namespace)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_nodes(state, pod, [node])[0]

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """`score` of every node at once (what the profile calls): the per-node work is dictionary reads."""
        s: _ScoreState = state[NAME + "/score"]
        terms = [(c.topology_key, c.topology_key == HOSTNAME, c.owner_uid, counts, weight, c.max_skew - 1, c)
                 for c, counts, weight in zip(s.constraints, s.counts, s.weights, strict=True)]
        namespace, ignored = pod.namespace, s.ignored
        out: list[int] = []
        for node in nodes:
            if ignored and node.name in ignored:
                out.append(0)
                continue
            total = 0.0
            labels = node.labels
            for key, per_node, owner, counts, weight, skew, c in terms:
                tv = labels.get(key)
                if tv is None:
                    continue
                if not per_node:
                    count = counts.get(tv, 0)
                elif owner:
                    count = node.owner_counts.get(owner, 0)
                else:
                    count = c.count_on(node, namespace)
                total += count * weight + skew
            out.append(round(total))
        return out

    def normalize(self, *, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        s: _ScoreState = state[NAME + "/score"]
        valid = [sc for n, sc in zip(s.nodes, scores, strict=True) if n.name not in s.ignored]
        if not valid:
            scores[:] = [0] * len(scores)
            return
        low, high = min(valid), max(valid)
        for i, node in enumerate(s.nodes):
            if node.name in s.ignored:
                scores[i] = 0
            elif high == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (high + low - scores[i]) // high
