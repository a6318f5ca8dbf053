"""Preemption: the minimal victim set, the best node, PodDisruptionBudgets, eligibility."""

from __future__ import annotations

from scheduler_fakes import cluster, info, node, pod

from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta
from kybernetes.api.models.policy_v1 import (
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus,
)
from kybernetes.scheduler.algorithm import Algorithm
from kybernetes.scheduler.framework import FitError
from kybernetes.scheduler.plugins import DEFAULT_SCORE_WEIGHTS, default_plugins
from kybernetes.scheduler.preemption import Candidate, Evaluator, split_by_pdb
from kybernetes.scheduler.profile import Profile


def _preempt(nodes: list[object], pods: list[object], preemptor: object, pdbs: list[PodDisruptionBudget] = ()):  # type: ignore[no-untyped-def,assignment]
    profile = Profile(plugins=default_plugins(), score_weights=DEFAULT_SCORE_WEIGHTS)
    _, snap = cluster(nodes, pods)  # type: ignore[arg-type]
    try:
        Algorithm(profile=profile).schedule(pod=info(preemptor), snapshot=snap)  # type: ignore[arg-type]
    except FitError as e:
        return Evaluator(profile=profile).preempt(cycle=e.cycle, snapshot=snap, diagnosis=e.diagnosis,  # type: ignore[attr-defined]
                                                  pdbs=pdbs)
    raise AssertionError("fits without preemption")


def test_minimal_victims_lowest_priority_first() -> None:
    pods = [
        pod("v-100", cpu="1", priority=100, node_name="n1"),
        pod("v-10", cpu="1", priority=10, node_name="n1"),
        pod("v-5", cpu="1", priority=5, node_name="n1"),
        pod("keep-1000", cpu="1", priority=1000, node_name="n1"),
    ]
    result = _preempt([node("n1", cpu="4")], pods, pod("p", cpu="2", priority=500))
    assert result.message == "" and result.candidate is not None
    assert [v.name for v in result.candidate.victims] == ["v-10", "v-5"]


def test_prefers_the_node_with_cheaper_victims() -> None:
    pods = [pod("a", cpu="2", priority=50, node_name="n1"), pod("b", cpu="2", priority=10, node_name="n2")]
    result = _preempt([node("n1", cpu="2"), node("n2", cpu="2")], pods, pod("p", cpu="2", priority=100))
    assert result.candidate is not None and result.candidate.node == "n2"


def test_pdb_protected_pods_are_spared_when_possible() -> None:
    pods = [pod("guarded", cpu="1", priority=0, labels={"app": "db"}, node_name="n1"),
            pod("free", cpu="1", priority=0, node_name="n2")]
    pdb = PodDisruptionBudget(
        metadata=ObjectMeta(name="db", namespace="default"),
        spec=PodDisruptionBudgetSpec(selector=LabelSelector(match_labels={"app": "db"})),
        status=PodDisruptionBudgetStatus(disruptions_allowed=0),
    )
    result = _preempt([node("n1", cpu="1"), node("n2", cpu="1")], pods, pod("p", cpu="1", priority=10), [pdb])
    assert result.candidate is not None and result.candidate.node == "n2"
    violating, fine = split_by_pdb([info(pods[0]), info(pods[1])], [pdb])
    assert [p.name for p in violating] == ["guarded"] and [p.name for p in fine] == ["free"]


def test_equal_or_higher_priority_pods_are_never_victims() -> None:
    result = _preempt([node("n1", cpu="1")], [pod("same", cpu="1", priority=10, node_name="n1")],
                      pod("p", cpu="1", priority=10))
    assert result.candidate is None
    assert result.message == ("preemption: 0/1 nodes are available: "
                              "1 No preemption victims found for incoming pod.")


def test_pick_order() -> None:
    a, b = info(pod("a", priority=5)), info(pod("b", priority=1))
    c = info(pod("c", priority=1))
    picked = Evaluator.pick([
        Candidate(node="x", victims=[a], pdb_violations=0),
        Candidate(node="y", victims=[b, c], pdb_violations=0),
        Candidate(node="z", victims=[b], pdb_violations=1),
    ])
    assert picked.node == "y"
