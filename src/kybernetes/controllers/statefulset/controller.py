"""The StatefulSet controller: pods with stable names and storage, started and updated in order.

`sync(namespace/name)`:

1. Revisions (`common/revisions.py`): the update revision is the current template's; the current
   revision is `status.currentRevision` (the update revision on the first sync). Pods carry the revision
   name in `controller-revision-hash`; ordinals below the RollingUpdate `partition` are created from the
   current revision, the rest from the update revision.
2. Ordinals `start .. start+replicas-1` are walked upwards. A missing pod is created — after its
   PersistentVolumeClaims (`<claim>-<set>-<ordinal>`, one per volumeClaimTemplate); a Failed or Succeeded
   pod is deleted to be recreated. With `OrderedReady` (the default) the walk stops at the first pod it
   creates, deletes, or finds not yet Running and Ready (or terminating); `Parallel` goes on.
3. Pods above the range are condemned and deleted from the highest ordinal down; `OrderedReady` deletes
   one at a time and only while every other pod is healthy. `whenScaled: Delete` hands the pod's claims to
   the pod first (ownerReference), so they go with it.
4. RollingUpdate: from the highest ordinal down to the partition, the first pod not at the update revision
   is deleted (it comes back at the new revision in step 2); an unhealthy pod on the way stops the walk.
5. Status: replicas, ready/available/current/updated counts, revisions (the current revision becomes the
   update revision once every pod is updated and ready), observedGeneration, collisionCount.

Each pod gets `hostname: <pod>` and `subdomain: <serviceName>` and the labels
`statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index`.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

import msgspec

from kybernetes.api.models.apps_v1 import ControllerRevision, StatefulSet, StatefulSetStatus
from kybernetes.api.models.core_v1 import PersistentVolumeClaim, Pod, PodTemplateSpec
from kybernetes.client import INDEX_OWNER_UID, WorkQueue, object_key, owner_uid_index
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import (
    WallClock,
    controller_key,
    from_wire,
    is_controlled_by,
    is_pod_available,
    is_pod_ready,
    is_pod_terminal,
    is_terminating,
    key_of,
    new_controller_ref,
    pod_from_template,
    pod_phase,
    wire,
)
from kybernetes.controllers.common import revisions as history
from kybernetes.controllers.common.queue import run_queue
from kybernetes.machinery.errors import AlreadyExistsError, NotFoundError, StatusError

log = logging.getLogger(__name__)

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


class StatefulSetController:
    name = "statefulset-controller"

    def __init__(self, *, ctx: ControllerContext, wall: WallClock | None = None) -> None:
        self.wall = wall or WallClock(clock=ctx.clock)
        self.sets = ctx.informers.informer(StatefulSet)
        self.pods = ctx.informers.informer(Pod, indexers={INDEX_OWNER_UID: owner_uid_index})
        self.claims = ctx.informers.informer(PersistentVolumeClaim)
        self.revisions = ctx.informers.informer(ControllerRevision, indexers={INDEX_OWNER_UID: owner_uid_index})
        self.set_api = ctx.client.resource(StatefulSet)
        self.pod_api = ctx.client.resource(Pod)
        self.claim_api = ctx.client.resource(PersistentVolumeClaim)
        self.revision_api = ctx.client.resource(ControllerRevision)
        self.recorder = ctx.recorder("statefulset-controller")
        self.queue = WorkQueue(name="statefulset", clock=ctx.clock)
        self.sets.add_handler(on_add=self._enqueue, on_update=lambda _o, n: self._enqueue(n), on_delete=self._enqueue)
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n),
                              on_delete=self._pod_changed)

    def _enqueue(self, sts: StatefulSet) -> None:
        self.queue.add(object_key(sts))

    def _pod_changed(self, pod: Pod) -> None:
        key = controller_key(pod, kind="StatefulSet")
        if key is not None:
            self.queue.add(key)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    # ---- sync ----------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        sts = self.sets.get(key)
        if sts is None or sts.metadata is None or sts.spec is None or sts.spec.template is None:
            return
        if sts.metadata.deletion_timestamp:
            return
        status = msgspec.structs.replace(sts.status) if sts.status else StatefulSetStatus()
        revisions = await history.owner_revisions(
            api=self.revision_api, informer=self.revisions, owner=sts, kind="StatefulSet", status=status,
            update_status=self.set_api.update_status,
        )
        update = revisions.current
        by_name = {r.metadata.name: r for r in revisions.all if r.metadata}
        current = by_name.get(status.current_revision or "") or update
        pods = [p for p in self.pods.by_index(INDEX_OWNER_UID, sts.metadata.uid or "") if is_controlled_by(p, sts)]
        now = self.wall()
        await self._reconcile(sts, pods, current, update, now)
        await self._write_status(sts, status, pods, current, update, now)
        in_use = {(p.metadata.labels or {}).get(history.REVISION_HASH_LABEL, "") for p in pods if p.metadata}
        await history.prune_revisions(
            api=self.revision_api, revisions=revisions.all,
            keep=in_use | {_name(current), _name(update)}, limit=sts.spec.revision_history_limit,
        )

    def _ordinal(self, sts: StatefulSet, pod: Pod) -> int | None:
        name = pod.metadata.name if pod.metadata else None
        m = re.fullmatch(rf"{re.escape(sts.metadata.name or '')}-(\d+)", name or "") if sts.metadata else None
        return int(m.group(1)) if m else None

    def _healthy(self, sts: StatefulSet, pod: Pod, now: datetime) -> bool:
        min_ready = sts.spec.min_ready_seconds or 0 if sts.spec else 0
        return (pod_phase(pod) == "Running" and not is_terminating(pod)
                and is_pod_available(pod, min_ready_seconds=min_ready, now=now))

    async def _reconcile(self, sts: StatefulSet, pods: list[Pod], current: ControllerRevision,
                         update: ControllerRevision, now: datetime) -> None:
        spec, meta = sts.spec, sts.metadata
        assert spec is not None and meta is not None
        start = spec.ordinals.start or 0 if spec.ordinals else 0
        replicas = spec.replicas if spec.replicas is not None else 1
        monotonic = spec.pod_management_policy != "Parallel"
        slots: dict[int, Pod] = {}
        condemned: list[tuple[int, Pod]] = []
        for pod in pods:
            ordinal = self._ordinal(sts, pod)
            if ordinal is None:
                continue
            if start <= ordinal < start + replicas:
                slots[ordinal] = pod
            else:
                condemned.append((ordinal, pod))
        condemned.sort(key=lambda item: -item[0])
        strategy = spec.update_strategy
        rolling = strategy is None or strategy.type != "OnDelete"
        partition = (strategy.rolling_update.partition or 0) if strategy and strategy.rolling_update else 0

        for ordinal in range(start, start + replicas):
            existing = slots.get(ordinal)
            if existing is None:
                revision = current if rolling and ordinal < start + partition else update
                await self._create(sts, ordinal, revision)
                if monotonic:
                    return
                continue
            if is_pod_terminal(existing) and not is_terminating(existing):
                await self._delete(sts, existing)
                if monotonic:
                    return
                continue
            if monotonic and not self._healthy(sts, existing, now):
                if min_ready := (spec.min_ready_seconds or 0):
                    self.queue.add_after(key_of(meta.namespace, meta.name or ""), float(min_ready))
                return
            await self._ensure_claims(sts, ordinal)

        unhealthy = [p for p in slots.values() if not self._healthy(sts, p, now)]
        for _ordinal, pod in condemned:
            if is_terminating(pod):
                if monotonic:
                    return
                continue
            if monotonic and (unhealthy or (not self._healthy(sts, pod, now) and pod is not condemned[0][1])):
                return
            await self._condemn(sts, pod)
            if monotonic:
                return

        if not rolling:
            return
        for ordinal in range(start + replicas - 1, start + partition - 1, -1):
            target = slots.get(ordinal)
            if target is None:
                return
            if _revision_of(target) != _name(update) and not is_terminating(target):
                await self._delete(sts, target)
                return
            if not self._healthy(sts, target, now):
                return

    # ---- writes ------------------------------------------------------------------------------------------

    def _template_of(self, sts: StatefulSet, revision: ControllerRevision) -> PodTemplateSpec:
        """The pod template a revision restores (the set's own template when it cannot be read)."""
        assert sts.spec is not None and sts.spec.template is not None
        data = revision.data if isinstance(revision.data, dict) else {}
        template = dict((data.get("spec") or {}).get("template") or {})
        template.pop("$patch", None)
        if not template:
            return sts.spec.template
        try:
            return from_wire(template, PodTemplateSpec)
        except msgspec.ValidationError:
            return sts.spec.template

    def _claim_names(self, sts: StatefulSet, ordinal: int) -> list[tuple[str, Any]]:
        assert sts.spec is not None and sts.metadata is not None
        out = []
        for claim in sts.spec.volume_claim_templates or []:
            name = claim.metadata.name if claim.metadata else None
            if name:
                out.append((f"{name}-{sts.metadata.name}-{ordinal}", claim))
        return out

    async def _ensure_claims(self, sts: StatefulSet, ordinal: int) -> None:
        assert sts.spec is not None and sts.metadata is not None
        retention = sts.spec.persistent_volume_claim_retention_policy
        selector_labels = dict((sts.spec.selector.match_labels if sts.spec.selector else None) or {})
        for claim_name, template in self._claim_names(sts, ordinal):
            if self.claims.get(key_of(sts.metadata.namespace, claim_name)) is not None:
                continue
            body = wire(template)
            meta = body.setdefault("metadata", {})
            labels = {**(meta.get("labels") or {}), **selector_labels}
            owners = []
            if retention is not None and retention.when_deleted == "Delete":
                owners.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts.metadata.name,
                               "uid": sts.metadata.uid, "blockOwnerDeletion": True})
            body["metadata"] = {"name": claim_name, "namespace": sts.metadata.namespace,
                                **({"labels": labels} if labels else {}),
                                **({"annotations": meta["annotations"]} if meta.get("annotations") else {}),
                                **({"ownerReferences": owners} if owners else {})}
            body.pop("status", None)
            body["apiVersion"], body["kind"] = "v1", "PersistentVolumeClaim"
            pod_name = f"{sts.metadata.name}-{ordinal}"
            try:
                await self.claim_api.create(from_wire(body, PersistentVolumeClaim))
            except AlreadyExistsError:
                continue
            except StatusError as e:
                self.recorder.event(sts, type="Warning", reason="FailedCreate",
                                    message=f"create Claim {claim_name} for Pod {pod_name} in StatefulSet "
                                            f"{sts.metadata.name} failed error: {e.message}")
                raise
            self.recorder.event(sts, reason="SuccessfulCreate",
                                message=f"create Claim {claim_name} Pod {pod_name} in StatefulSet "
                                        f"{sts.metadata.name} success")

    async def _create(self, sts: StatefulSet, ordinal: int, revision: ControllerRevision) -> None:
        assert sts.spec is not None and sts.metadata is not None
        await self._ensure_claims(sts, ordinal)
        name = f"{sts.metadata.name}-{ordinal}"
        template = self._template_of(sts, revision)
        owner = new_controller_ref(sts, api_version="apps/v1", kind="StatefulSet")
        body = wire(pod_from_template(template=template, owner_ref=owner, namespace=sts.metadata.namespace,
                                      owner_name=sts.metadata.name or "", name=name))
        spec: dict[str, Any] = body.setdefault("spec", {})
        labels = body["metadata"]["labels"] = dict(body["metadata"].get("labels") or {})
        labels.update({history.REVISION_HASH_LABEL: _name(revision), POD_NAME_LABEL: name,
                       POD_INDEX_LABEL: str(ordinal)})
        spec["hostname"] = name
        if sts.spec.service_name:
            spec["subdomain"] = sts.spec.service_name
        claims = {tmpl.metadata.name: claim_name for claim_name, tmpl in self._claim_names(sts, ordinal)
                  if tmpl.metadata}
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
        volumes += [{"name": vol, "persistentVolumeClaim": {"claimName": claim}} for vol, claim in claims.items()]
        if volumes:
            spec["volumes"] = volumes
        try:
            await self.pod_api.create(from_wire(body, Pod))
        except AlreadyExistsError:
            return  # our cache is behind our own write; the informer will show it
        except StatusError as e:
            self.recorder.event(sts, type="Warning", reason="FailedCreate",
                                message=f"create Pod {name} in StatefulSet {sts.metadata.name} failed error: "
                                        f"{e.message}")
            raise
        self.recorder.event(sts, reason="SuccessfulCreate",
                            message=f"create Pod {name} in StatefulSet {sts.metadata.name} successful")

    async def _delete(self, sts: StatefulSet, pod: Pod) -> None:
        assert pod.metadata is not None and sts.metadata is not None
        try:
            await self.pod_api.delete(name=pod.metadata.name or "", namespace=pod.metadata.namespace)
        except NotFoundError:
            return
        self.recorder.event(sts, reason="SuccessfulDelete",
                            message=f"delete Pod {pod.metadata.name} in StatefulSet {sts.metadata.name} successful")

    async def _condemn(self, sts: StatefulSet, pod: Pod) -> None:
        """Scale-down deletion; with `whenScaled: Delete` the pod's claims are given to the pod first."""
        assert sts.spec is not None and pod.metadata is not None
        retention = sts.spec.persistent_volume_claim_retention_policy
        ordinal = self._ordinal(sts, pod)
        if retention is not None and retention.when_scaled == "Delete" and ordinal is not None:
            ref = {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid,
                   "blockOwnerDeletion": True}
            for claim_name, _ in self._claim_names(sts, ordinal):
                claim = self.claims.get(key_of(pod.metadata.namespace, claim_name))
                if claim is None or claim.metadata is None:
                    continue
                refs = [wire(r) for r in claim.metadata.owner_references or []]
                if any(r.get("uid") == pod.metadata.uid for r in refs):
                    continue
                await self.claim_api.patch(name=claim_name, namespace=pod.metadata.namespace, type="merge",
                                           patch={"metadata": {"ownerReferences": [*refs, ref],
                                                               "resourceVersion": claim.metadata.resource_version}})
        await self._delete(sts, pod)

    async def _write_status(self, sts: StatefulSet, status: StatefulSetStatus, pods: list[Pod],
                            current: ControllerRevision, update: ControllerRevision, now: datetime) -> None:
        assert sts.spec is not None and sts.metadata is not None
        min_ready = sts.spec.min_ready_seconds or 0
        live = [p for p in pods if not is_pod_terminal(p) and self._ordinal(sts, p) is not None]
        status.replicas = len(live)
        status.ready_replicas = sum(1 for p in live if is_pod_ready(p)) or None
        status.available_replicas = sum(1 for p in live if is_pod_available(p, min_ready_seconds=min_ready,
                                                                            now=now))
        status.current_replicas = sum(1 for p in live if _revision_of(p) == _name(current)) or None
        status.updated_replicas = sum(1 for p in live if _revision_of(p) == _name(update)) or None
        status.current_revision = _name(current)
        status.update_revision = _name(update)
        status.observed_generation = sts.metadata.generation
        status.collision_count = status.collision_count or 0
        wanted = sts.spec.replicas if sts.spec.replicas is not None else 1
        strategy = sts.spec.update_strategy
        if (strategy is None or strategy.type != "OnDelete") and (status.updated_replicas or 0) == wanted \
                == status.replicas and (status.ready_replicas or 0) == wanted:
            status.current_revision = status.update_revision
            status.current_replicas = status.updated_replicas
        updated = msgspec.structs.replace(sts, status=status)
        if updated != sts:
            await self.set_api.update_status(updated)


def _name(revision: ControllerRevision) -> str:
    return (revision.metadata.name if revision.metadata else None) or ""


def _revision_of(pod: Pod) -> str:
    return ((pod.metadata.labels if pod.metadata else None) or {}).get(history.REVISION_HASH_LABEL, "")
