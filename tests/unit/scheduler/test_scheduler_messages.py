"""The FailedScheduling text: Kubernetes' exact form, reason histogram sorting and the preemption suffix."""

from __future__ import annotations

from scheduler_fakes import cluster, info, node, pod

from kybernetes.api.models.core_v1 import Taint
from kybernetes.scheduler.algorithm import Algorithm
from kybernetes.scheduler.framework import Diagnosis, FitError, Status
from kybernetes.scheduler.plugins import DEFAULT_SCORE_WEIGHTS, default_plugins
from kybernetes.scheduler.preemption import Evaluator
from kybernetes.scheduler.profile import Profile

CP_TAINT = Taint(key="node-role.kubernetes.io/control-plane", effect="NoSchedule")


def _fail(nodes: list[object], p: object, pods: list[object] = ()) -> str:  # type: ignore[assignment]
    profile = Profile(plugins=default_plugins(), score_weights=DEFAULT_SCORE_WEIGHTS)
    _, snap = cluster(nodes, pods)  # type: ignore[arg-type]
    pi = info(p)  # type: ignore[arg-type]
    try:
        Algorithm(profile=profile).schedule(pod=pi, snapshot=snap)
    except FitError as e:
        result = Evaluator(profile=profile).preempt(cycle=e.cycle, snapshot=snap, diagnosis=e.diagnosis)  # type: ignore[attr-defined]
        e.diagnosis.post_filter_msg = result.message
        return e.message()
    raise AssertionError("the pod fitted")


def test_the_issue_example() -> None:
    nodes = [node("cp", taints=[CP_TAINT]), node("w1", cpu="1"), node("w2", cpu="1")]
    message = _fail(nodes, pod("big", cpu="2"))
    assert message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod."
    )


def test_nothing_to_preempt_anywhere_is_not_helpful() -> None:
    nodes = [node("a", labels={"disk": "hdd"}), node("b", labels={"disk": "hdd"}), node("c", labels={"disk": "hdd"})]
    message = _fail(nodes, pod("p", node_selector={"disk": "ssd"}))
    assert message == (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )


def test_preemption_policy_never() -> None:
    nodes = [node("a", cpu="1")]
    message = _fail(nodes, pod("p", cpu="2", priority=100, preemption_policy="Never"))
    assert message == ("0/1 nodes are available: 1 Insufficient cpu. "
                       "preemption: not eligible due to preemptionPolicy=Never.")


def test_victims_that_do_not_make_room_report_the_filter_reason() -> None:
    nodes = [node("a", cpu="1")]
    low = pod("low", cpu="200m", priority=0, node_name="a")
    message = _fail(nodes, pod("p", cpu="2", priority=100), [low])
    assert message == ("0/1 nodes are available: 1 Insufficient cpu. "
                       "preemption: 0/1 nodes are available: 1 Insufficient cpu.")


def test_histogram_sorted_as_strings_and_multiple_reasons_per_node() -> None:
    d = Diagnosis()
    for i in range(10):
        d.add(f"n{i}", Status.unschedulable("Insufficient memory"))
    d.add("x", Status.unschedulable("Insufficient cpu", "Insufficient memory"))
    d.add("y", Status.unschedulable("Insufficient cpu"))
    assert FitError(pod=None, num_all_nodes=12, diagnosis=d).message() == (
        "0/12 nodes are available: 11 Insufficient memory, 2 Insufficient cpu."
    )


def test_prefilter_message_replaces_node_reasons() -> None:
    d = Diagnosis(pre_filter_msg="something went wrong")
    d.add("a", Status.unschedulable("something went wrong"))
    assert FitError(pod=None, num_all_nodes=1, diagnosis=d).message() == (
        "0/1 nodes are available: something went wrong."
    )
