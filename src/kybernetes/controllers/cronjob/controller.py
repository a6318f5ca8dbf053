"""The CronJob controller: creates a Job for each scheduled time, keeps `status.active`, and prunes history.

`sync(namespace/name)`:

1. The CronJob's Jobs (by controller ownerReference) reconcile `status.active`: running Jobs not listed are
   added, finished ones removed ("SawCompletedJob"; a Complete one moves `lastSuccessfulTime`), and refs to
   Jobs that no longer exist dropped.
2. Unless suspended or being deleted: the most recent scheduled time in (lastScheduleTime or
   creationTimestamp, now] — limited to the last `startingDeadlineSeconds` when set — is due. Too late for
   its deadline → nothing; `Forbid` with an active Job → nothing ("JobAlreadyActive"); `Replace` → the
   active Jobs are deleted first. The Job is named `<cronjob>-<scheduled Unix minutes>`, so a time is never
   run twice even across restarts (an AlreadyExists answer means it was).
3. Finished Jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` are deleted, oldest first.
4. The key is requeued for the next scheduled time (the wake-up follows the controller's clock).

A bad schedule or time zone is a Warning event ("UnparseableSchedule" / "UnknownTimeZone"), not a retry loop.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import msgspec

from kybernetes.api.models.batch_v1 import CronJob, CronJobStatus, Job
from kybernetes.api.models.core_v1 import ObjectReference
from kybernetes.client import INDEX_OWNER_UID, WorkQueue, object_key, owner_uid_index
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import (
    WallClock,
    controller_key,
    from_wire,
    is_controlled_by,
    key_of,
    new_controller_ref,
    parse_time,
    wire,
)
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.cronjob.schedule import Schedule, ScheduleError
from kybernetes.controllers.job.controller import condition, is_finished
from kybernetes.machinery.errors import AlreadyExistsError, NotFoundError
from kybernetes.machinery.timefmt import format_rfc3339

log = logging.getLogger(__name__)

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SYNC_SLACK = 0.1  # seconds past the scheduled minute, so the time is surely due when we wake
MISSED_CAP = 100


def job_name(cronjob: str, scheduled: datetime) -> str:
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


class CronJobController:
    name = "cronjob-controller"

    def __init__(self, *, ctx: ControllerContext, wall: WallClock | None = None) -> None:
        self.wall = wall or WallClock(clock=ctx.clock)
        self.cronjobs = ctx.informers.informer(CronJob)
        self.jobs = ctx.informers.informer(Job, indexers={INDEX_OWNER_UID: owner_uid_index})
        self.cronjob_api = ctx.client.resource(CronJob)
        self.job_api = ctx.client.resource(Job)
        self.recorder = ctx.recorder("cronjob-controller")
        self.queue = WorkQueue(name="cronjob", clock=ctx.clock)
        self.cronjobs.add_handler(on_add=self._enqueue, on_update=lambda _o, n: self._enqueue(n),
                                  on_delete=self._enqueue)
        self.jobs.add_handler(on_add=self._job_changed, on_update=lambda _o, n: self._job_changed(n),
                              on_delete=self._job_changed)

    def _enqueue(self, cronjob: CronJob) -> None:
        self.queue.add(object_key(cronjob))

    def _job_changed(self, job: Job) -> None:
        key = controller_key(job, kind="CronJob")
        if key is not None:
            self.queue.add(key)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    async def sync(self, key: str) -> None:
        cronjob = self.cronjobs.get(key)
        if cronjob is None or cronjob.metadata is None or cronjob.spec is None:
            return
        now = self.wall()
        jobs = [j for j in self.jobs.by_index(INDEX_OWNER_UID, cronjob.metadata.uid or "")
                if is_controlled_by(j, cronjob)]
        status = msgspec.structs.replace(cronjob.status) if cronjob.status else CronJobStatus()
        self._reconcile_active(cronjob, status, jobs)
        if not cronjob.metadata.deletion_timestamp:
            await self._maybe_start(cronjob, status, jobs, now, key)
        await self._write_status(cronjob, status)
        await self._prune(cronjob, jobs)

    # ---- active list ----------------------------------------------------------------------------------

    def _reconcile_active(self, cronjob: CronJob, status: CronJobStatus, jobs: list[Job]) -> None:
        active = list(status.active or [])
        listed = {ref.uid for ref in active}
        by_uid = {j.metadata.uid: j for j in jobs if j.metadata}
        for job in jobs:
            assert job.metadata is not None
            if not is_finished(job) and job.metadata.uid not in listed:
                active.append(_reference(job))
            elif is_finished(job) and job.metadata.uid in listed:
                active = [r for r in active if r.uid != job.metadata.uid]
                state = "Complete" if condition(job, "Complete") else "Failed"
                self.recorder.event(cronjob, reason="SawCompletedJob",
                                    message=f"Saw completed job: {job.metadata.name}, status: {state}")
            if condition(job, "Complete") is not None and job.status and job.status.completion_time:
                if not status.last_successful_time or status.last_successful_time < job.status.completion_time:
                    status.last_successful_time = job.status.completion_time
        kept = []
        for ref in active:
            if ref.uid in by_uid:
                kept.append(ref)
            else:
                self.recorder.event(cronjob, reason="MissingJob", message=f"Active job went missing: {ref.name}")
        status.active = kept or None

    # ---- scheduling -----------------------------------------------------------------------------------

    async def _maybe_start(self, cronjob: CronJob, status: CronJobStatus, jobs: list[Job], now: datetime,
                           key: str) -> None:
        spec, meta = cronjob.spec, cronjob.metadata
        assert spec is not None and meta is not None
        try:
            schedule = Schedule.parse(spec.schedule or "", time_zone=spec.time_zone)
        except ScheduleError as e:
            reason = "UnknownTimeZone" if "time zone" in str(e) else "UnparseableSchedule"
            message = (f"invalid timeZone: {spec.time_zone!r}: {e}" if reason == "UnknownTimeZone"
                       else f"unparseable schedule: {spec.schedule!r} : {e}")
            self.recorder.event(cronjob, type="Warning", reason=reason, message=message)
            return
        if spec.suspend:
            return
        earliest = parse_time(status.last_schedule_time) or parse_time(meta.creation_timestamp) or now
        if spec.starting_deadline_seconds is not None:
            earliest = max(earliest, now - timedelta(seconds=spec.starting_deadline_seconds))
        scheduled, missed = schedule.most_recent(earliest=earliest, now=now, cap=MISSED_CAP)
        self._requeue_for_next(key, schedule, now)
        if scheduled is None:
            return
        if missed > MISSED_CAP:
            self.recorder.event(cronjob, type="Warning", reason="TooManyMissedTimes",
                                message="too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
                                        "or check clock skew")
        if spec.starting_deadline_seconds is not None and \
                scheduled + timedelta(seconds=spec.starting_deadline_seconds) < now:
            self.recorder.event(cronjob, type="Warning", reason="MissSchedule",
                                message=f"Missed scheduled time to start a job: {format_rfc3339(scheduled)}")
            return
        active = status.active or []
        if spec.concurrency_policy == "Forbid" and active:
            self.recorder.event(cronjob, reason="JobAlreadyActive",
                                message="Not starting job because prior execution is running and concurrency "
                                        "policy is Forbid")
            return
        if spec.concurrency_policy == "Replace":
            for ref in list(active):
                try:
                    await self.job_api.delete(name=ref.name or "", namespace=meta.namespace,
                                              propagation_policy="Background")
                except NotFoundError:
                    pass
                self.recorder.event(cronjob, reason="SuccessfulDelete", message=f"Deleted job {ref.name}")
                active = [r for r in active if r.uid != ref.uid]
            status.active = active or None
        name = job_name(meta.name or "", scheduled)
        try:
            created = await self.job_api.create(self._job_for(cronjob, name, scheduled))
        except AlreadyExistsError:
            # This time was run before (a previous sync whose status write was lost): just record it.
            existing = self.jobs.get(key_of(meta.namespace, name))
            if existing is not None and is_controlled_by(existing, cronjob) and not is_finished(existing):
                if all(r.uid != existing.metadata.uid for r in status.active or []):  # type: ignore[union-attr]
                    status.active = [*(status.active or []), _reference(existing)]
            status.last_schedule_time = format_rfc3339(scheduled)
            return
        self.recorder.event(cronjob, reason="SuccessfulCreate", message=f"Created job {name}")
        status.active = [*(status.active or []), _reference(created)]
        status.last_schedule_time = format_rfc3339(scheduled)

    def _requeue_for_next(self, key: str, schedule: Schedule, now: datetime) -> None:
        upcoming = schedule.next(now)
        if upcoming is not None:
            self.queue.add_after(key, (upcoming - now).total_seconds() + NEXT_SYNC_SLACK)

    def _job_for(self, cronjob: CronJob, name: str, scheduled: datetime) -> Job:
        assert cronjob.spec is not None and cronjob.metadata is not None
        template = wire(cronjob.spec.job_template) if cronjob.spec.job_template else {}
        meta: dict[str, Any] = template.get("metadata") or {}
        annotations = dict(meta.get("annotations") or {})
        annotations[SCHEDULED_TIMESTAMP] = format_rfc3339(scheduled)
        owner = new_controller_ref(cronjob, api_version="batch/v1", kind="CronJob")
        body: dict[str, Any] = {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": cronjob.metadata.namespace,
                         "labels": dict(meta.get("labels") or {}), "annotations": annotations,
                         "ownerReferences": [wire(owner)]},
            "spec": template.get("spec") or {},
        }
        if not body["metadata"]["labels"]:
            del body["metadata"]["labels"]
        return from_wire(body, Job)

    async def _write_status(self, cronjob: CronJob, status: CronJobStatus) -> None:
        updated = msgspec.structs.replace(cronjob, status=status)
        if updated != cronjob:
            await self.cronjob_api.update_status(updated)

    # ---- history ----------------------------------------------------------------------------------------

    async def _prune(self, cronjob: CronJob, jobs: list[Job]) -> None:
        spec = cronjob.spec
        assert spec is not None and cronjob.metadata is not None
        for state, limit in (("Complete", spec.successful_jobs_history_limit),
                             ("Failed", spec.failed_jobs_history_limit)):
            if limit is None:
                continue
            done = [j for j in jobs if condition(j, state) is not None
                    and not (j.metadata and j.metadata.deletion_timestamp)]
            done.sort(key=_started)
            for job in done[: max(0, len(done) - limit)]:
                assert job.metadata is not None
                try:
                    await self.job_api.delete(name=job.metadata.name or "", namespace=job.metadata.namespace,
                                              propagation_policy="Background")
                except NotFoundError:
                    continue
                self.recorder.event(cronjob, reason="SuccessfulDelete", message=f"Deleted job {job.metadata.name}")


def _started(job: Job) -> str:
    if job.status and job.status.start_time:
        return job.status.start_time
    return (job.metadata.creation_timestamp if job.metadata else None) or ""


def _reference(job: Job) -> ObjectReference:
    assert job.metadata is not None
    return ObjectReference(api_version="batch/v1", kind="Job", name=job.metadata.name,
                           namespace=job.metadata.namespace, uid=job.metadata.uid,
                           resource_version=job.metadata.resource_version)
