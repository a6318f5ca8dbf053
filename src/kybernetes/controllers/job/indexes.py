"""Completion indexes of Indexed Jobs: the `batch.kubernetes.io/job-completion-index` annotation/label on
pods and the interval form of `status.completedIndexes` ("0-2,5,7-9")."""

from __future__ import annotations

from collections.abc import Iterable

from kybernetes.api.models.core_v1 import Pod

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def pod_index(pod: Pod) -> int | None:
    """The pod's completion index (annotation first, then label), or None when absent or malformed."""
    meta = pod.metadata
    for source in ((meta.annotations if meta else None) or {}, (meta.labels if meta else None) or {}):
        value = source.get(COMPLETION_INDEX)
        if value is not None:
            try:
                index = int(value)
            except ValueError:
                return None
            return index if index >= 0 and str(index) == value else None
    return None


def parse_intervals(text: str | None, *, limit: int) -> set[int]:
    """The indexes of "0-2,5" below `limit`; malformed parts are skipped."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            lo = int(first)
            hi = int(last) if sep else lo
        except ValueError:
            continue
        out.update(i for i in range(lo, min(hi, limit - 1) + 1))
    return out


def format_intervals(indexes: Iterable[int]) -> str:
    """Sorted indexes as Kubernetes writes them: runs of two or more as "a-b", singles alone."""
    ordered = sorted(set(indexes))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
