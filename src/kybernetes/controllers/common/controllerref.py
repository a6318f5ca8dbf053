"""Controller references: who controls an object, and claiming objects for a controller by its selector.

An object has at most one ownerReference with `controller: true`; that owner is its controller. A controller
*claims* the objects of its namespace (Kubernetes' ControllerRefManager):

* an object it controls that still matches its selector is kept;
* an object it controls that no longer matches is *released* (its ownerReference removed), unless either
  side is being deleted;
* an orphan (no controller) that matches is *adopted* (a controller ownerReference added), unless either
  side is being deleted and only after a fresh read of the controller from the API confirms it still exists
  with the same UID and is not being deleted (the cache may be stale, and adopting for a dead owner would
  let the garbage collector delete the object);
* objects controlled by someone else are left alone.

`controller_key(obj, kind=)` is the work-queue key of an object's controller, what a child's event handler
enqueues.

Adoption and release are merge patches that carry the object's resourceVersion, so they are compare-and-
swap: if the object changed meanwhile the patch fails with a conflict and the sync is retried.

`controller_index` files each object under its controller's UID, and orphans under `orphan/<namespace>`, so
a controller finds its candidates without scanning the namespace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from kybernetes.api.models.meta_v1 import OwnerReference
from kybernetes.controllers.common.interfaces import ObjectWriter
from kybernetes.controllers.common.pods import is_terminating, labels_of
from kybernetes.controllers.common.wire import key_of
from kybernetes.machinery.errors import ConflictError, NotFoundError, StatusError
from kybernetes.machinery.labels import LabelSelector

T = TypeVar("T")

INDEX_CONTROLLER = "kybernetes.io/controller-uid"


class ClaimError(Exception):
    """Adoption or release failed for some objects; the sync should be retried."""


def controller_ref(obj: Any) -> OwnerReference | None:
    meta = getattr(obj, "metadata", None)
    for ref in (meta.owner_references if meta is not None else None) or ():
        if ref.controller:
            return ref
    return None


def controller_key(obj: Any, *, kind: str) -> str | None:
    """The informer key of `obj`'s controller when that is a `kind` (in `obj`'s namespace), else None."""
    ref = controller_ref(obj)
    meta = getattr(obj, "metadata", None)
    if ref is None or ref.kind != kind or not ref.name or meta is None:
        return None
    return key_of(meta.namespace, ref.name)


def is_controlled_by(obj: Any, owner: Any) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.uid == owner.metadata.uid


def new_controller_ref(owner: Any, *, api_version: str, kind: str) -> OwnerReference:
    return OwnerReference(
        api_version=api_version, kind=kind, name=owner.metadata.name, uid=owner.metadata.uid,
        controller=True, block_owner_deletion=True,
    )


def orphan_index_value(namespace: str | None) -> str:
    return f"orphan/{namespace or ''}"


def controller_index(obj: Any) -> list[str]:
    ref = controller_ref(obj)
    if ref is not None and ref.uid:
        return [ref.uid]
    meta = getattr(obj, "metadata", None)
    return [orphan_index_value(meta.namespace if meta is not None else None)]


def _refs_patch(obj: Any, refs: list[OwnerReference]) -> dict[str, Any]:
    encoded = [
        {k: v for k, v in {
            "apiVersion": r.api_version, "kind": r.kind, "name": r.name, "uid": r.uid,
            "controller": r.controller, "blockOwnerDeletion": r.block_owner_deletion,
        }.items() if v is not None}
        for r in refs
    ]
    return {"metadata": {"ownerReferences": encoded or None, "resourceVersion": obj.metadata.resource_version}}


async def adopt(*, obj: T, owner_ref: OwnerReference, writer: ObjectWriter[T]) -> T:
    meta = obj.metadata  # type: ignore[attr-defined]
    refs = [r for r in meta.owner_references or () if r.uid != owner_ref.uid]
    return await writer.patch(name=meta.name, namespace=meta.namespace, patch=_refs_patch(obj, [*refs, owner_ref]))


async def release(*, obj: T, owner_uid: str, writer: ObjectWriter[T]) -> T:
    meta = obj.metadata  # type: ignore[attr-defined]
    refs = [r for r in meta.owner_references or () if r.uid != owner_uid]
    return await writer.patch(name=meta.name, namespace=meta.namespace, patch=_refs_patch(obj, refs))


async def claim_objects(
    *,
    owner: Any,
    owner_ref: OwnerReference,
    selector: LabelSelector,
    candidates: Iterable[T],
    writer: ObjectWriter[T],
    can_adopt: Callable[[], Awaitable[bool]],
) -> list[T]:
    """The candidates this owner controls after adopting and releasing (see the module docstring).

    Raises `ClaimError` after processing all candidates if some adoption or release failed for a reason
    other than the object being gone; conflicts are re-raised as they are so the sync is requeued quickly.
    """
    claimed: list[T] = []
    failures: list[str] = []
    owner_deleting = is_terminating(owner)
    adoption_allowed: bool | None = None
    for obj in candidates:
        ref = controller_ref(obj)
        matches = selector.matches(labels_of(obj))
        if ref is not None:
            if ref.uid != owner_ref.uid:
                continue
            if matches:
                claimed.append(obj)
                continue
            if owner_deleting or is_terminating(obj):
                continue
            try:
                await release(obj=obj, owner_uid=owner_ref.uid or "", writer=writer)
            except NotFoundError:
                pass
            except ConflictError:
                raise
            except StatusError as e:
                failures.append(f"release {obj.metadata.name}: {e.message}")  # type: ignore[attr-defined]
            continue
        if owner_deleting or not matches or is_terminating(obj):
            continue
        if adoption_allowed is None:
            adoption_allowed = await can_adopt()
        if not adoption_allowed:
            continue
        try:
            claimed.append(await adopt(obj=obj, owner_ref=owner_ref, writer=writer))
        except NotFoundError:
            pass
        except ConflictError:
            raise
        except StatusError as e:
            failures.append(f"adopt {obj.metadata.name}: {e.message}")  # type: ignore[attr-defined]
    if failures:
        raise ClaimError("; ".join(failures))
    return claimed


def recheck_owner(
    *, owner: Any, fetch: Callable[[], Awaitable[Any]]
) -> Callable[[], Awaitable[bool]]:
    """A `can_adopt` that reads the owner fresh from the API: same UID and not being deleted."""

    async def check() -> bool:
        try:
            fresh = await fetch()
        except NotFoundError:
            return False
        return bool(fresh.metadata.uid == owner.metadata.uid and fresh.metadata.deletion_timestamp is None)

    return check
