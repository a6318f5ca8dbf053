"""The workqueue contract (collapse, never twice at once, dirty requeue, delays, backoff, shutdown drain) and
`run_workers`, all on a FakeClock: nothing here sleeps for real."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.client.clock import FakeClock
from kybernetes.client.ratelimit import ExponentialBackoff, TokenBucket, WorkqueueRateLimiter
from kybernetes.client.workqueue import QueueShutDown, WorkQueue, run_workers
from kybernetes.machinery.errors import ConflictError


def make_queue(clock: FakeClock | None = None) -> tuple[WorkQueue, FakeClock]:
    clock = clock or FakeClock()
    return WorkQueue(name="test", clock=clock), clock


async def test_repeated_adds_collapse_and_fifo() -> None:
    q, _ = make_queue()
    for key in ["a", "b", "a", "c", "b", "a"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get(), await q.get(), await q.get()] == ["a", "b", "c"]
    stats = q.statistics()
    assert stats.adds == 6 and stats.collapsed_adds == 3 and stats.processing == 3


async def test_add_while_processing_marks_dirty_and_requeues_after_done() -> None:
    q, _ = make_queue()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    # Not handed out again while processing.
    assert len(q) == 0 and q.get_nowait() is None
    assert q.statistics().dirty_processing == 1
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_key_never_processed_by_two_workers() -> None:
    q, _ = make_queue()
    active: set[str] = set()
    overlaps: list[str] = []
    processed: list[str] = []

    async def sync(key: str) -> None:
        if key in active:
            overlaps.append(key)
        active.add(key)
        processed.append(key)
        if len(processed) < 6:
            q.add(key)  # re-add during processing
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        active.discard(key)

    q.add("k")
    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_workers(queue=q, sync=sync, workers=4))
        await q.wait_idle()
        q.shutdown()
    assert overlaps == []
    assert processed == ["k"] * 6


async def test_waiting_getter_is_woken_by_add() -> None:
    q, _ = make_queue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await getter == "x"


async def test_add_after_uses_the_clock() -> None:
    q, clock = make_queue()
    q.add_after("late", 5.0)
    q.add_after("early", 1.0)
    assert len(q) == 0 and q.statistics().delayed == 2
    clock.advance(0.99)
    assert len(q) == 0
    clock.advance(0.01)
    assert q.get_nowait() == "early"
    clock.advance(4.0)
    assert q.get_nowait() == "late"


async def test_add_after_earlier_time_wins() -> None:
    q, clock = make_queue()
    q.add_after("k", 10.0)
    q.add_after("k", 2.0)
    q.add_after("k", 8.0)  # later than the pending 2 s: ignored
    clock.advance(2.0)
    assert q.get_nowait() == "k"
    q.done("k")
    clock.advance(20.0)
    assert len(q) == 0


async def test_add_rate_limited_backs_off_per_key_and_forget_resets() -> None:
    q, clock = make_queue()
    delays = []
    for _ in range(4):
        before = clock.now()
        q.add_rate_limited("k")
        deadline = clock.next_deadline()
        assert deadline is not None
        delays.append(round(deadline - before, 6))
        clock.advance(deadline - before)
        assert await q.get() == "k"
        q.done("k")
    assert delays == [0.005, 0.01, 0.02, 0.04]
    assert q.num_requeues("k") == 4
    q.forget("k")
    assert q.num_requeues("k") == 0


def test_exponential_backoff_caps_at_1000_seconds() -> None:
    backoff = ExponentialBackoff()
    delays = [backoff.when("k") for _ in range(40)]
    assert delays[0] == 0.005 and delays[1] == 0.01
    assert max(delays) == 1000.0 and delays[-1] == 1000.0
    assert backoff.when("other") == 0.005


def test_token_bucket_reservations() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    clock.advance(10)
    assert bucket.tokens() == pytest.approx(3.0)


def test_overall_bucket_limits_many_keys() -> None:
    clock = FakeClock()
    limiter = WorkqueueRateLimiter(clock=clock)
    delays = [limiter.when(f"key-{i}") for i in range(150)]
    # First 100 ride the burst with the per-key 5 ms; after that 10 qps spaces them out.
    assert delays[:100] == [0.005] * 100
    assert delays[100] == pytest.approx(0.1)
    assert delays[149] == pytest.approx(5.0)


async def test_shutdown_drains_queued_keys_then_raises() -> None:
    q, clock = make_queue()
    q.add("a")
    q.add("b")
    q.add_after("delayed", 1.0)
    q.shutdown()
    q.add("ignored")
    assert await q.get() == "a"
    assert await q.get() == "b"
    with pytest.raises(QueueShutDown):
        await q.get()
    clock.advance(5)
    assert len(q) == 0 and q.statistics().delayed == 0


async def test_shutdown_wakes_waiting_workers() -> None:
    q, _ = make_queue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.shutdown()
    for getter in getters:
        with pytest.raises(QueueShutDown):
            await getter


async def test_cancelled_getter_does_not_lose_wakeup() -> None:
    q, _ = make_queue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("k")
    first.cancel()  # woken, but cancelled before it could take the key
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) == "k"


async def test_run_workers_error_handling() -> None:
    clock = FakeClock()
    q = WorkQueue(name="w", clock=clock)
    calls: dict[str, int] = {}

    async def sync(key: str) -> None:
        calls[key] = calls.get(key, 0) + 1
        if key == "fails" and calls[key] < 3:
            raise RuntimeError("boom")
        if key == "conflict" and calls[key] == 1:
            raise ConflictError("stale")

    for key in ("ok", "fails", "conflict"):
        q.add(key)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_workers(queue=q, sync=sync, workers=2))
        await q.wait_idle()
        assert calls == {"ok": 1, "fails": 1, "conflict": 1}
        assert q.num_requeues("fails") == 1  # a failure counts
        assert q.num_requeues("conflict") == 0  # a conflict does not
        clock.advance(0.01)  # conflict requeue delay and the first 5 ms backoff
        await q.wait_idle()
        assert calls["conflict"] == 2 and calls["fails"] == 2
        clock.advance(0.01)  # the second backoff, 10 ms
        await q.wait_idle()
        assert calls["fails"] == 3
        assert q.num_requeues("fails") == 0  # success forgets
        q.shutdown()
    assert q.statistics().completed == 6


async def test_run_workers_finishes_in_flight_and_queued_work_on_shutdown() -> None:
    q, _ = make_queue()
    started = asyncio.Event()
    release = asyncio.Event()
    done: list[str] = []

    async def sync(key: str) -> None:
        if key == "slow":
            started.set()
            await release.wait()
        done.append(key)

    q.add("slow")
    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_workers(queue=q, sync=sync, workers=1))
        await started.wait()
        q.add("queued")
        q.shutdown()
        release.set()
    assert done == ["slow", "queued"]
