"""ResourceQuota usage: keeps every quota's `status.hard` (a copy of `spec.hard`) and `status.used` true.

Kubernetes' resource quota controller, through the API only. Each quota is synced when it changes, when an
object it may count changes in its namespace (pods, services, configmaps, secrets, persistentvolumeclaims,
replicationcontrollers: "replenishment"), and every `resource-quota-sync-period` seconds (default 300;
from `ctx.options`) so that `count/<resource>.<group>` of other kinds — listed through the API at sync
time — catch up. The status is written through `/status` only when it changed. What is counted is in
`usage`. Enforcement at admission time is the API server's business, not this controller's.
"""

from __future__ import annotations

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.resourcequota.controller import ResourceQuotaController

__all__ = ["ResourceQuotaController", "new"]


def new(ctx: ControllerContext) -> ResourceQuotaController:
    return ResourceQuotaController(ctx=ctx)
