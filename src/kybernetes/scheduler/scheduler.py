"""The scheduler: informers in, bindings out.

Informers (all through the API) feed two structures:

* pods with `spec.nodeName` (bound, and not finished) and Nodes go into the `SchedulerCache` for resource
  accounting; Namespaces give affinity namespace selectors their labels; PodDisruptionBudgets are read by
  preemption;
* pending pods for this scheduler (`spec.schedulerName`, default `default-scheduler`; not terminating) go
  into the `SchedulingQueue`. Cluster events that may help parked pods (node added or changed, an assigned
  pod deleted, an assigned pod added for pods that failed on inter-pod rules) move them back.

The loop pops one pod at a time and runs its scheduling cycle synchronously (`schedule_one`: snapshot,
filter, score, assume) — no `await` inside, so the snapshot cannot change underneath it. A placed pod is
assumed in the cache at once and its binding (`pods/<name>/binding`) runs as a task in the scheduler's own
TaskGroup, at most `bind_concurrency` at a time, while the loop goes on with the next pod. A failed binding
forgets the assumption and sends the pod to backoff.

A pod that fits nowhere gets the FitError message (worded as Kubernetes words it) as a Warning
`FailedScheduling` event and as its `PodScheduled=False` condition (reason `Unschedulable`; written only when
it changed), after preemption was tried; if preemption found victims, they are deleted (each with a
`Preempted` event) and the pod is nominated to the node (`status.nominatedNodeName`) until they are gone.
A bound pod gets a `Scheduled` event: "Successfully assigned <ns>/<name> to <node>".
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.models.core_v1 import Namespace, Node, Pod
from kybernetes.api.models.policy_v1 import PodDisruptionBudget
from kybernetes.client import APIConnectionError, Client, EventRecorder, SharedInformerFactory, object_key
from kybernetes.client.clock import REAL_CLOCK, Clock
from kybernetes.machinery.errors import ConflictError, NotFoundError, StatusError
from kybernetes.machinery.timefmt import now_rfc3339
from kybernetes.scheduler.algorithm import Algorithm, NoNodesAvailableError
from kybernetes.scheduler.cache import SchedulerCache, Snapshot
from kybernetes.scheduler.framework import Diagnosis, FitError, Status
from kybernetes.scheduler.nodeinfo import PodInfo
from kybernetes.scheduler.plugins import (
    DEFAULT_SCORE_WEIGHTS,
    default_plugins,
    interpodaffinity,
    podtopologyspread,
)
from kybernetes.scheduler.plugins.defaultbinder import DefaultBinder
from kybernetes.scheduler.preemption import NOT_HELPFUL, Candidate, Evaluator
from kybernetes.scheduler.profile import DEFAULT_SCHEDULER_NAME, Profile
from kybernetes.scheduler.queue import QueuedPodInfo, SchedulingQueue

__all__ = ["Scheduler", "SchedulerConfig", "SchedulerStatistics"]

log = logging.getLogger(__name__)

NOTE_LENGTH_LIMIT = 1024
_NOT_HELPFUL = Status.unschedulable(NOT_HELPFUL, resolvable=False)
_AFFINITY_PLUGINS = frozenset({interpodaffinity.NAME, podtopologyspread.NAME})


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    percentage_of_nodes_to_score: int = 0  # 0: Kubernetes' adaptive default
    bind_concurrency: int = 64


@dataclass(slots=True)
class SchedulerStatistics:
    attempts: int = 0
    scheduled: int = 0
    bound: int = 0
    unschedulable: int = 0
    errors: int = 0
    bind_failures: int = 0
    preemptions: int = 0
    queue: dict[str, int] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=dict)


def truncate(message: str) -> str:
    if len(message) <= NOTE_LENGTH_LIMIT:
        return message
    return message[: NOTE_LENGTH_LIMIT - 4] + " ..."


def _finished(pod: Pod) -> bool:
    return bool(pod.status and pod.status.phase in ("Succeeded", "Failed"))


def _bound(pod: Pod) -> bool:
    return bool(pod.spec and pod.spec.node_name)


class Scheduler:
    """See the module docstring. Build it, then `await run()` (the caller runs the informer factory, or
    passes `run_informers=True`)."""

    def __init__(
        self,
        *,
        client: Client,
        informers: SharedInformerFactory,
        config: SchedulerConfig | None = None,
        recorder: EventRecorder | None = None,
        plugins: Sequence[object] | None = None,
        clock: Clock = REAL_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.config = config or SchedulerConfig()
        self.informers = informers
        self.recorder = recorder or EventRecorder(client=client, component=self.config.scheduler_name)
        self.pod_api = client.resource(Pod)
        self.cache = SchedulerCache()
        self.snapshot = Snapshot()
        self.queue = SchedulingQueue(clock=clock)
        self.profile = Profile(plugins=plugins if plugins is not None else default_plugins(
                                   informers=informers, requeue=self.queue.move_all_to_active_or_backoff),
                               score_weights=DEFAULT_SCORE_WEIGHTS, scheduler_name=self.config.scheduler_name)
        rng = rng or random.Random()
        self.algorithm = Algorithm(profile=self.profile, nominated=self.queue.nominated_for, rng=rng,
                                   percentage_of_nodes_to_score=self.config.percentage_of_nodes_to_score)
        self.evaluator = Evaluator(profile=self.profile, nominated=self.queue.nominated_for, rng=rng)
        self.binder = DefaultBinder(client=client)
        self.stats = SchedulerStatistics()
        self._slots = asyncio.Semaphore(max(1, self.config.bind_concurrency))
        self._tasks: asyncio.TaskGroup | None = None

        self.pods = informers.informer(Pod)
        self.nodes = informers.informer(Node)
        self.pdbs = informers.informer(PodDisruptionBudget)
        self.namespaces = informers.informer(Namespace)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.nodes.add_handler(on_add=self._node_added, on_update=self._node_updated, on_delete=self._node_deleted)
        self.namespaces.add_handler(on_add=self._namespace_seen, on_update=lambda _o, n: self._namespace_seen(n),
                                    on_delete=self._namespace_gone)

    # ---- informer handlers (quick: update the cache, move queue entries) -------------------------------

    def responsible_for(self, pod: Pod) -> bool:
        spec, meta = pod.spec, pod.metadata
        if spec is None or spec.node_name or (meta is not None and meta.deletion_timestamp):
            return False
        return (spec.scheduler_name or DEFAULT_SCHEDULER_NAME) == self.config.scheduler_name

    def _track_nomination(self, info: PodInfo) -> None:
        status = info.pod.status
        node = (status.nominated_node_name if status else None) or ""
        if node:
            self.queue.add_nominated(info, node)
        else:
            self.queue.delete_nominated(info.key)

    def _pod_added(self, pod: Pod) -> None:
        if _bound(pod):
            if not _finished(pod):
                self.cache.add_pod(pod)
                self.queue.move_all_to_active_or_backoff("AssignedPodAdd", plugins=_AFFINITY_PLUGINS)
        elif self.responsible_for(pod):
            info = PodInfo(pod)
            self.queue.add(info)
            self._track_nomination(info)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        key = object_key(new)
        if _bound(new):
            self.queue.delete(key)
            if _finished(new):
                self.cache.remove_pod(new)
                self.queue.move_all_to_active_or_backoff("AssignedPodDelete")
            else:
                self.cache.update_pod(old, new)
                if not _bound(old):
                    self.queue.move_all_to_active_or_backoff("AssignedPodAdd", plugins=_AFFINITY_PLUGINS)
        elif self.responsible_for(new):
            info = PodInfo(new)
            self.queue.update(info)
            self._track_nomination(info)
        else:
            self.queue.delete(key)

    def _pod_deleted(self, pod: Pod) -> None:
        if _bound(pod):
            self.cache.remove_pod(pod)
            self.queue.move_all_to_active_or_backoff("AssignedPodDelete")
        else:
            self.queue.delete(object_key(pod))

    def _node_added(self, node: Node) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff("NodeAdd")

    def _node_updated(self, old: Node, new: Node) -> None:
        self.cache.update_node(old, new)
        o_meta, n_meta = old.metadata, new.metadata
        changed = (
            (o_meta.labels if o_meta else None) != (n_meta.labels if n_meta else None)
            or old.spec != new.spec
            or (old.status.allocatable if old.status else None) != (new.status.allocatable if new.status else None)
        )
        if changed:
            self.queue.move_all_to_active_or_backoff("NodeUpdate")

    def _node_deleted(self, node: Node) -> None:
        self.cache.remove_node(node)

    def _namespace_seen(self, ns: Namespace) -> None:
        if ns.metadata and ns.metadata.name:
            self.cache.namespace_labels[ns.metadata.name] = ns.metadata.labels or {}

    def _namespace_gone(self, ns: Namespace) -> None:
        if ns.metadata and ns.metadata.name:
            self.cache.namespace_labels.pop(ns.metadata.name, None)

    # ---- the loop ----------------------------------------------------------------------------------

    async def run(self, *, run_informers: bool = False) -> None:
        """Schedule until cancelled."""
        async with asyncio.TaskGroup() as tg:
            self._tasks = tg
            self.queue.requeue_in_flight()  # attempts cut short by an earlier stop
            try:
                if run_informers:
                    tg.create_task(self.informers.run())
                tg.create_task(self.recorder.run())
                await self.informers.wait_synced()
                tg.create_task(self.queue.run())
                while True:
                    await self._slots.acquire()
                    try:
                        qpi = await self.queue.pop()
                    except BaseException:
                        self._slots.release()
                        raise
                    if not self.schedule_one(qpi):
                        self._slots.release()
                    await asyncio.sleep(0)  # let informer events and bindings in between pods
            finally:
                self._tasks = None

    def _spawn(self, coro: Any) -> None:
        if self._tasks is not None:
            self._tasks.create_task(coro)
        else:  # used outside run() (tests): run it on the loop, owned by nobody but short-lived
            coro.close()

    def schedule_one(self, qpi: QueuedPodInfo) -> bool:
        """One scheduling cycle (synchronous). True when a binding task was started (it owns a slot)."""
        self.stats.attempts += 1
        key = qpi.key
        current = self.pods.get(key)
        if current is None or not self.responsible_for(current) or self.cache.is_assumed(key):
            self.queue.done(key)
            return False
        if current is not qpi.pod_info.pod:
            qpi.pod_info = PodInfo(current)
        pod = qpi.pod_info
        snapshot = self.cache.update_snapshot(self.snapshot)
        try:
            _, result = self.algorithm.schedule(pod=pod, snapshot=snapshot)
        except NoNodesAvailableError as e:
            self.stats.unschedulable += 1
            self._failed(qpi, message=str(e), nominate="")
            return False
        except FitError as e:
            self.stats.unschedulable += 1
            qpi.unschedulable_plugins = set(e.diagnosis.unschedulable_plugins)
            nominate = self._post_filter(e, snapshot)
            self._failed(qpi, message=e.message(), nominate=nominate)
            return False
        except Exception as e:  # a plugin bug must not stop the scheduler
            log.exception("scheduling %s failed", key)
            self.stats.errors += 1
            self._failed(qpi, message=str(e) or type(e).__name__, error=True)
            return False
        self.cache.assume_pod(pod, result.node)
        self.queue.delete_nominated(key)
        self.stats.scheduled += 1
        if self._tasks is None:
            return False
        self._tasks.create_task(self._bind(qpi, result.node))
        return True

    def _post_filter(self, error: FitError, snapshot: Snapshot) -> str | None:
        """Try preemption; returns the node to nominate ("" clears a nomination, None leaves it)."""
        cycle = getattr(error, "cycle", None)
        pod = error.pod
        if cycle is None or pod is None:
            not_helpful = FitError(pod=pod, num_all_nodes=error.num_all_nodes,
                                   diagnosis=Diagnosis(absent=_NOT_HELPFUL))
            error.diagnosis.post_filter_msg = "preemption: " + not_helpful.message()
            return ""
        pdbs = self.pdbs.list()
        result = self.evaluator.preempt(cycle=cycle, snapshot=snapshot, diagnosis=error.diagnosis, pdbs=pdbs)
        error.diagnosis.post_filter_msg = result.message
        if result.candidate is None:
            return "" if result.clear_nomination else None
        self.stats.preemptions += 1
        self._spawn(self._evict(pod, result.candidate))
        return result.candidate.node

    # ---- API writes (tasks) ------------------------------------------------------------------------

    async def _bind(self, qpi: QueuedPodInfo, node: str) -> None:
        pod = qpi.pod_info
        try:
            await self.binder.bind(pod=pod, node_name=node)
        except asyncio.CancelledError:
            # Stopped (leadership lost): undo the assumption so a later run schedules the pod afresh.
            self.cache.forget_pod(pod.key)
            raise
        except (StatusError, APIConnectionError) as e:
            self.stats.bind_failures += 1
            self.cache.forget_pod(pod.key)
            self.queue.move_all_to_active_or_backoff("AssignedPodDelete")
            if isinstance(e, NotFoundError):
                self.queue.done(pod.key)
            else:
                log.info("binding %s to %s failed: %s", pod.key, node, e)
                self._failed(qpi, message=f"Binding rejected: {e}", error=True)
        else:
            self.cache.finish_binding(pod.key)
            self.queue.done(pod.key)
            self.stats.bound += 1
            self.recorder.event(pod.pod, type="Normal", reason="Scheduled",
                                message=f"Successfully assigned {pod.namespace}/{pod.name} to {node}")
        finally:
            self._slots.release()

    def _failed(self, qpi: QueuedPodInfo, *, message: str, nominate: str | None = None, error: bool = False) -> None:
        key = qpi.key
        current = self.pods.get(key)
        if current is None or not self.responsible_for(current):
            self.queue.done(key)  # deleted or bound meanwhile: nothing to retry
            return
        if current is not qpi.pod_info.pod:
            qpi.pod_info = PodInfo(current)
        if error:
            self.queue.add_backoff(qpi)
        else:
            self.queue.add_unschedulable(qpi)
        if nominate:
            self.queue.add_nominated(qpi.pod_info, nominate)
        elif nominate == "":
            self.queue.delete_nominated(key)
        reason = "SchedulerError" if error else "Unschedulable"
        self.recorder.event(current, type="Warning", reason="FailedScheduling", message=truncate(message))
        self._spawn(self._update_status(current, reason=reason, message=message, nominate=nominate))

    async def _update_status(self, pod: Pod, *, reason: str, message: str, nominate: str | None) -> None:
        status = pod.status
        existing = next((c for c in (status.conditions if status else None) or [] if c.type == "PodScheduled"), None)
        same = existing is not None and (existing.status, existing.reason, existing.message) == ("False", reason, message)
        nominated = (status.nominated_node_name if status else None) or ""
        nominated_same = nominate is None or nominate == nominated
        if same and nominated_same:
            return
        body: dict[str, Any] = {}
        if not same:
            transition = existing.last_transition_time if existing and existing.status == "False" else None
            body["conditions"] = [{
                "type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                "lastProbeTime": None, "lastTransitionTime": transition or now_rfc3339(),
            }]
        if not nominated_same:
            body["nominatedNodeName"] = nominate or None
        meta = pod.metadata
        try:
            await self.pod_api.patch(name=meta.name if meta and meta.name else "", namespace=meta.namespace if meta else None,
                                     patch={"status": body}, type="strategic", subresource="status")
        except (StatusError, APIConnectionError) as e:
            log.info("updating status of %s failed: %s", object_key(pod), e)

    async def _evict(self, preemptor: PodInfo, candidate: Candidate) -> None:
        for victim in candidate.victims:
            if victim.terminating:
                continue  # already on its way out (an earlier preemption); asking again changes nothing
            try:
                await self.pod_api.delete(name=victim.name, namespace=victim.namespace)
            except NotFoundError:
                continue
            except (StatusError, APIConnectionError) as e:
                log.warning("preempting %s for %s failed: %s", victim.key, preemptor.key, e)
                continue
            self.recorder.event(victim.pod, type="Normal", reason="Preempted",
                                message=f"Preempted by pod {preemptor.uid} on node {candidate.node}")
        # Lower-priority pods nominated to the same node may no longer fit there: clear their nomination.
        for other in self.queue.nominated_for(candidate.node):
            if other.priority < preemptor.priority and other.key != preemptor.key:
                self.queue.delete_nominated(other.key)
                try:
                    await self.pod_api.patch(name=other.name, namespace=other.namespace, type="merge",
                                             patch={"status": {"nominatedNodeName": None}}, subresource="status")
                except (NotFoundError, ConflictError):
                    pass
                except (StatusError, APIConnectionError) as e:
                    log.info("clearing the nomination of %s failed: %s", other.key, e)

    # ---- introspection -------------------------------------------------------------------------------

    def statistics(self) -> SchedulerStatistics:
        q, c = self.queue.statistics(), self.cache.statistics()
        self.stats.queue = {"active": q.active, "backoff": q.backoff, "unschedulable": q.unschedulable,
                            "in_flight": q.in_flight}
        self.stats.cache = {"nodes": c.nodes, "pods": c.pods, "assumed": c.assumed}
        return self.stats

