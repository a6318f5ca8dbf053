"""The DaemonSet controller (`controller.py`), node placement (`placement.py`) and ControllerRevision
history (`history.py`, shared with the StatefulSet controller). Registry name: "daemonset"."""

from __future__ import annotations

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.daemonset.controller import DaemonSetController

__all__ = ["DaemonSetController", "new"]


def new(ctx: ControllerContext) -> DaemonSetController:
    return DaemonSetController(ctx=ctx)
