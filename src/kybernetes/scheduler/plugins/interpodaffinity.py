"""InterPodAffinity: required pod affinity / anti-affinity (filter) and preferred terms (score).

PreFilter counts, per topology pair (key, value):

* `existing_anti`: existing pods whose required anti-affinity terms match the incoming pod — a node in
  such a domain is refused ("node(s) didn't satisfy existing pods anti-affinity rules", Unschedulable);
* `affinity`: existing pods matching *all* of the incoming pod's required affinity terms — every term's
  domain on the node must hold one ("node(s) didn't match pod affinity rules", UnschedulableAndUnresolvable),
  except that the first pod of a group whose terms match itself may go anywhere;
* `anti`: existing pods matching each required anti-affinity term of the incoming pod ("node(s) didn't
  match pod anti-affinity rules", Unschedulable).

Pods with no terms, in a cluster with no pods that have required anti-affinity, skip the filter. The counts
follow preemption's simulated evictions through `add_pod` / `remove_pod`.

Score sums, per topology pair, the weights of preferred terms in both directions (the incoming pod's
terms matching existing pods, and existing pods' preferred terms — and required affinity terms, with weight
1 — matching the incoming pod; anti-affinity subtracts), then scales min..max to 0..100.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import MAX_NODE_SCORE, SKIP, CycleState, Status
from kybernetes.scheduler.nodeinfo import AffinityTerm, NodeInfo, PodInfo

NAME = "InterPodAffinity"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
HARD_POD_AFFINITY_WEIGHT = 1

_REJECT_AFFINITY = Status.unschedulable(AFFINITY, plugin=NAME, resolvable=False)
_REJECT_ANTI = Status.unschedulable(ANTI_AFFINITY, plugin=NAME)
_REJECT_EXISTING = Status.unschedulable(EXISTING_ANTI_AFFINITY, plugin=NAME)

Pair = tuple[str, str]


def _bump(counts: dict[Pair, int], pair: Pair, delta: int) -> None:
    value = counts.get(pair, 0) + delta
    if value:
        counts[pair] = value
    else:
        counts.pop(pair, None)


@dataclass(slots=True)
class _FilterState:
    existing_anti: dict[Pair, int] = field(default_factory=dict)
    affinity: dict[Pair, int] = field(default_factory=dict)
    anti: dict[Pair, int] = field(default_factory=dict)
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def clone(self) -> _FilterState:
        return _FilterState(dict(self.existing_anti), dict(self.affinity), dict(self.anti), self.namespace_labels)


def _matches_all(terms: list[AffinityTerm], pod: PodInfo, ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
    return bool(terms) and all(t.matches(pod, ns_labels.get) for t in terms)


class InterPodAffinity:
    name = NAME

    # ---- filter --------------------------------------------------------------------------------------

    def _account(self, s: _FilterState, pod: PodInfo, existing: PodInfo, node: NodeInfo, sign: int) -> None:
        labels = node.labels
        ns = s.namespace_labels.get
        for term in existing.required_anti_affinity:
            tv = labels.get(term.topology_key)
            if tv is not None and term.matches(pod, ns):
                _bump(s.existing_anti, (term.topology_key, tv), sign)
        if pod.required_affinity and _matches_all(pod.required_affinity, existing, s.namespace_labels):
            for term in pod.required_affinity:
                tv = labels.get(term.topology_key)
                if tv is not None:
                    _bump(s.affinity, (term.topology_key, tv), sign)
        for term in pod.required_anti_affinity:
            tv = labels.get(term.topology_key)
            if tv is not None and term.matches(existing, ns):
                _bump(s.anti, (term.topology_key, tv), sign)

    def pre_filter(self, *, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> Status | None:
        if not pod.required_affinity and not pod.required_anti_affinity and not snapshot.with_required_anti_affinity:
            return SKIP
        s = _FilterState(namespace_labels=snapshot.namespace_labels)
        nodes = snapshot.nodes if (pod.required_affinity or pod.required_anti_affinity) \
            else snapshot.with_required_anti_affinity
        for node in nodes:
            for existing in node.pods.values():
                if existing.key != pod.key:
                    self._account(s, pod, existing, node, 1)
        state[NAME] = s
        return None

    def add_pod(self, *, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> None:
        s: _FilterState | None = state.get(NAME)
        if s is not None:
            self._account(s, pod, added, node, 1)

    def remove_pod(self, *, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo) -> None:
        s: _FilterState | None = state.get(NAME)
        if s is not None:
            self._account(s, pod, removed, node, -1)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _FilterState = state[NAME]
        labels = node.labels
        if pod.required_affinity:
            all_found = True
            for term in pod.required_affinity:
                tv = labels.get(term.topology_key)
                if tv is None:
                    return _REJECT_AFFINITY
                if s.affinity.get((term.topology_key, tv), 0) <= 0:
                    all_found = False
            # The first pod of a self-affine group: nothing matches anywhere yet, but it matches itself.
            if not all_found and not (not s.affinity and _matches_all(pod.required_affinity, pod, s.namespace_labels)):
                return _REJECT_AFFINITY
        for term in pod.required_anti_affinity:
            tv = labels.get(term.topology_key)
            if tv is not None and s.anti.get((term.topology_key, tv), 0) > 0:
                return _REJECT_ANTI
        if s.existing_anti:
            for key, value in labels.items():
                if s.existing_anti.get((key, value), 0) > 0:
                    return _REJECT_EXISTING
        return None

    # ---- score ---------------------------------------------------------------------------------------

    def pre_score(
        self, *, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], snapshot: Snapshot
    ) -> Status | None:
        has_preferred = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        if not has_preferred and not snapshot.with_affinity:
            return SKIP
        ns = snapshot.namespace_labels.get
        scores: dict[Pair, int] = {}
        for node in snapshot.nodes if has_preferred else snapshot.with_affinity:
            labels = node.labels
            for existing in (node.pods if has_preferred else node.pods_with_affinity).values():
                if existing.key == pod.key:
                    continue
                for weight, term in pod.preferred_affinity:
                    self._score_term(scores, labels, term, existing, weight, ns)
                for weight, term in pod.preferred_anti_affinity:
                    self._score_term(scores, labels, term, existing, -weight, ns)
                for term in existing.required_affinity:
                    self._score_term(scores, labels, term, pod, HARD_POD_AFFINITY_WEIGHT, ns)
                for weight, term in existing.preferred_affinity:
                    self._score_term(scores, labels, term, pod, weight, ns)
                for weight, term in existing.preferred_anti_affinity:
                    self._score_term(scores, labels, term, pod, -weight, ns)
        if not scores:
            return SKIP
        keys: dict[str, dict[str, int]] = {}
        for (key, value), score in scores.items():
            keys.setdefault(key, {})[value] = score
        state[NAME + "/score"] = keys
        return None

    @staticmethod
    def _score_term(scores: dict[Pair, int], labels: Mapping[str, str], term: AffinityTerm, target: PodInfo,
                    weight: int, ns: object) -> None:
        tv = labels.get(term.topology_key)
        if tv is not None and term.matches(target, ns):  # type: ignore[arg-type]
            pair = (term.topology_key, tv)
            scores[pair] = scores.get(pair, 0) + weight

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        keys: dict[str, dict[str, int]] = state[NAME + "/score"]
        labels = node.labels
        total = 0
        for key, values in keys.items():
            tv = labels.get(key)
            if tv is not None:
                total += values.get(tv, 0)
        return total

    def normalize(self, *, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        if not scores:
            return
        low, high = min(scores), max(scores)
        spread = high - low
        for i, s in enumerate(scores):
            scores[i] = int(MAX_NODE_SCORE * (s - low) / spread) if spread > 0 else 0
