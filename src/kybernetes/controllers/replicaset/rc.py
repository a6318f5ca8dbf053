"""The ReplicationController controller: the replica controller over core/v1 ReplicationControllers."""

from __future__ import annotations

from kybernetes.api.models.core_v1 import ReplicationController
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.replicaset import REPLICATION_CONTROLLER, ReplicaSetController, build


def new(ctx: ControllerContext) -> ReplicaSetController[ReplicationController]:
    return build(ctx=ctx, kind=REPLICATION_CONTROLLER)
