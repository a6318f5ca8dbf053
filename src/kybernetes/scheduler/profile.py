"""A scheduling profile: the plugins of one scheduler name, sorted into extension points, and the code that
runs them for one pod (`Cycle`).

`start_cycle` runs PreFilter: a SKIP removes the plugin's Filter for this pod, a rejection fails the pod on
every node at once (its message becomes the FitError's PreFilter message). `filter` runs the remaining
filters on one node and stops at the first rejection. `filter_with_nominated` first adds the pods nominated
to that node with at least the pod's priority (pods that preempted there and wait for the victims to go),
so their room is not given away, then checks the node as it is, as Kubernetes does. `score` runs PreScore,
Score, NormalizeScore and sums `weight * score` per node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import (
    Code,
    CycleState,
    FilterPlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreScorePlugin,
    ScorePlugin,
    Status,
)
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["DEFAULT_SCHEDULER_NAME", "Cycle", "Profile"]

DEFAULT_SCHEDULER_NAME = "default-scheduler"

FilterFunc = Callable[[CycleState, PodInfo, NodeInfo], Status | None]


@dataclass(slots=True)
class Cycle:
    """One pod's scheduling attempt: its cycle state and the filters that apply to it."""

    pod: PodInfo
    state: CycleState
    filters: list[FilterFunc] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)

    def clone(self) -> Cycle:
        return Cycle(pod=self.pod, state=self.state.clone(), filters=self.filters, skipped=self.skipped)


def _has(plugin: object, method: str) -> bool:
    return callable(getattr(plugin, method, None))


class Profile:
    """The plugins of one scheduler profile (see the module docstring)."""

    def __init__(
        self,
        *,
        plugins: Sequence[object],
        score_weights: Mapping[str, int],
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
    ) -> None:
        self.scheduler_name = scheduler_name
        self.plugins = list(plugins)
        self.pre_filters = [cast(PreFilterPlugin, p) for p in plugins if _has(p, "pre_filter")]
        self.filters = [cast(FilterPlugin, p) for p in plugins if _has(p, "filter")]
        self.extensions = [
            cast(PreFilterExtensions, p) for p in plugins if _has(p, "add_pod") and _has(p, "remove_pod")
        ]
        self.pre_scores = [cast(PreScorePlugin, p) for p in plugins if _has(p, "pre_score")]
        self.scorers: list[tuple[ScorePlugin, int]] = []
        for p in plugins:
            if _has(p, "score"):
                scorer = cast(ScorePlugin, p)
                weight = score_weights.get(scorer.name, 1)
                if weight > 0:
                    self.scorers.append((scorer, weight))

    # ---- filtering ---------------------------------------------------------------------------------

    def start_cycle(self, *, pod: PodInfo, snapshot: Snapshot) -> Cycle | Status:
        """Run PreFilter; the Cycle to filter with, or the Status that rejects the pod everywhere."""
        state = CycleState()
        skipped: set[str] = set()
        for plugin in self.pre_filters:
            status = plugin.pre_filter(state=state, pod=pod, snapshot=snapshot)
            if status is None:
                continue
            if status.code == Code.SKIP:
                skipped.add(plugin.name)
                continue
            if status.plugin != plugin.name:
                status = Status(code=status.code, reasons=status.reasons, plugin=plugin.name)
            return status
        filters: list[FilterFunc] = [p.filter for p in self.filters if p.name not in skipped]
        return Cycle(pod=pod, state=state, filters=filters, skipped=skipped)

    @staticmethod
    def filter(cycle: Cycle, node: NodeInfo) -> Status | None:
        state, pod = cycle.state, cycle.pod
        for f in cycle.filters:
            status = f(state, pod, node)
            if status is not None:
                return status
        return None

    def filter_with_nominated(self, cycle: Cycle, node: NodeInfo, nominated: Sequence[PodInfo]) -> Status | None:
        pod = cycle.pod
        others = [p for p in nominated if p.priority >= pod.priority and p.key != pod.key]
        if others:
            trial = cycle.clone()
            with_nominated = node.clone()
            for other in others:
                with_nominated.add_pod(other)
                self.add_pod(trial, added=other, node=with_nominated)
            status = self.filter(trial, with_nominated)
            if status is not None:
                return status
        return self.filter(cycle, node)

    def add_pod(self, cycle: Cycle, *, added: PodInfo, node: NodeInfo) -> None:
        for ext in self.extensions:
            if ext.name not in cycle.skipped:
                ext.add_pod(state=cycle.state, pod=cycle.pod, added=added, node=node)

    def remove_pod(self, cycle: Cycle, *, removed: PodInfo, node: NodeInfo) -> None:
        for ext in self.extensions:
            if ext.name not in cycle.skipped:
                ext.remove_pod(state=cycle.state, pod=cycle.pod, removed=removed, node=node)

    # ---- scoring -----------------------------------------------------------------------------------

    def score(self, cycle: Cycle, nodes: list[NodeInfo], snapshot: Snapshot) -> list[int]:
        """The weighted total score of each of `nodes` (same order)."""
        state, pod = cycle.state, cycle.pod
        skipped: set[str] = set()
        for pre in self.pre_scores:
            status = pre.pre_score(state=state, pod=pod, nodes=nodes, snapshot=snapshot)
            if status is not None and status.code == Code.SKIP:
                skipped.add(pre.name)
            elif status is not None:
                raise RuntimeError(f"{pre.name} PreScore: {status.message}")
        totals = [0] * len(nodes)
        for plugin, weight in self.scorers:
            if plugin.name in skipped:
                continue
            batch = getattr(plugin, "score_nodes", None)  # all nodes in one call, where a plugin offers it
            if batch is not None:
                scores = batch(state, pod, nodes)
            else:
                score = plugin.score
                scores = [score(state, pod, n) for n in nodes]
            normalize = getattr(plugin, "normalize", None)
            if normalize is not None:
                normalize(state=state, pod=pod, scores=scores)
            for i, s in enumerate(scores):
                totals[i] += s * weight
        return totals
