"""TTL after finished: deletes a finished Job `ttlSecondsAfterFinished` seconds after it finished.

Kubernetes runs this as its own controller (ttl-after-finished); here it runs beside the Job controller
in the same package. A Job whose time has not come is requeued for the moment it expires. Before deleting,
the Job is read fresh from the API server, so a TTL changed meanwhile (or a Job recreated under the same
name) is honoured; the delete carries the uid as a precondition and cascades in the foreground, as
Kubernetes does, so the Job's pods go first.
"""

from __future__ import annotations

import logging

from kybernetes.api.models.batch_v1 import Job
from kybernetes.api.models.meta_v1 import Preconditions
from kybernetes.client import Informer, WorkQueue, split_key
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import WallClock, key_of
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.job.controller import finish_time, is_finished
from kybernetes.machinery.errors import ConflictError, NotFoundError

log = logging.getLogger(__name__)


class TTLAfterFinished:
    name = "ttl-after-finished-controller"

    def __init__(self, *, ctx: ControllerContext, jobs: Informer[Job], wall: WallClock) -> None:
        self.jobs = jobs
        self.wall = wall
        self.job_api = ctx.client.resource(Job)
        self.queue = WorkQueue(name="ttl-after-finished", clock=ctx.clock)
        jobs.add_handler(on_add=self._changed, on_update=lambda _o, n: self._changed(n))

    def _changed(self, job: Job) -> None:
        if job.spec is not None and job.spec.ttl_seconds_after_finished is not None and is_finished(job):
            assert job.metadata is not None
            self.queue.add(key_of(job.metadata.namespace, job.metadata.name or ""))

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    def _left(self, job: Job) -> float | None:
        """Seconds until the Job expires (<= 0: expired), or None when it has no TTL or has not finished."""
        if job.spec is None or job.spec.ttl_seconds_after_finished is None or not is_finished(job):
            return None
        if job.metadata is not None and job.metadata.deletion_timestamp:
            return None
        finished = finish_time(job)
        if finished is None:
            return None
        return job.spec.ttl_seconds_after_finished - (self.wall() - finished).total_seconds()

    async def sync(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None:
            return
        left = self._left(job)
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        namespace, name = split_key(key)
        try:
            fresh = await self.job_api.get(name=name, namespace=namespace)
        except NotFoundError:
            return
        left = self._left(fresh)
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        uid = fresh.metadata.uid if fresh.metadata else None
        try:
            await self.job_api.delete(name=name, namespace=namespace, propagation_policy="Foreground",
                                      preconditions=Preconditions(uid=uid))
        except NotFoundError:
            return
        except ConflictError:
            log.info("job %s was replaced before its TTL expired; not deleting", key)
            return
        log.info("deleted job %s: ttlSecondsAfterFinished expired", key)
