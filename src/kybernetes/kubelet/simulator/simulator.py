"""`Simulator`: one process that plays the kubelet of many nodes, as Kubernetes' kwok does.

Everything is driven by two workqueues and their workers, with no task per node or per pod:

* the **node queue** holds `register/<node>`, `lease/<node>` and `status/<node>` keys. A node is registered
  (Node created with capacity, labels, taints and conditions), then its Lease in `kube-node-lease` is renewed
  every `lease_interval` and its conditions re-reported every `status_interval`. Each renewal re-queues its
  key with `add_after`, so the queue's single timer heap is the only clock; the first renewals are spread
  over the interval by node index, so 1,000 nodes renewing every 10 s make ~100 writes/s, evenly.
* the **pod queue** holds `namespace/name` keys of pods bound to our nodes (one informer over all scheduled
  pods, filtered by node name). `sync` is level-triggered: it advances the pod's `PodRun` to now, renders
  the status a kubelet would report, and writes it through `pods/status` only when something a reader
  cares about changed (phase, IPs, readiness, container states). Delayed transitions (a container exiting
  after `simulate-run-seconds`, readiness after `simulate-ready-after-seconds`, a crash-loop restart, the end
  of a graceful termination) re-queue the key with `add_after` at their deadline.

A pod with a deletionTimestamp is deleted with gracePeriodSeconds=0 (uid precondition) once
`min(deletionGracePeriodSeconds, termination_seconds)` has passed, as a kubelet confirms a deletion once the
containers have stopped. Writes share one bounded pool of `concurrency` slots, and one client session.

`stop_node(name)` makes a node "dead": no more lease renewals, heartbeats or pod work, exactly what the node
lifecycle controller must notice. `add_nodes(specs)` adds nodes, also while running. A node deleted by
someone else stops being simulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from kybernetes.api.models.coordination_v1 import Lease, LeaseSpec
from kybernetes.api.models.core_v1 import Node, Pod
from kybernetes.api.models.meta_v1 import OwnerReference
from kybernetes.client import REAL_CLOCK, Client, Clock, WorkQueue, object_key, run_workers
from kybernetes.client.workqueue import QueueStatistics
from kybernetes.kubelet.simulator.addresses import PodAddresses, RangeExhausted
from kybernetes.kubelet.simulator.cluster import ClientCluster, ClusterAPI
from kybernetes.kubelet.simulator.nodes import (
    NodeSpec,
    build_lease,
    build_node,
    build_status,
    derived_pod_cidr,
    internal_ip,
    node_conditions,
)
from kybernetes.kubelet.simulator.podrun import PodRun, status_summary
from kybernetes.machinery.errors import AlreadyExistsError, ConflictError, NotFoundError
from kybernetes.machinery.timefmt import format_rfc3339, format_rfc3339_micro, utcnow

__all__ = ["Simulator", "SimulatorOptions", "SimulatorStatistics"]

log = logging.getLogger(__name__)

_TERMINAL = ("Succeeded", "Failed")
_GOLDEN = 0.6180339887498949  # spreads node indexes evenly over an interval


@dataclass(frozen=True, kw_only=True)
class SimulatorOptions:
    lease_duration: int = 40
    lease_interval: float = 10.0
    status_interval: float = 60.0
    # A graceful delete is confirmed after min(the pod's grace period, this many seconds).
    termination_seconds: float = 1.0
    crash_backoff: float = 10.0
    crash_backoff_cap: float = 300.0
    concurrency: int = 32  # writes in flight, all kinds together
    delete_nodes_on_exit: bool = False


@dataclass(slots=True)
class SimulatorStatistics:
    nodes: int = 0
    live_nodes: int = 0
    registered_nodes: int = 0
    pods: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    lease_renewals: int = 0
    node_status_updates: int = 0
    pod_status_writes: int = 0
    pod_deletions: int = 0
    write_errors: int = 0
    queues: list[QueueStatistics] = field(default_factory=list)


@dataclass(slots=True)
class _Node:
    spec: NodeSpec
    host_ip: str
    addresses: PodAddresses
    alive: bool = True
    registered: bool = False
    uid: str | None = None
    lease: Lease | None = None  # the Lease as last written (its resourceVersion makes the next update a CAS)
    ready_since: str = ""


class Simulator:
    """See the module docstring. Build with a `client` (or a `cluster` seam in tests), then `await run()`."""

    def __init__(
        self,
        *,
        client: Client | None = None,
        cluster: ClusterAPI | None = None,
        nodes: Iterable[NodeSpec] = (),
        clock: Clock = REAL_CLOCK,
        wall: Callable[[], datetime] = utcnow,
        options: SimulatorOptions | None = None,
    ) -> None:
        if cluster is None:
            if client is None:
                raise ValueError("Simulator needs a client (or a cluster)")
            cluster = ClientCluster(client=client, clock=clock)
        self.cluster = cluster
        self.clock = clock
        self.wall = wall
        self.options = options or SimulatorOptions()
        if self.options.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.node_queue = WorkQueue(name="simulator-nodes", clock=clock)
        self.pod_queue = WorkQueue(name="simulator-pods", clock=clock)
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self._nodes: dict[str, _Node] = {}
        self._runs: dict[str, PodRun] = {}
        self._deleting: dict[str, float] = {}  # pod key -> when to confirm its deletion
        self._early: dict[str, set[str]] = {}  # node -> keys of pods bound to it before it was registered
        self._stats = SimulatorStatistics()
        self._running = False
        self._registered: asyncio.Event | None = None
        cluster.pods.add_handler(on_add=self._pod_changed, on_update=lambda _, new: self._pod_changed(new),
                                 on_delete=self._pod_changed)
        cluster.nodes.add_handler(on_add=self._node_changed, on_update=lambda _, new: self._node_changed(new),
                                  on_delete=self._node_deleted)
        self.add_nodes(nodes)

    # ---- public controls ------------------------------------------------------------------------------

    def add_nodes(self, specs: Iterable[NodeSpec]) -> None:
        """Simulate more nodes (registered at once when running, else when `run()` starts)."""
        for spec in specs:
            if spec.name in self._nodes:
                raise ValueError(f"node {spec.name} is already simulated")
            self._nodes[spec.name] = _Node(
                spec=spec, host_ip=internal_ip(spec.index),
                addresses=PodAddresses(cidr=derived_pod_cidr(spec.index)),
            )
            if self._running:
                self.node_queue.add(f"register/{spec.name}")

    def stop_node(self, name: str) -> None:
        """The node goes dead: no lease renewals, no heartbeats, no pod work from now on."""
        node = self._nodes.get(name)
        if node is None:
            raise KeyError(f"node {name} is not simulated")
        node.alive = False

    def node_names(self) -> list[str]:
        return list(self._nodes)

    def statistics(self) -> SimulatorStatistics:
        stats = self._stats
        stats.nodes = len(self._nodes)
        stats.live_nodes = sum(1 for n in self._nodes.values() if n.alive)
        stats.registered_nodes = sum(1 for n in self._nodes.values() if n.registered)
        phases = [run.phase() for run in self._runs.values()]
        stats.pods = len(phases)
        stats.running = phases.count("Running")
        stats.succeeded = phases.count("Succeeded")
        stats.failed = phases.count("Failed")
        stats.queues = [self.node_queue.statistics(), self.pod_queue.statistics()]
        return stats

    async def wait_registered(self) -> None:
        """Return once every node added so far has been registered (polls the node queue's progress)."""
        while not self._all_registered():
            self._registered = asyncio.Event()
            await self._registered.wait()

    def _all_registered(self) -> bool:
        return all(n.registered or not n.alive for n in self._nodes.values())

    # ---- running ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled; with `delete_nodes_on_exit`, delete the registered nodes on the way out."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.cluster.pods.run(), name="simulator-pod-informer")
                tg.create_task(self.cluster.nodes.run(), name="simulator-node-informer")
                self._running = True
                for name in self._nodes:
                    self.node_queue.add(f"register/{name}")
                workers = self.options.concurrency
                tg.create_task(run_workers(queue=self.node_queue, sync=self._sync_node, workers=workers))
                tg.create_task(run_workers(queue=self.pod_queue, sync=self._sync_pod, workers=workers))
        finally:
            self._running = False
            self.node_queue.shutdown()
            self.pod_queue.shutdown()
            if self.options.delete_nodes_on_exit:
                await self.delete_nodes()

    async def delete_nodes(self) -> None:
        """Delete every node this simulator registered (their Leases go with them: they are owned)."""

        async def delete(name: str) -> None:
            async with self._slots:
                with contextlib.suppress(NotFoundError):
                    await self.cluster.delete_node(name=name)

        names = [name for name, node in self._nodes.items() if node.registered]
        for node in self._nodes.values():
            node.alive = node.registered = False
        async with asyncio.timeout(60):
            await asyncio.gather(*(delete(name) for name in names))
        log.info("deleted %d simulated nodes", len(names))

    # ---- time --------------------------------------------------------------------------------------------

    def _wall_at(self, moment: float) -> datetime:
        return self.wall() - timedelta(seconds=self.clock.now() - moment)

    def _time_at(self, moment: float) -> str:
        return format_rfc3339(self._wall_at(moment))

    # ---- nodes -------------------------------------------------------------------------------------------

    def _node_changed(self, node: Node) -> None:
        state = self._nodes.get(node.metadata.name or "") if node.metadata else None
        if state is not None and node.spec is not None and node.spec.pod_cidr:
            state.addresses.set_cidr(node.spec.pod_cidr)

    def _node_deleted(self, node: Node) -> None:
        state = self._nodes.get(node.metadata.name or "") if node.metadata else None
        if state is not None and state.registered and state.alive:
            log.info("node %s was deleted from the cluster; no longer simulating it", state.spec.name)
            state.alive = state.registered = False

    async def _sync_node(self, key: str) -> None:
        action, _, name = key.partition("/")
        node = self._nodes.get(name)
        if node is None or not node.alive:
            return
        if action == "register":
            await self._register(node)
        elif action == "lease" and node.registered:
            await self._renew_lease(node)
        elif action == "status" and node.registered:
            await self._report_status(node)

    async def _register(self, node: _Node) -> None:
        spec, now = node.spec, format_rfc3339(self.wall())
        wanted = build_node(spec, now=now)
        async with self._slots:
            try:
                created = await self.cluster.create_node(wanted)
            except AlreadyExistsError:
                # Our own node from an earlier run (or a namesake): adopt it, refreshing labels and status.
                assert wanted.metadata is not None
                created = await self.cluster.patch_node(
                    name=spec.name, patch={"metadata": {"labels": wanted.metadata.labels}}
                )
                created = await self.cluster.patch_node_status(
                    name=spec.name, patch={"status": msgspec.to_builtins(build_status(spec, now=now, since=now))}
                )
            if created.status is None or not created.status.conditions:
                # A server that drops status on create: report it through the status subresource.
                created = await self.cluster.patch_node_status(
                    name=spec.name, patch={"status": msgspec.to_builtins(build_status(spec, now=now, since=now))}
                )
        node.uid = created.metadata.uid if created.metadata else None
        node.registered, node.ready_since = True, now
        self._node_changed(created)
        # Spread the periodic writes of many nodes evenly over their intervals.
        phase = (spec.index * _GOLDEN) % 1.0
        self.node_queue.add(f"lease/{spec.name}")
        self.node_queue.add_after(f"status/{spec.name}", self.options.status_interval * (phase or 1.0))
        for key in self._early.pop(spec.name, ()):
            self.pod_queue.add(key)
        if self._registered is not None and self._all_registered():
            self._registered.set()

    async def _renew_lease(self, node: _Node) -> None:
        name = node.spec.name
        renew = format_rfc3339_micro(self.wall())
        first = node.lease is None
        async with self._slots:
            try:
                if node.lease is None:
                    try:
                        current: Lease | None = await self.cluster.get_lease(name=name)
                    except NotFoundError:
                        current = None
                        node.lease = await self.cluster.create_lease(build_lease(
                            node=name, node_uid=node.uid, renew_time=renew, duration=self.options.lease_duration,
                        ))
                    if current is not None:
                        node.lease = await self.cluster.update_lease(self._renewed(node, current, renew))
                else:
                    node.lease = await self.cluster.update_lease(self._renewed(node, node.lease, renew))
            except (ConflictError, NotFoundError):
                node.lease = None  # someone else wrote (or deleted) it: start again from the server's copy
                raise
        self._stats.lease_renewals += 1
        delay = self.options.lease_interval
        if first:
            delay *= (node.spec.index * _GOLDEN) % 1.0 or 1.0
        self.node_queue.add_after(f"lease/{name}", delay)

    def _renewed(self, node: _Node, lease: Lease, renew: str) -> Lease:
        spec = msgspec.structs.replace(
            lease.spec or LeaseSpec(), holder_identity=node.spec.name,
            lease_duration_seconds=self.options.lease_duration, renew_time=renew,
        )
        meta = lease.metadata
        if meta is not None and not meta.owner_references and node.uid:
            meta = msgspec.structs.replace(meta, owner_references=[
                OwnerReference(api_version="v1", kind="Node", name=node.spec.name, uid=node.uid)
            ])
        return msgspec.structs.replace(lease, spec=spec, metadata=meta)

    async def _report_status(self, node: _Node) -> None:
        now = format_rfc3339(self.wall())
        conditions = node_conditions(now=now, since=node.ready_since or now)
        async with self._slots:
            try:
                updated = await self.cluster.patch_node_status(
                    name=node.spec.name, patch={"status": {"conditions": msgspec.to_builtins(conditions)}}
                )
            except NotFoundError:
                log.info("node %s is gone; no longer simulating it", node.spec.name)
                node.alive = node.registered = False
                return
        self._stats.node_status_updates += 1
        self._node_changed(updated)
        self.node_queue.add_after(f"status/{node.spec.name}", self.options.status_interval)

    # ---- pods --------------------------------------------------------------------------------------------

    def _pod_changed(self, pod: Pod) -> None:
        node = pod.spec.node_name if pod.spec else None
        if node and node in self._nodes:
            self.pod_queue.add(object_key(pod))

    def _forget(self, key: str) -> None:
        run = self._runs.pop(key, None)
        self._deleting.pop(key, None)
        if run is not None:
            node = self._nodes.get(run.node)
            if node is not None and run.pod_ip != run.host_ip:
                node.addresses.release(run.pod_ip)

    async def _sync_pod(self, key: str) -> None:
        pod = self.cluster.pods.get(key)
        if pod is None or pod.metadata is None or pod.spec is None:
            self._forget(key)
            return
        meta, now = pod.metadata, self.clock.now()
        node = self._nodes.get(pod.spec.node_name or "")
        if node is None or not node.alive:
            return  # not ours, or a dead kubelet: nothing happens to the pod
        if not node.registered:
            self._early.setdefault(node.spec.name, set()).add(key)  # looked at again once it is registered
            return
        run = self._runs.get(key)
        if run is not None and run.uid != meta.uid:
            self._forget(key)  # a new pod under an old name
            run = None
        phase = pod.status.phase if pod.status else None
        if meta.deletion_timestamp:
            await self._confirm_deletion(key, pod, now=now)
            return
        if phase in _TERMINAL:
            self._forget(key)  # finished: its sandbox (and IP) is released; nothing more to report
            return
        if run is None:
            run = self._start(pod, node, now=now)
            if run is None:
                return
            self._runs[key] = run
        if run.written_from and run.written_from == meta.resource_version:
            return  # our last write has not come back through the watch yet; its event re-queues us
        run.advance(now=now, wall_at=self._time_at, crash_backoff=self.options.crash_backoff,
                    backoff_cap=self.options.crash_backoff_cap)
        desired = run.status(pod=pod, now=now, now_wall=self._time_at(now))
        if status_summary(desired) != status_summary(pod.status):
            run.written_from = meta.resource_version or ""
            try:
                async with self._slots:
                    await self.cluster.update_pod_status(msgspec.structs.replace(pod, status=desired))
            except NotFoundError:
                self._forget(key)
                return
            except BaseException:
                run.written_from = ""
                self._stats.write_errors += 1
                raise
            self._stats.pod_status_writes += 1
        deadline = run.next_deadline(now=now)
        if deadline is not None:
            self.pod_queue.add_after(key, max(0.0, deadline - now))

    def _start(self, pod: Pod, node: _Node, *, now: float) -> PodRun | None:
        assert pod.spec is not None
        status = pod.status
        if pod.spec.host_network:
            pod_ip = node.host_ip
        elif status is not None and status.phase == "Running" and status.pod_ip:
            pod_ip = status.pod_ip  # running since an earlier simulator process: keep its address
            node.addresses.reserve(pod_ip)
        else:
            try:
                pod_ip = node.addresses.allocate()
            except RangeExhausted:
                log.warning("node %s: pod range %s exhausted; pod %s stays Pending", node.spec.name,
                            node.addresses.cidr, object_key(pod))
                return None
        run = PodRun.start(pod=pod, node=node.spec.name, pod_ip=pod_ip, host_ip=node.host_ip, now=now,
                           wall_at=self._time_at, crash_backoff=self.options.crash_backoff)
        if status is not None and status.phase == "Running" and status.start_time:
            run.start_time = status.start_time
        return run

    async def _confirm_deletion(self, key: str, pod: Pod, *, now: float) -> None:
        meta = pod.metadata
        assert meta is not None
        deadline = self._deleting.get(key)
        if deadline is None:
            grace = meta.deletion_grace_period_seconds or 0
            deadline = now + min(float(grace), self.options.termination_seconds)
            self._deleting[key] = deadline
        if deadline > now:
            self.pod_queue.add_after(key, deadline - now)
            return
        async with self._slots:
            try:
                await self.cluster.delete_pod(namespace=meta.namespace or "", name=meta.name or "", uid=meta.uid or "")
            except NotFoundError:
                pass
            except ConflictError:
                pass  # the uid precondition failed: a new pod took the name; its own events bring it here
        self._stats.pod_deletions += 1
        self._forget(key)

