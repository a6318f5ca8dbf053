"""The StatefulSet controller (`controller.py`); revisions come from `common/revisions.py`.
Registry name: "statefulset"."""

from __future__ import annotations

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.statefulset.controller import StatefulSetController

__all__ = ["StatefulSetController", "new"]


def new(ctx: ControllerContext) -> StatefulSetController:
    return StatefulSetController(ctx=ctx)
