"""The CronJob controller (`controller.py`) and cron schedules (`schedule.py`). Registry name: "cronjob"."""

from __future__ import annotations

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.cronjob.controller import CronJobController
from kybernetes.controllers.cronjob.schedule import Schedule, ScheduleError

__all__ = ["CronJobController", "Schedule", "ScheduleError", "new"]


def new(ctx: ControllerContext) -> CronJobController:
    return CronJobController(ctx=ctx)
