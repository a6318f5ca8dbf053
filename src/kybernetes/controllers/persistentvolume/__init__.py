"""The PersistentVolume binder: claims bound to volumes, released volumes reclaimed, protection finalizers.

`controller.PersistentVolumeController` does the work (its docstring has the rules); `matching` holds the
pure matching rules; `writes` the idempotent writes. `new(ctx)` builds it for the controller-manager from
these options (strings, `--option KEY=VALUE`):

* `hostpath-provisioner-root` — a directory: turns on the `kybernetes.io/hostpath` dynamic provisioner,
  which makes one directory per claim there (off by default);
* `pv-delete-hostpath` — "true" lets the Delete reclaim policy remove hostPath directories the
  provisioner did not make (off by default: only the PersistentVolume object is deleted).
"""

from __future__ import annotations

from kybernetes.api.models.core_v1 import Node, PersistentVolume, PersistentVolumeClaim, Pod
from kybernetes.api.models.storage_v1 import StorageClass
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.persistentvolume.controller import (
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_PROVISIONED_BY,
    ANN_SELECTED_NODE,
    HOSTPATH_PROVISIONER,
    INDEX_CLAIM,
    PV_PROTECTION,
    PVC_PROTECTION,
    BinderOptions,
    PersistentVolumeController,
    claims_of,
)

__all__ = ["ANN_BIND_COMPLETED", "ANN_BOUND_BY_CONTROLLER", "ANN_PROVISIONED_BY", "ANN_SELECTED_NODE",
           "HOSTPATH_PROVISIONER", "PVC_PROTECTION", "PV_PROTECTION", "BinderOptions",
           "PersistentVolumeController", "new"]


def new(ctx: ControllerContext) -> PersistentVolumeController:
    options = BinderOptions(
        delete_hostpath=ctx.options.get("pv-delete-hostpath", "").lower() == "true",
        provisioner_root=ctx.options.get("hostpath-provisioner-root", ""),
    )
    return PersistentVolumeController(
        client=ctx.client,
        claims=ctx.informers.informer(PersistentVolumeClaim),
        volumes=ctx.informers.informer(PersistentVolume),
        classes=ctx.informers.informer(StorageClass),
        pods=ctx.informers.informer(Pod, indexers={INDEX_CLAIM: claims_of}),
        nodes=ctx.informers.informer(Node),
        recorder=ctx.recorder("persistentvolume-controller"),
        clock=ctx.clock,
        options=options,
    )
