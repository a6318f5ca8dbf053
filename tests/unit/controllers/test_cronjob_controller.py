"""Cron schedules, and the CronJob controller on a fake clock: Jobs named after the scheduled minute,
concurrency policies, startingDeadlineSeconds, suspend, active/lastScheduleTime/lastSuccessfulTime and
history limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from workload_fakes import Harness

from kybernetes.api.models.batch_v1 import CronJob, Job
from kybernetes.controllers.cronjob import CronJobController, Schedule, ScheduleError
from kybernetes.controllers.cronjob.controller import job_name

NS = "ns"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# ---- schedules ------------------------------------------------------------------------------------------


def test_every_minute_and_descriptors() -> None:
    assert Schedule.parse("* * * * *").next(utc(2024, 5, 1, 12, 0, 30)) == utc(2024, 5, 1, 12, 1)
    assert Schedule.parse("* * * * *").next(utc(2024, 5, 1, 12, 1)) == utc(2024, 5, 1, 12, 2)
    assert Schedule.parse("@hourly").next(utc(2024, 5, 1, 12, 0)) == utc(2024, 5, 1, 13, 0)
    assert Schedule.parse("@daily").next(utc(2024, 5, 1, 12, 0)) == utc(2024, 5, 2)
    assert Schedule.parse("@weekly").next(utc(2024, 5, 1)) == utc(2024, 5, 5)  # a Sunday
    assert Schedule.parse("@yearly").next(utc(2024, 5, 1)) == utc(2025, 1, 1)
    assert Schedule.parse("@monthly").next(utc(2024, 12, 31, 23, 59)) == utc(2025, 1, 1)


def test_fields_ranges_steps_names() -> None:
    s = Schedule.parse("*/15 9-17 * * mon-fri")
    assert s.next(utc(2024, 5, 3, 17, 50)) == utc(2024, 5, 6, 9, 0)  # Friday evening → Monday 9:00
    assert s.next(utc(2024, 5, 6, 9, 0)) == utc(2024, 5, 6, 9, 15)
    assert Schedule.parse("0 0 29 feb *").next(utc(2024, 3, 1)) == utc(2028, 2, 29)
    assert Schedule.parse("5,10 0 * JAN,jul 7").next(utc(2024, 1, 1)) == utc(2024, 1, 7, 0, 5)
    # Both day fields restricted: either matches (the 1st, or any Monday).
    s = Schedule.parse("0 0 1 * 1")
    assert s.next(utc(2024, 5, 1)) == utc(2024, 5, 6)
    assert s.next(utc(2024, 5, 27)) == utc(2024, 6, 1)


def test_time_zone() -> None:
    s = Schedule.parse("30 9 * * *", time_zone="America/New_York")
    assert s.next(utc(2024, 7, 1, 0, 0)) == utc(2024, 7, 1, 13, 30)  # EDT
    assert s.next(utc(2024, 12, 1, 0, 0)) == utc(2024, 12, 1, 14, 30)  # EST


@pytest.mark.parametrize("text", ["* * * *", "61 * * * *", "* * * * * *", "a * * * *", "@every 5m", "5-1 * * * *",
                                  "*/0 * * * *"])
def test_bad_schedules(text: str) -> None:
    with pytest.raises(ScheduleError):
        Schedule.parse(text)


def test_unknown_time_zone() -> None:
    with pytest.raises(ScheduleError, match="unknown time zone"):
        Schedule.parse("* * * * *", time_zone="Mars/Olympus")


# ---- controller -----------------------------------------------------------------------------------------


def cronjob(name: str = "tick", **spec: Any) -> CronJob:
    body = {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "schedule": "* * * * *", "concurrencyPolicy": "Allow", "suspend": False,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"labels": {"run": name}}, "spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}},
            **spec,
        },
    }
    return msgspec.convert(body, CronJob)


def build(h: Harness) -> CronJobController:
    h.use_recorder("cronjob-controller")
    return CronJobController(ctx=h.ctx, wall=h.wall)


def jobs(h: Harness) -> list[str]:
    return h.cluster.names_of(Job)


def finish(h: Harness, name: str, state: str = "Complete") -> None:
    stamp = h.wall().strftime("%Y-%m-%dT%H:%M:%SZ")
    h.cluster.set_status(Job, f"{NS}/{name}", conditions=[
        {"type": state, "status": "True", "lastTransitionTime": stamp}],
        startTime=stamp, **({"completionTime": stamp} if state == "Complete" else {}))


async def test_fires_each_minute_with_minute_names() -> None:
    h = Harness()  # wall time starts at 2024-05-01T12:00:30Z
    c = build(h)
    h.cluster.put(CronJob, cronjob())
    async with h.running(c, queues=[c.queue]):
        assert jobs(h) == []
        await h.advance(31)
        first = job_name("tick", utc(2024, 5, 1, 12, 1))
        assert first == f"tick-{int(utc(2024, 5, 1, 12, 1).timestamp()) // 60}"
        assert jobs(h) == [first]
        j = h.cluster.get(Job, f"{NS}/{first}")
        assert j.metadata.labels == {"run": "tick"}
        assert j.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2024-05-01T12:01:00Z"
        ref = j.metadata.owner_references[0]
        assert (ref.kind, ref.name, ref.controller) == ("CronJob", "tick", True)
        cj = h.cluster.get(CronJob, f"{NS}/tick")
        assert cj.status.last_schedule_time == "2024-05-01T12:01:00Z"
        assert [r.name for r in cj.status.active] == [first]
        assert "Created job " + first in [e.message for e in h.recorder.events]

        await h.advance(60)  # Allow: a second one while the first runs
        assert len(jobs(h)) == 2
        finish(h, first)
        await h.settle()
        cj = h.cluster.get(CronJob, f"{NS}/tick")
        assert [r.name for r in cj.status.active] == [jobs(h)[1]]
        assert cj.status.last_successful_time is not None
        assert f"Saw completed job: {first}, status: Complete" in [e.message for e in h.recorder.events]


async def test_forbid_skips_while_active_and_replace_replaces() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(CronJob, cronjob("forbid", concurrencyPolicy="Forbid"))
    h.cluster.put(CronJob, cronjob("replace", concurrencyPolicy="Replace"))
    async with h.running(c, queues=[c.queue]):
        await h.advance(31)
        names = jobs(h)
        assert len(names) == 2
        await h.advance(60)
        forbid = [n for n in jobs(h) if n.startswith("forbid-")]
        replace = [n for n in jobs(h) if n.startswith("replace-")]
        assert forbid == [n for n in names if n.startswith("forbid-")]
        assert "JobAlreadyActive" in h.recorder.reasons()
        assert len(replace) == 1 and replace[0] not in names  # the old one was deleted, a new one made
        assert h.cluster.get(CronJob, f"{NS}/replace").status.active[0].name == replace[0]


async def test_suspend_and_starting_deadline() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(CronJob, cronjob(suspend=True))
    async with h.running(c, queues=[c.queue]):
        await h.advance(150)
        assert jobs(h) == []
        # Resumed 2.5 min late with a 60 s deadline: only the most recent missed time (12:03) may start.
        h.cluster.put(CronJob, cronjob(suspend=False, startingDeadlineSeconds=60))
        await h.settle()
        assert jobs(h) == [job_name("tick", utc(2024, 5, 1, 12, 3))]


async def test_history_limits_prune_oldest() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(CronJob, cronjob(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=0))
    async with h.running(c, queues=[c.queue]):
        made: list[str] = []
        for _ in range(3):
            await h.advance(60)
            (new,) = [n for n in jobs(h) if n not in made]
            made.append(new)
            finish(h, new, "Complete" if len(made) < 3 else "Failed")
            await h.settle()
        # Two succeeded (limit 1: the older is gone), one failed (limit 0: gone).
        assert jobs(h) == [made[1]]
        assert h.recorder.reasons().count("SuccessfulDelete") == 2


async def test_bad_schedule_is_an_event() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(CronJob, cronjob(schedule="not a schedule"))
    async with h.running(c, queues=[c.queue]):
        await h.advance(90)
        assert jobs(h) == []
        assert "UnparseableSchedule" in h.recorder.reasons()
