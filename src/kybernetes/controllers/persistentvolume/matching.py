"""Which PersistentVolume a claim may bind to: the binder's matching rules, as pure functions.

A claim asks for a storage class, access modes, a size, a volume mode and optionally a label selector; a
volume fits when it offers all of them. The class of a claim is its `spec.storageClassName` ("" meaning
"no class", which only matches volumes without a class); a claim with no class field at all gets the
cluster's default StorageClass (the newest one annotated `storageclass.kubernetes.io/is-default-class:
"true"`), as Kubernetes' admission and retroactive default assignment do.

`find_match` returns the smallest fitting volume, with one exception: a volume pre-bound to the claim
(`spec.claimRef` naming it, uid empty or equal) wins whenever its size, access modes and volume mode fit —
class and selector are not looked at then, as in Kubernetes. Volumes bound or pre-bound to another claim,
volumes being deleted and volumes not Available are skipped. With `node` given (delayed binding,
`WaitForFirstConsumer`), a volume's `spec.nodeAffinity` must also admit that node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from kybernetes.api.models.core_v1 import Node, PersistentVolume, PersistentVolumeClaim
from kybernetes.api.models.storage_v1 import StorageClass
from kybernetes.controllers.daemonset.placement import term_matches
from kybernetes.machinery.errors import BadRequestError
from kybernetes.machinery.labels import selector_from_api
from kybernetes.machinery.quantity import Quantity, parse_quantity

__all__ = ["DEFAULT_CLASS_ANNOTATIONS", "NO_PROVISIONER", "WAIT_FOR_FIRST_CONSUMER", "claim_class",
           "default_class", "find_match", "is_bound_to", "node_fits", "requested_storage", "volume_storage"]

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
NO_PROVISIONER = "kubernetes.io/no-provisioner"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
_ZERO = parse_quantity("0")


def default_class(classes: Iterable[StorageClass]) -> StorageClass | None:
    """The default StorageClass: the newest one annotated as default (Kubernetes' tie-break)."""
    defaults = [sc for sc in classes if sc.metadata is not None and any(
        ((sc.metadata.annotations or {}).get(a) or "").lower() == "true" for a in DEFAULT_CLASS_ANNOTATIONS)]
    if not defaults:
        return None
    return max(defaults, key=lambda sc: ((sc.metadata.creation_timestamp if sc.metadata else "") or "",
                                         (sc.metadata.name if sc.metadata else "") or ""))


def claim_class(claim: PersistentVolumeClaim) -> str:
    return (claim.spec.storage_class_name if claim.spec else None) or ""


def _quantity(value: str | int | float | None) -> Quantity:
    if value is None:
        return _ZERO
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return _ZERO


def requested_storage(claim: PersistentVolumeClaim) -> Quantity:
    resources = claim.spec.resources if claim.spec else None
    return _quantity(((resources.requests if resources else None) or {}).get("storage"))


def volume_storage(volume: PersistentVolume) -> Quantity:
    return _quantity(((volume.spec.capacity if volume.spec else None) or {}).get("storage"))


def is_bound_to(volume: PersistentVolume, claim: PersistentVolumeClaim) -> bool:
    """True when the volume's claimRef names this claim (an empty uid counts: a pre-binding)."""
    ref = volume.spec.claim_ref if volume.spec else None
    meta = claim.metadata
    if ref is None or meta is None:
        return False
    if ref.name != meta.name or (ref.namespace or "") != (meta.namespace or ""):
        return False
    return not ref.uid or ref.uid == meta.uid


def node_fits(volume: PersistentVolume, node: Node) -> bool:
    """Whether the volume's required node affinity admits `node` (no affinity: every node)."""
    affinity = volume.spec.node_affinity if volume.spec else None
    required = affinity.required if affinity else None
    if required is None:
        return True
    return any(term_matches(term, node) for term in required.node_selector_terms or [])


def _modes_fit(volume: PersistentVolume, claim: PersistentVolumeClaim) -> bool:
    offered = set((volume.spec.access_modes if volume.spec else None) or [])
    wanted = set((claim.spec.access_modes if claim.spec else None) or [])
    return wanted <= offered


def _volume_mode(mode: str | None) -> str:
    return mode or "Filesystem"


def _selector_matches(claim: PersistentVolumeClaim, volume: PersistentVolume) -> bool:
    selector = claim.spec.selector if claim.spec else None
    if selector is None:
        return True
    try:
        parsed = selector_from_api(msgspec.to_builtins(selector))
    except BadRequestError:
        return False
    labels: Mapping[str, str] = (volume.metadata.labels if volume.metadata else None) or {}
    return parsed.matches(labels)


def find_match(*, claim: PersistentVolumeClaim, volumes: Iterable[PersistentVolume],
               node: Node | None = None) -> PersistentVolume | None:
    """The volume the claim should bind to (see the module docstring), or None."""
    assert claim.spec is not None
    wanted = requested_storage(claim)
    klass = claim_class(claim)
    mode = _volume_mode(claim.spec.volume_mode)
    best: PersistentVolume | None = None
    best_size: Quantity | None = None
    for volume in volumes:
        if volume.spec is None or volume.metadata is None or volume.metadata.deletion_timestamp:
            continue
        size = volume_storage(volume)
        if _volume_mode(volume.spec.volume_mode) != mode or size < wanted or not _modes_fit(volume, claim):
            continue
        if node is not None and not node_fits(volume, node):
            continue
        if is_bound_to(volume, claim):
            return volume
        if volume.spec.claim_ref is not None:
            continue  # bound or pre-bound to another claim
        phase = volume.status.phase if volume.status else None
        if phase not in (None, "", "Available", "Pending"):
            continue
        if (volume.spec.storage_class_name or "") != klass or not _selector_matches(claim, volume):
            continue
        if best_size is None or size < best_size:
            best, best_size = volume, size
    return best
