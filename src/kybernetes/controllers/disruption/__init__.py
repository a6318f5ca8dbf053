"""PodDisruptionBudget status: how many selected pods are healthy, how many must be, how many may go.

Kubernetes' disruption controller, through the API only. For each budget (synced when it or a pod of its
namespace that it selects changes):

* `expectedPods`: with `maxUnavailable`, or a percentage `minAvailable`, the sum of the scales of the pods'
  controllers (a ReplicaSet owned by a Deployment counts as the Deployment; ReplicationControllers,
  StatefulSets; any other kind through its `/scale` subresource); with an integer `minAvailable`, the
  number of selected pods. Pods without a controller are "unmanaged" (an `UnmanagedPods` warning);
* `desiredHealthy`: `expectedPods - maxUnavailable` (percentages rounded up) or `minAvailable`;
* `currentHealthy`: selected pods that are Ready, not being deleted and not in `disruptedPods` (pods the
  eviction subresource evicted in the last two minutes; older entries are dropped);
* `disruptionsAllowed` = `currentHealthy - desiredHealthy` (never below 0; 0 when nothing is expected);
* the `DisruptionAllowed` condition (`SufficientPods` / `InsufficientPods`, or `SyncFailed` with the error
  when the status could not be computed, in which case no disruption is allowed) and `observedGeneration`.

The API server's eviction subresource reads `status.disruptionsAllowed`; this is what keeps it true.
"""

from __future__ import annotations

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.disruption.controller import DisruptionController

__all__ = ["DisruptionController", "new"]


def new(ctx: ControllerContext) -> DisruptionController:
    return DisruptionController(ctx=ctx)
