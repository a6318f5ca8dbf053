"""Preemption (the PostFilter point): when a pod fits nowhere, find a node where evicting lower-priority pods
would make it fit, and the smallest such set of victims.

Only nodes whose rejection was *resolvable* (`Unschedulable`: resources, ports, anti-affinity, spread) are
tried; nodes refused for good (taints, node affinity, ...) count as "Preemption is not helpful for
scheduling". On each tried node (a clone: the cache is never touched), every pod of lower priority is removed;
if the pod still does not fit, that node's filter reasons are kept. Otherwise victims are reprieved one by
one, most important first (higher priority, then longer running), PodDisruptionBudget-protected pods before
the others, and every pod whose return breaks the fit stays a victim. Among candidate nodes the best is the
one with the fewest PDB violations, then the lowest highest-victim priority, then the smallest sum of victim
priorities, then the fewest victims (Kubernetes' order).

Not eligible, with Kubernetes' messages: `preemptionPolicy: Never` ("not eligible due to
preemptionPolicy=Never."), or a pod already nominated to a node where lower-priority pods are still
terminating ("not eligible due to a terminating pod on the nominated node."). Messages are returned prefixed
with "preemption: ", as the FailedScheduling text shows them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kybernetes.api.models.policy_v1 import PodDisruptionBudget
from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import Code, Diagnosis, FitError, Status
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo, label_selector_of
from kybernetes.scheduler.profile import Cycle, Profile

__all__ = ["NOT_HELPFUL", "NO_VICTIMS", "Candidate", "Evaluator", "PreemptionResult"]

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100
_OFFSET = 2**31

_NOT_HELPFUL = Status.unschedulable(NOT_HELPFUL, resolvable=False)
_NO_VICTIMS = Status.unschedulable(NO_VICTIMS, resolvable=False)

Nominator = Callable[[str], Sequence[PodInfo]]


@dataclass(slots=True)
class Candidate:
    node: str
    victims: list[PodInfo]  # most important first
    pdb_violations: int


@dataclass(slots=True)
class PreemptionResult:
    candidate: Candidate | None
    message: str  # "" on success; else the "preemption: ..." text for the FitError
    clear_nomination: bool = False  # no candidate anywhere: a nomination the pod has is void


def _start_time(pod: PodInfo) -> str:
    status, meta = pod.pod.status, pod.pod.metadata
    return (status.start_time if status else None) or (meta.creation_timestamp if meta else None) or ""


def _importance(pod: PodInfo) -> tuple[int, str]:
    """Sort key, most important first: higher priority, then earlier start (longer running)."""
    return (-pod.priority, _start_time(pod))


def split_by_pdb(pods: list[PodInfo], pdbs: Sequence[PodDisruptionBudget]) -> tuple[list[PodInfo], list[PodInfo]]:
    """(violating, non-violating), order kept: a pod violates when evicting it (after the ones before it)
    would take a matching budget's `disruptionsAllowed` below zero."""
    allowed = [(pdb.status.disruptions_allowed or 0) if pdb.status else 0 for pdb in pdbs]
    selectors = [label_selector_of(pdb.spec.selector if pdb.spec else None) for pdb in pdbs]
    violating: list[PodInfo] = []
    fine: list[PodInfo] = []
    for pod in pods:
        bad = False
        if pod.labels:
            for i, pdb in enumerate(pdbs):
                meta = pdb.metadata
                if meta is None or meta.namespace != pod.namespace:
                    continue
                if selectors[i].empty or not selectors[i].matches(pod.labels):
                    continue
                disrupted = pdb.status.disrupted_pods if pdb.status else None
                if disrupted and pod.name in disrupted:
                    continue
                allowed[i] -= 1
                if allowed[i] < 0:
                    bad = True
        (violating if bad else fine).append(pod)
    return violating, fine


class Evaluator:
    """Finds a preemption candidate for one pod (see the module docstring)."""

    def __init__(self, *, profile: Profile, nominated: Nominator | None = None,
                 rng: random.Random | None = None) -> None:
        self.profile = profile
        self.nominated: Nominator = nominated or (lambda _node: ())
        self.rng = rng or random.Random()

    def _ineligible(self, pod: PodInfo, snapshot: Snapshot, diagnosis: Diagnosis) -> str:
        spec, status = pod.pod.spec, pod.pod.status
        if spec is not None and spec.preemption_policy == "Never":
            return "not eligible due to preemptionPolicy=Never."
        nominated = (status.nominated_node_name if status else None) or ""
        if nominated:
            node_status = diagnosis.node_to_status.get(nominated)
            if node_status is not None and node_status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return ""
            node = snapshot.get(nominated)
            if node is not None and any(p.terminating and p.priority < pod.priority for p in node.pods.values()):
                return "not eligible due to a terminating pod on the nominated node."
        return ""

    def preempt(self, *, cycle: Cycle, snapshot: Snapshot, diagnosis: Diagnosis,
                pdbs: Sequence[PodDisruptionBudget] = ()) -> PreemptionResult:
        pod = cycle.pod
        reason = self._ineligible(pod, snapshot, diagnosis)
        if reason:
            return PreemptionResult(candidate=None, message="preemption: " + reason)
        potential = [snapshot.node_infos[name] for name in diagnosis.nodes_with(Code.UNSCHEDULABLE)
                     if snapshot.get(name) is not None]
        statuses = Diagnosis(absent=_NOT_HELPFUL)
        candidates: list[Candidate] = []
        if potential:
            n = len(potential)
            wanted = min(n, max(n * MIN_CANDIDATE_NODES_PERCENTAGE // 100, MIN_CANDIDATE_NODES_ABSOLUTE))
            offset = self.rng.randrange(n)
            for i in range(n):
                node = potential[(offset + i) % n]
                found = self.select_victims(cycle=cycle, node=node, pdbs=pdbs)
                if isinstance(found, Candidate):
                    candidates.append(found)
                    if len(candidates) >= wanted and any(c.pdb_violations == 0 for c in candidates):
                        break
                else:
                    statuses.add(node.name, found)
        if not candidates:
            error = FitError(pod=pod, num_all_nodes=len(snapshot.nodes), diagnosis=statuses)
            return PreemptionResult(candidate=None, message="preemption: " + error.message(), clear_nomination=True)
        return PreemptionResult(candidate=self.pick(candidates), message="")

    def select_victims(self, *, cycle: Cycle, node: NodeInfo,
                       pdbs: Sequence[PodDisruptionBudget] = ()) -> Candidate | Status:
        pod = cycle.pod
        lower = [p for p in node.pods.values() if p.priority < pod.priority]
        if not lower:
            return _NO_VICTIMS
        trial = cycle.clone()
        what_if = node.clone()
        for victim in lower:
            what_if.remove_pod(victim.key)
            self.profile.remove_pod(trial, removed=victim, node=what_if)
        nominated = self.nominated(node.name)
        status = self.profile.filter_with_nominated(trial, what_if, nominated)
        if status is not None:
            return status
        lower.sort(key=_importance)
        violating, fine = split_by_pdb(lower, pdbs)
        victims: list[PodInfo] = []
        violations = 0

        def reprieve(candidate: PodInfo) -> bool:
            what_if.add_pod(candidate)
            self.profile.add_pod(trial, added=candidate, node=what_if)
            if self.profile.filter_with_nominated(trial, what_if, nominated) is None:
                return True
            what_if.remove_pod(candidate.key)
            self.profile.remove_pod(trial, removed=candidate, node=what_if)
            victims.append(candidate)
            return False

        for candidate in violating:
            if not reprieve(candidate):
                violations += 1
        for candidate in fine:
            reprieve(candidate)
        if not victims:
            return Status.error(f'expected at least one victim pod on node "{node.name}"')
        victims.sort(key=_importance)
        return Candidate(node=node.name, victims=victims, pdb_violations=violations)

    @staticmethod
    def pick(candidates: list[Candidate]) -> Candidate:
        def key(c: Candidate) -> tuple[int, int, int, int]:
            return (
                c.pdb_violations,
                c.victims[0].priority,
                sum(v.priority + _OFFSET for v in c.victims),
                len(c.victims),
            )

        return min(candidates, key=key)
