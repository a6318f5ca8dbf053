"""What a simulated node is (`NodeSpec`) and the API objects that stand for it: the Node and its Lease.

A `NodeSpec` is plain data: name, capacity, labels, taints, zone, and an `index` that derives the addresses
(an InternalIP in 172.18.0.0/16, as a kind cluster's node network; a fallback pod range in 10.244.0.0/14
when no controller sets `spec.podCIDR`). The addresses are only data: nothing ever connects to them.

`node_specs()` builds N specs the way `kyb simulate` does (zones round-robin); the `build_*` functions turn a
spec into the Node registered on start, the node Lease in `kube-node-lease`, and the node conditions the
simulator reports, as a kubelet fills them in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kybernetes.api.models.coordination_v1 import Lease, LeaseSpec
from kybernetes.api.models.core_v1 import (
    DaemonEndpoint,
    Node,
    NodeAddress,
    NodeCondition,
    NodeDaemonEndpoints,
    NodeStatus,
    NodeSystemInfo,
    Taint,
)
from kybernetes.api.models.core_v1 import NodeSpec as NodeSpecModel
from kybernetes.api.models.meta_v1 import ObjectMeta, OwnerReference

__all__ = [
    "KUBELET_VERSION",
    "LEASE_NAMESPACE",
    "SIMULATED_LABEL",
    "NodeSpec",
    "build_lease",
    "build_node",
    "derived_pod_cidr",
    "internal_ip",
    "node_conditions",
    "node_specs",
    "parse_labels",
    "parse_taints",
]

KUBELET_VERSION = "v1.36.0-kyb-sim"
LEASE_NAMESPACE = "kube-node-lease"
SIMULATED_LABEL = "kybernetes.io/simulated"
RUNTIME_VERSION = "fake://1.0"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

_NODE_NET = ipaddress.IPv4Address("172.18.0.0")
_POD_NET = ipaddress.IPv4Address("10.244.0.0")
_POD_RANGES = 1024  # /24s in 10.244.0.0/14; node indexes wrap beyond that (ranges then repeat)


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """One simulated node. `index` only derives addresses; names need not follow it."""

    name: str
    index: int = 0
    cpu: str = "32"
    memory: str = "256Gi"
    pods: int = 110
    ephemeral_storage: str = "100Gi"
    zone: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Taint] = ()

    def capacity(self) -> dict[str, str | int | float]:
        return {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods),
                "ephemeral-storage": self.ephemeral_storage}

    def all_labels(self) -> dict[str, str]:
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            SIMULATED_LABEL: "true",
        }
        if self.zone:
            labels["topology.kubernetes.io/zone"] = self.zone
        labels.update(self.labels)
        return labels


def internal_ip(index: int) -> str:
    # Skip .0 and .1 of every /24 (network and a would-be gateway) so addresses look ordinary.
    return str(_NODE_NET + (index // 254) * 256 + index % 254 + 2)


def derived_pod_cidr(index: int) -> str:
    return f"{_POD_NET + (index % _POD_RANGES) * 256}/24"


def node_specs(
    *,
    count: int,
    prefix: str = "kyb-sim",
    start: int = 0,
    cpu: str = "32",
    memory: str = "256Gi",
    pods: int = 110,
    ephemeral_storage: str = "100Gi",
    zones: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Taint] = (),
) -> list[NodeSpec]:
    """`count` specs named `<prefix>-<i>` for i from `start`; zones are dealt round-robin."""
    return [
        NodeSpec(
            name=f"{prefix}-{i}", index=i, cpu=cpu, memory=memory, pods=pods, ephemeral_storage=ephemeral_storage,
            zone=zones[i % len(zones)] if zones else None, labels=dict(labels or {}), taints=tuple(taints),
        )
        for i in range(start, start + count)
    ]


def parse_labels(text: str) -> dict[str, str]:
    """`k=v,k2=v2` → a dict; raises `ValueError` on a term without `=`."""
    labels: dict[str, str] = {}
    for term in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = term.partition("=")
        if not sep or not key:
            raise ValueError(f"invalid label {term!r}: want key=value")
        labels[key] = value
    return labels


def parse_taints(text: str) -> list[Taint]:
    """`key[=value]:Effect,...` → taints, as `kubectl taint` spells them."""
    taints: list[Taint] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        body, sep, effect = term.rpartition(":")
        if not sep or effect not in TAINT_EFFECTS or not body:
            raise ValueError(f"invalid taint {term!r}: want key[=value]:{'|'.join(TAINT_EFFECTS)}")
        key, _, value = body.partition("=")
        taints.append(Taint(key=key, value=value or None, effect=effect))
    return taints


def node_conditions(*, now: str, since: str, ready: bool = True) -> list[NodeCondition]:
    """The four conditions a healthy kubelet reports, with `now` as heartbeat and `since` as transition."""

    def condition(kind: str, status: str, reason: str, message: str) -> NodeCondition:
        return NodeCondition(type=kind, status=status, reason=reason, message=message,
                             last_heartbeat_time=now, last_transition_time=since)

    return [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")
        if ready else condition("Ready", "False", "KubeletNotReady", "kubelet stopped posting ready status"),
    ]


def build_status(spec: NodeSpec, *, now: str, since: str) -> NodeStatus:
    capacity = spec.capacity()
    return NodeStatus(
        capacity=capacity,
        allocatable=dict(capacity),
        conditions=node_conditions(now=now, since=since),
        addresses=[NodeAddress(type="InternalIP", address=internal_ip(spec.index)),
                   NodeAddress(type="Hostname", address=spec.name)],
        daemon_endpoints=NodeDaemonEndpoints(kubelet_endpoint=DaemonEndpoint(port=10250)),
        node_info=NodeSystemInfo(
            architecture="amd64", operating_system="linux", os_image="Kybernetes simulated node",
            kernel_version="6.1.0-kyb-sim", kubelet_version=KUBELET_VERSION, kube_proxy_version=KUBELET_VERSION,
            container_runtime_version=RUNTIME_VERSION, machine_id=f"{spec.index:032x}",
            system_uuid=f"{spec.index:08x}-0000-4000-8000-000000000000", boot_id=f"{spec.index:08x}-kyb-sim",
        ),
        phase=None,
    )


def build_node(spec: NodeSpec, *, now: str) -> Node:
    """The Node registered for `spec`, status included (the API server keeps status given on create)."""
    return Node(
        api_version="v1", kind="Node",
        metadata=ObjectMeta(name=spec.name, labels=spec.all_labels(),
                            annotations={"node.alpha.kubernetes.io/ttl": "0"}),
        spec=NodeSpecModel(taints=list(spec.taints) or None),
        status=build_status(spec, now=now, since=now),
    )


def build_lease(*, node: str, node_uid: str | None, renew_time: str, duration: int) -> Lease:
    owners = None
    if node_uid:
        owners = [OwnerReference(api_version="v1", kind="Node", name=node, uid=node_uid)]
    return Lease(
        api_version="coordination.k8s.io/v1", kind="Lease",
        metadata=ObjectMeta(name=node, namespace=LEASE_NAMESPACE, owner_references=owners),
        spec=LeaseSpec(holder_identity=node, lease_duration_seconds=duration, renew_time=renew_time),
    )
