"""The PersistentVolume controller: binds claims to volumes, reclaims released volumes, and keeps the
`kubernetes.io/pvc-protection` / `pv-protection` finalizers.

One queue, two kinds of keys: `claim/<namespace>/<name>` and `volume/<name>`. Handlers only enqueue: a
claim enqueues itself; a volume enqueues itself and the claim its `claimRef` names (a free volume, and
a StorageClass, enqueue every unbound claim); a pod enqueues the claims its volumes use (their protection and delayed
binding depend on pods).

Claim sync — a claim without `spec.volumeName` is matched (`matching.find_match`) and bound in four
idempotent writes, in Kubernetes' order: the volume's `claimRef` (annotated `pv.kubernetes.io/bound-by-
controller` when the controller chose it), the volume's phase Bound, the claim's `volumeName` with
`pv.kubernetes.io/bind-completed` (and bound-by-controller), the claim's status (phase Bound, capacity and
accessModes from the volume). A claim of a `WaitForFirstConsumer` class waits until a pod using it has a
node; the node goes into the claim's `volume.kubernetes.io/selected-node` annotation and only volumes whose
node affinity admits it are considered. Nothing fits: the `kybernetes.io/hostpath` provisioner makes a
directory and a pre-bound volume when its class asks for it and `hostpath-provisioner-root` is set;
otherwise the claim stays Pending with a `FailedBinding` event. A claim pre-bound by `spec.volumeName`
binds to that volume only; a bound claim whose volume vanished is Lost.

Volume sync — a volume without a claim is Available; one whose claim is gone (or replaced by a claim with
another uid) is Released and then reclaimed per `persistentVolumeReclaimPolicy`: Retain keeps it, Delete
deletes it (a hostPath directory too, if the provisioner made it or `pv-delete-hostpath=true`), Recycle is
not supported (phase Failed, `VolumeFailedRecycle` event).

Protection — live claims and volumes get their finalizer. A deleted claim loses it once no pod that is
not finished uses the claim (checked against a live pod list, not only the cache); a deleted volume loses
it once it is not Bound.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from kybernetes.api.models.core_v1 import (
    HostPathVolumeSource,
    Node,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeSpec,
    Pod,
    VolumeNodeAffinity,
)
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.api.models.storage_v1 import StorageClass
from kybernetes.client import Clock, Informer, WorkQueue
from kybernetes.controllers.common.interfaces import Recorder
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.persistentvolume.matching import (
    WAIT_FOR_FIRST_CONSUMER,
    claim_class,
    default_class,
    find_match,
    is_bound_to,
    requested_storage,
)
from kybernetes.controllers.persistentvolume.writes import (
    claim_reference,
    set_annotation,
    set_claim_phase,
    set_finalizer,
    set_volume_phase,
)
from kybernetes.machinery.errors import AlreadyExistsError, NotFoundError

__all__ = ["ANN_BIND_COMPLETED", "ANN_BOUND_BY_CONTROLLER", "ANN_PROVISIONED_BY", "ANN_SELECTED_NODE",
           "HOSTPATH_PROVISIONER", "INDEX_CLAIM", "PVC_PROTECTION", "PV_PROTECTION", "BinderOptions",
           "PersistentVolumeController", "claims_of"]

log = logging.getLogger(__name__)

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
HOSTPATH_PROVISIONER = "kybernetes.io/hostpath"
INDEX_CLAIM = "claim"


@dataclass(frozen=True, kw_only=True)
class BinderOptions:
    delete_hostpath: bool = False  # may a Delete reclaim remove a hostPath directory it did not provision?
    provisioner_root: str = ""  # where the hostpath provisioner makes directories; "" turns it off


def claims_of(pod: Pod) -> list[str]:
    """`namespace/name` of every claim the pod's volumes use."""
    ns = (pod.metadata.namespace if pod.metadata else None) or ""
    return [f"{ns}/{v.persistent_volume_claim.claim_name}" for v in (pod.spec.volumes if pod.spec else None) or []
            if v.persistent_volume_claim is not None and v.persistent_volume_claim.claim_name]


def _volume_claim_key(volume: PersistentVolume) -> list[str]:
    ref = volume.spec.claim_ref if volume.spec else None
    return [f"{ref.namespace}/{ref.name}"] if ref is not None and ref.name else []


def _finished(pod: Pod) -> bool:
    return bool(pod.status and pod.status.phase in ("Succeeded", "Failed"))


def _annotations(obj: PersistentVolume | PersistentVolumeClaim) -> dict[str, str]:
    return (obj.metadata.annotations if obj.metadata else None) or {}


class PersistentVolumeController:
    name = "persistentvolume-binder"

    def __init__(self, *, client: Any, claims: Informer[PersistentVolumeClaim],
                 volumes: Informer[PersistentVolume], classes: Informer[StorageClass], pods: Informer[Pod],
                 nodes: Informer[Node], recorder: Recorder, clock: Clock,
                 options: BinderOptions | None = None) -> None:
        self.client, self.recorder = client, recorder
        self.claims, self.volumes, self.classes, self.pods, self.nodes = claims, volumes, classes, pods, nodes
        self.options = options or BinderOptions()
        self.claim_api = client.resource(PersistentVolumeClaim)
        self.volume_api = client.resource(PersistentVolume)
        self.queue = WorkQueue(name="persistentvolume", clock=clock)
        claims.add_handler(on_add=self._claim_changed, on_update=lambda _o, n: self._claim_changed(n),
                           on_delete=self._claim_deleted)
        volumes.add_handler(on_add=self._volume_changed, on_update=lambda _o, n: self._volume_changed(n),
                            on_delete=self._volume_changed)
        classes.add_handler(on_add=self._class_changed, on_update=lambda _o, n: self._class_changed(n))
        pods.add_handler(on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n),
                         on_delete=self._pod_changed)

    # ---- handlers (enqueue only) -----------------------------------------------------------------------

    def _claim_changed(self, claim: PersistentVolumeClaim) -> None:
        if claim.metadata is not None:
            self.queue.add(f"claim/{claim.metadata.namespace}/{claim.metadata.name}")

    def _claim_deleted(self, claim: PersistentVolumeClaim) -> None:
        self._claim_changed(claim)
        if claim.metadata is None:
            return
        key = f"{claim.metadata.namespace}/{claim.metadata.name}"
        for volume in self.volumes.list():
            if _volume_claim_key(volume) == [key] and volume.metadata is not None:
                self.queue.add(f"volume/{volume.metadata.name}")

    def _volume_changed(self, volume: PersistentVolume) -> None:
        if volume.metadata is not None:
            self.queue.add(f"volume/{volume.metadata.name}")
        for key in _volume_claim_key(volume):
            self.queue.add(f"claim/{key}")
        if volume.spec is not None and volume.spec.claim_ref is None:
            self._unbound_claims_changed()  # a free volume may be what a waiting claim needs

    def _class_changed(self, _klass: StorageClass) -> None:
        self._unbound_claims_changed()

    def _unbound_claims_changed(self) -> None:
        for claim in self.claims.list():
            if claim.spec is not None and not claim.spec.volume_name:
                self._claim_changed(claim)

    def _pod_changed(self, pod: Pod) -> None:
        for key in claims_of(pod):
            self.queue.add(f"claim/{key}")

    # ---- the loop ----------------------------------------------------------------------------------------

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition("/")
        if kind == "claim":
            await self.sync_claim(rest)
        elif kind == "volume":
            await self.sync_volume(rest)

    # ---- claims ------------------------------------------------------------------------------------------

    async def sync_claim(self, key: str) -> None:
        claim = self.claims.get(key)
        if claim is None or claim.metadata is None or claim.spec is None:
            return
        if claim.metadata.deletion_timestamp:
            await self._release_claim(claim)
            return
        claim = await set_finalizer(self.claim_api, claim, PVC_PROTECTION, present=True)
        if claim.spec is not None and claim.spec.volume_name:
            await self._sync_prebound_or_bound(claim)
        else:
            await self._sync_unbound(claim)

    async def _release_claim(self, claim: PersistentVolumeClaim) -> None:
        assert claim.metadata is not None
        if PVC_PROTECTION not in (claim.metadata.finalizers or []):
            return
        key = f"{claim.metadata.namespace}/{claim.metadata.name}"
        if any(key in claims_of(p) and not _finished(p) for p in self.pods.by_index(INDEX_CLAIM, key)):
            return  # a pod's delete or completion enqueues the claim again
        # The cache may not have a pod created moments ago: ask the server before letting go.
        live = await self.client.resource(Pod).list(namespace=claim.metadata.namespace)
        if any(key in claims_of(p) and not _finished(p) for p in live.items):
            return
        await set_finalizer(self.claim_api, claim, PVC_PROTECTION, present=False)

    def _event(self, obj: object, reason: str, message: str, *, warning: bool = True) -> None:
        self.recorder.event(obj, type="Warning" if warning else "Normal", reason=reason, message=message)

    async def _sync_unbound(self, claim: PersistentVolumeClaim) -> None:
        assert claim.spec is not None and claim.metadata is not None
        if claim.spec.storage_class_name is None:
            default = default_class(self.classes.list())
            if default is not None and default.metadata is not None:
                # Retroactive default StorageClass assignment; the update brings the claim back here.
                spec = _replace(claim.spec, storage_class_name=default.metadata.name)
                await self.claim_api.update(_replace(claim, spec=spec))
                return
        klass_name = claim_class(claim)
        klass = self.classes.get(klass_name) if klass_name else None
        node: Node | None = None
        if klass is not None and klass.volume_binding_mode == WAIT_FOR_FIRST_CONSUMER:
            selected = _annotations(claim).get(ANN_SELECTED_NODE, "")
            if not selected:
                selected = self._consumer_node(claim)
                if not selected:
                    claim = await set_claim_phase(self.claim_api, claim, "Pending")
                    self._event(claim, "WaitForFirstConsumer",
                                "waiting for first consumer to be created before binding", warning=False)
                    return
                claim = await set_annotation(self.claim_api, claim, {ANN_SELECTED_NODE: selected})
            node = self.nodes.get(selected) or Node(metadata=ObjectMeta(name=selected))
        volume = find_match(claim=claim, volumes=self.volumes.list(), node=node)
        if volume is not None:
            await self._bind(claim, volume)
            return
        claim = await set_claim_phase(self.claim_api, claim, "Pending")
        if klass is not None and klass.provisioner == HOSTPATH_PROVISIONER and self.options.provisioner_root:
            await self._provision(claim, klass, node)
        elif not klass_name:
            self._event(claim, "FailedBinding",
                        "no persistent volumes available for this claim and no storage class is set")
        elif klass is None:
            self._event(claim, "ProvisioningFailed", f'storageclass.storage.k8s.io "{klass_name}" not found')
        else:
            self._event(claim, "FailedBinding", "no persistent volumes available for this claim")

    def _consumer_node(self, claim: PersistentVolumeClaim) -> str:
        assert claim.metadata is not None
        key = f"{claim.metadata.namespace}/{claim.metadata.name}"
        for pod in self.pods.by_index(INDEX_CLAIM, key):
            if pod.spec is not None and pod.spec.node_name and not _finished(pod):
                return pod.spec.node_name
        return ""

    async def _sync_prebound_or_bound(self, claim: PersistentVolumeClaim) -> None:
        assert claim.spec is not None
        name = claim.spec.volume_name or ""
        completed = _annotations(claim).get(ANN_BIND_COMPLETED) == "yes"
        volume = self.volumes.get(name)
        if volume is None or volume.spec is None:
            if completed:
                if (claim.status.phase if claim.status else None) != "Lost":
                    await set_claim_phase(self.claim_api, claim, "Lost")
                    self._event(claim, "ClaimLost", "Bound claim has lost its PersistentVolume. "
                                "Data on the volume is lost!")
                return
            await set_claim_phase(self.claim_api, claim, "Pending")
            self._event(claim, "FailedBinding", f'volume "{name}" not found')
            return
        if volume.spec.claim_ref is None:
            # The user named a free volume: it must satisfy the claim before it is taken.
            if find_match(claim=claim, volumes=[volume]) is None:
                await set_claim_phase(self.claim_api, claim, "Pending")
                self._event(claim, "VolumeMismatch", f'Cannot bind to requested volume "{name}": '
                             "it does not satisfy the claim (size, access modes, class, selector or mode)")
                return
            await self._bind(claim, volume)
        elif is_bound_to(volume, claim):
            await self._bind(claim, volume)
        elif completed:
            if (claim.status.phase if claim.status else None) != "Lost":
                await set_claim_phase(self.claim_api, claim, "Lost")
                self._event(claim, "ClaimMisbound", "Two claims are bound to the same volume, this one is bound "
                            "incorrectly")
        else:
            await set_claim_phase(self.claim_api, claim, "Pending")
            self._event(claim, "FailedBinding", f'volume "{name}" already bound to a different claim.')

    async def _bind(self, claim: PersistentVolumeClaim, volume: PersistentVolume) -> None:
        """The four idempotent binding writes (see the module docstring)."""
        assert claim.metadata is not None and claim.spec is not None and volume.spec is not None
        ref = volume.spec.claim_ref
        if ref is None or ref.uid != claim.metadata.uid:
            annotations = dict(_annotations(volume))
            if ref is None:
                annotations[ANN_BOUND_BY_CONTROLLER] = "yes"
            spec = _replace(volume.spec, claim_ref=claim_reference(claim))
            volume = await self.volume_api.update(_replace(volume, spec=spec, metadata=_replace(
                volume.metadata or ObjectMeta(), annotations=annotations)))
        volume = await set_volume_phase(self.volume_api, volume, "Bound")
        vname = (volume.metadata.name if volume.metadata else None) or ""
        if claim.spec.volume_name != vname or _annotations(claim).get(ANN_BIND_COMPLETED) != "yes":
            annotations = dict(_annotations(claim))
            if claim.spec.volume_name != vname:
                annotations[ANN_BOUND_BY_CONTROLLER] = "yes"
            annotations[ANN_BIND_COMPLETED] = "yes"
            claim = await self.claim_api.update(_replace(
                claim, spec=_replace(claim.spec, volume_name=vname),
                metadata=_replace(claim.metadata, annotations=annotations)))
        await set_claim_phase(self.claim_api, claim, "Bound", volume=volume)

    async def _provision(self, claim: PersistentVolumeClaim, klass: StorageClass, node: Node | None) -> None:
        assert claim.metadata is not None and claim.spec is not None
        name = f"pvc-{claim.metadata.uid}"
        if self.volumes.get(name) is not None:
            return  # made already; its claimRef brings the claim back for binding
        path = Path(self.options.provisioner_root) / name
        await asyncio.to_thread(_make_dir, path)
        affinity = None
        if node is not None and node.metadata is not None:
            hostname = (node.metadata.labels or {}).get("kubernetes.io/hostname") or node.metadata.name or ""
            affinity = VolumeNodeAffinity(required=NodeSelector(node_selector_terms=[NodeSelectorTerm(
                match_expressions=[NodeSelectorRequirement(key="kubernetes.io/hostname", operator="In",
                                                           values=[hostname])])]))
        volume = PersistentVolume(
            metadata=ObjectMeta(name=name, annotations={ANN_PROVISIONED_BY: HOSTPATH_PROVISIONER}),
            spec=PersistentVolumeSpec(
                capacity={"storage": str(requested_storage(claim))},
                access_modes=claim.spec.access_modes or ["ReadWriteOnce"],
                host_path=HostPathVolumeSource(path=str(path), type="DirectoryOrCreate"),
                persistent_volume_reclaim_policy=klass.reclaim_policy or "Delete",
                storage_class_name=claim_class(claim), volume_mode=claim.spec.volume_mode or "Filesystem",
                claim_ref=claim_reference(claim), node_affinity=affinity,
            ))
        try:
            await self.volume_api.create(volume)
        except AlreadyExistsError:
            return
        self._event(claim, "ProvisioningSucceeded",
                    f"Successfully provisioned volume {name} using {HOSTPATH_PROVISIONER}", warning=False)

    # ---- volumes -----------------------------------------------------------------------------------------

    async def sync_volume(self, name: str) -> None:
        volume = self.volumes.get(name)
        if volume is None or volume.metadata is None or volume.spec is None:
            return
        phase = volume.status.phase if volume.status else None
        if volume.metadata.deletion_timestamp:
            if phase != "Bound" or self._claim_of(volume) is None:
                await set_finalizer(self.volume_api, volume, PV_PROTECTION, present=False)
            return
        volume = await set_finalizer(self.volume_api, volume, PV_PROTECTION, present=True)
        assert volume.spec is not None
        ref = volume.spec.claim_ref
        if ref is None:
            if phase not in ("Available", "Failed"):
                await set_volume_phase(self.volume_api, volume, "Available")
            return
        claim = self._claim_of(volume)
        if claim is None:
            if not ref.uid:
                await set_volume_phase(self.volume_api, volume, "Available")  # pre-bound, claim not made yet
                return
            await self._reclaim(volume)
            return
        assert claim.spec is not None
        if claim.spec.volume_name == name:
            if is_bound_to(volume, claim) and ref.uid:
                await set_volume_phase(self.volume_api, volume, "Bound")
        elif claim.spec.volume_name and _annotations(volume).get(ANN_BOUND_BY_CONTROLLER) == "yes":
            # We half-bound this volume for a claim that went to another volume: give it back.
            spec = _replace(volume.spec, claim_ref=None)
            volume = await self.volume_api.update(_replace(volume, spec=spec))
            await set_volume_phase(self.volume_api, volume, "Available")

    def _claim_of(self, volume: PersistentVolume) -> PersistentVolumeClaim | None:
        ref = volume.spec.claim_ref if volume.spec else None
        if ref is None:
            return None
        claim = self.claims.get(f"{ref.namespace}/{ref.name}")
        if claim is None or claim.metadata is None or (ref.uid and claim.metadata.uid != ref.uid):
            return None
        return claim

    async def _reclaim(self, volume: PersistentVolume) -> None:
        assert volume.spec is not None and volume.metadata is not None
        phase = volume.status.phase if volume.status else None
        if phase == "Failed":
            return
        volume = await set_volume_phase(self.volume_api, volume, "Released")
        assert volume.spec is not None and volume.metadata is not None
        policy = volume.spec.persistent_volume_reclaim_policy or "Retain"
        if policy == "Retain":
            return
        if policy == "Recycle":
            message = "Recycle is not supported; use the Retain or Delete reclaim policy"
            await set_volume_phase(self.volume_api, volume, "Failed", message=message)
            self._event(volume, "VolumeFailedRecycle", message)
            return
        host = volume.spec.host_path.path if volume.spec.host_path else None
        ours = _annotations(volume).get(ANN_PROVISIONED_BY) == HOSTPATH_PROVISIONER
        if host and (self.options.delete_hostpath or ours):
            await asyncio.to_thread(shutil.rmtree, host, True)
        try:
            await self.volume_api.delete(name=volume.metadata.name or "")
        except NotFoundError:
            return
        log.info("deleted released volume %s (reclaim policy Delete)", volume.metadata.name)


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)  # any container user may write, as hostPath provisioners do


def _replace(obj: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(obj, **changes)
