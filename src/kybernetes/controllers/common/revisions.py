"""ControllerRevisions (apps/v1): the template history of DaemonSets and StatefulSets.

A revision stores the owner's pod template as the patch that restores it,
`{"spec": {"template": {..., "$patch": "replace"}}}`, under the name `<owner>-<hash>`, where the hash is
FNV-1a (32 bit) of the canonical JSON of that data plus the owner's `collisionCount`, spelled with the
"safe" alphabet Kubernetes uses for generated names (no vowels, no look-alike digits). Pods carry the
hash (DaemonSet) or the revision name (StatefulSet) in their `controller-revision-hash` label.

`sync_revisions` finds or creates the revision of the current template (re-numbering an old identical
revision as the newest, which is what a rollback to an earlier template does) and returns it with every
revision the owner has. A name taken by a revision with other data is a hash collision: `owner_revisions`
(what the controllers call) then bumps `status.collisionCount`, writes it and raises, so the sync is retried
with the next name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from kybernetes.api.models.apps_v1 import ControllerRevision
from kybernetes.client import INDEX_OWNER_UID, Informer
from kybernetes.client.resource import TypedResource
from kybernetes.controllers.common.controllerref import is_controlled_by, new_controller_ref
from kybernetes.controllers.common.wire import from_wire, wire
from kybernetes.machinery.errors import AlreadyExistsError, NotFoundError

REVISION_HASH_LABEL = "controller-revision-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


class HashCollisionError(Exception):
    """The revision name is taken by a revision with different data: bump collisionCount."""


def safe_encode(text: str) -> str:
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in text)


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def revision_data(template: Any) -> dict[str, Any]:
    """What a revision stores: the patch that puts `template` back."""
    return {"spec": {"template": {**wire(template), "$patch": "replace"}}}


def revision_hash(data: Any, collision_count: int | None) -> str:
    payload = msgspec.json.encode(data, order="sorted")
    if collision_count:
        payload += collision_count.to_bytes(4, "little")
    return safe_encode(str(fnv32a(payload)))


@dataclass(slots=True)
class Revisions:
    current: ControllerRevision  # the revision of the owner's template now
    all: list[ControllerRevision]  # every revision of the owner, oldest first


def owned_revisions(informer: Informer[ControllerRevision], owner: Any) -> list[ControllerRevision]:
    found = [r for r in informer.by_index(INDEX_OWNER_UID, owner.metadata.uid or "") if is_controlled_by(r, owner)]
    return sorted(found, key=lambda r: (r.revision or 0, r.metadata.name if r.metadata else ""))


def _same(a: Any, b: Any) -> bool:
    return msgspec.json.encode(a, order="sorted") == msgspec.json.encode(b, order="sorted")


async def sync_revisions(
    *, api: TypedResource[ControllerRevision], informer: Informer[ControllerRevision], owner: Any,
    api_version: str, kind: str, template: Any, collision_count: int | None,
) -> Revisions:
    """Find or create the revision of `template` (see the module docstring); raises HashCollisionError."""
    existing = owned_revisions(informer, owner)
    data = revision_data(template)
    newest = max((r.revision or 0 for r in existing), default=0)
    equal = [r for r in existing if _same(r.data, data)]
    if equal:
        current = equal[-1]
        if (current.revision or 0) < newest:
            # Rolled back to an earlier template: that revision becomes the newest again.
            current = await api.update(msgspec.structs.replace(current, revision=newest + 1))
            existing = [current if r.metadata and current.metadata and r.metadata.name == current.metadata.name
                        else r for r in existing]
        return Revisions(current=current, all=existing)
    name = f"{owner.metadata.name}-{revision_hash(data, collision_count)}"
    labels = dict((template.metadata.labels if template.metadata else None) or {})
    labels[REVISION_HASH_LABEL] = name.rsplit("-", 1)[1]
    body = {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": name, "namespace": owner.metadata.namespace, "labels": labels,
                     "ownerReferences": [wire(new_controller_ref(owner, api_version=api_version, kind=kind))]},
        "data": data, "revision": newest + 1,
    }
    try:
        created = await api.create(from_wire(body, ControllerRevision))
    except AlreadyExistsError:
        taken = await api.get(name=name, namespace=owner.metadata.namespace)
        if is_controlled_by(taken, owner) and _same(taken.data, data):
            created = taken
        else:
            raise HashCollisionError(name) from None
    return Revisions(current=created, all=[*existing, created])


async def owner_revisions(
    *, api: TypedResource[ControllerRevision], informer: Informer[ControllerRevision], owner: Any, kind: str,
    status: Any, update_status: Callable[[Any], Awaitable[Any]],
) -> Revisions:
    """`sync_revisions` for an apps/v1 owner's `spec.template`. On a hash collision `status` (the owner's
    status being computed, changed in place) gets the next `collisionCount`, the owner is written with it
    through `update_status`, and `HashCollisionError` is raised."""
    try:
        return await sync_revisions(
            api=api, informer=informer, owner=owner, api_version="apps/v1", kind=kind,
            template=owner.spec.template, collision_count=status.collision_count,
        )
    except HashCollisionError:
        status.collision_count = (status.collision_count or 0) + 1
        await update_status(msgspec.structs.replace(owner, status=status))
        raise


async def prune_revisions(
    *, api: TypedResource[ControllerRevision], revisions: Iterable[ControllerRevision], keep: Iterable[str],
    limit: int | None,
) -> None:
    """Delete the oldest revisions not named in `keep` (in use) beyond `limit` (revisionHistoryLimit)."""
    keep_names = set(keep)
    old = [r for r in revisions if r.metadata and r.metadata.name not in keep_names]
    excess = len(old) - (limit if limit is not None else 10)
    for revision in old[: max(0, excess)]:
        assert revision.metadata is not None
        try:
            await api.delete(name=revision.metadata.name or "", namespace=revision.metadata.namespace)
        except NotFoundError:
            pass
