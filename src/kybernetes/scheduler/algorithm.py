"""Choosing a node for one pod: filter (with adaptive sampling), score, pick the best (ties at random).

At scale not every node is examined: filtering stops once `num_feasible_nodes_to_find` feasible nodes are
found (Kubernetes' adaptive `percentageOfNodesToScore`: 50% minus 1% per 125 nodes, at least 5%, and never
fewer than 100 nodes), starting where the previous pod stopped so the whole cluster is visited in turn.
A pod that already has `status.nominatedNodeName` (it preempted there) tries that node first and takes it
if it fits. When no node fits, the `FitError` carries every node's rejection for the message and for
preemption.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import NO_NODES_AVAILABLE, Diagnosis, FitError, Status
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo
from kybernetes.scheduler.profile import Cycle, Profile

__all__ = ["Algorithm", "NoNodesAvailableError", "ScheduleResult", "num_feasible_nodes_to_find"]

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5

Nominator = Callable[[str], Sequence[PodInfo]]


class NoNodesAvailableError(Exception):
    def __str__(self) -> str:
        return NO_NODES_AVAILABLE


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    node: str
    evaluated: int
    feasible: int


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int = 0) -> int:
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        percentage = max(MIN_FEASIBLE_NODES_PERCENTAGE, 50 - num_all_nodes // 125)
    return max(MIN_FEASIBLE_NODES_TO_FIND, num_all_nodes * min(percentage, 100) // 100)


class Algorithm:
    """Runs one profile's plugins over a snapshot (see the module docstring)."""

    def __init__(
        self,
        *,
        profile: Profile,
        percentage_of_nodes_to_score: int = 0,
        nominated: Nominator | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.profile = profile
        self.percentage = percentage_of_nodes_to_score
        self.nominated: Nominator = nominated or (lambda _node: ())
        self.rng = rng or random.Random()
        self.next_start = 0

    def schedule(self, *, pod: PodInfo, snapshot: Snapshot) -> tuple[Cycle | None, ScheduleResult]:
        """The node for `pod`; raises `FitError` (with `.cycle`) or `NoNodesAvailableError`."""
        nodes = snapshot.nodes
        if not nodes:
            raise NoNodesAvailableError()
        started = self.profile.start_cycle(pod=pod, snapshot=snapshot)
        if isinstance(started, Status):
            diagnosis = Diagnosis(pre_filter_msg=started.message)
            for n in nodes:
                diagnosis.add(n.name, started)
            error = FitError(pod=pod, num_all_nodes=len(nodes), diagnosis=diagnosis)
            error.cycle = None  # type: ignore[attr-defined]
            raise error
        cycle = started
        diagnosis = Diagnosis()
        feasible = self._feasible(cycle, snapshot, diagnosis)
        if not feasible:
            error = FitError(pod=pod, num_all_nodes=len(nodes), diagnosis=diagnosis)
            error.cycle = cycle  # type: ignore[attr-defined]
            raise error
        evaluated = len(feasible) + len(diagnosis.node_to_status)
        if len(feasible) == 1:
            return cycle, ScheduleResult(node=feasible[0].name, evaluated=evaluated, feasible=1)
        totals = self.profile.score(cycle, feasible, snapshot)
        return cycle, ScheduleResult(node=self._select(feasible, totals), evaluated=evaluated, feasible=len(feasible))

    def _passes(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        nominated = self.nominated(node.name)
        if nominated:
            return self.profile.filter_with_nominated(cycle, node, nominated)
        return self.profile.filter(cycle, node)

    def _feasible(self, cycle: Cycle, snapshot: Snapshot, diagnosis: Diagnosis) -> list[NodeInfo]:
        pod = cycle.pod
        spec_status = pod.pod.status
        nominated_node = (spec_status.nominated_node_name if spec_status else None) or ""
        if nominated_node:
            node = snapshot.get(nominated_node)
            if node is not None and self._passes(cycle, node) is None:
                return [node]
        nodes = snapshot.nodes
        total = len(nodes)
        wanted = num_feasible_nodes_to_find(total, self.percentage)
        start = self.next_start % total
        feasible: list[NodeInfo] = []
        processed = 0
        add = diagnosis.add
        for i in range(total):
            node = nodes[(start + i) % total]
            processed += 1
            status = self._passes(cycle, node)
            if status is None:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
            else:
                add(node.name, status)
        self.next_start = (start + processed) % total
        return feasible

    def _select(self, nodes: list[NodeInfo], totals: list[int]) -> str:
        """The highest total; among equals, each is picked with equal probability (reservoir sampling)."""
        best = totals[0]
        chosen = nodes[0].name
        ties = 1
        rng = self.rng
        for node, score in zip(nodes[1:], totals[1:], strict=True):
            if score > best:
                best, chosen, ties = score, node.name, 1
            elif score == best:
                ties += 1
                if rng.randrange(ties) == 0:
                    chosen = node.name
        return chosen
