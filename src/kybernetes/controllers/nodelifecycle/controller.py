"""The node lifecycle controller (see the package docstring): health monitor, taints, zone rate limits."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable

import msgspec

from kybernetes.api.models.coordination_v1 import Lease
from kybernetes.api.models.core_v1 import Node, NodeSpec, Pod, Taint
from kybernetes.client import (
    INDEX_NODE_NAME,
    Clock,
    WorkQueue,
    node_name_index,
    run_workers,
)
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.nodelifecycle import health as h
from kybernetes.controllers.nodelifecycle import taints as t
from kybernetes.controllers.nodelifecycle.tainteviction import TaintEviction
from kybernetes.machinery.errors import ConflictError, NotFoundError
from kybernetes.machinery.timefmt import now_rfc3339

log = logging.getLogger(__name__)

COMPONENT = "node-controller"
LEASE_NAMESPACE = "kube-node-lease"
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")

NORMAL, PARTIAL, FULL = "Normal", "PartialDisruption", "FullDisruption"

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


def parse_seconds(text: str | None, default: float) -> float:
    """A Go-style duration ("40s", "5m", "1m30s", "500ms") or plain seconds ("40", "0.2") in seconds."""
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        pass
    m = _DURATION.match(text.strip())
    if not m or not any(m.groups()):
        raise ValueError(f"invalid duration {text!r}")
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _no_execute(node: Node, *, key: str | None, now: str) -> list[Taint] | None:
    return t.with_no_execute(node, key, now=now)


def _pod_ready(pod: Pod) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


class ZoneLimiter:
    """A token bucket with a burst of one and a rate that can change (0 stops it)."""

    def __init__(self, *, qps: float, clock: Clock) -> None:
        self.clock = clock
        self.qps = qps
        self.tokens = 1.0
        self.last = clock.now()

    def set_rate(self, qps: float) -> None:
        self._refill()
        self.qps = qps

    def _refill(self) -> None:
        now = self.clock.now()
        self.tokens = min(1.0, self.tokens + (now - self.last) * self.qps)
        self.last = now

    def try_accept(self) -> bool:
        self._refill()
        if self.qps > 0 and self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def zone_of(node: Node) -> str:
    labels = (node.metadata.labels if node.metadata else None) or {}
    region = next((labels[k] for k in REGION_LABELS if k in labels), "")
    zone = next((labels[k] for k in ZONE_LABELS if k in labels), "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def zone_state(*, ready: int, not_ready: int, threshold: float) -> str:
    if ready == 0 and not_ready > 0:
        return FULL
    if not_ready > 2 and not_ready / (ready + not_ready) >= threshold:
        return PARTIAL
    return NORMAL


class NodeLifecycleController:
    name = "node-lifecycle"

    def __init__(self, *, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        opts = ctx.options
        self.grace = parse_seconds(opts.get("node-monitor-grace-period"), 40.0)
        self.startup_grace = parse_seconds(opts.get("node-startup-grace-period"), 60.0)
        self.period = parse_seconds(opts.get("node-monitor-period"), 5.0)
        self.eviction_rate = float(opts.get("node-eviction-rate") or 0.1)
        self.secondary_rate = float(opts.get("secondary-node-eviction-rate") or 0.01)
        self.large_cluster = int(opts.get("large-cluster-size-threshold") or 50)
        self.unhealthy_threshold = float(opts.get("unhealthy-zone-threshold") or 0.55)
        self.nodes = ctx.informers.informer(Node)
        self.leases = ctx.informers.informer(Lease, namespace=LEASE_NAMESPACE)
        self.pods = ctx.informers.informer(Pod, indexers={INDEX_NODE_NAME: node_name_index})
        self.node_client = ctx.client.resource(Node)
        self.pod_client = ctx.client.resource(Pod)
        self.recorder = ctx.recorder(COMPONENT)
        self.health: dict[str, h.NodeHealth] = {}
        self.pending: dict[str, None] = {}  # nodes waiting for a rate-limited NoExecute taint, in order
        self.limiters: dict[str, ZoneLimiter] = {}
        self.zone_states: dict[str, str] = {}
        self.all_disrupted = False
        # Not-ready nodes whose pods still need their Ready condition set to False: a write that failed, or
        # a pod that (re)turned Ready there. Kept by `sync` through the same per-node queue.
        self.mark_retry: set[str] = set()
        self.queue = WorkQueue(name=self.name, clock=ctx.clock)  # NoSchedule tainting, by node name
        self.nodes.add_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new), on_delete=self._deleted
        )
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda old, new: self._pod_changed(new),
                              on_delete=None)
        self.eviction = TaintEviction(
            nodes=self.nodes, pods=self.pods, client=self.pod_client, recorder=self.recorder, clock=ctx.clock
        )

    def _enqueue(self, node: Node) -> None:
        if node.metadata is not None and node.metadata.name:
            self.queue.add(node.metadata.name)

    def _deleted(self, node: Node) -> None:
        name = node.metadata.name if node.metadata else None
        if name:
            self.health.pop(name, None)
            self.pending.pop(name, None)
            self.mark_retry.discard(name)

    def _pod_changed(self, pod: Pod) -> None:
        """A pod that is Ready on a node whose Ready condition is not True gets marked not ready (as
        Kubernetes' processPod does): a kubelet's last status write may land after the node was marked."""
        node_name = pod.spec.node_name if pod.spec else None
        if not node_name or not _pod_ready(pod):
            return
        node = self.nodes.get(node_name)
        status = t.ready_status(node) if node is not None else None
        if status is not None and status != "True":
            self.mark_retry.add(node_name)
            self.queue.add(node_name)

    # ---- writing taints --------------------------------------------------------------------------------

    async def _set_taints(self, name: str, compute: Callable[[Node], list[Taint] | None]) -> Node | None:
        """Apply `compute` (new taints, or None for no change) to the node, re-reading it on a conflict."""
        node = self.nodes.get(name)
        for _ in range(3):
            if node is None:
                return None
            new = compute(node)
            if new is None:
                return node
            spec = node.spec or NodeSpec()
            try:
                return await self.node_client.update(
                    msgspec.structs.replace(node, spec=msgspec.structs.replace(spec, taints=new or None))
                )
            except ConflictError:
                try:
                    node = await self.node_client.get(name=name)
                except NotFoundError:
                    return None
            except NotFoundError:
                return None
        raise ConflictError(f"node {name}: taints not updated after 3 conflicts")

    async def sync(self, name: str) -> None:
        """Keep the NoSchedule taints that mirror the node's conditions and `spec.unschedulable`, and
        retry marking the pods of a not-ready node."""
        node = self.nodes.get(name)
        if node is None:
            self.mark_retry.discard(name)
            return
        await self._set_taints(name, lambda n: t.with_no_schedule(n, t.desired_no_schedule(n)))
        if name in self.mark_retry:
            self.mark_retry.discard(name)
            if t.ready_status(node) not in (None, "True"):
                await self.mark_pods_not_ready(name)

    # ---- the health monitor ------------------------------------------------------------------------------

    async def monitor_once(self) -> None:
        """One pass of Kubernetes' monitorNodeHealth over every node."""
        now = self.clock.now()
        wall = now_rfc3339()
        counts: dict[str, list[int]] = {}
        observed: list[tuple[str, str | None]] = []
        for node in self.nodes.list():
            name = node.metadata.name if node.metadata else None
            if not name:
                continue
            lease = self.leases.get(f"{LEASE_NAMESPACE}/{name}")
            saved = self.health.get(name)
            record = h.observe(node=node, lease=lease, saved=saved, now=now)
            self.health[name] = record
            before = t.ready_status(node)
            grace = self.startup_grace if before is None else self.grace
            if now - record.probe_time > grace:
                status = h.silent_status(node, now=wall)
                if status is not None:
                    try:
                        node = await self.node_client.update_status(msgspec.structs.replace(node, status=status))
                    except (ConflictError, NotFoundError) as e:
                        log.debug("node %s: status not updated (%s); next pass", name, e)
                        continue
                    log.info("node %s: no heartbeat for %.1fs; conditions set to Unknown", name,
                             now - record.probe_time)
            after = t.ready_status(node)
            if before == "True" and after != "True":
                self.recorder.event(node, type="Normal", reason="NodeNotReady",
                                    message=f"Node {name} status is now: NodeNotReady")
                await self.mark_pods_not_ready(name)
            zone = zone_of(node)
            counts.setdefault(zone, [0, 0])[0 if after == "True" else 1] += 1
            observed.append((name, after))
        self._update_zones(counts)
        if self.all_disrupted:
            for name, _ in observed:
                await self._set_taints(name, lambda n: t.with_no_execute(n, None, now=wall))
            self.pending.clear()
            return
        for name, ready in observed:
            await self._process_no_execute(name, ready, wall=wall)
        await self._taint_pending(wall=wall)

    def _update_zones(self, counts: dict[str, list[int]]) -> None:
        states = {zone: zone_state(ready=r, not_ready=n, threshold=self.unhealthy_threshold)
                  for zone, (r, n) in counts.items()}
        all_full = bool(states) and all(s == FULL for s in states.values())
        if all_full and not self.all_disrupted:
            log.warning("Controller detected that all Nodes are not-Ready. Entering master disruption mode.")
        if not all_full and self.all_disrupted:
            log.info("Controller detected that some Nodes are Ready. Exiting master disruption mode.")
            # Everyone gets a fresh grace period: the silence was ours (or the network's), not the nodes'.
            now = self.clock.now()
            for record in self.health.values():
                record.probe_time = now
        self.all_disrupted = all_full
        for zone, state in states.items():
            size = sum(counts[zone])
            if state == PARTIAL:
                rate = self.secondary_rate if size > self.large_cluster else 0.0
            else:
                rate = self.eviction_rate
            limiter = self.limiters.get(zone)
            if limiter is None:
                self.limiters[zone] = ZoneLimiter(qps=rate, clock=self.clock)
            elif limiter.qps != rate:
                limiter.set_rate(rate)
        self.zone_states = states

    async def _process_no_execute(self, name: str, ready: str | None, *, wall: str) -> None:
        node = self.nodes.get(name)
        if node is None:
            return
        keys = {x.key for x in t.no_execute_taints(node)}
        if ready == "True":
            self.pending.pop(name, None)
            if keys & t.NO_EXECUTE_KEYS:
                await self._set_taints(name, lambda n: t.with_no_execute(n, None, now=wall))
                log.info("node %s is ready again: NoExecute taints removed", name)
            return
        want = {"False": t.NOT_READY, "Unknown": t.UNREACHABLE}.get(ready or "")
        if want is None:
            return
        other = t.UNREACHABLE if want == t.NOT_READY else t.NOT_READY
        if other in keys:
            # Swapping one of our taints for the other is not a new eviction: no rate limit.
            await self._set_taints(name, lambda n: t.with_no_execute(n, want, now=wall))
        elif want not in keys:
            self.pending.setdefault(name, None)

    async def _taint_pending(self, *, wall: str) -> None:
        for name in list(self.pending):
            node = self.nodes.get(name)
            if node is None:
                self.pending.pop(name, None)
                continue
            want = {"False": t.NOT_READY, "Unknown": t.UNREACHABLE}.get(t.ready_status(node) or "")
            if want is None:
                self.pending.pop(name, None)
                continue
            limiter = self.limiters.get(zone_of(node))
            if limiter is None or not limiter.try_accept():
                continue
            self.pending.pop(name, None)
            await self._set_taints(name, functools.partial(_no_execute, key=want, now=wall))
            log.info("node %s: tainted %s:NoExecute", name, want)

    async def mark_pods_not_ready(self, node_name: str) -> None:
        """Set the Ready condition of the node's pods to False (Kubernetes' MarkPodsNotReady); a write that
        fails is retried a second later (the node's endpoints must not stay ready on a lost node)."""
        failed = False
        for pod in self.pods.by_index(INDEX_NODE_NAME, node_name):
            if pod.status is None or pod.metadata is None or pod.metadata.deletion_timestamp:
                continue
            conditions = list(pod.status.conditions or [])
            for i, c in enumerate(conditions):
                if c.type == "Ready" and c.status != "False":
                    conditions[i] = msgspec.structs.replace(c, status="False", last_transition_time=now_rfc3339())
                    break
            else:
                continue
            updated = msgspec.structs.replace(pod, status=msgspec.structs.replace(pod.status, conditions=conditions))
            try:
                await self.pod_client.update_status(updated)
            except NotFoundError:
                pass
            except Exception as e:  # a conflict with the kubelet's last write, or the API briefly away
                log.info("pod %s/%s: not marked not-ready (retrying): %s", pod.metadata.namespace,
                         pod.metadata.name, e)
                failed = True
        if failed:
            self.mark_retry.add(node_name)
            self.queue.add_after(node_name, 1.0)

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self.monitor_once()
            except Exception:
                # One failed pass (the API briefly away) must not end health monitoring.
                log.exception("node health monitor pass failed")
            await self.clock.sleep(self.period)

    async def run(self, *, workers: int) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._monitor_loop(), name="node-health-monitor")
                tg.create_task(run_workers(queue=self.queue, sync=self.sync, workers=1), name="node-noschedule")
                tg.create_task(run_workers(queue=self.eviction.queue, sync=self.eviction.sync, workers=workers),
                               name="taint-eviction")
        finally:
            self.queue.shutdown()
            self.eviction.queue.shutdown()

