"""The resource quota controller (see the package docstring)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from kybernetes.api import resources
from kybernetes.api.models.core_v1 import (
    ConfigMap,
    PersistentVolumeClaim,
    Pod,
    ReplicationController,
    ResourceQuota,
    ResourceQuotaStatus,
    Secret,
    Service,
)
from kybernetes.client import INDEX_NAMESPACE, Informer, WorkQueue, namespace_index, object_key
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.resourcequota import usage as u
from kybernetes.machinery.errors import NotFoundError, StatusError
from kybernetes.machinery.quantity import Quantity

log = logging.getLogger(__name__)

DEFAULT_SYNC_PERIOD = 300.0


def _canonical(value: str | int | float) -> str | int | float:
    try:
        return str(Quantity.parse(value))
    except ValueError:
        return value


class ResourceQuotaController:
    name = "resourcequota"

    def __init__(self, *, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.sync_period = float(ctx.options.get("resource-quota-sync-period") or DEFAULT_SYNC_PERIOD)
        index = {INDEX_NAMESPACE: namespace_index}
        self.quotas = ctx.informers.informer(ResourceQuota, indexers=index)
        self.queue = WorkQueue(name=self.name, clock=ctx.clock)
        self.quotas.add_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new), on_delete=self._enqueue
        )
        # Kinds whose changes replenish the quotas of their namespace, by the quota names they feed.
        self.pods = ctx.informers.informer(Pod, indexers=index)
        self.services = ctx.informers.informer(Service, indexers=index)
        self.watched: dict[str, Informer[Any]] = {
            "pods": self.pods,
            "services": self.services,
            "configmaps": ctx.informers.informer(ConfigMap, indexers=index),
            "secrets": ctx.informers.informer(Secret, indexers=index),
            "persistentvolumeclaims": ctx.informers.informer(PersistentVolumeClaim, indexers=index),
            "replicationcontrollers": ctx.informers.informer(ReplicationController, indexers=index),
            "resourcequotas": self.quotas,
        }
        for informer in self.watched.values():
            if informer is not self.quotas:
                informer.add_handler(
                    on_add=self._replenish, on_update=self._replenish_update, on_delete=self._replenish
                )

    def _enqueue(self, quota: ResourceQuota) -> None:
        self.queue.add(object_key(quota))

    def _replenish(self, obj: Any) -> None:
        namespace = obj.metadata.namespace if obj.metadata else None
        if namespace:
            for quota in self.quotas.by_index(INDEX_NAMESPACE, namespace):
                self.queue.add(object_key(quota))

    def _replenish_update(self, old: Any, new: Any) -> None:
        # Kubernetes replenishes on updates that change usage (a pod turning terminal, new requests);
        # recomputing a namespace's quotas is cheap, so any real change does.
        if old is not new:
            self._replenish(new)

    # ---- usage -----------------------------------------------------------------------------------------

    def _listed(self, plural: str, namespace: str) -> list[Any]:
        return self.watched[plural].by_index(INDEX_NAMESPACE, namespace)

    async def _count_other(self, *, group: str, plural: str, namespace: str) -> int:
        if not group and plural in self.watched:
            return len(self._listed(plural, namespace))
        version = resources.preferred_version(group) if group else "v1"
        if version is None:
            version = await self._discover_version(group)
        if version is None:
            raise ValueError(f"unknown resource {plural}.{group}")
        listed = await self.client.dynamic(group=group, version=version, plural=plural, namespaced=True).list(
            namespace=namespace
        )
        return len(listed.items)

    async def _discover_version(self, group: str) -> str | None:
        try:
            answer = (await self.client.request("GET", f"/apis/{group}")).json()
        except NotFoundError:
            return None
        preferred = (answer.get("preferredVersion") or {}).get("version")
        return str(preferred) if preferred else None

    async def compute_used(self, quota: ResourceQuota) -> dict[str, Quantity]:
        namespace = quota.metadata.namespace if quota.metadata else None
        hard = (quota.spec.hard if quota.spec else None) or {}
        if not namespace:
            return {}
        names = list(hard)
        used: dict[str, Quantity] = {}
        used.update(u.pod_usage(names=names, pods=self._listed("pods", namespace), spec=quota.spec))
        used.update(u.service_usage(names=names, services=self._listed("services", namespace)))
        used.update(u.storage_usage(names=names, claims=self._listed("persistentvolumeclaims", namespace)))
        for name in names:
            if name in used:
                continue
            if name in u.CORE_COUNTS:
                used[name] = Quantity.parse(len(self._listed(u.CORE_COUNTS[name], namespace)))
                continue
            target = u.count_target(name)
            if target is None:
                continue  # a resource name no evaluator knows: Kubernetes leaves it out of `used` too
            group, plural = target
            try:
                used[name] = Quantity.parse(await self._count_other(group=group, plural=plural, namespace=namespace))
            except (ValueError, StatusError) as e:
                log.warning("quota %s: cannot count %s: %s", object_key(quota), name, e)
        return used

    # ---- sync ------------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        quota = self.quotas.get(key)
        if quota is None:
            return
        used = await self.compute_used(quota)
        hard = {name: _canonical(value) for name, value in ((quota.spec.hard if quota.spec else None) or {}).items()}
        status = ResourceQuotaStatus(hard=hard or None, used={n: str(q) for n, q in used.items()} or None)
        if quota.status != status:
            try:
                await self.client.resource(ResourceQuota).update_status(msgspec.structs.replace(quota, status=status))
            except NotFoundError:
                return
        self.queue.add_after(key, self.sync_period)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)
