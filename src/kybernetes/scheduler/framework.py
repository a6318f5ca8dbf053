"""The scheduling framework: result codes, cycle state, the plugin protocols and the fit error.

A pod's scheduling cycle runs extension points in order, each a small protocol a plugin may implement
(a plugin is any object with a `name`; it takes part in every point whose method it has):

    PreFilter → Filter (per node) → [PostFilter: preemption, when no node fits]
    → PreScore → Score (per feasible node) → NormalizeScore → Reserve → (binding cycle) Bind

Result codes (`Code`), as Kubernetes defines them:

* SUCCESS — go on. Plugins return `None` for success (no allocation on the hot path).
* ERROR — something is broken (not the pod's fault): the pod is retried with backoff, reason SchedulerError.
* UNSCHEDULABLE — the node does not fit now, but removing pods from it (preemption) could help
  (resources, host ports, anti-affinity, topology skew).
* UNSCHEDULABLE_AND_UNRESOLVABLE — the node can never fit this pod whatever is evicted (taints, node
  affinity, node name, unschedulable node); preemption does not try such nodes.
* SKIP — only from PreFilter / PreScore: "nothing to do for this pod", so the plugin's Filter / Score is not
  run at all (e.g. NodePorts for a pod without host ports). This keeps the per-node work small.

`Status.reasons` are the short texts that `FitError.message()` counts per node and sorts into Kubernetes'
"0/3 nodes are available: 1 node(s) had untolerated taint {...}, 2 Insufficient cpu." form.

Filter and Score take their arguments positionally: they are called once per node per pod (hundreds of
thousands of calls for a large backlog), and positional calls are measurably cheaper in CPython.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kybernetes.scheduler.cache import Snapshot
    from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = [
    "MAX_NODE_SCORE",
    "NO_NODES_AVAILABLE",
    "BindPlugin",
    "Code",
    "CycleState",
    "Diagnosis",
    "FilterPlugin",
    "FitError",
    "Plugin",
    "PreFilterExtensions",
    "PreFilterPlugin",
    "PreScorePlugin",
    "ReservePlugin",
    "ScorePlugin",
    "Status",
    "default_normalize",
]

MAX_NODE_SCORE = 100
NO_NODES_AVAILABLE = "no nodes available to schedule pods"


class Code(IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    SKIP = 4


@dataclass(frozen=True, slots=True)
class Status:
    """A non-success result of one plugin (see the module docstring for the codes)."""

    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @classmethod
    def unschedulable(cls, *reasons: str, plugin: str = "", resolvable: bool = True) -> Status:
        code = Code.UNSCHEDULABLE if resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        return cls(code=code, reasons=reasons, plugin=plugin)

    @classmethod
    def error(cls, message: str, *, plugin: str = "") -> Status:
        return cls(code=Code.ERROR, reasons=(message,), plugin=plugin)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    @property
    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)


SKIP = Status(code=Code.SKIP)


class CycleState(dict[str, Any]):
    """Per-cycle data plugins share between their extension points (keyed by plugin name).

    `clone()` is what preemption's dry runs use: values with a `clone()` method of their own (state that
    PreFilter extensions change as pods are added or removed) are copied, the rest shared.
    """

    def clone(self) -> CycleState:
        copy = CycleState()
        for key, value in self.items():
            clone = getattr(value, "clone", None)
            copy[key] = clone() if callable(clone) else value
        return copy


# ---- plugin protocols -------------------------------------------------------------------------------


@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, *, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> Status | None:
        """Compute per-pod state once; `SKIP` turns this plugin's Filter off; a rejection fails every node."""
        ...


@runtime_checkable
class PreFilterExtensions(Protocol):
    """PreFilter state that depends on the pods on nodes, kept true while preemption simulates evictions."""

    name: str

    def add_pod(self, *, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> None: ...

    def remove_pod(self, *, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo) -> None: ...


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """None when `pod` fits `node` as far as this plugin is concerned."""
        ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(
        self, *, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], snapshot: Snapshot
    ) -> Status | None:
        """Prepare scoring over the feasible `nodes`; `SKIP` turns this plugin's Score off for the pod."""
        ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """A raw score; `normalize` (if the plugin needs one) brings all nodes' scores to 0..100."""
        ...

    def normalize(self, *, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        """Rewrite `scores` (one per feasible node, in order) in place to 0..MAX_NODE_SCORE."""
        ...


@runtime_checkable
class ReservePlugin(Protocol):
    name: str

    def reserve(self, *, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...

    def unreserve(self, *, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


@runtime_checkable
class BindPlugin(Protocol):
    name: str

    async def bind(self, *, pod: PodInfo, node_name: str) -> Status | None:
        """Write the binding; `SKIP` hands over to the next binder."""
        ...


def default_normalize(scores: list[int], *, reverse: bool = False) -> None:
    """Scale to 0..MAX_NODE_SCORE by the highest score (Kubernetes' DefaultNormalizeScore); `reverse` flips
    it so that the lowest raw score becomes the best."""
    highest = max(scores, default=0)
    if highest == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        s = MAX_NODE_SCORE * s // highest
        scores[i] = MAX_NODE_SCORE - s if reverse else s


# ---- why a pod fits nowhere -------------------------------------------------------------------------


@dataclass(slots=True)
class Diagnosis:
    """Per-node rejections of one cycle. `absent` is the status of nodes without an explicit entry (used
    by preemption: "Preemption is not helpful for scheduling")."""

    node_to_status: dict[str, Status] = field(default_factory=dict)
    absent: Status | None = None
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""

    def add(self, node_name: str, status: Status) -> None:
        self.node_to_status[node_name] = status
        if status.plugin:
            self.unschedulable_plugins.add(status.plugin)

    def nodes_with(self, code: Code) -> list[str]:
        return [name for name, s in self.node_to_status.items() if s.code == code]


class FitError(Exception):
    """No node fits the pod; `message()` is the FailedScheduling text, worded as Kubernetes words it."""

    def __init__(self, *, pod: PodInfo | None, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        return self.message()

    def message(self) -> str:
        """`0/N nodes are available: <prefilter msg>. | <sorted "count reason" list>. [<postfilter msg>]`.

        Reasons are counted over nodes and the "count reason" strings sorted as strings (so "10 ..." sorts
        before "2 ..."), exactly as Kubernetes sorts them.
        """
        d = self.diagnosis
        text = f"0/{self.num_all_nodes} nodes are available:"
        if d.pre_filter_msg:
            text += f" {d.pre_filter_msg}."
        else:
            counts: dict[str, int] = {}
            for status in d.node_to_status.values():
                for reason in status.reasons:
                    counts[reason] = counts.get(reason, 0) + 1
            missing = self.num_all_nodes - len(d.node_to_status)
            if missing > 0 and d.absent is not None:
                for reason in d.absent.reasons:
                    counts[reason] = counts.get(reason, 0) + missing
            histogram = sorted(f"{count} {reason}" for reason, count in counts.items())
            if histogram:
                text += f" {', '.join(histogram)}."
        if d.post_filter_msg:
            text += f" {d.post_filter_msg}"
        return text


def reasons_of(statuses: Iterable[Status]) -> list[str]:
    return [r for s in statuses for r in s.reasons]
