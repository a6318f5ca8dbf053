"""ReplicaSets as a Deployment's revisions: template hashes, which ReplicaSet is new, revision annotations.

* The `pod-template-hash` label tells a Deployment's ReplicaSets (and their pods) apart. It is a 32-bit FNV-1a
  hash of the pod template (canonical JSON, keys sorted) and, once a collision was seen, of
  `status.collisionCount`, written as its decimal digits mapped onto a 27-character alphabet without vowels
  (as Kubernetes does, so values look like `6d4cf56db6` and are always valid label values).
* The *new* ReplicaSet is the oldest one whose template equals the Deployment's, ignoring the hash label;
  all others are *old*. Equality is semantic: a missing map or list equals an empty one.
* `deployment.kubernetes.io/revision` numbers rollouts: the new ReplicaSet gets the highest old revision + 1
  (a rollback re-uses an old ReplicaSet, whose previous numbers move to `revision-history`), and the
  Deployment carries its new ReplicaSet's number. `desired-replicas` and `max-replicas` (replicas + maxSurge)
  on each ReplicaSet let later scaling tell a resize from a rollout and share replicas proportionally.
* The Deployment's own annotations (e.g. `kubernetes.io/change-cause`, which `kubectl rollout history`
  prints) are copied to its new ReplicaSet, except the ones listed in `ANNOTATIONS_NOT_COPIED`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from kybernetes.api.models.apps_v1 import Deployment, ReplicaSet
from kybernetes.api.models.core_v1 import PodTemplateSpec

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
ANNOTATIONS_NOT_COPIED = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                                    ROLLBACK_TO})
# Kubernetes keeps at most this many characters of revision history on a ReplicaSet.
MAX_REVISION_HISTORY_CHARS = 2000

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def _fnv1a32(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def template_hash(template: PodTemplateSpec | None, collision_count: int | None = None) -> str:
    data = msgspec.json.encode(template, order="sorted")
    if collision_count is not None:
        data += collision_count.to_bytes(4, "little", signed=False)
    digits = str(_fnv1a32(data)).encode()
    return "".join(_SAFE_ALPHABET[b % len(_SAFE_ALPHABET)] for b in digits)


def _semantic(value: Any) -> Any:
    """Drop empty maps and lists, recursively: Kubernetes' semantic equality treats them as absent."""
    if isinstance(value, dict):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _template_without_hash(template: PodTemplateSpec | None) -> Any:
    doc = msgspec.to_builtins(template) if template is not None else {}
    labels = (doc.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return _semantic(doc)


def equal_ignore_hash(a: PodTemplateSpec | None, b: PodTemplateSpec | None) -> bool:
    return bool(_template_without_hash(a) == _template_without_hash(b))


def annotations_of(obj: Any) -> dict[str, str]:
    return (obj.metadata.annotations if obj.metadata is not None else None) or {}


def revision_of(obj: Any) -> int:
    """The revision annotation as a number (0 when absent or not a number)."""
    try:
        return int(annotations_of(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(replica_sets: Iterable[ReplicaSet]) -> int:
    return max((revision_of(rs) for rs in replica_sets), default=0)


def creation_order(rs: ReplicaSet) -> tuple[str, str]:
    meta = rs.metadata
    return ((meta.creation_timestamp or "") if meta else "", (meta.name or "") if meta else "")


def find_new_replica_set(deployment: Deployment, replica_sets: Sequence[ReplicaSet]) -> ReplicaSet | None:
    template = deployment.spec.template if deployment.spec else None
    for rs in sorted(replica_sets, key=creation_order):
        if equal_ignore_hash(rs.spec.template if rs.spec else None, template):
            return rs  # the oldest, should there ever be two
    return None


def find_old_replica_sets(replica_sets: Sequence[ReplicaSet], new_rs: ReplicaSet | None) -> list[ReplicaSet]:
    new_uid = new_rs.metadata.uid if new_rs is not None and new_rs.metadata else None
    return [rs for rs in replica_sets if rs.metadata is None or rs.metadata.uid != new_uid]


def copied_annotations(deployment: Deployment, rs_annotations: dict[str, str]) -> dict[str, str]:
    """The ReplicaSet's annotations with the Deployment's copyable ones laid over them."""
    merged = dict(rs_annotations)
    for key, value in annotations_of(deployment).items():
        if key not in ANNOTATIONS_NOT_COPIED:
            merged[key] = value
    return merged


def with_revision(annotations: dict[str, str], new_revision: int) -> dict[str, str]:
    """Annotations with the revision raised to `new_revision` if lower, keeping the old number in history."""
    out = dict(annotations)
    old = out.get(REVISION)
    try:
        old_number = int(old) if old else 0
    except ValueError:
        return out  # a revision we cannot read is left alone, as Kubernetes does
    if old_number >= new_revision:
        return out
    out[REVISION] = str(new_revision)
    if old:
        history = [h for h in out.get(REVISION_HISTORY, "").split(",") if h]
        history.append(old)
        while history and len(",".join(history)) > MAX_REVISION_HISTORY_CHARS:
            history.pop(0)
        out[REVISION_HISTORY] = ",".join(history)
    return out


def with_replicas_annotations(annotations: dict[str, str], *, desired: int, maximum: int) -> dict[str, str]:
    out = dict(annotations)
    out[DESIRED_REPLICAS] = str(desired)
    out[MAX_REPLICAS] = str(maximum)
    return out


def int_annotation(obj: Any, key: str) -> int | None:
    try:
        return int(annotations_of(obj)[key])
    except (KeyError, ValueError):
        return None
