"""NodeResourcesFit: the pod's requests must fit the node's allocatable minus what its pods (bound and
assumed) request, and the node must have room for one more pod (filter, one reason per short resource:
"Insufficient cpu", "Insufficient memory", "Too many pods", ...). Scoring is LeastAllocated: the free share
of CPU and memory after placing the pod, weight 1 each, with Kubernetes' non-zero defaults (100m / 200Mi)
for containers that request nothing, so best-effort pods still spread.
"""

from __future__ import annotations

from kybernetes.scheduler.framework import MAX_NODE_SCORE, CycleState, Status
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

NAME = "NodeResourcesFit"

TOO_MANY_PODS = "Too many pods"
_TOO_MANY = Status.unschedulable(TOO_MANY_PODS, plugin=NAME)


def insufficient_resources(pod: PodInfo, node: NodeInfo) -> list[str]:
    """The reasons `pod` does not fit `node` by resources (empty if it fits)."""
    reasons: list[str] = []
    if len(node.pods) + 1 > node.allocatable.allowed_pods:
        reasons.append(TOO_MANY_PODS)
    want = pod.requests
    if not (want.milli_cpu or want.memory or want.ephemeral_storage or want.scalar):
        return reasons
    have, used = node.allocatable, node.requested
    if want.milli_cpu and want.milli_cpu > have.milli_cpu - used.milli_cpu:
        reasons.append("Insufficient cpu")
    if want.memory and want.memory > have.memory - used.memory:
        reasons.append("Insufficient memory")
    if want.ephemeral_storage and want.ephemeral_storage > have.ephemeral_storage - used.ephemeral_storage:
        reasons.append("Insufficient ephemeral-storage")
    for name, quantity in want.scalar.items():
        if quantity and quantity > have.scalar.get(name, 0) - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


def least_requested(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


class NodeResourcesFit:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        # Fast path for the common case: fits on every count.
        want, have, used = pod.requests, node.allocatable, node.requested
        if (
            len(node.pods) < have.allowed_pods
            and want.milli_cpu <= have.milli_cpu - used.milli_cpu
            and want.memory <= have.memory - used.memory
            and want.ephemeral_storage <= have.ephemeral_storage - used.ephemeral_storage
            and not want.scalar
        ):
            return None
        reasons = insufficient_resources(pod, node)
        if not reasons:
            return None
        if reasons == [TOO_MANY_PODS]:
            return _TOO_MANY
        return Status.unschedulable(*reasons, plugin=NAME)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        alloc = node.allocatable
        total = weights = 0
        if alloc.milli_cpu:
            total += least_requested(node.non_zero_cpu + pod.non_zero[0], alloc.milli_cpu)
            weights += 1
        if alloc.memory:
            total += least_requested(node.non_zero_memory + pod.non_zero[1], alloc.memory)
            weights += 1
        return total // weights if weights else 0
