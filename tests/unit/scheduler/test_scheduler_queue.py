"""The scheduling queue on a fake clock: priority order, backoff, parking and moving unschedulable pods."""

from __future__ import annotations

import asyncio

import pytest
from scheduler_fakes import info, pod

from kybernetes.client import FakeClock
from kybernetes.scheduler.queue import SchedulingQueue


def _queue() -> tuple[SchedulingQueue, FakeClock]:
    clock = FakeClock()
    return SchedulingQueue(clock=clock), clock


def _drain(q: SchedulingQueue) -> list[str]:
    out = []
    while (qpi := q.pop_nowait()) is not None:
        out.append(qpi.pod_info.name)
    return out


def test_active_queue_orders_by_priority_then_age() -> None:
    q, clock = _queue()
    q.add(info(pod("low-old", priority=0)))
    clock.advance(1)
    q.add(info(pod("high", priority=1000)))
    clock.advance(1)
    q.add(info(pod("low-new", priority=0)))
    q.add(info(pod("mid", priority=10)))
    assert _drain(q) == ["high", "mid", "low-old", "low-new"]


def test_backoff_doubles_to_ten_seconds() -> None:
    q, _ = _queue()
    assert [q.backoff_duration(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_unschedulable_pod_waits_for_an_event_then_its_backoff() -> None:
    q, clock = _queue()
    q.add(info(pod("p")))
    qpi = q.pop_nowait()
    assert qpi is not None and qpi.attempts == 1
    q.add_unschedulable(qpi)
    assert q.where("default/p") == "unschedulable"
    assert q.pop_nowait() is None
    # An event right away: backoff (1 s after the attempt) is not over yet.
    assert q.move_all_to_active_or_backoff("NodeAdd") == 1
    assert q.where("default/p") == "backoff"
    clock.advance(0.5)
    assert q.flush_backoff() == 0
    clock.advance(0.5)
    assert q.flush_backoff() == 1
    again = q.pop_nowait()
    assert again is not None and again.attempts == 2
    q.add_unschedulable(again)
    clock.advance(5)  # past the 2 s backoff: an event moves it straight to active
    q.move_all_to_active_or_backoff("NodeAdd")
    assert q.where("default/p") == "active"


def test_event_during_the_attempt_sends_the_pod_to_backoff_not_unschedulable() -> None:
    q, _ = _queue()
    q.add(info(pod("p")))
    qpi = q.pop_nowait()
    assert qpi is not None
    q.move_all_to_active_or_backoff("NodeAdd")  # while p is in flight
    q.add_unschedulable(qpi)
    assert q.where("default/p") == "backoff"


def test_unschedulable_leftovers_move_after_sixty_seconds() -> None:
    q, clock = _queue()
    q.add(info(pod("p")))
    qpi = q.pop_nowait()
    assert qpi is not None
    q.add_unschedulable(qpi)
    clock.advance(59)
    assert q.flush_unschedulable_leftover() == 0
    clock.advance(1)
    assert q.flush_unschedulable_leftover() == 1
    assert q.where("default/p") == "active"


def test_move_filtered_by_rejecting_plugins() -> None:
    q, _ = _queue()
    for name, plugins in (("res", {"NodeResourcesFit"}), ("aff", {"InterPodAffinity"})):
        q.add(info(pod(name)))
        qpi = q.pop_nowait()
        assert qpi is not None
        qpi.unschedulable_plugins = plugins
        q.add_unschedulable(qpi)
    assert q.move_all_to_active_or_backoff("AssignedPodAdd", plugins={"InterPodAffinity"}) == 1
    assert q.where("default/aff") == "backoff" and q.where("default/res") == "unschedulable"


def test_spec_change_moves_an_unschedulable_pod_but_status_change_does_not() -> None:
    q, _ = _queue()
    p = pod("p")
    q.add(info(p))
    qpi = q.pop_nowait()
    assert qpi is not None
    q.add_unschedulable(qpi)
    from msgspec.structs import replace

    from kybernetes.api.models.core_v1 import PodStatus

    q.update(info(replace(p, status=PodStatus(phase="Pending", message="x"))))
    assert q.where("default/p") == "unschedulable"
    assert p.spec is not None
    q.update(info(replace(p, spec=replace(p.spec, node_selector={"a": "b"}))))
    assert q.where("default/p") in ("active", "backoff")


def test_delete_and_done() -> None:
    q, _ = _queue()
    q.add(info(pod("p")))
    q.delete("default/p")
    assert q.pop_nowait() is None and "default/p" not in q
    q.add(info(pod("p")))
    qpi = q.pop_nowait()
    assert qpi is not None and q.where("default/p") == "in_flight"
    q.done("default/p")
    assert "default/p" not in q


def test_abandoned_attempts_are_requeued() -> None:
    q, _ = _queue()
    q.add(info(pod("p")))
    assert q.pop_nowait() is not None
    assert q.requeue_in_flight() == 1
    again = q.pop_nowait()
    assert again is not None and again.pod_info.name == "p"


def test_nominator() -> None:
    q, _ = _queue()
    a, b = info(pod("a")), info(pod("b"))
    q.add_nominated(a, "n1")
    q.add_nominated(b, "n1")
    assert {p.name for p in q.nominated_for("n1")} == {"a", "b"}
    q.add_nominated(a, "n2")
    assert [p.name for p in q.nominated_for("n1")] == ["b"]
    q.delete("default/b")
    assert q.nominated_for("n1") == []


async def test_pop_waits_for_a_pod() -> None:
    q, _ = _queue()
    waiter = asyncio.ensure_future(q.pop())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.add(info(pod("p")))
    qpi = await asyncio.wait_for(waiter, 1)
    assert qpi.pod_info.name == "p"
    q.close()
    with pytest.raises(asyncio.CancelledError):
        await q.pop()
