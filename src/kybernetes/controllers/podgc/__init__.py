"""The pod garbage collector: removes pods nobody else will — every `pod-gc-period` seconds (20 by
default, as Kubernetes' gcCheckPeriod) it looks at the pod and node caches and

* deletes terminated pods (Succeeded / Failed) beyond `terminated-pod-gc-threshold` (12500 by default;
  0 turns this off), oldest first, evicted ones before others;
* force-deletes pods bound to nodes that no longer exist: a node missing from the cache is quarantined for
  `pod-gc-quarantine` seconds (40 by default), then confirmed gone with a live GET, and only then are its
  pods first marked Failed with the condition `DisruptionTarget=True` (reason `DeletionByPodGC`, message
  "PodGC: node no longer exists") and deleted with grace period 0;
* force-deletes pods that are terminating but were never scheduled.

`gc_once()` is one pass (what the unit tests drive with a fake clock); `run()` repeats it.
"""

from __future__ import annotations

import logging

from kybernetes.api.models.core_v1 import Node, Pod
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import Client, Clock, Informer
from kybernetes.controllers.base import ControllerContext
from kybernetes.machinery.errors import NotFoundError
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["DEFAULT_PERIOD", "DEFAULT_QUARANTINE", "DEFAULT_THRESHOLD", "PodGCController", "new"]

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 12500
DEFAULT_PERIOD = 20.0
DEFAULT_QUARANTINE = 40.0
TERMINAL_PHASES = ("Succeeded", "Failed")


def _meta(pod: Pod) -> ObjectMeta:
    return pod.metadata or ObjectMeta()


def _phase(pod: Pod) -> str | None:
    return pod.status.phase if pod.status else None


def _node_name(pod: Pod) -> str:
    return (pod.spec.node_name if pod.spec else None) or ""


class PodGCController:
    name = "pod-garbage-collector"

    def __init__(
        self, *, client: Client, pods: Informer[Pod], nodes: Informer[Node], clock: Clock,
        threshold: int = DEFAULT_THRESHOLD, period: float = DEFAULT_PERIOD, quarantine: float = DEFAULT_QUARANTINE,
    ) -> None:
        self.client = client
        self.pods = pods
        self.nodes = nodes
        self.clock = clock
        self.threshold = threshold
        self.period = period
        self.quarantine = quarantine
        # node name -> when we first saw pods bound to it while it was missing from the cache
        self._missing_since: dict[str, float] = {}

    async def run(self, *, workers: int) -> None:
        while True:
            try:
                await self.gc_once()
            except Exception:
                # A failed pass (API unreachable, ...) is retried next period; the controller keeps running.
                log.exception("pod GC pass failed")
            await self.clock.sleep(self.period)

    async def gc_once(self) -> int:
        """One pass; returns how many pods it deleted."""
        pods = self.pods.list()
        deleted = await self._gc_terminated(pods)
        deleted += await self._gc_orphaned(pods)
        deleted += await self._gc_unscheduled_terminating(pods)
        return deleted

    async def _gc_terminated(self, pods: list[Pod]) -> int:
        if self.threshold <= 0:
            return 0
        terminated = [p for p in pods if _phase(p) in TERMINAL_PHASES]
        excess = len(terminated) - self.threshold
        if excess <= 0:
            return 0
        # Evicted pods first, then the oldest.
        terminated.sort(key=lambda p: (
            (p.status.reason if p.status else None) != "Evicted", _meta(p).creation_timestamp or "", _meta(p).name or "",
        ))
        deleted = 0
        for pod in terminated[:excess]:
            if await self._delete(pod):
                deleted += 1
        return deleted

    async def _gc_orphaned(self, pods: list[Pod]) -> int:
        now = self.clock.now()
        known = {n.metadata.name for n in self.nodes.list() if n.metadata is not None}
        wanted = {_node_name(p) for p in pods if _node_name(p) and _node_name(p) not in known}
        for name in list(self._missing_since):
            if name not in wanted:
                del self._missing_since[name]
        gone: set[str] = set()
        for name in wanted:
            since = self._missing_since.setdefault(name, now)
            if now - since < self.quarantine:
                continue
            try:
                await self.client.resource(Node).get(name=name)
            except NotFoundError:
                gone.add(name)
                continue
            del self._missing_since[name]  # it exists after all; our cache was behind
        deleted = 0
        for pod in pods:
            if _node_name(pod) not in gone:
                continue
            log.info("pod %s/%s: node %s no longer exists; deleting", _meta(pod).namespace, _meta(pod).name, _node_name(pod))
            if await self._mark_failed_and_delete(pod):
                deleted += 1
        return deleted

    async def _gc_unscheduled_terminating(self, pods: list[Pod]) -> int:
        deleted = 0
        for pod in pods:
            if _meta(pod).deletion_timestamp and not _node_name(pod):
                if await self._delete(pod):
                    deleted += 1
        return deleted

    async def _mark_failed_and_delete(self, pod: Pod) -> bool:
        meta = _meta(pod)
        if _phase(pod) not in TERMINAL_PHASES:
            condition = {
                "type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                "message": "PodGC: node no longer exists", "lastTransitionTime": now_rfc3339(),
            }
            try:
                await self.client.resource(Pod).patch(
                    name=meta.name or "", namespace=meta.namespace, subresource="status", type="strategic",
                    patch={"status": {"phase": "Failed", "conditions": [condition]}},
                )
            except NotFoundError:
                return False
        return await self._delete(pod)

    async def _delete(self, pod: Pod) -> bool:
        meta = _meta(pod)
        try:
            await self.client.resource(Pod).delete(name=meta.name or "", namespace=meta.namespace, grace_period_seconds=0)
        except NotFoundError:
            return False
        return True


def new(ctx: ControllerContext) -> PodGCController:
    options = ctx.options
    return PodGCController(
        client=ctx.client,
        pods=ctx.informers.informer(Pod),
        nodes=ctx.informers.informer(Node),
        clock=ctx.clock,
        threshold=int(options.get("terminated-pod-gc-threshold", DEFAULT_THRESHOLD)),
        period=float(options.get("pod-gc-period", DEFAULT_PERIOD)),
        quarantine=float(options.get("pod-gc-quarantine", DEFAULT_QUARANTINE)),
    )
