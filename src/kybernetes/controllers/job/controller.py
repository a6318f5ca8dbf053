"""The Job controller: runs a Job's pods to `completions` successes, at most `parallelism` at a time.

One level-triggered `sync(namespace/name)` per Job:

1. Pods are the Job's by controller ownerReference (informer index on owner uid). Every pod is created
   with the `batch.kubernetes.io/job-tracking` finalizer, so a finished pod cannot vanish before the Job
   has counted it.
2. Finished pods still carrying the finalizer are new: their uids go to `status.uncountedTerminatedPods`
   (written first), then their finalizers are removed, then they move from the uncounted lists into
   `succeeded` / `failed` (Indexed Jobs count succeeded indexes in `completedIndexes` instead). Uids whose
   finalizer removal has been sent but not yet seen are remembered, so a stale cache cannot count twice.
3. Failure: more failed pods than `backoffLimit` → `FailureTarget` (BackoffLimitExceeded); running longer
   than `activeDeadlineSeconds` → `FailureTarget` (DeadlineExceeded). Active pods are deleted, and once none
   is left uncounted the terminal `Failed` condition follows, as Kubernetes 1.31+ does.
4. Otherwise `manage`: delete surplus active pods, or create missing ones in slow-start batches
   (NonIndexed: `min(parallelism, completions - succeeded)` active; Indexed: the lowest indexes neither
   succeeded nor active, each pod annotated and labelled with its completion index, hostname
   `<job>-<index>` and env `JOB_COMPLETION_INDEX`). After failures, new pods wait 10 s, 20 s, ... (6 min cap).
5. Success: `succeeded >= completions` with no active pod → `SuccessCriteriaMet`, then `Complete`
   with `completionTime` once every finished pod is counted.

Suspend deletes active pods and sets the `Suspended` condition; resuming resets `startTime`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from kybernetes.api.models.batch_v1 import Job, JobCondition, JobStatus, UncountedTerminatedPods
from kybernetes.api.models.core_v1 import Pod
from kybernetes.client import INDEX_OWNER_UID, WorkQueue, object_key, owner_uid_index
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import (
    Expectations,
    WallClock,
    controller_key,
    from_wire,
    is_controlled_by,
    is_pod_active,
    is_pod_ready,
    is_pod_terminal,
    is_terminating,
    new_controller_ref,
    parse_time,
    pod_from_template,
    pod_phase,
    slow_start_batch,
    wire,
)
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.job.indexes import COMPLETION_INDEX, format_intervals, parse_intervals, pod_index
from kybernetes.machinery.errors import NotFoundError, StatusError
from kybernetes.machinery.timefmt import format_rfc3339

log = logging.getLogger(__name__)

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0
MAX_PER_SYNC = 500


def condition(job: Job, type_: str) -> JobCondition | None:
    for cond in (job.status.conditions if job.status else None) or []:
        if cond.type == type_ and cond.status == "True":
            return cond
    return None


def is_finished(job: Job) -> bool:
    return condition(job, "Complete") is not None or condition(job, "Failed") is not None


def finish_time(job: Job) -> datetime | None:
    """When the Job finished: completionTime, else the terminal condition's transition time."""
    if job.status and job.status.completion_time:
        return parse_time(job.status.completion_time)
    for type_ in ("Complete", "Failed"):
        cond = condition(job, type_)
        if cond is not None:
            return parse_time(cond.last_transition_time)
    return None


def has_finalizer(pod: Pod) -> bool:
    return TRACKING_FINALIZER in ((pod.metadata.finalizers if pod.metadata else None) or [])


def is_failed(pod: Pod) -> bool:
    phase = pod_phase(pod)
    return phase == "Failed" or (is_terminating(pod) and phase != "Succeeded")


@dataclass(slots=True)
class _Backoff:
    failures: int = 0  # consecutive failures since the last success
    last_failure: datetime | None = None


@dataclass(slots=True)
class _Sync:
    """The working state of one sync."""

    job: Job
    key: str
    now: datetime
    pods: list[Pod]
    status: JobStatus
    active: list[Pod] = field(default_factory=list)
    finished: JobCondition | None = None  # FailureTarget / SuccessCriteriaMet to reach


class JobController:
    name = "job-controller"

    def __init__(self, *, ctx: ControllerContext, wall: WallClock | None = None) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.wall = wall or WallClock(clock=ctx.clock)
        self.jobs = ctx.informers.informer(Job)
        self.pods = ctx.informers.informer(Pod, indexers={INDEX_OWNER_UID: owner_uid_index})
        self.job_api = ctx.client.resource(Job)
        self.pod_api = ctx.client.resource(Pod)
        self.recorder = ctx.recorder("job-controller")
        self.queue = WorkQueue(name="job", clock=ctx.clock)
        self.expectations = Expectations(clock=ctx.clock)
        self.backoff_base = float(ctx.options.get("job-pod-failure-backoff", DEFAULT_BACKOFF))
        self._rm_finalizers: dict[str, set[str]] = {}
        self._backoff: dict[str, _Backoff] = {}
        self.jobs.add_handler(on_add=self._job_changed, on_update=lambda _o, n: self._job_changed(n),
                              on_delete=self._job_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    # ---- handlers: enqueue only -------------------------------------------------------------------------

    def _job_changed(self, job: Job) -> None:
        self.queue.add(object_key(job))

    def _job_deleted(self, job: Job) -> None:
        self._job_changed(job)

    def _job_key(self, pod: Pod) -> str | None:
        return controller_key(pod, kind="Job")

    def _pod_added(self, pod: Pod) -> None:
        key = self._job_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        key = self._job_key(new)
        if key is None:
            return
        if not has_finalizer(new) and new.metadata and new.metadata.uid:
            self._rm_finalizers.get(key, set()).discard(new.metadata.uid)
        if is_terminating(new) and not is_terminating(old):
            self.expectations.deletion_observed(key, object_key(new))
        self.queue.add(key)

    def _pod_deleted(self, pod: Pod) -> None:
        key = self._job_key(pod)
        if key is None:
            return
        if pod.metadata and pod.metadata.uid:
            self._rm_finalizers.get(key, set()).discard(pod.metadata.uid)
        self.expectations.deletion_observed(key, object_key(pod))
        self.queue.add(key)

    # ---- run ---------------------------------------------------------------------------------------------

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    async def sync(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None or job.metadata is None or job.spec is None:
            self.expectations.forget(key)
            self._rm_finalizers.pop(key, None)
            self._backoff.pop(key, None)
            return
        pods = [p for p in self.pods.by_index(INDEX_OWNER_UID, job.metadata.uid or "") if is_controlled_by(p, job)]
        if is_finished(job):
            # Leftover finalizers (pods that finished after the Job did) are released; nothing else to do.
            await self._remove_finalizers(key, [p for p in pods if has_finalizer(p)])
            return
        s = _Sync(job=job, key=key, now=self.wall(), pods=pods,
                  status=msgspec.structs.replace(job.status) if job.status else JobStatus())
        await self._sync_job(s)

    async def _sync_job(self, s: _Sync) -> None:
        job, spec, status = s.job, s.job.spec, s.status
        assert spec is not None and job.metadata is not None
        suspended = bool(spec.suspend)
        indexed = spec.completion_mode == "Indexed"
        completions = spec.completions
        expected_rm = self._rm_finalizers.setdefault(s.key, set())
        satisfied = self.expectations.satisfied(s.key)
        uncounted = status.uncounted_terminated_pods or UncountedTerminatedPods()
        unc_succeeded, unc_failed = set(uncounted.succeeded or []), set(uncounted.failed or [])

        def valid(p: Pod) -> bool:
            if not indexed:
                return True
            ix = pod_index(p)
            return ix is not None and ix < (completions or 0)

        fresh = [p for p in s.pods if has_finalizer(p) and (p.metadata.uid if p.metadata else None) not in
                 expected_rm | unc_succeeded | unc_failed and valid(p)]
        new_succeeded = [p for p in fresh if pod_phase(p) == "Succeeded"]
        new_failed = [p for p in fresh if is_failed(p)]
        self._note_backoff(s.key, new_succeeded, new_failed)
        s.active = [p for p in s.pods if is_pod_active(p)]
        terminating = sum(1 for p in s.pods if is_terminating(p) and not is_pod_terminal(p))

        if status.start_time is None and not suspended:
            status.start_time = format_rfc3339(s.now)
        succeeded_indexes: set[int] = set()
        if indexed:
            succeeded_indexes = parse_intervals(status.completed_indexes, limit=completions or 0)
            succeeded_indexes |= {ix for p in s.pods if pod_phase(p) == "Succeeded"
                                  and (ix := pod_index(p)) is not None and ix < (completions or 0)}
            succeeded = len(succeeded_indexes)
        else:
            succeeded = (status.succeeded or 0) + len(unc_succeeded) + len(new_succeeded)
        failed = (status.failed or 0) + len(unc_failed) + len(new_failed)

        target = condition(job, "FailureTarget") or condition(job, "SuccessCriteriaMet")
        if target is not None:
            s.finished = target
        elif new_failed and failed > (spec.backoff_limit if spec.backoff_limit is not None else 6):
            s.finished = self._cond("FailureTarget", "BackoffLimitExceeded",
                                    "Job has reached the specified backoff limit", s.now)
        elif self._past_deadline(job, status, s.now):
            s.finished = self._cond("FailureTarget", "DeadlineExceeded",
                                    "Job was active longer than specified deadline", s.now)
        elif spec.active_deadline_seconds is not None and not suspended and status.start_time:
            started = parse_time(status.start_time)
            if started is not None:
                left = spec.active_deadline_seconds - (s.now - started).total_seconds()
                self.queue.add_after(s.key, max(left, 0.0) + 0.001)

        if s.finished is not None and s.finished.type == "FailureTarget":
            deleted = await self._delete_pods(s, s.active)
            s.active = s.active[deleted:]
        elif s.finished is None:
            if satisfied and not job.metadata.deletion_timestamp:
                await self._manage(s, succeeded=succeeded, succeeded_indexes=succeeded_indexes)
            if completions is None:
                complete = succeeded > 0 and not s.active
            else:
                complete = succeeded >= completions and not s.active
            if complete:
                s.finished = self._cond("SuccessCriteriaMet", "CompletionsReached",
                                        "Reached expected number of succeeded pods", s.now)
            else:
                self._suspend_condition(s, suspended)

        status.active = len(s.active)
        status.ready = sum(1 for p in s.active if is_pod_ready(p))
        status.terminating = terminating
        if indexed:
            status.completed_indexes = format_intervals(succeeded_indexes)
            status.succeeded = succeeded
        await self._track(s, new_succeeded=[] if indexed else new_succeeded, new_failed=new_failed)

    # ---- pieces ------------------------------------------------------------------------------------------

    @staticmethod
    def _cond(type_: str, reason: str, message: str, now: datetime) -> JobCondition:
        stamp = format_rfc3339(now)
        return JobCondition(type=type_, status="True", reason=reason, message=message,
                            last_probe_time=stamp, last_transition_time=stamp)

    @staticmethod
    def _past_deadline(job: Job, status: JobStatus, now: datetime) -> bool:
        spec = job.spec
        if spec is None or spec.active_deadline_seconds is None or spec.suspend or not status.start_time:
            return False
        started = parse_time(status.start_time)
        return started is not None and (now - started).total_seconds() >= spec.active_deadline_seconds

    def _suspend_condition(self, s: _Sync, suspended: bool) -> None:
        conds = list(s.status.conditions or [])
        current = next((c for c in conds if c.type == "Suspended"), None)
        if suspended and (current is None or current.status != "True"):
            conds = [c for c in conds if c.type != "Suspended"]
            conds.append(self._cond("Suspended", "JobSuspended", "Job suspended", s.now))
            self.recorder.event(s.job, reason="Suspended", message="Job suspended")
        elif not suspended and current is not None and current.status == "True":
            resumed = msgspec.structs.replace(self._cond("Suspended", "JobResumed", "Job resumed", s.now),
                                              status="False")
            conds = [resumed if c.type == "Suspended" else c for c in conds]
            self.recorder.event(s.job, reason="Resumed", message="Job resumed")
            # activeDeadlineSeconds counts continuous activity: resuming restarts the clock.
            s.status.start_time = format_rfc3339(s.now)
        else:
            return
        s.status.conditions = conds

    def _note_backoff(self, key: str, succeeded: Sequence[Pod], failed: Sequence[Pod]) -> None:
        record = self._backoff.setdefault(key, _Backoff())
        if succeeded:
            record.failures = 0
        if failed:
            record.failures += len(failed)
            record.last_failure = self.wall()

    def _backoff_left(self, key: str, now: datetime) -> float:
        record = self._backoff.get(key)
        if record is None or record.failures == 0 or record.last_failure is None or self.backoff_base <= 0:
            return 0.0
        delay = min(self.backoff_base * 2 ** (record.failures - 1), MAX_BACKOFF)
        return delay - (now - record.last_failure).total_seconds()

    async def _manage(self, s: _Sync, *, succeeded: int, succeeded_indexes: set[int]) -> None:
        spec = s.job.spec
        assert spec is not None
        active = len(s.active)
        parallelism = spec.parallelism if spec.parallelism is not None else 1
        indexed = spec.completion_mode == "Indexed"
        if spec.suspend:
            want = 0
        elif spec.completions is None:
            want = active if succeeded > 0 else parallelism
        else:
            want = max(0, min(spec.completions - succeeded, parallelism))
        doomed: list[Pod] = []
        if indexed:
            doomed = self._duplicate_index_pods(s.active, spec.completions or 0, succeeded_indexes)
        keep = [p for p in s.active if p not in doomed]
        if len(keep) > want:
            doomed += sorted(keep, key=_deletion_rank)[: len(keep) - want]
        if doomed:
            doomed = doomed[:MAX_PER_SYNC]
            deleted = await self._delete_pods(s, doomed, release=True)
            gone = set(id(p) for p in doomed[:deleted])
            s.active = [p for p in s.active if id(p) not in gone]
            return
        diff = min(want - active, MAX_PER_SYNC)
        if diff <= 0:
            return
        left = self._backoff_left(s.key, s.now)
        if left > 0:
            self.queue.add_after(s.key, left)
            return
        indexes: list[int | None] = [None] * diff
        if indexed:
            taken = succeeded_indexes | {ix for p in s.active if (ix := pod_index(p)) is not None}
            free = (i for i in range(spec.completions or 0) if i not in taken)
            indexes = [ix for _, ix in zip(range(diff), free, strict=False)]
            diff = len(indexes)
            if not diff:
                return
        self.expectations.expect(s.key, adds=diff)
        created: list[Pod] = []

        async def create(i: int) -> None:
            pod = await self.pod_api.create(self._pod_for(s.job, indexes[i]))
            created.append(pod)
            self.recorder.event(s.job, reason="SuccessfulCreate",
                                message=f"Created pod: {pod.metadata.name if pod.metadata else ''}")

        successes, error = await slow_start_batch(count=diff, action=create)
        # Not created (failed, or never attempted): no ADDED event will come for these.
        self.expectations.creation_observed(s.key, count=diff - successes)
        s.active = s.active + created
        if error is not None:
            self.recorder.event(s.job, type="Warning", reason="FailedCreate", message=f"Error creating: {error}")
            raise error

    @staticmethod
    def _duplicate_index_pods(active: list[Pod], completions: int, done: set[int]) -> list[Pod]:
        """Active pods without a valid index, beyond `completions`, of a succeeded index, or duplicates."""
        seen: set[int] = set()
        out: list[Pod] = []
        def rank(p: Pod) -> tuple[bool, str]:  # keep ready and older pods
            return (not is_pod_ready(p), (p.metadata.creation_timestamp if p.metadata else None) or "")

        for pod in sorted(active, key=rank):
            ix = pod_index(pod)
            if ix is None or ix >= completions or ix in seen or ix in done:
                out.append(pod)
            else:
                seen.add(ix)
        return out

    def _pod_for(self, job: Job, index: int | None) -> Pod:
        assert job.metadata is not None and job.spec is not None and job.spec.template is not None
        name = job.metadata.name or ""
        owner = new_controller_ref(job, api_version="batch/v1", kind="Job")
        pod = wire(pod_from_template(template=job.spec.template, owner_ref=owner,
                                     namespace=job.metadata.namespace, owner_name=name))
        meta = pod["metadata"]
        labels = meta["labels"] = dict(meta.get("labels") or {})
        annotations = dict(meta.get("annotations") or {})
        finalizers = meta["finalizers"] = list(meta.get("finalizers") or [])
        if TRACKING_FINALIZER not in finalizers:
            finalizers.append(TRACKING_FINALIZER)
        spec: dict[str, Any] = pod.setdefault("spec", {})
        if index is not None:
            annotations[COMPLETION_INDEX] = str(index)
            labels[COMPLETION_INDEX] = str(index)
            spec.setdefault("hostname", f"{name}-{index}")
            meta["generateName"] = f"{name}-{index}-"
            env_var = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "apiVersion": "v1", "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
            for group in ("initContainers", "containers"):
                for ctr in spec.get(group) or []:
                    env = ctr.setdefault("env", [])
                    if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                        env.append(env_var)
        if annotations:
            meta["annotations"] = annotations
        return from_wire(pod, Pod)

    async def _delete_pods(self, s: _Sync, pods: Sequence[Pod], *, release: bool = False) -> int:
        """Delete pods; returns how many of the leading pods were deleted before the first failure.

        A Job that fails deletes its active pods with their finalizer kept (they are counted as failed when
        they end); surplus pods (scale-down, suspend) are released first, so they are never counted."""
        if not pods:
            return 0
        self.expectations.expect(s.key, deletes=[object_key(p) for p in pods])
        done = 0
        for pod in pods:
            assert pod.metadata is not None
            try:
                if release and has_finalizer(pod):
                    await self._remove_finalizers(s.key, [pod])
                await self.pod_api.delete(name=pod.metadata.name or "", namespace=pod.metadata.namespace)
            except NotFoundError:
                self.expectations.deletion_observed(s.key, object_key(pod))
            except StatusError:
                for left in pods[done:]:  # this one failed and the rest were not attempted
                    self.expectations.deletion_observed(s.key, object_key(left))
                raise
            else:
                self.recorder.event(s.job, reason="SuccessfulDelete", message=f"Deleted pod: {pod.metadata.name}")
            done += 1
        return done

    async def _remove_finalizers(self, key: str, pods: Sequence[Pod]) -> None:
        expected = self._rm_finalizers.setdefault(key, set())
        for pod in pods:
            assert pod.metadata is not None
            uid = pod.metadata.uid or ""
            if uid in expected:
                continue
            remaining = [f for f in pod.metadata.finalizers or [] if f != TRACKING_FINALIZER]
            expected.add(uid)
            try:
                # The resourceVersion makes this a compare-and-swap on the finalizer list.
                await self.pod_api.patch(
                    name=pod.metadata.name or "", namespace=pod.metadata.namespace, type="merge",
                    patch={"metadata": {"finalizers": remaining or None,
                                        "resourceVersion": pod.metadata.resource_version}},
                )
            except NotFoundError:
                pass
            except StatusError:
                expected.discard(uid)
                raise

    async def _track(self, s: _Sync, *, new_succeeded: list[Pod], new_failed: list[Pod]) -> None:
        """Count finished pods through uncountedTerminatedPods, release their finalizers, and finish the Job
        when its interim condition holds and nothing is left uncounted (see the module docstring)."""
        job, status = s.job, s.status
        uncounted = status.uncounted_terminated_pods or UncountedTerminatedPods()
        unc_s = list(uncounted.succeeded or []) + [p.metadata.uid or "" for p in new_succeeded if p.metadata]
        unc_f = list(uncounted.failed or []) + [p.metadata.uid or "" for p in new_failed if p.metadata]
        conds = list(status.conditions or [])
        interim = s.finished
        if interim is not None and not any(c.type == interim.type and c.status == "True" for c in conds):
            conds.append(interim)
        status.conditions = conds or None
        status.uncounted_terminated_pods = UncountedTerminatedPods(succeeded=unc_s or None, failed=unc_f or None)
        job = await self._write_status(job, status)

        # Release the finalizers of every uncounted pod, then count them.
        by_uid = {p.metadata.uid: p for p in s.pods if p.metadata}
        holders = [by_uid[u] for u in unc_s + unc_f if u in by_uid and has_finalizer(by_uid[u])]
        indexed_done: list[Pod] = []
        if s.job.spec and s.job.spec.completion_mode == "Indexed":
            # Succeeded indexes are counted in completedIndexes, not by uid: release them directly.
            indexed_done = [p for p in s.pods if has_finalizer(p) and is_pod_terminal(p) and p not in holders]
        await self._remove_finalizers(s.key, holders + indexed_done)
        released = self._rm_finalizers.get(s.key, set())
        status = msgspec.structs.replace(job.status) if job.status else JobStatus()
        if s.job.spec and s.job.spec.completion_mode != "Indexed":
            status.succeeded = (status.succeeded or 0) + len(unc_s)
        status.failed = (status.failed or 0) + len(unc_f)
        status.uncounted_terminated_pods = UncountedTerminatedPods()
        # Pods deleted in this sync (or earlier) still hold their finalizer until they end and are counted.
        left_with_finalizer = [p for p in s.pods if has_finalizer(p) and p.metadata
                               and p.metadata.uid not in released]
        if interim is not None and not s.active and not left_with_finalizer:
            final_type = "Complete" if interim.type == "SuccessCriteriaMet" else "Failed"
            status.conditions = [*list(status.conditions or []),
                                 self._cond(final_type, interim.reason or "", interim.message or "", s.now)]
            if final_type == "Complete":
                status.completion_time = format_rfc3339(s.now)
                self.recorder.event(job, reason="Completed", message="Job completed")
            else:
                self.recorder.event(job, type="Warning", reason=interim.reason or "Failed",
                                    message=interim.message or "")
        await self._write_status(job, status)

    async def _write_status(self, job: Job, status: JobStatus) -> Job:
        updated = msgspec.structs.replace(job, status=status)
        if updated == job:
            return job
        return await self.job_api.update_status(updated)


def _deletion_rank(pod: Pod) -> tuple[int, int, int, str]:
    """Delete unscheduled before scheduled, pending before running, not-ready before ready, newest first."""
    assert pod.metadata is not None
    scheduled = 1 if pod.spec and pod.spec.node_name else 0
    running = {"Pending": 0, "Unknown": 1, "Running": 2}.get(pod_phase(pod), 0)
    ready = 1 if is_pod_ready(pod) else 0
    created = pod.metadata.creation_timestamp or ""
    # Newer first: invert the timestamp's sort order by negating its characters' code points.
    return (scheduled, running, ready, "".join(chr(0x10FFFF - ord(c)) for c in created))
