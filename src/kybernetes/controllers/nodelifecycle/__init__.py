"""Node lifecycle: node health from heartbeats, the taints that follow from it, and taint-based eviction.

Kubernetes' node lifecycle and taint eviction controllers, through the API only:

* **Health** (`health`): every `node-monitor-period` (5 s) each node is checked; a node heard from neither
  through its Ready condition's heartbeat nor its Lease in `kube-node-lease` for `node-monitor-grace-period`
  (40 s) gets its conditions set to Unknown ("Kubelet stopped posting node status."), a `NodeNotReady`
  event, and its pods' Ready condition set to False.
* **NoSchedule taints** (`taints`): `not-ready` / `unreachable` / `memory-pressure` / `disk-pressure` /
  `pid-pressure` / `network-unavailable` mirror the conditions, `unschedulable` mirrors
  `spec.unschedulable`; kept by a per-node workqueue.
* **NoExecute taints**: Ready False → `node.kubernetes.io/not-ready:NoExecute`, Unknown →
  `node.kubernetes.io/unreachable:NoExecute` (with `timeAdded`), swapped without delay when the node moves
  between the two, removed when it is Ready again. New taints are rate limited per zone
  (`node-eviction-rate`, 0.1/s; in a zone where more than `unhealthy-zone-threshold` (55 %) of more than
  two nodes are not ready, `secondary-node-eviction-rate` (0.01/s) if the zone is larger than
  `large-cluster-size-threshold` (50), else none). When every node of every zone is not ready the
  controller assumes the fault is its own and taints nothing ("master disruption mode"), removing the
  NoExecute taints it set.
* **Eviction** (`tainteviction`): pods on a node with NoExecute taints they do not tolerate are deleted;
  tolerated with `tolerationSeconds`, after that long.

Options (`ctx.options`, durations as "40s" or seconds): `node-monitor-grace-period`,
`node-startup-grace-period`, `node-monitor-period`, `node-eviction-rate`, `secondary-node-eviction-rate`,
`large-cluster-size-threshold`, `unhealthy-zone-threshold`.
"""

from __future__ import annotations

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.nodelifecycle.controller import NodeLifecycleController, parse_seconds

__all__ = ["NodeLifecycleController", "new", "parse_seconds"]


def new(ctx: ControllerContext) -> NodeLifecycleController:
    return NodeLifecycleController(ctx=ctx)
