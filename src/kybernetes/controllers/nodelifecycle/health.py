"""Node health bookkeeping: when did we last hear from each node, and what its status becomes when silent.

Kubernetes' `tryUpdateNodeHealth`, as pure functions over a `NodeHealth` record per node. "Hearing" from a
node is seeing its Ready condition's `lastHeartbeatTime` change, or its Lease in `kube-node-lease` renewed
(`spec.renewTime` moves); the moment is taken on the controller's own monotonic clock (`probe_time`), so a
skewed node clock cannot make a node look alive, and tests drive it with a fake clock. Our own status writes
keep `lastHeartbeatTime`, so they never count as hearing from the node.

When nothing was heard for the grace period (`node-monitor-grace-period`, 40 s; `node-startup-grace-period`,
60 s, for a node that never posted a Ready condition), every standard condition not already Unknown becomes
Unknown: reason `NodeStatusUnknown`, "Kubelet stopped posting node status." (or `NodeStatusNeverUpdated`,
"Kubelet never posted node status." for conditions the node never posted).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from kybernetes.api.models.coordination_v1 import Lease
from kybernetes.api.models.core_v1 import Node, NodeCondition, NodeStatus
from kybernetes.controllers.nodelifecycle.taints import condition

CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
NEVER_REASON = "NodeStatusNeverUpdated"
NEVER_MESSAGE = "Kubelet never posted node status."


@dataclass(slots=True)
class NodeHealth:
    probe_time: float  # when we last heard from the node, on the controller's clock
    heartbeat: str | None  # the Ready condition's lastHeartbeatTime last seen
    lease_renew: str | None  # the Lease's renewTime last seen


def observe(*, node: Node, lease: Lease | None, saved: NodeHealth | None, now: float) -> NodeHealth:
    """The node's health record after looking at it now."""
    ready = condition(node, "Ready")
    heartbeat = ready.last_heartbeat_time if ready is not None else None
    renew = lease.spec.renew_time if lease is not None and lease.spec is not None else None
    if saved is None:
        return NodeHealth(probe_time=now, heartbeat=heartbeat, lease_renew=renew)
    probe = saved.probe_time
    if heartbeat != saved.heartbeat and heartbeat is not None:
        probe = now
    # RFC 3339 MicroTime strings in UTC sort as time does.
    if renew is not None and (saved.lease_renew is None or renew > saved.lease_renew):
        probe = now
    return NodeHealth(probe_time=probe, heartbeat=heartbeat, lease_renew=renew)


def silent_status(node: Node, *, now: str) -> NodeStatus | None:
    """The status a silent node gets (conditions Unknown), or None when it already has it."""
    status = node.status or NodeStatus()
    conditions = list(status.conditions or [])
    created = node.metadata.creation_timestamp if node.metadata else None
    changed = False
    for kind in CONDITION_TYPES:
        found = condition(node, kind)
        if found is None:
            conditions.append(NodeCondition(
                type=kind, status="Unknown", reason=NEVER_REASON, message=NEVER_MESSAGE,
                last_heartbeat_time=created, last_transition_time=now,
            ))
            changed = True
        elif found.status != "Unknown":
            index = conditions.index(found)
            conditions[index] = msgspec.structs.replace(
                found, status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE, last_transition_time=now
            )
            changed = True
    if not changed:
        return None
    return msgspec.structs.replace(status, conditions=conditions)
