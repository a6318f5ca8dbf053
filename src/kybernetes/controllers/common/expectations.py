"""Expectations: what a controller has asked the API for and not yet seen come back through its informer.

A sync that creates 5 pods records "5 adds expected" for its key; each pod's ADDED event lowers the count.
Until the count reaches zero the controller's cache is known to be behind its own writes, so the next sync of
that key must not act on it (it would create the same pods again). Deletions are tracked by pod key, so only
the deletions this controller asked for are counted down (a pod deleted by someone else is not ours to
count), and a pod that turns terminating counts as deleted.

Expectations are a guard, not a source of truth: a record older than `EXPECTATIONS_TTL` (5 minutes, as in
Kubernetes) is treated as satisfied, so a lost watch event delays a controller but never wedges it. Writes
that failed are taken back at once with `creation_observed` / `deletion_observed`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kybernetes.client import Clock

EXPECTATIONS_TTL = 300.0


@dataclass(slots=True)
class _Record:
    adds: int
    deletes: set[str] = field(default_factory=set)
    set_at: float = 0.0


class Expectations:
    """Pending adds/deletes per controller key; see the module docstring."""

    def __init__(self, *, clock: Clock, ttl: float = EXPECTATIONS_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._records: dict[str, _Record] = {}

    def satisfied(self, key: str) -> bool:
        """True when the controller may act on `key`: nothing pending, or the record expired."""
        record = self._records.get(key)
        if record is None:
            return True
        if record.adds <= 0 and not record.deletes:
            return True
        return self.clock.now() - record.set_at > self.ttl

    def expect(self, key: str, *, adds: int = 0, deletes: Iterable[str] = ()) -> None:
        """Replace the record of `key`: `adds` creations and the deletion of the pods keyed `deletes`."""
        self._records[key] = _Record(adds=adds, deletes=set(deletes), set_at=self.clock.now())

    def expect_creations(self, key: str, count: int) -> None:
        self.expect(key, adds=count)

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        self.expect(key, deletes=pod_keys)

    def creation_observed(self, key: str, *, count: int = 1) -> None:
        """`count` creations came back (or will never come: the write failed or was not attempted)."""
        record = self._records.get(key)
        if record is not None and record.adds > 0:
            record.adds = max(record.adds - count, 0)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.deletes.discard(pod_key)

    def forget(self, key: str) -> None:
        """Drop the record (the controller object is gone)."""
        self._records.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        """(adds, deletes) still expected for `key`."""
        record = self._records.get(key)
        return (0, 0) if record is None else (max(record.adds, 0), len(record.deletes))
