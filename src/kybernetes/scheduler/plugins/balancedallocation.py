"""NodeResourcesBalancedAllocation: prefer nodes where CPU and memory would be used in similar proportions
after placing the pod: score = (1 - standard deviation of the requested/allocatable fractions) * 100.
Uses actual requests (no non-zero defaults); skipped for pods that request neither CPU nor memory, as
Kubernetes does, so best-effort pods do not pile onto one node."""

from __future__ import annotations

from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import MAX_NODE_SCORE, SKIP, CycleState, Status
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

NAME = "NodeResourcesBalancedAllocation"


class BalancedAllocation:
    name = NAME

    def pre_score(
        self, *, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], snapshot: Snapshot
    ) -> Status | None:
        return None if pod.requests.milli_cpu or pod.requests.memory else SKIP

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        alloc, used, want = node.allocatable, node.requested, pod.requests
        fractions: list[float] = []
        if alloc.milli_cpu:
            fractions.append(min(1.0, (used.milli_cpu + want.milli_cpu) / alloc.milli_cpu))
        if alloc.memory:
            fractions.append(min(1.0, (used.memory + want.memory) / alloc.memory))
        std = abs(fractions[0] - fractions[1]) / 2 if len(fractions) == 2 else 0.0
        return int((1 - std) * MAX_NODE_SCORE)
