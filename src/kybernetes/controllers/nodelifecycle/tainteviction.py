"""Taint-based eviction: pods on a node with NoExecute taints they do not tolerate are deleted.

Kubernetes' taint eviction controller, through the API only. Whenever a node's NoExecute taints change, or
a pod is bound to a node or changes its tolerations, the pod is (re)considered:

* no NoExecute taint on its node → any scheduled deletion is cancelled (event `TaintManagerEviction`,
  "Cancelling deletion of Pod ns/name");
* a taint it does not tolerate → deleted now;
* all tolerated, the shortest `tolerationSeconds` is S → deleted S seconds after it was first found so
  (an existing schedule is kept, as Kubernetes keeps it); tolerations without seconds → never.

Deleting: event `TaintManagerEviction` "Marking for deletion Pod ns/name", a `DisruptionTarget` condition on
the pod's status (reason `DeletionByTaintManager`), then DELETE. Deadlines run on the controller's clock
through a workqueue's delayed adds, so tests with a fake clock need no sleeps.
"""

from __future__ import annotations

import logging

import msgspec

from kybernetes.api.models.core_v1 import Node, Pod, PodCondition, PodStatus, Taint, Toleration
from kybernetes.client import INDEX_NODE_NAME, Clock, EventRecorder, Informer, WorkQueue, object_key
from kybernetes.client.resource import TypedResource
from kybernetes.controllers.nodelifecycle import taints as t
from kybernetes.machinery.errors import ConflictError, NotFoundError
from kybernetes.machinery.timefmt import now_rfc3339

log = logging.getLogger(__name__)

REASON = "TaintManagerEviction"


def _pod_node(pod: Pod) -> str:
    return (pod.spec.node_name if pod.spec else None) or ""


def _tolerations(pod: Pod) -> list[Toleration]:
    return list((pod.spec.tolerations if pod.spec else None) or [])


class TaintEviction:
    """The taint-driven half of the node lifecycle controller (see the module docstring)."""

    def __init__(
        self, *, nodes: Informer[Node], pods: Informer[Pod], client: TypedResource[Pod], recorder: EventRecorder,
        clock: Clock,
    ) -> None:
        self.nodes = nodes
        self.pods = pods
        self.client = client
        self.recorder = recorder
        self.clock = clock
        self.queue = WorkQueue(name="taint-eviction", clock=clock)
        # pod key → (when first found doomed, when it is to be deleted), on the clock
        self.scheduled: dict[str, tuple[float, float]] = {}
        nodes.add_handler(on_add=self._node_changed, on_update=self._node_updated, on_delete=None)
        pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_deleted)

    # ---- handlers (decide, never write) ------------------------------------------------------------------

    def _node_changed(self, node: Node) -> None:
        name = node.metadata.name if node.metadata else None
        if not name:
            return
        for pod in self.pods.by_index(INDEX_NODE_NAME, name):
            self.consider(pod, node=node)

    def _node_updated(self, old: Node, new: Node) -> None:
        if t.no_execute_taints(old) != t.no_execute_taints(new) or old is new:
            self._node_changed(new)

    def _pod_changed(self, pod: Pod) -> None:
        node_name = _pod_node(pod)
        if node_name:
            self.consider(pod, node=self.nodes.get(node_name))

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if _pod_node(old) != _pod_node(new) or _tolerations(old) != _tolerations(new) or old is new:
            self._pod_changed(new)

    def _pod_deleted(self, pod: Pod) -> None:
        self.scheduled.pop(object_key(pod), None)

    def consider(self, pod: Pod, *, node: Node | None) -> None:
        key = object_key(pod)
        if pod.metadata is not None and pod.metadata.deletion_timestamp:
            self.scheduled.pop(key, None)  # already going
            return
        no_execute: list[Taint] = t.no_execute_taints(node) if node is not None else []
        if not no_execute:
            self.cancel(pod)
            return
        tolerated, used = t.matching_tolerations(no_execute, _tolerations(pod))
        now = self.clock.now()
        if not tolerated:
            self.cancel(pod, quiet=True)
            self._schedule(key, created=now, due=now)
            return
        seconds = t.min_toleration_seconds(used)
        if seconds is None:
            self.cancel(pod)
            return
        if key in self.scheduled:
            return  # keep the existing deadline, as Kubernetes does
        self._schedule(key, created=now, due=now + seconds)

    def _schedule(self, key: str, *, created: float, due: float) -> None:
        self.scheduled[key] = (created, due)
        self.queue.add_after(key, due - self.clock.now())

    def cancel(self, pod: Pod, *, quiet: bool = False) -> None:
        key = object_key(pod)
        if self.scheduled.pop(key, None) is not None and not quiet:
            self.recorder.event(pod, type="Normal", reason=REASON, message=f"Cancelling deletion of Pod {key}")

    # ---- the deletion ------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        entry = self.scheduled.get(key)
        if entry is None:
            return
        if entry[1] > self.clock.now():
            self.queue.add_after(key, entry[1] - self.clock.now())
            return
        pod = self.pods.get(key)
        if pod is None or pod.metadata is None:
            self.scheduled.pop(key, None)
            return
        self.recorder.event(pod, type="Normal", reason=REASON, message=f"Marking for deletion Pod {key}")
        await self._mark_disruption_target(pod)
        try:
            await self.client.delete(name=pod.metadata.name or "", namespace=pod.metadata.namespace)
        except NotFoundError:
            pass
        self.scheduled.pop(key, None)
        log.info("evicted pod %s from its NoExecute-tainted node", key)

    async def _mark_disruption_target(self, pod: Pod) -> None:
        status = pod.status or PodStatus()
        conditions = [c for c in status.conditions or [] if c.type != "DisruptionTarget"]
        conditions.append(PodCondition(
            type="DisruptionTarget", status="True", reason="DeletionByTaintManager",
            message="Taint manager: deleting due to NoExecute taint", last_transition_time=now_rfc3339(),
        ))
        updated = msgspec.structs.replace(pod, status=msgspec.structs.replace(status, conditions=conditions))
        try:
            await self.client.update_status(updated)
        except (ConflictError, NotFoundError) as e:
            # The condition is advisory; the deletion that follows is what matters.
            log.debug("pod %s: DisruptionTarget not recorded: %s", object_key(pod), e)
