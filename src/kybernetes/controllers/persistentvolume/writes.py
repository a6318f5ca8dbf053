"""The binder's writes, each a no-op when the object already says what it should.

Every helper takes the cached object, writes a changed copy (spec and metadata with `update`, status with
`update_status`, carrying the cached resourceVersion so that a stale cache ends in a Conflict and a
retry) and returns what the server stored, so that consecutive steps of one binding chain their
resourceVersions.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from kybernetes.api.models.core_v1 import (
    ObjectReference,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimStatus,
    PersistentVolumeStatus,
)
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["claim_reference", "set_annotation", "set_claim_phase", "set_finalizer", "set_volume_phase"]

T = TypeVar("T", PersistentVolume, PersistentVolumeClaim)


def claim_reference(claim: PersistentVolumeClaim) -> ObjectReference:
    meta = claim.metadata or ObjectMeta()
    return ObjectReference(api_version="v1", kind="PersistentVolumeClaim", namespace=meta.namespace,
                           name=meta.name, uid=meta.uid, resource_version=meta.resource_version)


def _with_meta(obj: T, **changes: Any) -> T:
    return msgspec.structs.replace(obj, metadata=msgspec.structs.replace(obj.metadata or ObjectMeta(), **changes))


async def set_finalizer(api: Any, obj: T, finalizer: str, *, present: bool) -> T:
    current: list[str] = list((obj.metadata.finalizers if obj.metadata else None) or [])
    if (finalizer in current) == present:
        return obj
    wanted = [*current, finalizer] if present else [f for f in current if f != finalizer]
    stored: T = await api.update(_with_meta(obj, finalizers=wanted or None))
    return stored


async def set_annotation(api: Any, obj: T, values: dict[str, str]) -> T:
    annotations = dict((obj.metadata.annotations if obj.metadata else None) or {})
    if all(annotations.get(k) == v for k, v in values.items()):
        return obj
    annotations.update(values)
    stored: T = await api.update(_with_meta(obj, annotations=annotations))
    return stored


async def set_volume_phase(api: Any, volume: PersistentVolume, phase: str, *, message: str = "",
                           reason: str = "") -> PersistentVolume:
    status = volume.status or PersistentVolumeStatus()
    if status.phase == phase and (status.message or "") == message and (status.reason or "") == reason:
        return volume
    new = PersistentVolumeStatus(phase=phase, message=message or None, reason=reason or None,
                                 last_phase_transition_time=now_rfc3339() if status.phase != phase
                                 else status.last_phase_transition_time)
    stored: PersistentVolume = await api.update_status(msgspec.structs.replace(volume, status=new))
    return stored


async def set_claim_phase(api: Any, claim: PersistentVolumeClaim, phase: str, *,
                          volume: PersistentVolume | None = None) -> PersistentVolumeClaim:
    status = claim.status or PersistentVolumeClaimStatus()
    if phase == "Bound" and volume is not None and volume.spec is not None:
        new = msgspec.structs.replace(status, phase=phase, access_modes=volume.spec.access_modes,
                                      capacity=volume.spec.capacity)
    elif phase == "Pending":
        new = msgspec.structs.replace(status, phase=phase, access_modes=None, capacity=None)
    else:
        new = msgspec.structs.replace(status, phase=phase)
    if new == status:
        return claim
    stored: PersistentVolumeClaim = await api.update_status(msgspec.structs.replace(claim, status=new))
    return stored
