"""Node selection: adaptive sampling, rotation, scoring, random ties, the nominated node."""

from __future__ import annotations

import random

from scheduler_fakes import cluster, info, node, pod

from kybernetes.api.models.core_v1 import PodStatus
from kybernetes.scheduler.algorithm import Algorithm, num_feasible_nodes_to_find
from kybernetes.scheduler.plugins import DEFAULT_SCORE_WEIGHTS, default_plugins
from kybernetes.scheduler.profile import Profile


def _algorithm(seed: int = 1) -> Algorithm:
    return Algorithm(profile=Profile(plugins=default_plugins(), score_weights=DEFAULT_SCORE_WEIGHTS),
                     rng=random.Random(seed))


def test_percentage_of_nodes_to_score() -> None:
    assert num_feasible_nodes_to_find(50) == 50
    assert num_feasible_nodes_to_find(100) == 100
    assert num_feasible_nodes_to_find(1000) == 420  # 50 - 1000/125 = 42%
    assert num_feasible_nodes_to_find(5000) == 500  # 50 - 40 = 10%
    assert num_feasible_nodes_to_find(10000) == 500  # floor 5%
    assert num_feasible_nodes_to_find(300, 10) == 100  # never under 100


def test_sampling_stops_early_and_rotates() -> None:
    nodes = [node(f"n{i:04}") for i in range(1000)]
    _, snap = cluster(nodes)
    alg = _algorithm()
    _, first = alg.schedule(pod=info(pod("a")), snapshot=snap)
    assert first.feasible == 420 and first.evaluated == 420
    assert alg.next_start == 420
    alg.schedule(pod=info(pod("b")), snapshot=snap)
    assert alg.next_start == 840


def test_emptiest_node_wins_and_ties_are_random() -> None:
    nodes = [node("busy"), node("idle1"), node("idle2")]
    _, snap = cluster(nodes, [pod("x", cpu="3", memory="6Gi", node_name="busy")])
    chosen = {_algorithm(seed).schedule(pod=info(pod("p", cpu="100m")), snapshot=snap)[1].node for seed in range(30)}
    assert chosen == {"idle1", "idle2"}


def test_nominated_node_is_tried_first() -> None:
    nodes = [node("a"), node("b"), node("c")]
    _, snap = cluster(nodes, [pod("x", cpu="3", node_name="b")])
    p = pod("p", cpu="100m")
    p.status = PodStatus(nominated_node_name="b")
    _, result = _algorithm().schedule(pod=info(p), snapshot=snap)
    assert result.node == "b" and result.evaluated == 1


def test_nominated_pods_keep_their_room() -> None:
    nodes = [node("a", cpu="1")]
    _, snap = cluster(nodes)
    waiting = info(pod("high", cpu="800m", priority=100))
    profile = Profile(plugins=default_plugins(), score_weights=DEFAULT_SCORE_WEIGHTS)
    alg = Algorithm(profile=profile, nominated=lambda n: [waiting] if n == "a" else [])
    from kybernetes.scheduler.framework import FitError

    try:
        alg.schedule(pod=info(pod("low", cpu="500m", priority=0)), snapshot=snap)
    except FitError as e:
        assert e.message().startswith("0/1 nodes are available: 1 Insufficient cpu.")
    else:
        raise AssertionError("the lower-priority pod took the nominated pod's room")
    _, result = alg.schedule(pod=info(pod("higher", cpu="500m", priority=1000)), snapshot=snap)
    assert result.node == "a"
