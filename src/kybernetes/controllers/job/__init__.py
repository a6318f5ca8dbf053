"""The Job controller (`controller.py`) and the TTL-after-finished controller (`ttl.py`), run together.

`new(ctx)` builds both over the shared informers; `run(workers=N)` runs both until cancelled.
Registry name: "job".
"""

from __future__ import annotations

import asyncio

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import WallClock
from kybernetes.controllers.job.controller import JobController
from kybernetes.controllers.job.ttl import TTLAfterFinished

__all__ = ["JobController", "JobControllers", "TTLAfterFinished", "new"]


class JobControllers:
    """The Job controller plus the TTL-after-finished controller, as one `Controller`."""

    name = "job-controller"

    def __init__(self, *, ctx: ControllerContext, wall: WallClock | None = None) -> None:
        wall = wall or WallClock(clock=ctx.clock)
        self.jobs = JobController(ctx=ctx, wall=wall)
        self.ttl = TTLAfterFinished(ctx=ctx, jobs=self.jobs.jobs, wall=wall)

    async def run(self, *, workers: int) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.jobs.run(workers=workers), name="job-controller")
            tg.create_task(self.ttl.run(workers=1), name="ttl-after-finished-controller")


def new(ctx: ControllerContext) -> JobControllers:
    return JobControllers(ctx=ctx)
