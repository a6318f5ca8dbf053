"""The ReplicaSet controller (and, over the same code, the ReplicationController controller in `.rc`).

`new(ctx)` builds it on the shared informers: pods (indexed by controller UID, orphans by namespace) and
ReplicaSets (indexed by namespace). The logic lives in `controller.py`; `kinds.py` says what differs between
ReplicaSets and ReplicationControllers; `status.py` computes the status.
"""

from __future__ import annotations

from typing import TypeVar

from kybernetes.api.models import Model
from kybernetes.api.models.apps_v1 import ReplicaSet
from kybernetes.api.models.core_v1 import Pod
from kybernetes.client import INDEX_NAMESPACE, namespace_index
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import INDEX_CONTROLLER, controller_index, wall_clock
from kybernetes.controllers.replicaset.controller import BURST_REPLICAS, ReplicaSetController
from kybernetes.controllers.replicaset.kinds import REPLICA_SET, REPLICATION_CONTROLLER, ReplicaKind

__all__ = [
    "BURST_REPLICAS",
    "REPLICATION_CONTROLLER",
    "REPLICA_SET",
    "ReplicaKind",
    "ReplicaSetController",
    "build",
    "new",
]

T = TypeVar("T", bound=Model)


def build(*, ctx: ControllerContext, kind: ReplicaKind[T]) -> ReplicaSetController[T]:
    pods = ctx.informers.informer(Pod, indexers={INDEX_CONTROLLER: controller_index})
    owners = ctx.informers.informer(kind.model, indexers={INDEX_NAMESPACE: namespace_index})
    writer = ctx.client.resource(kind.model)
    return ReplicaSetController(
        kind=kind, owners=owners, pods=pods, owner_writer=writer, pod_writer=ctx.client.resource(Pod),
        recorder=ctx.recorder(kind.component), clock=ctx.clock, now=wall_clock(ctx.clock),
    )


def new(ctx: ControllerContext) -> ReplicaSetController[ReplicaSet]:
    return build(ctx=ctx, kind=REPLICA_SET)
