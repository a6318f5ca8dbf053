"""The default plugins, one module each with its `NAME`, and the default profile's score weights.

Filters run cheapest and most selective first (a node is rejected at its first failing filter, as in
Kubernetes, so the per-node reasons name that filter). Score weights are Kubernetes' defaults.
"""

from __future__ import annotations

from collections.abc import Callable

from kybernetes.client import SharedInformerFactory
from kybernetes.scheduler.plugins import (
    balancedallocation,
    interpodaffinity,
    nodeaffinity,
    nodename,
    nodeports,
    noderesources,
    nodeunschedulable,
    podtopologyspread,
    tainttoleration,
    volumebinding,
)

__all__ = ["DEFAULT_SCORE_WEIGHTS", "default_plugins"]

DEFAULT_SCORE_WEIGHTS: dict[str, int] = {
    tainttoleration.NAME: 3,
    nodeaffinity.NAME: 2,
    podtopologyspread.NAME: 2,
    interpodaffinity.NAME: 2,
    noderesources.NAME: 1,
    balancedallocation.NAME: 1,
}


def default_plugins(*, informers: SharedInformerFactory | None = None,
                    requeue: Callable[..., object] | None = None) -> list[object]:
    """Fresh instances of the default plugins, in filter order. `informers` feed the plugins that read
    more than pods and nodes (VolumeBinding); `requeue(event, plugins=...)` retries the pods they rejected
    when what they read changes."""

    def volume_changed() -> None:
        if requeue is not None:
            requeue("PersistentVolumeChange", plugins=(volumebinding.NAME,))

    return [
        nodeunschedulable.NodeUnschedulable(),
        nodename.NodeName(),
        tainttoleration.TaintToleration(),
        nodeaffinity.NodeAffinity(),
        nodeports.NodePorts(),
        noderesources.NodeResourcesFit(),
        volumebinding.VolumeBinding(informers=informers, on_change=volume_changed),
        podtopologyspread.PodTopologySpread(),
        interpodaffinity.InterPodAffinity(),
        balancedallocation.BalancedAllocation(),
    ]
