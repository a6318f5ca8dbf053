"""Which nodes a DaemonSet's pod belongs on, decided as the scheduler would for a pod pinned to the node.

`should_run(node=, template=)` answers two questions (Kubernetes' `NodeShouldRunDaemonPod`):
* `run`: a new daemon pod should be placed here — nodeSelector and required node affinity match, and every
  NoSchedule / NoExecute taint is tolerated (by the template's tolerations plus the ones every daemon pod
  gets, see `DAEMON_TOLERATIONS`);
* `keep`: an existing daemon pod may stay — the same, except untolerated NoSchedule taints are ignored
  (they only stop new pods; NoExecute taints evict).

Daemon pods are created with required node affinity `matchFields metadata.name In [<node>]` (as Kubernetes
does), so the scheduler binds each one to its node; `target_node(pod)` reads the node back from either
`spec.nodeName` or that affinity term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kybernetes.api.models.core_v1 import (
    Node,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Pod,
    PodTemplateSpec,
    Taint,
    Toleration,
)

DAEMON_TOLERATIONS: tuple[Toleration, ...] = (
    Toleration(key="node.kubernetes.io/not-ready", operator="Exists", effect="NoExecute"),
    Toleration(key="node.kubernetes.io/unreachable", operator="Exists", effect="NoExecute"),
    Toleration(key="node.kubernetes.io/disk-pressure", operator="Exists", effect="NoSchedule"),
    Toleration(key="node.kubernetes.io/memory-pressure", operator="Exists", effect="NoSchedule"),
    Toleration(key="node.kubernetes.io/pid-pressure", operator="Exists", effect="NoSchedule"),
    Toleration(key="node.kubernetes.io/unschedulable", operator="Exists", effect="NoSchedule"),
)
HOST_NETWORK_TOLERATION = Toleration(key="node.kubernetes.io/network-unavailable", operator="Exists",
                                     effect="NoSchedule")


@dataclass(frozen=True, slots=True)
class Placement:
    run: bool
    keep: bool


def daemon_tolerations(template: PodTemplateSpec) -> list[Toleration]:
    """The template's tolerations plus the automatic ones it does not already have."""
    spec = template.spec
    have = list((spec.tolerations if spec else None) or [])
    extra = list(DAEMON_TOLERATIONS)
    if spec is not None and spec.host_network:
        extra.append(HOST_NETWORK_TOLERATION)
    for tol in extra:
        if not any(t.key == tol.key and t.effect == tol.effect for t in have):
            have.append(tol)
    return have


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if not toleration.key and toleration.operator != "Exists":
        return False
    if toleration.operator == "Exists":
        return True
    return (toleration.value or "") == (taint.value or "")


def _requirement(req: NodeSelectorRequirement, value: str | None) -> bool:
    values = req.values or []
    op = req.operator
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: NodeSelectorTerm, node: Node) -> bool:
    if not term.match_expressions and not term.match_fields:
        return False  # an empty term matches nothing
    labels = (node.metadata.labels if node.metadata else None) or {}
    for req in term.match_expressions or []:
        if not _requirement(req, labels.get(req.key or "")):
            return False
    fields = {"metadata.name": node.metadata.name if node.metadata else None}
    for req in term.match_fields or []:
        if req.key not in fields or not _requirement(req, fields[req.key]):
            return False
    return True


def _affinity_matches(spec: Any, node: Node) -> bool:
    affinity = spec.affinity if spec else None
    required = affinity.node_affinity.required_during_scheduling_ignored_during_execution \
        if affinity and affinity.node_affinity else None
    if required is None:
        return True
    return any(term_matches(t, node) for t in required.node_selector_terms or [])


def should_run(*, node: Node, template: PodTemplateSpec) -> Placement:
    spec = template.spec
    labels = (node.metadata.labels if node.metadata else None) or {}
    selector = (spec.node_selector if spec else None) or {}
    if any(labels.get(k) != v for k, v in selector.items()) or not _affinity_matches(spec, node):
        return Placement(run=False, keep=False)
    tolerations = daemon_tolerations(template)
    run = keep = True
    for taint in (node.spec.taints if node.spec else None) or []:
        if taint.effect not in ("NoSchedule", "NoExecute"):
            continue
        if any(tolerates(t, taint) for t in tolerations):
            continue
        run = False
        if taint.effect == "NoExecute":
            keep = False
    return Placement(run=run, keep=keep)


def target_node(pod: Pod) -> str | None:
    """The node a daemon pod is for: spec.nodeName, else its `metadata.name` matchFields term."""
    if pod.spec is None:
        return None
    if pod.spec.node_name:
        return pod.spec.node_name
    affinity = pod.spec.affinity
    required = affinity.node_affinity.required_during_scheduling_ignored_during_execution \
        if affinity and affinity.node_affinity else None
    for term in (required.node_selector_terms if required else None) or []:
        for req in term.match_fields or []:
            if req.key == "metadata.name" and req.operator == "In" and len(req.values or []) == 1:
                return (req.values or [""])[0]
    return None


def pin_to_node(spec: dict[str, Any], node: str) -> None:
    """Require `node` by name in a wire-form pod spec's node affinity (replacing other matchFields)."""
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    pin = {"key": "metadata.name", "operator": "In", "values": [node]}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        required["nodeSelectorTerms"] = [{"matchFields": [pin]}]
        return
    for term in terms:
        # Keep each term's label expressions; the node name requirement is ANDed into every term.
        term["matchFields"] = [pin]
