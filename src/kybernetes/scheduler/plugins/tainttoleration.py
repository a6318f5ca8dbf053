"""TaintToleration: NoSchedule and NoExecute taints must be tolerated (filter); untolerated
PreferNoSchedule taints only lower the score (fewer is better)."""

from __future__ import annotations

from kybernetes.api.models.core_v1 import Taint, Toleration
from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import CycleState, Status, default_normalize
from kybernetes.scheduler.matching import find_untolerated_taint, tolerates
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

NAME = "TaintToleration"


def _hard(taint: Taint) -> bool:
    return taint.effect in ("NoSchedule", "NoExecute")


class TaintToleration:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        spec = pod.pod.spec
        tolerations = (spec.tolerations if spec else None) or []
        taint = find_untolerated_taint(node.taints, tolerations, include=_hard)
        if taint is None:
            return None
        reason = f"node(s) had untolerated taint {{{taint.key or ''}: {taint.value or ''}}}"
        return Status.unschedulable(reason, plugin=NAME, resolvable=False)

    def pre_score(
        self, *, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], snapshot: Snapshot
    ) -> Status | None:
        spec = pod.pod.spec
        state[NAME] = [t for t in (spec.tolerations if spec else None) or []
                       if not t.effect or t.effect == "PreferNoSchedule"]
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.taints:
            return 0
        tolerations: list[Toleration] = state[NAME]
        return sum(
            1 for taint in node.taints
            if taint.effect == "PreferNoSchedule" and not any(tolerates(t, taint) for t in tolerations)
        )

    def normalize(self, *, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores, reverse=True)
