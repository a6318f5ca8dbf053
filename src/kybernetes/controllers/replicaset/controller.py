"""The replica controller: keeps `spec.replicas` pods running for each ReplicaSet (or ReplicationController).

Handlers only enqueue keys and keep expectations current:

* owner added / updated / deleted → its key (a deleted owner's expectations are dropped);
* pod added → its controller's key (and one observed creation); an orphan → every owner in the namespace
  whose selector matches it, so it can be adopted;
* pod updated → its controller (old and new, when the controller changed); a pod turning terminating
  counts as an observed deletion; an orphan whose labels changed → the owners it now matches;
* pod deleted → its controller's key (and one observed deletion).

`sync(key)` is level-triggered: read the owner from the cache (gone → drop expectations, done); claim the
pods of the namespace that are controlled by it or are matching orphans (`common.claim_objects`); if its
expectations are satisfied and it is not being deleted, create the missing pods in slow-start batches or
delete the surplus in Kubernetes' ranking order (at most `burst_replicas` either way, per sync); then write
status through `/status` when it changed. A ready pod that is not yet available (minReadySeconds) makes the
key requeue itself for the moment it becomes available. A failure to create or delete is reported as an
event and the ReplicaFailure condition and then raised, so the workqueue retries with backoff; a bad
selector is a Warning event and the key is dropped until the object changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Generic, TypeVar

import msgspec

from kybernetes.api.models import Model
from kybernetes.api.models.core_v1 import Pod
from kybernetes.api.models.meta_v1 import Preconditions
from kybernetes.client import INDEX_NAMESPACE, Clock, WorkQueue, object_key, split_key
from kybernetes.controllers.common import (
    INDEX_CONTROLLER,
    Expectations,
    Lister,
    Now,
    ObjectWriter,
    Recorder,
    available_at,
    claim_objects,
    controller_ref,
    is_pod_active,
    is_terminating,
    labels_of,
    new_controller_ref,
    orphan_index_value,
    pod_from_template,
    pods_to_delete,
    slow_start_batch,
    wall_clock,
)
from kybernetes.controllers.common.controllerref import recheck_owner
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.replicaset.kinds import ReplicaKind
from kybernetes.controllers.replicaset.status import calculate_status
from kybernetes.machinery.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    StatusError,
)
from kybernetes.machinery.labels import LabelSelector

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Model)

BURST_REPLICAS = 500
# Requeue a little after a pod's availability moment: readiness times have second precision.
_AVAILABILITY_SLACK = 0.05


class ReplicaSetController(Generic[T]):
    """See the module docstring."""

    def __init__(
        self,
        *,
        kind: ReplicaKind[T],
        owners: Lister[T],
        pods: Lister[Pod],
        owner_writer: ObjectWriter[T],
        pod_writer: ObjectWriter[Pod],
        recorder: Recorder,
        clock: Clock,
        now: Now | None = None,
        burst_replicas: int = BURST_REPLICAS,
    ) -> None:
        self.kind = kind
        self.name = kind.name
        self.owners = owners
        self.pods = pods
        self.owner_writer = owner_writer
        self.pod_writer = pod_writer
        self.recorder = recorder
        self.clock = clock
        self.now = now or wall_clock(clock)
        self.burst_replicas = burst_replicas
        self.queue = WorkQueue(name=kind.name, clock=clock)
        self.expectations = Expectations(clock=clock)
        owners.add_handler(on_add=self._owner_added, on_update=self._owner_updated, on_delete=self._owner_deleted)
        pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    # ---- handlers (enqueue only) ---------------------------------------------------------------------

    def _owner_added(self, owner: T) -> None:
        self.queue.add(object_key(owner))

    def _owner_updated(self, old: T, new: T) -> None:
        self.queue.add(object_key(new))

    def _owner_deleted(self, owner: T) -> None:
        key = object_key(owner)
        self.expectations.forget(key)
        self.queue.add(key)

    def _resolve(self, pod: Pod, ref: Any) -> T | None:
        """The owner a pod's controller reference points at, if it is one of ours and still the same object."""
        if ref is None or ref.kind != self.kind.kind:
            return None
        namespace = pod.metadata.namespace if pod.metadata else None
        owner = self.owners.get(f"{namespace}/{ref.name}")
        if owner is None or owner.metadata.uid != ref.uid:  # type: ignore[attr-defined]
            return None
        return owner

    def _selector(self, owner: T) -> LabelSelector | None:
        try:
            return self.kind.selector_of(owner)
        except BadRequestError:
            return None

    def _matching_owners(self, pod: Pod) -> list[T]:
        namespace = pod.metadata.namespace if pod.metadata else None
        labels = labels_of(pod)
        found = []
        for owner in self.owners.by_index(INDEX_NAMESPACE, namespace or ""):
            selector = self._selector(owner)
            if selector is not None and selector.matches(labels):
                found.append(owner)
        return found

    def _pod_added(self, pod: Pod) -> None:
        if is_terminating(pod):
            # Seen for the first time already terminating (e.g. after a re-list): a deletion, not a creation.
            self._pod_deleted(pod)
            return
        ref = controller_ref(pod)
        if ref is not None:
            owner = self._resolve(pod, ref)
            if owner is not None:
                key = object_key(owner)
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for owner in self._matching_owners(pod):
            self.queue.add(object_key(owner))

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.metadata and new.metadata and old.metadata.resource_version == new.metadata.resource_version:
            return  # a resync: nothing changed
        labels_changed = labels_of(old) != labels_of(new)
        if is_terminating(new) and not is_terminating(old):
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref is not None and (new_ref is None or old_ref.uid != new_ref.uid):
            previous = self._resolve(old, old_ref)
            if previous is not None:
                self.queue.add(object_key(previous))
        if new_ref is not None:
            owner = self._resolve(new, new_ref)
            if owner is not None:
                self.queue.add(object_key(owner))
            return
        if labels_changed or old_ref is not None:
            for owner in self._matching_owners(new):
                self.queue.add(object_key(owner))

    def _pod_deleted(self, pod: Pod) -> None:
        owner = self._resolve(pod, controller_ref(pod))
        if owner is None:
            return
        key = object_key(owner)
        self.expectations.deletion_observed(key, object_key(pod))
        self.queue.add(key)

    # ---- sync ----------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        owner = self.owners.get(key)
        if owner is None:
            self.expectations.forget(key)
            return
        try:
            selector = self.kind.selector_of(owner)
        except BadRequestError as e:
            self.recorder.event(owner, type="Warning", reason="InvalidSelector", message=e.message)
            return
        meta: Any = owner.metadata  # type: ignore[attr-defined]
        needs_sync = self.expectations.satisfied(key) and meta.deletion_timestamp is None

        candidates = [
            *self.pods.by_index(INDEX_CONTROLLER, meta.uid or ""),
            *self.pods.by_index(INDEX_CONTROLLER, orphan_index_value(namespace)),
        ]
        owner_ref = new_controller_ref(owner, api_version=self.kind.api_version, kind=self.kind.kind)
        claimed = await claim_objects(
            owner=owner, owner_ref=owner_ref, selector=selector,
            candidates=[p for p in candidates if is_pod_active(p)], writer=self.pod_writer,
            can_adopt=recheck_owner(owner=owner, fetch=lambda: self.owner_writer.get(name=name, namespace=namespace)),
        )

        diff, manage_error = 0, None
        if needs_sync:
            diff, manage_error = await self._manage_replicas(key, owner, claimed)

        now = self.now()
        status = calculate_status(
            kind=self.kind, owner=owner, pods=claimed, manage_error=manage_error, diff=diff, now=now
        )
        await self._write_status(owner, status)

        if manage_error is not None:
            raise manage_error
        min_ready = (owner.spec.min_ready_seconds if owner.spec else None) or 0  # type: ignore[attr-defined]
        if min_ready > 0:
            self._requeue_for_availability(key, claimed, min_ready=min_ready, now_ts=now.timestamp())

    def _requeue_for_availability(self, key: str, pods: list[Pod], *, min_ready: int, now_ts: float) -> None:
        pending = [
            at.timestamp() for p in pods
            if (at := available_at(p, min_ready_seconds=min_ready)) is not None and at.timestamp() >= now_ts
        ]
        if pending:
            self.queue.add_after(key, min(pending) - now_ts + _AVAILABILITY_SLACK)

    def _replicas(self, owner: T) -> int:
        spec: Any = owner.spec  # type: ignore[attr-defined]
        replicas = spec.replicas if spec is not None else None
        return 1 if replicas is None else replicas

    async def _manage_replicas(self, key: str, owner: T, pods: list[Pod]) -> tuple[int, Exception | None]:
        diff = len(pods) - self._replicas(owner)
        if diff < 0:
            return diff, await self._create_pods(key, owner, min(-diff, self.burst_replicas))
        if diff > 0:
            return diff, await self._delete_pods(key, owner, pods_to_delete(pods, min(diff, self.burst_replicas)))
        return 0, None

    async def _create_pods(self, key: str, owner: T, count: int) -> Exception | None:
        meta: Any = owner.metadata  # type: ignore[attr-defined]
        spec: Any = owner.spec  # type: ignore[attr-defined]
        if spec is None or spec.template is None:
            return BadRequestError("spec.template: Required value")
        pod = pod_from_template(
            template=spec.template, namespace=meta.namespace, owner_name=meta.name,
            owner_ref=new_controller_ref(owner, api_version=self.kind.api_version, kind=self.kind.kind),
        )
        namespace_terminating = False

        async def create_one(_index: int) -> None:
            nonlocal namespace_terminating
            try:
                created = await self.pod_writer.create(pod, namespace=meta.namespace)
            except ForbiddenError as e:
                if "because it is being terminated" in e.message:
                    namespace_terminating = True  # every create would fail; nothing to report
                else:
                    self.recorder.event(owner, type="Warning", reason="FailedCreate",
                                        message=f"Error creating: {e.message}")
                raise
            except StatusError as e:
                self.recorder.event(owner, type="Warning", reason="FailedCreate", message=f"Error creating: {e.message}")
                raise
            self.recorder.event(owner, reason="SuccessfulCreate", message=f"Created pod: {created.metadata.name}")  # type: ignore[union-attr]

        self.expectations.expect_creations(key, count)
        successes, error = await slow_start_batch(count=count, action=create_one)
        # Not created (failed, or never attempted): no ADDED event will come for these.
        self.expectations.creation_observed(key, count=count - successes)
        return None if namespace_terminating else error

    async def _delete_pods(self, key: str, owner: T, victims: list[Pod]) -> Exception | None:
        self.expectations.expect_deletions(key, [object_key(p) for p in victims])
        errors: list[Exception] = []

        async def delete_one(pod: Pod) -> None:
            pod_meta: Any = pod.metadata
            try:
                await self.pod_writer.delete(
                    name=pod_meta.name, namespace=pod_meta.namespace, preconditions=Preconditions(uid=pod_meta.uid)
                )
            except NotFoundError:
                self.expectations.deletion_observed(key, object_key(pod))
                return
            except StatusError as e:
                self.expectations.deletion_observed(key, object_key(pod))
                self.recorder.event(owner, type="Warning", reason="FailedDelete", message=f"Error deleting: {e.message}")
                errors.append(e)
                return
            self.recorder.event(owner, reason="SuccessfulDelete", message=f"Deleted pod: {pod_meta.name}")

        await asyncio.gather(*(delete_one(p) for p in victims))
        return errors[0] if errors else None

    async def _write_status(self, owner: T, status: Any) -> None:
        current = owner.status  # type: ignore[attr-defined]
        if current == status:
            return
        try:
            await self.owner_writer.update_status(msgspec.structs.replace(owner, status=status))
        except ConflictError:
            # The cached copy was stale; retry once on a fresh read. The counts come from the pods, and the
            # observedGeneration we write is the generation we acted on, so both stay true on the fresh copy.
            meta: Any = owner.metadata  # type: ignore[attr-defined]
            fresh = await self.owner_writer.get(name=meta.name, namespace=meta.namespace)
            if fresh.metadata.uid != meta.uid:  # type: ignore[attr-defined]
                return
            await self.owner_writer.update_status(msgspec.structs.replace(fresh, status=status))
