"""The disruption controller (see the package docstring)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import msgspec

from kybernetes.api import resources
from kybernetes.api.models.apps_v1 import Deployment, ReplicaSet, StatefulSet
from kybernetes.api.models.core_v1 import Pod, ReplicationController
from kybernetes.api.models.meta_v1 import OwnerReference
from kybernetes.api.models.policy_v1 import PodDisruptionBudget
from kybernetes.client import INDEX_NAMESPACE, WorkQueue, namespace_index, object_key
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.disruption import budget
from kybernetes.machinery.errors import BadRequestError, NotFoundError, StatusError
from kybernetes.machinery.labels import LabelSelector, selector_from_api
from kybernetes.machinery.timefmt import utcnow

log = logging.getLogger(__name__)

NAME = "controllermanager"  # Kubernetes records PDB events from the controller-manager's event source

UNMANAGED = (
    "Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be unmanaged. As a result, "
    "the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account "
    'for these pods please set ".spec.minAvailable" field of the PDB to an integer value.'
)


class ExpectedCountError(Exception):
    """The expected number of pods cannot be worked out (an owner's scale is unknown)."""


def _selector(pdb: PodDisruptionBudget) -> LabelSelector:
    raw = pdb.spec.selector if pdb.spec else None
    return selector_from_api(None if raw is None else msgspec.to_builtins(raw))


def _controller_of(pod: Pod) -> OwnerReference | None:
    for ref in (pod.metadata.owner_references if pod.metadata else None) or []:
        if ref.controller:
            return ref
    return None


class DisruptionController:
    name = "disruption"

    def __init__(self, *, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        index = {INDEX_NAMESPACE: namespace_index}
        self.pdbs = ctx.informers.informer(PodDisruptionBudget, indexers=index)
        self.pods = ctx.informers.informer(Pod, indexers=index)
        self.replicasets = ctx.informers.informer(ReplicaSet)
        self.deployments = ctx.informers.informer(Deployment)
        self.statefulsets = ctx.informers.informer(StatefulSet)
        self.rcs = ctx.informers.informer(ReplicationController)
        self.recorder = ctx.recorder(NAME)
        self.queue = WorkQueue(name=self.name, clock=ctx.clock)
        # How a clock reading maps to wall time (tests pass a fake clock; recheck delays use it).
        self.wall_clock = utcnow
        self.pdbs.add_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new), on_delete=self._enqueue
        )
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)

    def _enqueue(self, pdb: PodDisruptionBudget) -> None:
        self.queue.add(object_key(pdb))

    def _pod_changed(self, pod: Pod) -> None:
        for pdb in self.pdbs_for(pod):
            self._enqueue(pdb)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        self._pod_changed(new)
        old_labels = old.metadata.labels if old.metadata else None
        if old_labels != (new.metadata.labels if new.metadata else None):
            self._pod_changed(old)  # the budgets that selected it before

    def pdbs_for(self, pod: Pod) -> list[PodDisruptionBudget]:
        namespace = pod.metadata.namespace if pod.metadata else None
        if not namespace:
            return []
        labels = pod.metadata.labels if pod.metadata else None
        found = []
        for pdb in self.pdbs.by_index(INDEX_NAMESPACE, namespace):
            try:
                selector = _selector(pdb)
            except BadRequestError:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(pdb)
        return found

    # ---- expected pods ---------------------------------------------------------------------------------

    async def _scale_of(self, *, ref: OwnerReference, namespace: str) -> tuple[str, int] | None:
        """(uid, replicas) of the controller a pod's controller reference names, or None if unknown."""
        kind, name = ref.kind or "", ref.name or ""
        group = (ref.api_version or "").rpartition("/")[0]
        key = f"{namespace}/{name}"
        if kind == "ReplicaSet" and group == "apps":
            rs = self.replicasets.get(key)
            if rs is None or rs.metadata is None or rs.metadata.uid != ref.uid:
                return None
            parent = next((o for o in rs.metadata.owner_references or [] if o.controller), None)
            if parent is not None and parent.kind == "Deployment":
                dep = self.deployments.get(f"{namespace}/{parent.name}")
                if dep is None or dep.metadata is None or dep.metadata.uid != parent.uid:
                    return None
                return dep.metadata.uid or "", (dep.spec.replicas if dep.spec else None) or 0
            return rs.metadata.uid or "", (rs.spec.replicas if rs.spec else None) or 0
        informer: Any = {("", "ReplicationController"): self.rcs, ("apps", "StatefulSet"): self.statefulsets,
                         ("apps", "Deployment"): self.deployments}.get((group, kind))
        if informer is not None:
            obj = informer.get(key)
            if obj is None or obj.metadata is None or obj.metadata.uid != ref.uid:
                return None
            return obj.metadata.uid or "", (obj.spec.replicas if obj.spec else None) or 0
        version = (ref.api_version or "").rpartition("/")[2]
        info = resources.by_kind(group, version, kind)
        if info is None or "scale" not in info.subresources:
            return None
        try:
            scale = await self.client.dynamic(group=group, version=version, plural=info.plural).get_scale(
                name=name, namespace=namespace
            )
        except NotFoundError:
            return None
        if scale.metadata is None or scale.metadata.uid != ref.uid:
            return None
        return ref.uid or "", (scale.spec.replicas if scale.spec else None) or 0

    async def expected_scale(self, *, pods: list[Pod], namespace: str) -> tuple[int, list[str]]:
        """Sum of the scales of the pods' controllers, and the names of pods that have none."""
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            ref = _controller_of(pod)
            if ref is None:
                unmanaged.append(pod.metadata.name or "" if pod.metadata else "")
                continue
            if ref.uid in scales:
                continue
            found = await self._scale_of(ref=ref, namespace=namespace)
            if found is None:
                name = pod.metadata.name if pod.metadata else ""
                raise ExpectedCountError(f"found no controllers for pod {name!r}")
            uid, replicas = found
            scales[uid] = replicas
        return sum(scales.values()), unmanaged

    async def expected_counts(self, *, pdb: PodDisruptionBudget, pods: list[Pod]) -> tuple[int, int, list[str]]:
        """(expectedPods, desiredHealthy, unmanaged pod names)."""
        spec = pdb.spec
        namespace = pdb.metadata.namespace if pdb.metadata else ""
        if spec is not None and spec.max_unavailable is not None:
            expected, unmanaged = await self.expected_scale(pods=pods, namespace=namespace or "")
            max_unavailable = budget.scaled_value(spec.max_unavailable, expected, round_up=True)
            return expected, max(0, expected - max_unavailable), unmanaged
        if spec is not None and spec.min_available is not None:
            if isinstance(spec.min_available, int):
                return len(pods), spec.min_available, []
            expected, unmanaged = await self.expected_scale(pods=pods, namespace=namespace or "")
            return expected, budget.scaled_value(spec.min_available, expected, round_up=True), unmanaged
        return 0, 0, []

    # ---- sync ------------------------------------------------------------------------------------------

    def pods_for(self, pdb: PodDisruptionBudget) -> list[Pod]:
        namespace = pdb.metadata.namespace if pdb.metadata else None
        selector = _selector(pdb)
        if not namespace or selector.matches_nothing:
            return []
        return [p for p in self.pods.by_index(INDEX_NAMESPACE, namespace)
                if selector.matches(p.metadata.labels if p.metadata else None)]

    async def sync(self, key: str) -> None:
        pdb = self.pdbs.get(key)
        if pdb is None:
            return
        now = self.wall_clock()
        try:
            recheck = await self._try_sync(pdb, now=now)
        except (ExpectedCountError, ValueError, BadRequestError) as e:
            message = str(e) if not isinstance(e, StatusError) else e.message
            if isinstance(e, ExpectedCountError):
                self.recorder.event(pdb, type="Warning", reason="CalculateExpectedPodCountFailed",
                                    message=f"Failed to calculate the number of expected pods: {message}")
            log.info("pdb %s: %s", key, message)
            generation = pdb.metadata.generation if pdb.metadata else None
            status = budget.failed_status(old=pdb.status, generation=generation, message=message, now=now)
            await self._write(pdb, status)
            raise
        if recheck is not None:
            self.queue.add_after(key, max(0.0, (recheck - now).total_seconds()))

    async def _try_sync(self, pdb: PodDisruptionBudget, *, now: datetime) -> datetime | None:
        pods = self.pods_for(pdb)
        if not pods:
            self.recorder.event(pdb, type="Normal", reason="NoPods", message="No matching pods found")
        expected, desired, unmanaged = await self.expected_counts(pdb=pdb, pods=pods)
        if unmanaged:
            selector = str(_selector(pdb)) or "&LabelSelector{}"
            self.recorder.event(pdb, type="Warning", reason="UnmanagedPods", message=UNMANAGED.format(selector=selector))
        disrupted, recheck = budget.disrupted_pods(pods=pods, status=pdb.status, now=now)
        healthy = budget.count_healthy(pods=pods, disrupted=disrupted)
        generation = pdb.metadata.generation if pdb.metadata else None
        status = budget.build_status(
            old=pdb.status, generation=generation, current_healthy=healthy, desired_healthy=desired,
            expected=expected, disrupted=disrupted, now=now,
        )
        await self._write(pdb, status)
        return recheck

    async def _write(self, pdb: PodDisruptionBudget, status: Any) -> None:
        if pdb.status == status:
            return
        try:
            await self.client.resource(PodDisruptionBudget).update_status(msgspec.structs.replace(pdb, status=status))
        except NotFoundError:
            pass

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)
