"""The Deployment controller: rolling updates, Recreate, pause/resume, revision history, progress deadlines.

`new(ctx)` builds it on the shared informers: Deployments (by namespace), ReplicaSets (by controller UID,
orphans by namespace) and pods (by controller UID, for Recreate). `controller.py` holds the sync,
`scaling.py` the replica arithmetic, `revisions.py` the ReplicaSet-per-template bookkeeping that
`kubectl rollout history/undo` reads, and `progress.py` the status and conditions `kubectl rollout status`
reads.
"""

from __future__ import annotations

from kybernetes.api.models.apps_v1 import Deployment, ReplicaSet
from kybernetes.api.models.core_v1 import Pod
from kybernetes.client import INDEX_NAMESPACE, namespace_index
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import INDEX_CONTROLLER, controller_index, wall_clock
from kybernetes.controllers.deployment.controller import COMPONENT, DeploymentController

__all__ = ["COMPONENT", "DeploymentController", "new"]


def new(ctx: ControllerContext) -> DeploymentController:
    return DeploymentController(
        deployments=ctx.informers.informer(Deployment, indexers={INDEX_NAMESPACE: namespace_index}),
        replica_sets=ctx.informers.informer(ReplicaSet, indexers={INDEX_CONTROLLER: controller_index}),
        pods=ctx.informers.informer(Pod, indexers={INDEX_CONTROLLER: controller_index}),
        deployment_writer=ctx.client.resource(Deployment),
        rs_writer=ctx.client.resource(ReplicaSet),
        recorder=ctx.recorder(COMPONENT),
        clock=ctx.clock,
        now=wall_clock(ctx.clock),
    )
