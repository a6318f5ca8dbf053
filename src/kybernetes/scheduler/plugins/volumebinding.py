"""VolumeBinding: a pod's PersistentVolumeClaims decide which nodes it may go to.

PreFilter reads the pod's claims from the PersistentVolumeClaim / PersistentVolume / StorageClass caches:

* a claim that does not exist or is being deleted, or an unbound claim whose class binds immediately,
  rejects the pod everywhere (the binder has to act first; a claim or volume change brings the pod back);
* a bound claim whose volume has `spec.nodeAffinity` restricts the pod to the nodes it admits;
* an unbound claim of a `WaitForFirstConsumer` class needs, on the node, a free volume that fits it (class,
  access modes, size, volume mode, selector; a volume pre-bound to the claim counts) and whose node affinity
  admits the node — unless the class has a real provisioner, which can make one anywhere. Once the binder
  has chosen a node for the claim (`volume.kubernetes.io/selected-node`), only that node fits.

The binder (the PersistentVolume controller) binds delayed claims after the pod has its node. The matching
here mirrors the binder's (`controllers.persistentvolume.matching`); it is restated because the scheduler
and the controllers are independent components that share only the API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from kybernetes.api.models.core_v1 import PersistentVolume, PersistentVolumeClaim
from kybernetes.api.models.storage_v1 import StorageClass
from kybernetes.client import Informer, SharedInformerFactory
from kybernetes.machinery.errors import BadRequestError
from kybernetes.machinery.labels import selector_from_api
from kybernetes.machinery.quantity import Quantity, parse_quantity
from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import SKIP, CycleState, Status
from kybernetes.scheduler.matching import node_matches_selector_terms
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["NAME", "REASON_BIND_CONFLICT", "REASON_NODE_CONFLICT", "REASON_UNBOUND_IMMEDIATE", "VolumeBinding"]

NAME = "VolumeBinding"
REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
REASON_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
REASON_PV_MISSING = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
NO_PROVISIONER = "kubernetes.io/no-provisioner"

_NODE_CONFLICT = Status.unschedulable(REASON_NODE_CONFLICT, plugin=NAME, resolvable=False)
_BIND_CONFLICT = Status.unschedulable(REASON_BIND_CONFLICT, plugin=NAME, resolvable=False)


@dataclass(slots=True)
class _Waiting:
    """An unbound delayed claim: the free volumes that fit it (node affinity aside), or any node at all."""

    selected_node: str = ""
    provisionable: bool = False
    candidates: list[PersistentVolume] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    bound: list[PersistentVolume] = field(default_factory=list)  # bound volumes with node affinity
    waiting: list[_Waiting] = field(default_factory=list)


def _size(value: str | int | float | None) -> Quantity:
    try:
        return parse_quantity(value if value is not None else "0")
    except (ValueError, TypeError):
        return parse_quantity("0")


def _fits_claim(volume: PersistentVolume, claim: PersistentVolumeClaim) -> bool:
    spec, want = volume.spec, claim.spec
    if spec is None or want is None or volume.metadata is None or volume.metadata.deletion_timestamp:
        return False
    if (spec.volume_mode or "Filesystem") != (want.volume_mode or "Filesystem"):
        return False
    if not set(want.access_modes or []) <= set(spec.access_modes or []):
        return False
    requests = (want.resources.requests if want.resources else None) or {}
    if _size((spec.capacity or {}).get("storage")) < _size(requests.get("storage")):
        return False
    ref, meta = spec.claim_ref, claim.metadata
    if ref is not None:  # pre-bound to this claim: taken whatever its class and labels, as the binder does
        return meta is not None and ref.name == meta.name and ref.namespace == meta.namespace and (
            not ref.uid or ref.uid == meta.uid)
    if volume.status is not None and volume.status.phase not in (None, "", "Available", "Pending"):
        return False
    if (spec.storage_class_name or "") != (want.storage_class_name or ""):
        return False
    if want.selector is not None:
        try:
            selector = selector_from_api(msgspec.to_builtins(want.selector))
        except BadRequestError:
            return False
        return selector.matches((volume.metadata.labels if volume.metadata else None) or {})
    return True


def _admits(volume: PersistentVolume, node: NodeInfo) -> bool:
    affinity = volume.spec.node_affinity if volume.spec else None
    required = affinity.required if affinity else None
    if required is None:
        return True
    return node_matches_selector_terms(required.node_selector_terms or [], labels=node.labels, name=node.name)


class VolumeBinding:
    name = NAME

    def __init__(self, *, informers: SharedInformerFactory | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        """Without `informers` (unit tests of other plugins) the plugin skips every pod. `on_change` is
        called when a claim or volume changes, so that pods it rejected are tried again."""
        self.claims: Informer[PersistentVolumeClaim] | None = None
        self.volumes: Informer[PersistentVolume] | None = None
        self.classes: Informer[StorageClass] | None = None
        if informers is None:
            return
        self.claims = informers.informer(PersistentVolumeClaim)
        self.volumes = informers.informer(PersistentVolume)
        self.classes = informers.informer(StorageClass)
        if on_change is not None:
            def changed(*_: object) -> None:
                on_change()

            self.claims.add_handler(on_add=changed, on_update=changed)
            self.volumes.add_handler(on_add=changed, on_update=changed, on_delete=changed)

    def _claim_names(self, pod: PodInfo) -> Sequence[str]:
        spec = pod.pod.spec
        return [v.persistent_volume_claim.claim_name or "" for v in (spec.volumes if spec else None) or []
                if v.persistent_volume_claim is not None]

    def pre_filter(self, *, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> Status | None:
        names = self._claim_names(pod)
        if not names or self.claims is None or self.volumes is None or self.classes is None:
            return SKIP
        found = _State()
        for name in names:
            claim = self.claims.get(f"{pod.namespace}/{name}")
            if claim is None or claim.spec is None or claim.metadata is None:
                return Status.unschedulable(f'persistentvolumeclaim "{name}" not found', resolvable=False)
            if claim.metadata.deletion_timestamp:
                return Status.unschedulable(f'persistentvolumeclaim "{name}" is being deleted', resolvable=False)
            if claim.spec.volume_name:
                volume = self.volumes.get(claim.spec.volume_name)
                if volume is None:
                    return Status.unschedulable(REASON_PV_MISSING, resolvable=False)
                if volume.spec is not None and volume.spec.node_affinity is not None:
                    found.bound.append(volume)
                continue
            klass = self.classes.get(claim.spec.storage_class_name or "") if claim.spec.storage_class_name else None
            if klass is None or klass.volume_binding_mode != WAIT_FOR_FIRST_CONSUMER:
                return Status.unschedulable(REASON_UNBOUND_IMMEDIATE, resolvable=False)
            annotations = claim.metadata.annotations or {}
            found.waiting.append(_Waiting(
                selected_node=annotations.get(SELECTED_NODE, ""),
                provisionable=bool(klass.provisioner) and klass.provisioner != NO_PROVISIONER,
                candidates=[v for v in self.volumes.list() if _fits_claim(v, claim)]))
        if not found.bound and not found.waiting:
            return SKIP
        state[NAME] = found
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        found: _State = state[NAME]
        for volume in found.bound:
            if not _admits(volume, node):
                return _NODE_CONFLICT
        taken: set[str] = set()
        for waiting in found.waiting:
            if waiting.selected_node and waiting.selected_node != node.name:
                return _BIND_CONFLICT
            if waiting.provisionable:
                continue
            for volume in waiting.candidates:
                vname = volume.metadata.name if volume.metadata else ""
                if vname not in taken and _admits(volume, node):
                    taken.add(vname or "")
                    break
            else:
                return _BIND_CONFLICT
        return None
