"""The scheduler's cache of nodes and the pods on them, with assumed pods, and the snapshot a cycle reads.

Informer events update the cache incrementally (`add_node`, `update_pod`, ...); nothing is rebuilt per pod.
A pod the scheduler has just placed is **assumed** (`assume_pod`): it is counted on its node at once, so the
next cycle sees its resources and ports, while the binding request is still on its way. When the informer
later reports the pod bound, the assumption is confirmed (`add_pod` of the same key); if binding fails,
`forget_pod` takes it off again. An assumed pod the informer reports bound to another node moves there.

Pods bound to a node the cache has not seen yet are kept on a node entry without a Node object ("ghost"),
so the counts are right as soon as the Node arrives; ghosts are not offered to the scheduling cycle.

`Snapshot` is what a cycle reads: the nodes in a fixed order that interleaves zones (so sampling a prefix
spreads over zones, as Kubernetes' node tree does), the name → NodeInfo map, the nodes that hold pods
with (anti-)affinity, and which nodes hold pods of each controller (`owner_nodes`, kept incrementally). `update_snapshot()` rebuilds those lists only when node membership or the affinity
set changed (tracked by generation counters), so in steady state it costs O(1). NodeInfos are shared with
the cache, not copied: the scheduling cycle is synchronous (no `await` between reading the snapshot and
assuming the pod), so nothing can change them underneath it. Preemption clones the NodeInfos it edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import zip_longest

from kybernetes.api.models.core_v1 import Node, Pod
from kybernetes.client.store import object_key
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["CacheStatistics", "SchedulerCache", "Snapshot", "zone_of"]

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


def zone_of(labels: Mapping[str, str]) -> str:
    zone = labels.get(ZONE_LABEL) or labels.get("failure-domain.beta.kubernetes.io/zone") or ""
    region = labels.get(REGION_LABEL) or labels.get("failure-domain.beta.kubernetes.io/region") or ""
    return f"{region}:\x00:{zone}" if region or zone else ""


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    assumed: bool
    binding_finished: bool = False


@dataclass(slots=True)
class CacheStatistics:
    nodes: int
    pods: int
    assumed: int


class Snapshot:
    """The node view one scheduling cycle reads (see the module docstring)."""

    def __init__(self) -> None:
        self.node_infos: dict[str, NodeInfo] = {}
        self.nodes: list[NodeInfo] = []
        self.with_affinity: list[NodeInfo] = []
        self.with_required_anti_affinity: list[NodeInfo] = []
        self.node_generation = -1
        self.affinity_generation = -1
        self.namespace_labels: dict[str, Mapping[str, str]] = {}
        # controller UID → node name → its pods there (the cache's index, shared); None when not built by a
        # cache, and readers then scan the nodes
        self.owner_nodes: Mapping[str, Mapping[str, int]] | None = None

    def get(self, name: str) -> NodeInfo | None:
        info = self.node_infos.get(name)
        return info if info is not None and info.node is not None else None

    def __len__(self) -> int:
        return len(self.nodes)

    def namespace_labels_of(self, namespace: str) -> Mapping[str, str] | None:
        return self.namespace_labels.get(namespace)


class SchedulerCache:
    """Nodes and pods as the scheduler accounts them (see the module docstring)."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._node_generation = 0  # membership changes (node added / removed / ghost became real)
        self._affinity_generation = 0  # a pod with affinity came or went
        self.namespace_labels: dict[str, Mapping[str, str]] = {}
        # Which nodes hold pods of each controller, and how many: PodTopologySpread's default constraints
        # count a controller's pods per zone from this instead of visiting every node each cycle.
        self._owner_nodes: dict[str, dict[str, int]] = {}

    # ---- nodes -------------------------------------------------------------------------------------

    def add_node(self, node: Node) -> NodeInfo:
        name = node.metadata.name if node.metadata and node.metadata.name else ""
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo(name=name)
        info.set_node(node)
        self._node_generation += 1  # labels (zones) or membership may have changed
        return info

    def update_node(self, old: Node | None, new: Node) -> NodeInfo:
        return self.add_node(new)

    def remove_node(self, node: Node) -> None:
        name = node.metadata.name if node.metadata and node.metadata.name else ""
        info = self._nodes.get(name)
        if info is None:
            return
        if info.pods:
            info.node = None  # keep accounting for its pods until they are deleted too
        else:
            del self._nodes[name]
        self._node_generation += 1

    def node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    # ---- pods --------------------------------------------------------------------------------------

    def _place(self, info: PodInfo, node_name: str) -> None:
        node = self._nodes.get(node_name)
        if node is None:
            node = self._nodes[node_name] = NodeInfo(name=node_name)
        node.add_pod(info)
        if info.controller_uid:
            on = self._owner_nodes.setdefault(info.controller_uid, {})
            on[node_name] = on.get(node_name, 0) + 1
        if info.has_affinity:
            self._affinity_generation += 1

    def _unplace(self, key: str, node_name: str) -> PodInfo | None:
        node = self._nodes.get(node_name)
        if node is None:
            return None
        removed = node.remove_pod(key)
        if removed is not None and removed.controller_uid:
            self._forget_owner(removed.controller_uid, node_name)
        if removed is not None and removed.has_affinity:
            self._affinity_generation += 1
        if node.node is None and not node.pods:
            del self._nodes[node_name]
            self._node_generation += 1
        return removed

    def _forget_owner(self, owner: str, node_name: str) -> None:
        on = self._owner_nodes.get(owner)
        if on is None or node_name not in on:
            return
        if on[node_name] > 1:
            on[node_name] -= 1
            return
        del on[node_name]
        if not on:
            del self._owner_nodes[owner]

    def owner_nodes(self, owner: str) -> Mapping[str, int]:
        """Node name → number of pods of the controller `owner` there (ghost nodes included)."""
        return self._owner_nodes.get(owner, {})

    def assume_pod(self, info: PodInfo, node_name: str) -> None:
        """Count `info` on `node_name` before the binding is confirmed."""
        if info.key in self._pods:
            raise ValueError(f"pod {info.key} is already in the cache")
        assumed = info.with_node(node_name)
        self._pods[info.key] = _PodState(info=assumed, assumed=True)
        self._place(assumed, node_name)

    def finish_binding(self, key: str) -> None:
        state = self._pods.get(key)
        if state is not None and state.assumed:
            state.binding_finished = True

    def forget_pod(self, key: str) -> None:
        """Undo `assume_pod` (binding failed)."""
        state = self._pods.get(key)
        if state is None or not state.assumed:
            return
        del self._pods[key]
        self._unplace(key, state.info.node_name)

    def is_assumed(self, key: str) -> bool:
        state = self._pods.get(key)
        return state is not None and state.assumed

    def add_pod(self, pod: Pod) -> None:
        """A bound pod from the informer (add or update); confirms an assumption of the same pod."""
        info = PodInfo(pod)
        if not info.node_name:
            return
        state = self._pods.get(info.key)
        if state is not None:
            self._unplace(info.key, state.info.node_name)
        self._pods[info.key] = _PodState(info=info, assumed=False)
        self._place(info, info.node_name)

    def update_pod(self, old: Pod | None, new: Pod) -> None:
        self.add_pod(new)

    def remove_pod(self, pod: Pod) -> None:
        key = object_key(pod)
        state = self._pods.pop(key, None)
        if state is not None:
            self._unplace(key, state.info.node_name)

    def pod(self, key: str) -> PodInfo | None:
        state = self._pods.get(key)
        return state.info if state is not None else None

    # ---- snapshot ----------------------------------------------------------------------------------

    def update_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """Bring `snapshot` up to date; cheap when only pods on known nodes changed."""
        if snapshot.node_generation != self._node_generation:
            snapshot.node_infos = self._nodes
            snapshot.nodes = _interleave_zones([n for n in self._nodes.values() if n.node is not None])
            snapshot.node_generation = self._node_generation
            snapshot.affinity_generation = -1
        if snapshot.affinity_generation != self._affinity_generation:
            snapshot.with_affinity = [n for n in snapshot.nodes if n.pods_with_affinity]
            snapshot.with_required_anti_affinity = [n for n in snapshot.nodes if n.pods_with_required_anti_affinity]
            snapshot.affinity_generation = self._affinity_generation
        snapshot.namespace_labels = self.namespace_labels
        snapshot.owner_nodes = self._owner_nodes
        return snapshot

    def statistics(self) -> CacheStatistics:
        assumed = sum(1 for s in self._pods.values() if s.assumed)
        return CacheStatistics(nodes=len(self._nodes), pods=len(self._pods), assumed=assumed)


def _interleave_zones(nodes: list[NodeInfo]) -> list[NodeInfo]:
    """Round-robin over zones (node order within a zone kept), so any prefix covers the zones evenly."""
    by_zone: dict[str, list[NodeInfo]] = {}
    for n in sorted(nodes, key=lambda n: n.name):
        by_zone.setdefault(zone_of(n.labels), []).append(n)
    if len(by_zone) <= 1:
        return next(iter(by_zone.values()), [])
    out: list[NodeInfo] = []
    for row in zip_longest(*by_zone.values()):
        out.extend(n for n in row if n is not None)
    return out
