"""NodeName: a pod that names its node (`spec.nodeName`) fits only that node."""

from __future__ import annotations

from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import SKIP, CycleState, Status
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"

_REJECT = Status.unschedulable(REASON, plugin=NAME, resolvable=False)


class NodeName:
    name = NAME

    def pre_filter(self, *, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> Status | None:
        return None if pod.node_name else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not pod.node_name or pod.node_name == node.name:
            return None
        return _REJECT
