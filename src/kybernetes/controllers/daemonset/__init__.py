"""The DaemonSet controller (`controller.py`) and node placement (`placement.py`); ControllerRevision
history is `common/revisions.py` (shared with the StatefulSet controller). Registry name: "daemonset"."""

from __future__ import annotations

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.daemonset.controller import DaemonSetController

__all__ = ["DaemonSetController", "new"]


def new(ctx: ControllerContext) -> DaemonSetController:
    return DaemonSetController(ctx=ctx)
