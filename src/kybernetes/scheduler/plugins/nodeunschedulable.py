"""NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods that tolerate the
`node.kubernetes.io/unschedulable:NoSchedule` taint (DaemonSet pods do)."""

from __future__ import annotations

from kybernetes.api.models.core_v1 import Taint
from kybernetes.scheduler.framework import CycleState, Status
from kybernetes.scheduler.matching import tolerates
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"
TAINT_KEY = "node.kubernetes.io/unschedulable"

_TAINT = Taint(key=TAINT_KEY, effect="NoSchedule")
_REJECT = Status.unschedulable(REASON, plugin=NAME, resolvable=False)


class NodeUnschedulable:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable:
            return None
        spec = pod.pod.spec
        if spec is not None and any(tolerates(t, _TAINT) for t in spec.tolerations or ()):
            return None
        return _REJECT
