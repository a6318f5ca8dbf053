"""Fake Node and Pod objects for the scheduler's unit tests (plain Structs, as the informers hand them out)."""

from __future__ import annotations

import itertools
from typing import Any

from kybernetes.api.models.core_v1 import (
    Container,
    ContainerPort,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    Pod,
    PodSpec,
    PodStatus,
    ResourceRequirements,
    Taint,
    Toleration,
)
from kybernetes.api.models.meta_v1 import ObjectMeta, OwnerReference
from kybernetes.scheduler.cache import SchedulerCache, Snapshot
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

_uid = itertools.count(1)


def node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: int = 110,
    labels: dict[str, str] | None = None,
    taints: list[Taint] | None = None,
    unschedulable: bool = False,
) -> Node:
    allocatable: dict[str, str | int | float] = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    return Node(
        metadata=ObjectMeta(name=name, uid=f"node-{name}",
                            labels={"kubernetes.io/hostname": name, **(labels or {})}),
        spec=NodeSpec(taints=taints, unschedulable=unschedulable or None),
        status=NodeStatus(allocatable=allocatable, capacity=allocatable,
                          conditions=[NodeCondition(type="Ready", status="True")]),
    )


def pod(
    name: str,
    *,
    namespace: str = "default",
    cpu: str | None = None,
    memory: str | None = None,
    node_name: str | None = None,
    priority: int | None = None,
    labels: dict[str, str] | None = None,
    host_port: int | None = None,
    tolerations: list[Toleration] | None = None,
    owner_uid: str | None = None,
    created: str = "2024-01-01T00:00:00Z",
    **spec: Any,
) -> Pod:
    requests: dict[str, str | int | float] = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    ports = [ContainerPort(container_port=80, host_port=host_port)] if host_port else None
    container = Container(name="c", image="busybox", ports=ports,
                          resources=ResourceRequirements(requests=requests) if requests else None)
    owners = None
    if owner_uid:
        owners = [OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="rs", uid=owner_uid, controller=True)]
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, uid=f"uid-{name}-{next(_uid)}", labels=labels,
                            owner_references=owners, creation_timestamp=created),
        spec=PodSpec(containers=[container], node_name=node_name, priority=priority, tolerations=tolerations,
                     **spec),
        status=PodStatus(phase="Pending"),
    )


def info(p: Pod) -> PodInfo:
    return PodInfo(p)


def node_info(n: Node, *pods: Pod) -> NodeInfo:
    ni = NodeInfo(name=n.metadata.name or "", node=n)  # type: ignore[union-attr]
    for p in pods:
        ni.add_pod(PodInfo(p))
    return ni


def cluster(nodes: list[Node], pods: list[Pod] = ()) -> tuple[SchedulerCache, Snapshot]:  # type: ignore[assignment]
    cache = SchedulerCache()
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        cache.add_pod(p)
    return cache, cache.update_snapshot(Snapshot())
