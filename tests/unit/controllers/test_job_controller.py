"""The Job controller (and TTL-after-finished) over the in-memory API, on a fake clock: completions with
parallelism, Indexed completion indexes, backoffLimit, activeDeadlineSeconds, suspend, finalizer tracking
and the 1.31+ interim conditions, ttlSecondsAfterFinished."""

from __future__ import annotations

from typing import Any

import msgspec
from workload_fakes import Harness

from kybernetes.api.models.batch_v1 import Job
from kybernetes.api.models.core_v1 import Pod
from kybernetes.controllers.job import JobControllers
from kybernetes.controllers.job.controller import TRACKING_FINALIZER
from kybernetes.controllers.job.indexes import format_intervals, parse_intervals

NS = "ns"


def job(name: str = "pi", **spec: Any) -> Job:
    body = {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
            **spec,
        },
    }
    return msgspec.convert(body, Job)


def build(h: Harness) -> JobControllers:
    h.use_recorder("job-controller")
    return JobControllers(ctx=h.ctx, wall=h.wall)


def pods(h: Harness) -> list[Pod]:
    return h.cluster.list(Pod)


def live(h: Harness) -> list[Pod]:
    return [p for p in pods(h) if (p.status is None or p.status.phase not in ("Succeeded", "Failed"))
            and not p.metadata.deletion_timestamp]


def conditions(j: Job) -> list[tuple[str, str, str]]:
    return [(c.type, c.status, c.reason or "") for c in (j.status.conditions or [])]


async def finish(h: Harness, pod: Pod, phase: str) -> None:
    h.cluster.pod_state(f"{NS}/{pod.metadata.name}", phase=phase)
    await h.settle()


async def test_completions_with_parallelism_run_to_complete() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(Job, job(completions=3, parallelism=2))
    async with h.running(c, queues=[c.jobs.queue, c.ttl.queue]):
        first = live(h)
        assert len(first) == 2
        pod = first[0]
        assert pod.metadata.generate_name == "pi-"
        assert TRACKING_FINALIZER in pod.metadata.finalizers
        assert pod.metadata.labels == {"app": "pi"}
        ref = pod.metadata.owner_references[0]
        assert (ref.kind, ref.name, ref.controller, ref.block_owner_deletion) == ("Job", "pi", True, True)
        j = h.cluster.get(Job, f"{NS}/pi")
        assert j.status.active == 2 and j.status.start_time == "2024-05-01T12:00:30Z"

        await finish(h, first[0], "Succeeded")
        j = h.cluster.get(Job, f"{NS}/pi")
        assert j.status.succeeded == 1
        assert len(live(h)) == 2  # a replacement for the finished one
        done = h.cluster.get(Pod, f"{NS}/{first[0].metadata.name}")
        assert not done.metadata.finalizers  # counted, then released

        for p in live(h):
            await finish(h, p, "Succeeded")
        j = h.cluster.get(Job, f"{NS}/pi")
        assert j.status.succeeded == 3 and j.status.active == 0 and j.status.failed in (None, 0)
        assert conditions(j) == [("SuccessCriteriaMet", "True", "CompletionsReached"),
                                 ("Complete", "True", "CompletionsReached")]
        assert j.status.completion_time is not None
        assert not (j.status.uncounted_terminated_pods and (j.status.uncounted_terminated_pods.succeeded
                                                            or j.status.uncounted_terminated_pods.failed))
        assert all(not p.metadata.finalizers for p in pods(h))
        assert len(pods(h)) == 3
        assert h.recorder.reasons().count("SuccessfulCreate") == 3
        assert "Completed" in h.recorder.reasons()
        assert h.recorder.events[0].message.startswith("Created pod: pi-")


async def test_backoff_limit_exceeded_fails_the_job() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(Job, job(completions=2, parallelism=2, backoffLimit=1))
    async with h.running(c, queues=[c.jobs.queue, c.ttl.queue]):
        a, b = live(h)
        await finish(h, a, "Failed")
        j = h.cluster.get(Job, f"{NS}/pi")
        assert j.status.failed == 1 and not conditions(j)
        (c_name,) = [p.metadata.name for p in live(h) if p.metadata.name != b.metadata.name]
        await finish(h, b, "Failed")
        # The remaining active pod is deleted; a terminating pod counts as failed (podReplacementPolicy
        # TerminatingOrFailed), its finalizer is released, and the Job ends Failed.
        j = h.cluster.get(Job, f"{NS}/pi")
        assert conditions(j) == [("FailureTarget", "True", "BackoffLimitExceeded"),
                                 ("Failed", "True", "BackoffLimitExceeded")]
        assert j.status.failed == 3 and j.status.active == 0 and j.status.completion_time is None
        assert ("delete", "Pod", c_name) in h.cluster.writes
        assert h.cluster.get(Pod, f"{NS}/{c_name}") is None  # finalizer released, so the delete completed
        warn = [e for e in h.recorder.events if e.type == "Warning"]
        assert warn[-1].reason == "BackoffLimitExceeded"
        assert warn[-1].message == "Job has reached the specified backoff limit"


async def test_active_deadline_exceeded() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(Job, job(activeDeadlineSeconds=30))
    async with h.running(c, queues=[c.jobs.queue, c.ttl.queue]):
        (pod,) = live(h)
        await h.advance(29)
        assert not conditions(h.cluster.get(Job, f"{NS}/pi"))
        await h.advance(2)
        j = h.cluster.get(Job, f"{NS}/pi")
        assert conditions(j) == [("FailureTarget", "True", "DeadlineExceeded"), ("Failed", "True", "DeadlineExceeded")]
        assert ("delete", "Pod", pod.metadata.name) in h.cluster.writes
        assert j.status.failed == 1
        assert j.status.conditions[-1].message == "Job was active longer than specified deadline"


async def test_indexed_job_indexes_and_completed_indexes() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(Job, job(completions=3, parallelism=2, completionMode="Indexed"))
    async with h.running(c, queues=[c.jobs.queue, c.ttl.queue]):
        first = sorted(live(h), key=lambda p: p.metadata.annotations["batch.kubernetes.io/job-completion-index"])
        assert [p.metadata.annotations["batch.kubernetes.io/job-completion-index"] for p in first] == ["0", "1"]
        p0 = first[0]
        assert p0.metadata.labels["batch.kubernetes.io/job-completion-index"] == "0"
        assert p0.metadata.generate_name == "pi-0-"
        assert p0.spec.hostname == "pi-0"
        env = p0.spec.containers[0].env[0]
        assert env.name == "JOB_COMPLETION_INDEX"
        assert env.value_from.field_ref.field_path == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        await finish(h, first[1], "Succeeded")
        j = h.cluster.get(Job, f"{NS}/pi")
        assert j.status.completed_indexes == "1" and j.status.succeeded == 1
        indexes = sorted(p.metadata.annotations["batch.kubernetes.io/job-completion-index"] for p in live(h))
        assert indexes == ["0", "2"]
        for p in live(h):
            await finish(h, p, "Succeeded")
        j = h.cluster.get(Job, f"{NS}/pi")
        assert j.status.completed_indexes == "0-2" and j.status.succeeded == 3
        assert conditions(j)[-1] == ("Complete", "True", "CompletionsReached")
        assert all(not p.metadata.finalizers for p in pods(h))


async def test_suspend_and_resume() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(Job, job(parallelism=2, completions=4, suspend=True))
    async with h.running(c, queues=[c.jobs.queue, c.ttl.queue]):
        assert live(h) == []
        j = h.cluster.get(Job, f"{NS}/pi")
        assert conditions(j) == [("Suspended", "True", "JobSuspended")]
        assert j.status.start_time is None
        h.cluster.put(Job, job(parallelism=2, completions=4, suspend=False))
        await h.settle()
        j = h.cluster.get(Job, f"{NS}/pi")
        assert conditions(j) == [("Suspended", "False", "JobResumed")]
        assert len(live(h)) == 2 and j.status.start_time is not None
        h.cluster.put(Job, job(parallelism=2, completions=4, suspend=True))
        await h.settle()
        assert live(h) == []
        # Surplus pods are released before deletion, so they are gone and never counted as failed.
        assert pods(h) == []
        assert [w[0] for w in h.cluster.writes if w[1] == "Pod"].count("delete") == 2
        assert not h.cluster.get(Job, f"{NS}/pi").status.failed


async def test_ttl_after_finished_deletes_the_job() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(Job, job(ttlSecondsAfterFinished=60))
    async with h.running(c, queues=[c.jobs.queue, c.ttl.queue]):
        (pod,) = live(h)
        await finish(h, pod, "Succeeded")
        assert conditions(h.cluster.get(Job, f"{NS}/pi"))[-1][0] == "Complete"
        await h.advance(59)
        assert h.cluster.get(Job, f"{NS}/pi") is not None
        await h.advance(2)
        assert h.cluster.get(Job, f"{NS}/pi") is None


def test_interval_strings() -> None:
    assert format_intervals([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert format_intervals([]) == ""
    assert parse_intervals("0-2,5,7-9", limit=8) == {0, 1, 2, 5, 7}
    assert parse_intervals("x,3", limit=10) == {3}
