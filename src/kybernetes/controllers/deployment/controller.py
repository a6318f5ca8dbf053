"""The Deployment controller: rolls a Deployment's pod template out through ReplicaSets.

Handlers enqueue the Deployment's key: on its own changes; on a ReplicaSet's (its controller's, or for an
orphan every Deployment of the namespace whose selector matches it, so it can be adopted); and when a pod
of one of its ReplicaSets is deleted (a Recreate rollout waits for the old pods to be gone).

`sync(key)`, as Kubernetes' syncDeployment:
1. a bad selector (missing, empty, malformed) or strategy is a Warning event; observedGeneration is still
   written so `kubectl rollout status` does not wait forever;
2. claim the ReplicaSets (adopt matching orphans, release non-matching ones);
3. being deleted → status only; paused → only resize (proportionally) and clean up, with the Progressing
   condition `DeploymentPaused`; a resize (desired-replicas annotation differs from spec.replicas) → resize;
4. otherwise roll out: Recreate (scale all old ReplicaSets to 0, wait until their pods are gone, then
   scale the new one up) or RollingUpdate (grow the new ReplicaSet within maxSurge, shrink old ones within
   maxUnavailable, unhealthy old replicas first), then trim old ReplicaSets past revisionHistoryLimit once
   the rollout is complete, and write status with progress conditions (`progress.rollout_status`);
   a rollout that made no progress is requeued for the moment its progress deadline passes.

The arithmetic is in `scaling.py`, the revision bookkeeping in `revisions.py`, the status in `progress.py`.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from kybernetes.api.models.apps_v1 import Deployment, ReplicaSet, ReplicaSetSpec
from kybernetes.api.models.core_v1 import Pod, PodTemplateSpec
from kybernetes.api.models.meta_v1 import LabelSelector as APILabelSelector
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import INDEX_NAMESPACE, Clock, WorkQueue, object_key
from kybernetes.controllers.common import (
    INDEX_CONTROLLER,
    Lister,
    Now,
    ObjectWriter,
    Recorder,
    claim_objects,
    controller_ref,
    is_terminating,
    labels_of,
    new_controller_ref,
    orphan_index_value,
    wall_clock,
)
from kybernetes.controllers.common.controllerref import recheck_owner
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.deployment import progress, revisions, scaling
from kybernetes.machinery.errors import AlreadyExistsError, BadRequestError, NotFoundError, StatusError
from kybernetes.machinery.labels import LabelSelector, selector_from_api

log = logging.getLogger(__name__)

COMPONENT = "deployment-controller"


def deployment_selector(d: Deployment) -> LabelSelector:
    """The Deployment's selector; `BadRequestError` when missing, malformed or empty (selects everything)."""
    selector = d.spec.selector if d.spec else None
    if selector is None:
        raise BadRequestError("spec.selector: Required value")
    parsed = selector_from_api(msgspec.to_builtins(selector))
    if parsed.empty:
        raise BadRequestError("This deployment is selecting all pods. A non-empty selector is required.")
    return parsed


class DeploymentController:
    """See the module docstring."""

    name = "deployment"

    def __init__(
        self,
        *,
        deployments: Lister[Deployment],
        replica_sets: Lister[ReplicaSet],
        pods: Lister[Pod],
        deployment_writer: ObjectWriter[Deployment],
        rs_writer: ObjectWriter[ReplicaSet],
        recorder: Recorder,
        clock: Clock,
        now: Now | None = None,
    ) -> None:
        self.deployments = deployments
        self.replica_sets = replica_sets
        self.pods = pods
        self.deployment_writer = deployment_writer
        self.rs_writer = rs_writer
        self.recorder = recorder
        self.clock = clock
        self.now = now or wall_clock(clock)
        self.queue = WorkQueue(name=self.name, clock=clock)
        deployments.add_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new), on_delete=self._enqueue
        )
        replica_sets.add_handler(on_add=self._rs_added, on_update=self._rs_updated, on_delete=self._rs_deleted)
        pods.add_handler(on_delete=self._pod_deleted)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    # ---- handlers (enqueue only) ---------------------------------------------------------------------

    def _enqueue(self, d: Deployment) -> None:
        self.queue.add(object_key(d))

    def _resolve(self, namespace: str | None, ref: Any) -> Deployment | None:
        if ref is None or ref.kind != "Deployment":
            return None
        d = self.deployments.get(f"{namespace}/{ref.name}")
        if d is None or d.metadata is None or d.metadata.uid != ref.uid:
            return None
        return d

    def _matching(self, rs: ReplicaSet) -> list[Deployment]:
        namespace = rs.metadata.namespace if rs.metadata else None
        labels = labels_of(rs)
        found = []
        for d in self.deployments.by_index(INDEX_NAMESPACE, namespace or ""):
            try:
                if deployment_selector(d).matches(labels):
                    found.append(d)
            except BadRequestError:
                continue
        return found

    def _rs_added(self, rs: ReplicaSet) -> None:
        namespace = rs.metadata.namespace if rs.metadata else None
        ref = controller_ref(rs)
        if ref is not None:
            d = self._resolve(namespace, ref)
            if d is not None:
                self._enqueue(d)
            return
        if not is_terminating(rs):
            for d in self._matching(rs):
                self._enqueue(d)

    def _rs_updated(self, old: ReplicaSet, new: ReplicaSet) -> None:
        if old.metadata and new.metadata and old.metadata.resource_version == new.metadata.resource_version:
            return
        namespace = new.metadata.namespace if new.metadata else None
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref is not None and (new_ref is None or old_ref.uid != new_ref.uid):
            previous = self._resolve(namespace, old_ref)
            if previous is not None:
                self._enqueue(previous)
        if new_ref is not None:
            d = self._resolve(namespace, new_ref)
            if d is not None:
                self._enqueue(d)
            return
        if labels_of(old) != labels_of(new) or old_ref is not None:
            for d in self._matching(new):
                self._enqueue(d)

    def _rs_deleted(self, rs: ReplicaSet) -> None:
        d = self._resolve(rs.metadata.namespace if rs.metadata else None, controller_ref(rs))
        if d is not None:
            self._enqueue(d)

    def _pod_deleted(self, pod: Pod) -> None:
        ref = controller_ref(pod)
        if ref is None or ref.kind != "ReplicaSet":
            return
        namespace = pod.metadata.namespace if pod.metadata else None
        rs = self.replica_sets.get(f"{namespace}/{ref.name}")
        if rs is None or rs.metadata is None or rs.metadata.uid != ref.uid:
            return
        d = self._resolve(namespace, controller_ref(rs))
        if d is not None and scaling.strategy_type(d) == scaling.RECREATE:
            self._enqueue(d)

    # ---- sync ----------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        d = self.deployments.get(key)
        if d is None or d.metadata is None or d.spec is None:
            return
        try:
            selector = deployment_selector(d)
            scaling.fenceposts(d)
        except (BadRequestError, ValueError) as e:
            message = e.message if isinstance(e, StatusError) else str(e)
            reason = "SelectingAll" if "selecting all pods" in message else "InvalidSpec"
            self.recorder.event(d, type="Warning", reason=reason, message=message)
            if (d.status.observed_generation if d.status else None) != d.metadata.generation:
                status = msgspec.structs.replace(d.status or progress.DeploymentStatus(),
                                                 observed_generation=d.metadata.generation)
                await self.deployment_writer.update_status(msgspec.structs.replace(d, status=status))
            return

        rs_list = await self._claim_replica_sets(d, selector)
        if is_terminating(d):
            await self._sync_status_only(d, rs_list)
            return
        d = await self._check_paused_conditions(d)
        assert d.spec is not None
        if d.spec.paused or self._is_scaling_event(d, rs_list):
            await self._sync_scale(d, rs_list)
            return
        if scaling.strategy_type(d) == scaling.RECREATE:
            await self._rollout_recreate(d, rs_list)
        else:
            await self._rollout_rolling(d, rs_list)

    async def _claim_replica_sets(self, d: Deployment, selector: LabelSelector) -> list[ReplicaSet]:
        meta: Any = d.metadata
        candidates = [
            *self.replica_sets.by_index(INDEX_CONTROLLER, meta.uid or ""),
            *self.replica_sets.by_index(INDEX_CONTROLLER, orphan_index_value(meta.namespace)),
        ]
        return await claim_objects(
            owner=d, owner_ref=new_controller_ref(d, api_version="apps/v1", kind="Deployment"), selector=selector,
            candidates=candidates, writer=self.rs_writer,
            can_adopt=recheck_owner(
                owner=d, fetch=lambda: self.deployment_writer.get(name=meta.name, namespace=meta.namespace)),
        )

    # ---- revisions and the new ReplicaSet ---------------------------------------------------------------

    async def _write_status(self, d: Deployment, status: Any) -> Deployment:
        if d.status == status:
            return d
        return await self.deployment_writer.update_status(msgspec.structs.replace(d, status=status))

    async def _set_revision(self, d: Deployment, revision: str) -> Deployment:
        """Put the revision annotation on the Deployment (a metadata patch of the main resource)."""
        if revisions.annotations_of(d).get(revisions.REVISION) == revision:
            return d
        meta: Any = d.metadata
        patched = await self.deployment_writer.patch(
            name=meta.name, namespace=meta.namespace,
            patch={"metadata": {"annotations": {revisions.REVISION: revision}}},
        )
        # Keep the status we are working with (the patch does not change it).
        return msgspec.structs.replace(patched, status=d.status)

    async def _new_and_old(
        self, d: Deployment, rs_list: list[ReplicaSet], *, create: bool
    ) -> tuple[Deployment, ReplicaSet | None, list[ReplicaSet]]:
        """(Deployment, new ReplicaSet or None, old ReplicaSets) with the new one's revision synced."""
        existing = revisions.find_new_replica_set(d, rs_list)
        old_rss = revisions.find_old_replica_sets(rs_list, existing)
        new_revision = revisions.max_revision(old_rss) + 1
        spec: Any = d.spec
        now = self.now()
        if existing is not None:
            rs_annotations = revisions.annotations_of(existing)
            wanted = revisions.with_revision(revisions.copied_annotations(d, rs_annotations), new_revision)
            rs_spec: Any = existing.spec
            rs_meta: Any = existing.metadata
            if wanted != rs_annotations or rs_spec.min_ready_seconds != spec.min_ready_seconds:
                updated = msgspec.structs.replace(
                    existing, metadata=msgspec.structs.replace(rs_meta, annotations=wanted),
                    spec=msgspec.structs.replace(rs_spec, min_ready_seconds=spec.min_ready_seconds),
                )
                existing = await self.rs_writer.update(updated)
            d = await self._set_revision(d, revisions.annotations_of(existing).get(revisions.REVISION, ""))
            if progress.has_progress_deadline(d) and progress.get_condition(d.status, progress.PROGRESSING) is None:
                status = progress.set_condition(d.status or progress.DeploymentStatus(), progress.new_condition(
                    progress.PROGRESSING, "True", progress.FOUND_NEW_REPLICA_SET,
                    f'Found new replica set "{existing.metadata.name}"', now=now))  # type: ignore[union-attr]
                d = await self._write_status(d, status)
            return d, existing, old_rss
        if not create:
            return d, None, old_rss
        return await self._create_new_replica_set(d, old_rss, new_revision)

    async def _create_new_replica_set(
        self, d: Deployment, old_rss: list[ReplicaSet], new_revision: int
    ) -> tuple[Deployment, ReplicaSet | None, list[ReplicaSet]]:
        meta: Any = d.metadata
        spec: Any = d.spec
        status = d.status or progress.DeploymentStatus()
        pod_hash = revisions.template_hash(spec.template, status.collision_count)
        template: PodTemplateSpec = spec.template or PodTemplateSpec()
        tmeta = template.metadata or ObjectMeta()
        labels = {**(tmeta.labels or {}), revisions.HASH_LABEL: pod_hash}
        new_template = msgspec.structs.replace(template, metadata=msgspec.structs.replace(tmeta, labels=labels))
        selector: APILabelSelector = spec.selector
        new_selector = msgspec.structs.replace(
            selector, match_labels={**(selector.match_labels or {}), revisions.HASH_LABEL: pod_hash})
        candidate = ReplicaSet(
            api_version="apps/v1", kind="ReplicaSet",
            metadata=ObjectMeta(
                name=f"{meta.name}-{pod_hash}", namespace=meta.namespace, labels=labels,
                owner_references=[new_controller_ref(d, api_version="apps/v1", kind="Deployment")],
            ),
            spec=ReplicaSetSpec(replicas=0, min_ready_seconds=spec.min_ready_seconds, selector=new_selector,
                                template=new_template),
        )
        replicas = scaling.new_rs_replicas(d, [*old_rss, candidate], candidate)
        annotations = revisions.with_revision(revisions.copied_annotations(d, {}), new_revision)
        annotations = revisions.with_replicas_annotations(
            annotations, desired=scaling.replicas_of(d), maximum=scaling.replicas_of(d) + scaling.max_surge(d))
        assert candidate.metadata is not None and candidate.spec is not None
        candidate = msgspec.structs.replace(
            candidate, metadata=msgspec.structs.replace(candidate.metadata, annotations=annotations),
            spec=msgspec.structs.replace(candidate.spec, replicas=replicas),
        )
        now = self.now()
        already_existed = False
        try:
            created = await self.rs_writer.create(candidate, namespace=meta.namespace)
        except AlreadyExistsError:
            name = candidate.metadata.name or ""  # type: ignore[union-attr]
            found = self.replica_sets.get(f"{meta.namespace}/{name}")
            if found is None:
                found = await self.rs_writer.get(name=name, namespace=meta.namespace)
            ref = controller_ref(found)
            if ref is not None and ref.uid == meta.uid and revisions.equal_ignore_hash(
                    found.spec.template if found.spec else None, spec.template):
                created, already_existed = found, True
            else:
                # A different template hashed to the same name: count the collision and retry.
                bumped = msgspec.structs.replace(status, collision_count=(status.collision_count or 0) + 1)
                await self._write_status(d, bumped)
                raise
        except StatusError as e:
            if "because it is being terminated" in e.message:
                raise
            message = f'Failed to create new replica set "{candidate.metadata.name}": {e.message}'  # type: ignore[union-attr]
            if progress.has_progress_deadline(d):
                failed = progress.set_condition(status, progress.new_condition(
                    progress.PROGRESSING, "False", progress.FAILED_RS_CREATE, message, now=now))
                try:
                    await self._write_status(d, failed)
                except StatusError:
                    pass  # the creation failure is the error to report
            self.recorder.event(d, type="Warning", reason=progress.FAILED_RS_CREATE, message=message)
            raise
        created_name = created.metadata.name if created.metadata else ""
        if not already_existed and replicas > 0:
            self.recorder.event(d, reason="ScalingReplicaSet",
                                message=f"Scaled up replica set {created_name} to {replicas}")
        d = await self._set_revision(d, str(new_revision))
        if not already_existed and progress.has_progress_deadline(d):
            status = progress.set_condition(d.status or progress.DeploymentStatus(), progress.new_condition(
                progress.PROGRESSING, "True", progress.NEW_REPLICA_SET_CREATED,
                f'Created new replica set "{created_name}"', now=now))
            d = await self._write_status(d, status)
        return d, created, old_rss

    # ---- scaling ---------------------------------------------------------------------------------------

    async def _scale_rs(self, rs: ReplicaSet, size: int, d: Deployment, operation: str) -> tuple[bool, ReplicaSet]:
        old_size = scaling.replicas_of(rs)
        desired = scaling.replicas_of(d)
        maximum = desired + scaling.max_surge(d)
        annotations = revisions.annotations_of(rs)
        wanted = revisions.with_replicas_annotations(annotations, desired=desired, maximum=maximum)
        if old_size == size and wanted == annotations:
            return False, rs
        rs_spec: Any = rs.spec
        rs_meta: Any = rs.metadata
        updated = msgspec.structs.replace(
            rs, metadata=msgspec.structs.replace(rs_meta, annotations=wanted),
            spec=msgspec.structs.replace(rs_spec, replicas=size),
        )
        stored = await self.rs_writer.update(updated)
        if old_size != size:
            self.recorder.event(d, reason="ScalingReplicaSet",
                                message=f"Scaled {operation} replica set {stored.metadata.name} to {size} from {old_size}")  # type: ignore[union-attr]
            return True, stored
        return False, stored

    async def _scale_and_record(self, rs: ReplicaSet, size: int, d: Deployment) -> tuple[bool, ReplicaSet]:
        current = scaling.replicas_of(rs)
        if current == size:
            return False, rs
        return await self._scale_rs(rs, size, d, "up" if current < size else "down")

    def _is_scaling_event(self, d: Deployment, rs_list: list[ReplicaSet]) -> bool:
        desired = scaling.replicas_of(d)
        for rs in scaling.active(rs_list):
            annotated = revisions.int_annotation(rs, revisions.DESIRED_REPLICAS)
            if annotated is not None and annotated != desired:
                return True
        return False

    async def _scale(self, d: Deployment, new_rs: ReplicaSet | None, old_rss: list[ReplicaSet]) -> None:
        target = scaling.find_active_or_latest(new_rs, old_rss)
        if target is not None:
            if scaling.replicas_of(target) != scaling.replicas_of(d):
                await self._scale_and_record(target, scaling.replicas_of(d), d)
            return
        if scaling.is_saturated(d, new_rs):
            for old in scaling.active(old_rss):
                await self._scale_and_record(old, 0, d)
            return
        if scaling.is_rolling(d):
            sizes, operation = scaling.proportional_sizes(d, [*old_rss, *([new_rs] if new_rs else [])])
            for rs, size in sizes:
                await self._scale_rs(rs, size, d, operation)

    async def _sync_scale(self, d: Deployment, rs_list: list[ReplicaSet]) -> None:
        d, new_rs, old_rss = await self._new_and_old(d, rs_list, create=False)
        await self._scale(d, new_rs, old_rss)
        assert d.spec is not None
        if d.spec.paused:
            await self._cleanup(d, old_rss)
        await self._write_status(d, progress.calculate_status(d, [*old_rss, new_rs], new_rs, now=self.now()))

    async def _sync_status_only(self, d: Deployment, rs_list: list[ReplicaSet]) -> None:
        d, new_rs, old_rss = await self._new_and_old(d, rs_list, create=False)
        await self._write_status(d, progress.calculate_status(d, [*old_rss, new_rs], new_rs, now=self.now()))

    async def _check_paused_conditions(self, d: Deployment) -> Deployment:
        if not progress.has_progress_deadline(d):
            return d
        condition = progress.get_condition(d.status, progress.PROGRESSING)
        if condition is not None and condition.reason == progress.TIMED_OUT:
            return d
        paused_recorded = condition is not None and condition.reason == progress.PAUSED
        paused = bool(d.spec.paused) if d.spec else False
        status = d.status or progress.DeploymentStatus()
        if paused and not paused_recorded:
            status = progress.set_condition(status, progress.new_condition(
                progress.PROGRESSING, "Unknown", progress.PAUSED, "Deployment is paused", now=self.now()))
        elif not paused and paused_recorded:
            status = progress.set_condition(status, progress.new_condition(
                progress.PROGRESSING, "Unknown", progress.RESUMED, "Deployment is resumed", now=self.now()))
        else:
            return d
        return await self._write_status(d, status)

    async def _cleanup(self, d: Deployment, old_rss: list[ReplicaSet]) -> None:
        """Delete the oldest ReplicaSets with no pods beyond revisionHistoryLimit."""
        limit = d.spec.revision_history_limit if d.spec else None
        if limit is None or limit == 2**31 - 1:
            return
        alive = [rs for rs in old_rss if not is_terminating(rs)]
        excess = len(alive) - limit
        if excess <= 0:
            return
        alive.sort(key=lambda rs: (revisions.revision_of(rs), revisions.creation_order(rs)))
        for rs in alive[:excess]:
            rs_meta: Any = rs.metadata
            observed = (rs.status.observed_generation if rs.status else None) or 0
            if (scaling.status_replicas(rs) != 0 or scaling.replicas_of(rs) != 0
                    or (rs_meta.generation or 0) > observed):
                continue
            try:
                await self.rs_writer.delete(name=rs_meta.name, namespace=rs_meta.namespace)
            except NotFoundError:
                pass

    # ---- rollouts --------------------------------------------------------------------------------------

    async def _sync_rollout_status(self, d: Deployment, all_rss: list[ReplicaSet | None],
                                   new_rs: ReplicaSet | None) -> None:
        now = self.now()
        status = progress.rollout_status(d, all_rss, new_rs, now=now)
        if d.status == status:
            after = progress.stuck_requeue_after(d, status, now=now)
            if after is not None:
                self.queue.add_after(object_key(d), after)
            return
        await self._write_status(d, status)

    async def _rollout_rolling(self, d: Deployment, rs_list: list[ReplicaSet]) -> None:
        d, new_rs, old_rss = await self._new_and_old(d, rs_list, create=True)
        assert new_rs is not None
        all_rss: list[ReplicaSet | None] = [*old_rss, new_rs]
        desired = scaling.replicas_of(d)
        # Scale up the new ReplicaSet, if we can.
        if scaling.replicas_of(new_rs) != desired:
            size = desired if scaling.replicas_of(new_rs) > desired else scaling.new_rs_replicas(d, all_rss, new_rs)
            scaled, new_rs = await self._scale_and_record(new_rs, size, d)
            if scaled:
                await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)
                return
        # Scale down old ones, if we can.
        scaled_down, old_rss = await self._reconcile_old(d, old_rss, new_rs)
        if scaled_down:
            await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)
            return
        if progress.is_complete(d, d.status or progress.DeploymentStatus()):
            await self._cleanup(d, old_rss)
        await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)

    async def _reconcile_old(
        self, d: Deployment, old_rss: list[ReplicaSet], new_rs: ReplicaSet
    ) -> tuple[bool, list[ReplicaSet]]:
        active_old = scaling.active(old_rss)
        if scaling.total_replicas(active_old) == 0:
            return False, old_rss
        all_count = scaling.total_replicas([*old_rss, new_rs])
        min_available = scaling.replicas_of(d) - scaling.max_unavailable(d)
        new_unavailable = scaling.replicas_of(new_rs) - scaling.available_replicas(new_rs)
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False, old_rss
        replaced: dict[str, ReplicaSet] = {}
        # Unhealthy replicas of old ReplicaSets go first: removing them costs no availability.
        cleaned = 0
        active_old.sort(key=revisions.creation_order)
        for i, rs in enumerate(active_old):
            if cleaned >= max_scaled_down:
                break
            unhealthy = scaling.replicas_of(rs) - scaling.available_replicas(rs)
            if scaling.replicas_of(rs) == 0 or unhealthy <= 0:
                continue
            count = min(max_scaled_down - cleaned, unhealthy)
            _, active_old[i] = await self._scale_and_record(rs, scaling.replicas_of(rs) - count, d)
            replaced[rs.metadata.name or ""] = active_old[i]  # type: ignore[union-attr]
            cleaned += count
        # Then healthy ones, as long as enough pods stay available.
        available = sum(scaling.available_replicas(rs) for rs in [*active_old, new_rs])
        # Never more than the spec-based bound above: ReplicaSet statuses may lag behind their specs.
        budget = min(available - min_available, max_scaled_down - cleaned)
        scaled = 0
        for i, rs in enumerate(active_old):
            if scaled >= budget:
                break
            if scaling.replicas_of(rs) == 0:
                continue
            count = min(scaling.replicas_of(rs), budget - scaled)
            _, active_old[i] = await self._scale_and_record(rs, scaling.replicas_of(rs) - count, d)
            replaced[rs.metadata.name or ""] = active_old[i]  # type: ignore[union-attr]
            scaled += count
        updated = [replaced.get(rs.metadata.name or "", rs) for rs in old_rss]  # type: ignore[union-attr]
        return cleaned + scaled > 0, updated

    async def _rollout_recreate(self, d: Deployment, rs_list: list[ReplicaSet]) -> None:
        d, new_rs, old_rss = await self._new_and_old(d, rs_list, create=False)
        scaled_down = False
        updated_old = []
        for rs in old_rss:
            if scaling.replicas_of(rs) > 0:
                scaled, rs = await self._scale_and_record(rs, 0, d)
                scaled_down = scaled_down or scaled
            updated_old.append(rs)
        old_rss = updated_old
        if scaled_down:
            await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)
            return
        if self._old_pods_running(old_rss):
            await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)
            return
        if new_rs is None:
            d, new_rs, old_rss = await self._new_and_old(d, rs_list, create=True)
        assert new_rs is not None
        _, new_rs = await self._scale_and_record(new_rs, scaling.replicas_of(d), d)
        if progress.is_complete(d, d.status or progress.DeploymentStatus()):
            await self._cleanup(d, old_rss)
        await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)

    def _old_pods_running(self, old_rss: list[ReplicaSet]) -> bool:
        if sum(scaling.status_replicas(rs) for rs in old_rss) > 0:
            return True
        for rs in old_rss:
            for pod in self.pods.by_index(INDEX_CONTROLLER, (rs.metadata.uid if rs.metadata else None) or ""):
                phase = pod.status.phase if pod.status else None
                if phase not in ("Failed", "Succeeded"):
                    return True
        return False
