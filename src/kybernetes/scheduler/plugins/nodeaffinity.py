"""NodeAffinity: `spec.nodeSelector` and required node affinity must match the node (filter); preferred
node affinity terms add their weights (score, normalized to 0..100 by the best node).

Both parts are skipped for pods that have no selector / terms of that kind, so the common pod costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from kybernetes.api.models.core_v1 import NodeSelectorTerm, PreferredSchedulingTerm
from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import SKIP, CycleState, Status, default_normalize
from kybernetes.scheduler.matching import node_matches_selector_terms, node_matches_term
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"

_REJECT = Status.unschedulable(REASON, plugin=NAME, resolvable=False)


@dataclass(frozen=True, slots=True)
class RequiredNodeAffinity:
    """A pod's hard node constraints; also used by PodTopologySpread (nodeAffinityPolicy: Honor)."""

    node_selector: dict[str, str]
    terms: list[NodeSelectorTerm] | None  # None: no required affinity

    @classmethod
    def of(cls, pod: PodInfo) -> RequiredNodeAffinity:
        spec = pod.pod.spec
        selector = dict((spec.node_selector if spec else None) or {})
        terms = None
        affinity = spec.affinity if spec else None
        if affinity and affinity.node_affinity:
            required = affinity.node_affinity.required_during_scheduling_ignored_during_execution
            if required is not None:
                terms = list(required.node_selector_terms or [])
        return cls(node_selector=selector, terms=terms)

    @property
    def empty(self) -> bool:
        return not self.node_selector and self.terms is None

    def matches(self, node: NodeInfo) -> bool:
        labels = node.labels
        for key, value in self.node_selector.items():
            if labels.get(key) != value:
                return False
        if self.terms is not None:
            return node_matches_selector_terms(self.terms, labels=labels, name=node.name)
        return True


class NodeAffinity:
    name = NAME

    def pre_filter(self, *, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> Status | None:
        required = RequiredNodeAffinity.of(pod)
        if required.empty:
            return SKIP
        state[NAME] = required
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        required: RequiredNodeAffinity = state[NAME]
        return None if required.matches(node) else _REJECT

    def pre_score(
        self, *, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], snapshot: Snapshot
    ) -> Status | None:
        spec = pod.pod.spec
        affinity = spec.affinity if spec else None
        preferred: list[PreferredSchedulingTerm] = []
        if affinity and affinity.node_affinity:
            preferred = [
                t for t in affinity.node_affinity.preferred_during_scheduling_ignored_during_execution or []
                if t.weight and t.preference is not None
            ]
        if not preferred:
            return SKIP
        state[NAME + "/preferred"] = preferred
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        preferred: list[PreferredSchedulingTerm] = state[NAME + "/preferred"]
        total = 0
        for term in preferred:
            assert term.preference is not None
            if node_matches_term(term.preference, labels=node.labels, name=node.name):
                total += term.weight or 0
        return total

    def normalize(self, *, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores)
