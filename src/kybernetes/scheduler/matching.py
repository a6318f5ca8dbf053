"""Matching rules shared by several plugins: node selector terms and taints against tolerations.

Node selector terms (`requiredDuringScheduling...nodeSelectorTerms`, preferred terms' `preference`) are ORed;
inside a term every requirement must hold. `matchExpressions` test node labels with In / NotIn / Exists /
DoesNotExist / Gt / Lt (integers, both sides); `matchFields` support only `metadata.name` (In / NotIn), as in
Kubernetes. A term with no requirements matches nothing; an invalid operator makes the term match nothing.

Tolerations follow Kubernetes' `ToleratesTaint`: the effect must be equal unless the toleration's is empty
(all effects); an empty key with operator Exists tolerates every taint; operator Exists ignores the value,
Equal (the default) compares it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from kybernetes.api.models.core_v1 import NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration

__all__ = [
    "find_untolerated_taint",
    "node_matches_selector_terms",
    "node_matches_term",
    "tolerates",
]


def _requirement_matches(req: NodeSelectorRequirement, labels: Mapping[str, str]) -> bool:
    key, op, values = req.key or "", req.operator or "", req.values or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        if key not in labels or len(values) != 1:
            return False
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def node_matches_term(term: NodeSelectorTerm, *, labels: Mapping[str, str], name: str) -> bool:
    expressions = term.match_expressions or []
    fields = term.match_fields or []
    if not expressions and not fields:
        return False
    for req in expressions:
        if not _requirement_matches(req, labels):
            return False
    for req in fields:
        if req.key != "metadata.name":
            return False
        if not _requirement_matches(req, {"metadata.name": name}):
            return False
    return True


def node_matches_selector_terms(
    terms: Sequence[NodeSelectorTerm], *, labels: Mapping[str, str], name: str
) -> bool:
    return any(node_matches_term(t, labels=labels, name=name) for t in terms)


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    op = toleration.operator or "Equal"
    if not toleration.key:
        return op == "Exists"
    if toleration.key != taint.key:
        return False
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.value or "") == (taint.value or "")
    return False


def find_untolerated_taint(
    taints: Iterable[Taint], tolerations: Sequence[Toleration], *, include: Callable[[Taint], bool]
) -> Taint | None:
    """The first taint selected by `include` that no toleration tolerates."""
    for taint in taints:
        if not include(taint):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None
