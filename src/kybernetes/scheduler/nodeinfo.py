"""What the scheduler knows about pods and nodes, precomputed once per object version.

`PodInfo` wraps a Pod (read-only, from the informer) with everything the plugins keep asking: its resource
requests (containers summed, init containers as a maximum, sidecars, overhead), the "non-zero" requests used
for scoring (100m CPU / 200Mi memory for containers that request nothing, as Kubernetes), host ports, parsed
affinity terms, its controller's UID (default spreading) and priority. It is built when the pod's informer
event arrives, not per scheduling attempt.

`NodeInfo` is one node plus the pods on it (bound, or assumed by this scheduler): allocatable, summed requests,
used host ports, the pods with (anti-)affinity, and per-controller pod counts so default spreading is O(1) per
node. `add_pod` / `remove_pod` update it incrementally; `generation` changes with every update.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import msgspec

from kybernetes.api.models.core_v1 import Container, Node, Pod, PodAffinityTerm, Taint
from kybernetes.client.store import object_key
from kybernetes.machinery.labels import LabelSelector, Operator, Requirement, selector_from_api
from kybernetes.machinery.quantity import Quantity

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "AffinityTerm",
    "NodeInfo",
    "PodInfo",
    "Resource",
]

DEFAULT_MILLI_CPU_REQUEST = 100  # 0.1 core
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # 200 MiB
ANY_IP = "0.0.0.0"

_generation = itertools.count(1)

NamespaceLabels = Callable[[str], Mapping[str, str] | None]


@lru_cache(maxsize=8192)
def _milli(value: str | int | float) -> int:
    try:
        return Quantity.parse(value).to_milli()
    except ValueError:
        return 0


@lru_cache(maxsize=8192)
def _whole(value: str | int | float) -> int:
    try:
        return Quantity.parse(value).to_int()
    except ValueError:
        return 0


@dataclass(slots=True)
class Resource:
    """Compute resources: CPU in millicores, memory and ephemeral storage in bytes, scalar (extended)
    resources by name, and the node's pod capacity."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_list(cls, values: Mapping[str, str | int | float] | None) -> Resource:
        r = cls()
        for name, value in (values or {}).items():
            r.add_one(name, value)
        return r

    def add_one(self, name: str, value: str | int | float) -> None:
        if name == "cpu":
            self.milli_cpu += _milli(value)
        elif name == "memory":
            self.memory += _whole(value)
        elif name == "ephemeral-storage":
            self.ephemeral_storage += _whole(value)
        elif name == "pods":
            self.allowed_pods += _whole(value)
        else:
            self.scalar[name] = self.scalar.get(name, 0) + _whole(value)

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        self.allowed_pods += sign * other.allowed_pods
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + sign * value

    def set_max(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for name, value in other.scalar.items():
            self.scalar[name] = max(self.scalar.get(name, 0), value)

    def clone(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pods, dict(self.scalar))

    def is_zero(self) -> bool:
        return not (self.milli_cpu or self.memory or self.ephemeral_storage or any(self.scalar.values()))


def _container_requests(container: Container, *, non_zero: bool) -> Resource:
    requests = container.resources.requests if container.resources and container.resources.requests else {}
    r = Resource.from_list(requests)
    if non_zero:
        if "cpu" not in requests:
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if "memory" not in requests:
            r.memory = DEFAULT_MEMORY_REQUEST
    return r


def pod_requests(pod: Pod, *, non_zero: bool = False) -> Resource:
    """What the pod needs on a node: regular containers and sidecars (restartable init containers) run
    together and add up; each ordinary init container runs alone next to the sidecars started before it, so
    the pod needs the larger of the two; pod overhead comes on top. `non_zero` gives containers without a
    CPU / memory request Kubernetes' scoring defaults."""
    spec = pod.spec
    total = Resource()
    if spec is None:
        return total
    for c in spec.containers or ():
        total.add(_container_requests(c, non_zero=non_zero))
    sidecars = Resource()
    init_max = Resource()
    for c in spec.init_containers or ():
        reqs = _container_requests(c, non_zero=non_zero)
        if c.restart_policy == "Always":
            sidecars.add(reqs)
            init_max.set_max(sidecars)
        else:
            reqs.add(sidecars)
            init_max.set_max(reqs)
    total.add(sidecars)
    total.set_max(init_max)
    if spec.resources is not None and spec.resources.requests:  # pod-level resources win where given
        pod_level = Resource.from_list(spec.resources.requests)
        if "cpu" in spec.resources.requests:
            total.milli_cpu = pod_level.milli_cpu
        if "memory" in spec.resources.requests:
            total.memory = pod_level.memory
    if spec.overhead:
        total.add(Resource.from_list(spec.overhead))
    total.allowed_pods = 0
    return total


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A parsed PodAffinityTerm: which pods (namespaces * label selector) and over which topology key."""

    selector: LabelSelector
    topology_key: str
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None = None

    def matches(self, pod: PodInfo, namespace_labels: NamespaceLabels | None = None) -> bool:
        if pod.namespace not in self.namespaces:
            if self.namespace_selector is None:
                return False
            if not self.namespace_selector.empty:
                labels = namespace_labels(pod.namespace) if namespace_labels else None
                if labels is None or not self.namespace_selector.matches(labels):
                    return False
        return self.selector.matches(pod.labels)


def label_selector_of(struct: Any) -> LabelSelector:
    """A LabelSelector from its API Struct; None or an invalid selector selects nothing."""
    if struct is None:
        return LabelSelector.nothing()
    try:
        return selector_from_api(msgspec.to_builtins(struct))
    except Exception:  # an invalid selector matches nothing, as in Kubernetes
        return LabelSelector.nothing()


def _affinity_term(pod_ns: str, labels: Mapping[str, str], term: PodAffinityTerm) -> AffinityTerm | None:
    if not term.topology_key:
        return None
    selector = label_selector_of(term.label_selector)
    extra: list[Requirement] = []
    try:
        for key in term.match_label_keys or ():
            if key in labels:
                extra.append(Requirement.build(key=key, operator=Operator.IN, values=[labels[key]]))
        for key in term.mismatch_label_keys or ():
            if key in labels:
                extra.append(Requirement.build(key=key, operator=Operator.NOT_IN, values=[labels[key]]))
    except ValueError:
        extra = []
    if extra and term.label_selector is not None:
        selector = LabelSelector.of([*selector.requirements, *extra])
    namespaces = frozenset(term.namespaces or ())
    ns_selector = None
    if term.namespace_selector is not None:
        ns_selector = label_selector_of(term.namespace_selector)
    elif not namespaces:
        namespaces = frozenset((pod_ns,))
    return AffinityTerm(selector=selector, topology_key=term.topology_key, namespaces=namespaces,
                        namespace_selector=ns_selector)


class PodInfo:
    """A pod and what the plugins derive from it (see the module docstring). Read-only once built."""

    __slots__ = (
        "controller_uid",
        "host_ports",
        "key",
        "labels",
        "name",
        "namespace",
        "node_name",
        "non_zero",
        "pod",
        "preferred_affinity",
        "preferred_anti_affinity",
        "priority",
        "requests",
        "required_affinity",
        "required_anti_affinity",
        "terminating",
        "uid",
    )

    def __init__(self, pod: Pod) -> None:
        meta = pod.metadata
        spec = pod.spec
        self.pod = pod
        self.key = object_key(pod)
        self.namespace = (meta.namespace if meta else None) or ""
        self.name = (meta.name if meta else None) or ""
        self.uid = (meta.uid if meta else None) or ""
        self.labels: Mapping[str, str] = (meta.labels if meta else None) or {}
        self.terminating = bool(meta and meta.deletion_timestamp)
        self.node_name = (spec.node_name if spec else None) or ""
        self.priority = (spec.priority if spec else None) or 0
        self.controller_uid = ""
        for ref in (meta.owner_references if meta else None) or ():
            if ref.controller and ref.uid:
                self.controller_uid = ref.uid
                break
        self.requests = pod_requests(pod)
        nz = pod_requests(pod, non_zero=True)
        self.non_zero = (nz.milli_cpu, nz.memory)
        ports: list[tuple[str, str, int]] = []
        for c in (spec.containers if spec else None) or ():
            for p in c.ports or ():
                if p.host_port:
                    ports.append((p.host_ip or ANY_IP, p.protocol or "TCP", p.host_port))
        self.host_ports = ports
        self.required_affinity: list[AffinityTerm] = []
        self.required_anti_affinity: list[AffinityTerm] = []
        self.preferred_affinity: list[tuple[int, AffinityTerm]] = []
        self.preferred_anti_affinity: list[tuple[int, AffinityTerm]] = []
        affinity = spec.affinity if spec else None
        if affinity is not None:
            self._parse_affinity(affinity)

    def _parse_affinity(self, affinity: Any) -> None:
        ns, labels = self.namespace, self.labels
        for source, required, preferred in (
            (affinity.pod_affinity, self.required_affinity, self.preferred_affinity),
            (affinity.pod_anti_affinity, self.required_anti_affinity, self.preferred_anti_affinity),
        ):
            if source is None:
                continue
            for term in source.required_during_scheduling_ignored_during_execution or ():
                parsed = _affinity_term(ns, labels, term)
                if parsed is not None:
                    required.append(parsed)
            for weighted in source.preferred_during_scheduling_ignored_during_execution or ():
                if weighted.pod_affinity_term is None or not weighted.weight:
                    continue
                parsed = _affinity_term(ns, labels, weighted.pod_affinity_term)
                if parsed is not None:
                    preferred.append((weighted.weight, parsed))

    def with_node(self, node_name: str) -> PodInfo:
        """A copy placed on `node_name` (what the cache holds for an assumed pod)."""
        copy = object.__new__(PodInfo)
        for slot in PodInfo.__slots__:
            setattr(copy, slot, getattr(self, slot))
        copy.node_name = node_name
        return copy

    @property
    def has_affinity(self) -> bool:
        return bool(self.required_affinity or self.required_anti_affinity or self.preferred_affinity
                    or self.preferred_anti_affinity)

    def __repr__(self) -> str:
        return f"PodInfo({self.key})"


class NodeInfo:
    """One node and the pods on it (see the module docstring). `node` is None for a node the scheduler
    has seen pods bound to but not the Node object itself (yet)."""

    __slots__ = (
        "allocatable",
        "generation",
        "labels",
        "name",
        "node",
        "non_zero_cpu",
        "non_zero_memory",
        "owner_counts",
        "pods",
        "pods_with_affinity",
        "pods_with_required_anti_affinity",
        "port_any_ip",
        "requested",
        "taints",
        "unschedulable",
        "used_ports",
    )

    def __init__(self, *, name: str, node: Node | None = None) -> None:
        self.name = name
        self.node: Node | None = None
        self.labels: Mapping[str, str] = {}
        self.taints: list[Taint] = []
        self.unschedulable = False
        self.allocatable = Resource()
        self.requested = Resource()
        self.non_zero_cpu = 0
        self.non_zero_memory = 0
        self.pods: dict[str, PodInfo] = {}
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_required_anti_affinity: dict[str, PodInfo] = {}
        self.used_ports: Counter[tuple[str, str, int]] = Counter()
        self.port_any_ip: Counter[tuple[str, int]] = Counter()
        self.owner_counts: Counter[str] = Counter()
        self.generation = next(_generation)
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Node) -> None:
        self.node = node
        meta, spec, status = node.metadata, node.spec, node.status
        self.labels = (meta.labels if meta else None) or {}
        self.taints = list((spec.taints if spec else None) or ())
        self.unschedulable = bool(spec and spec.unschedulable)
        self.allocatable = Resource.from_list(status.allocatable if status else None)
        self.generation = next(_generation)

    def add_pod(self, pod: PodInfo) -> None:
        self.pods[pod.key] = pod
        self.requested.add(pod.requests)
        self.non_zero_cpu += pod.non_zero[0]
        self.non_zero_memory += pod.non_zero[1]
        if pod.has_affinity:
            self.pods_with_affinity[pod.key] = pod
        if pod.required_anti_affinity:
            self.pods_with_required_anti_affinity[pod.key] = pod
        for ip, proto, port in pod.host_ports:
            self.used_ports[(ip, proto, port)] += 1
            self.port_any_ip[(proto, port)] += 1
        if pod.controller_uid:
            self.owner_counts[pod.controller_uid] += 1
        self.generation = next(_generation)

    def remove_pod(self, key: str) -> PodInfo | None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return None
        self.requested.add(pod.requests, -1)
        self.non_zero_cpu -= pod.non_zero[0]
        self.non_zero_memory -= pod.non_zero[1]
        self.pods_with_affinity.pop(key, None)
        self.pods_with_required_anti_affinity.pop(key, None)
        for ip, proto, port in pod.host_ports:
            self.used_ports[(ip, proto, port)] -= 1
            self.port_any_ip[(proto, port)] -= 1
        if pod.controller_uid:
            self.owner_counts[pod.controller_uid] -= 1
        self.generation = next(_generation)
        return pod

    def port_conflict(self, ip: str, proto: str, port: int) -> bool:
        if ip == ANY_IP:
            return self.port_any_ip[(proto, port)] > 0
        return self.used_ports[(ip, proto, port)] > 0 or self.used_ports[(ANY_IP, proto, port)] > 0

    def clone(self) -> NodeInfo:
        """An independent copy (pods shared, they are read-only) for preemption's what-if runs."""
        copy = NodeInfo(name=self.name)
        copy.node = self.node
        copy.labels, copy.taints, copy.unschedulable = self.labels, self.taints, self.unschedulable
        copy.allocatable = self.allocatable
        copy.requested = self.requested.clone()
        copy.non_zero_cpu, copy.non_zero_memory = self.non_zero_cpu, self.non_zero_memory
        copy.pods = dict(self.pods)
        copy.pods_with_affinity = dict(self.pods_with_affinity)
        copy.pods_with_required_anti_affinity = dict(self.pods_with_required_anti_affinity)
        copy.used_ports = Counter(self.used_ports)
        copy.port_any_ip = Counter(self.port_any_ip)
        copy.owner_counts = Counter(self.owner_counts)
        return copy

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"
