"""NodePorts: a pod's host ports (ip, protocol, port) must be free on the node; 0.0.0.0 conflicts with
every address. Pods without host ports skip the filter."""

from __future__ import annotations

from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import SKIP, CycleState, Status
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

NAME = "NodePorts"
REASON = "node(s) didn't have free ports for the requested pod ports"

_REJECT = Status.unschedulable(REASON, plugin=NAME)


class NodePorts:
    name = NAME

    def pre_filter(self, *, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> Status | None:
        return None if pod.host_ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        for ip, proto, port in pod.host_ports:
            if node.port_conflict(ip, proto, port):
                return _REJECT
        return None
