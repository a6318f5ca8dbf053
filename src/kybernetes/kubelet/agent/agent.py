"""`Agent`: the kubelet of one node, in one asyncio process.

    agent = Agent(client=client, node_name="n1", runtime=runtime, images=images, data_dir=Path(...))
    await agent.run()   # until cancelled

Tasks (one TaskGroup): the node manager (registration, Lease, status), an informer over this node's pods, an
informer over this Node (to read back spec.podCIDR), container log rotation, and the pod workers fed by
one workqueue. Before the
workers start, the runtime's sandboxes are matched against the pods: those of existing pods are re-adopted
as they are (their containers keep running), the rest are removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kybernetes.api.models.core_v1 import Node, Pod
from kybernetes.client import REAL_CLOCK, Client, Clock, Informer, WorkQueue, object_key, run_workers
from kybernetes.kubelet.agent.api import AgentAPI
from kybernetes.kubelet.agent.logrotate import LogRotator
from kybernetes.kubelet.agent.node import NodeManager, NodeOptions, host_ip_for
from kybernetes.kubelet.agent.pods import PodWorkers, WorkerOptions
from kybernetes.kubelet.agent.server import serve_kubelet
from kybernetes.kubelet.runtime.protocol import ImageService, Runtime

__all__ = ["Agent", "AgentOptions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AgentOptions:
    node: NodeOptions = field(default_factory=NodeOptions)
    workers: WorkerOptions = field(default_factory=WorkerOptions)
    parallel_pods: int = 16
    host_ip: str = ""
    ca_pem: bytes = b""
    labels: dict[str, str] = field(default_factory=dict)
    # The kubelet server (logs, exec): published as status.daemonEndpoints.kubeletEndpoint.Port (0: any port).
    kubelet_address: str = "0.0.0.0"
    kubelet_port: int = 10250
    # Container log rotation (--container-log-max-size / --container-log-max-files); 0 turns it off.
    log_max_size: int = 10 * 1024 * 1024
    log_max_files: int = 5
    log_rotate_interval: float = 10.0


class Agent:
    def __init__(self, *, client: Client, node_name: str, runtime: Runtime, images: ImageService, data_dir: Path,
                 clock: Clock = REAL_CLOCK, options: AgentOptions | None = None,
                 on_pod_cidr: Callable[[str], None] | None = None) -> None:
        self.options = options or AgentOptions()
        self.client, self.node_name, self.runtime, self.images = client, node_name, runtime, images
        self.data_dir, self.clock = data_dir, clock
        self.host_ip = self.options.host_ip or host_ip_for(client.config.server)
        self.api = AgentAPI(client=client, node_name=node_name, clock=clock, ca_pem=self.options.ca_pem)
        self.queue = WorkQueue(name="kubelet-pods", clock=clock)
        self.node_informer: Informer[Node] = Informer(resource=client.resource(Node),
                                                      field_selector=f"metadata.name={node_name}", clock=clock)
        self._on_pod_cidr = on_pod_cidr
        self._told_cidr = ""  # the pod CIDR last handed to on_pod_cidr
        self.node: NodeManager | None = None
        self.workers: PodWorkers | None = None
        self.ready = asyncio.Event()
        self.api.pods.add_handler(on_add=self._enqueue, on_update=lambda _, new: self._enqueue(new),
                                  on_delete=self._enqueue)
        self.node_informer.add_handler(on_add=self._node_changed, on_update=lambda _, new: self._node_changed(new))

    def _enqueue(self, pod: Pod) -> None:
        self.queue.add(object_key(pod))

    def _node_changed(self, node: Node) -> None:
        if self.node is None:
            return
        self.node.observe(node)
        self._tell_pod_cidr()

    def _tell_pod_cidr(self) -> None:
        """Hand a new spec.podCIDR to `on_pod_cidr` (also the one registration read back), then requeue
        every pod: those that waited for a pod network can get their sandbox now."""
        if self.node is None or not self.node.pod_cidr or self.node.pod_cidr == self._told_cidr:
            return
        self._told_cidr = self.node.pod_cidr
        if self._on_pod_cidr is not None:
            self._on_pod_cidr(self.node.pod_cidr)
            for pod in self.api.pods.list():
                self._enqueue(pod)

    async def run(self) -> None:
        name, version = await self.runtime.version()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.node = NodeManager(client=self.client, node_name=self.node_name, host_ip=self.host_ip,
                                data_dir=self.data_dir, runtime_version=f"{name}://{version}", clock=self.clock,
                                options=self.options.node, labels=self.options.labels)
        self.api.set_allocatable(self.node.capacity)
        self.workers = PodWorkers(api=self.api, runtime=self.runtime, images=self.images, queue=self.queue,
                                  clock=self.clock, data_dir=self.data_dir, node_name=self.node_name,
                                  host_ip=self.host_ip, runtime_name=name, options=self.options.workers)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.node.run(), name="kubelet-node")
                tg.create_task(self.node_informer.run(), name="kubelet-node-informer")
                tg.create_task(self.api.recorder.run(), name="kubelet-events")
                tg.create_task(self.api.pods.run(), name="kubelet-pod-informer")
                if self.options.log_max_size > 0:
                    rotator = LogRotator(runtime=self.runtime, max_size=self.options.log_max_size,
                                         max_files=self.options.log_max_files,
                                         interval=self.options.log_rotate_interval)
                    tg.create_task(rotator.run(), name="kubelet-log-rotation")
                tg.create_task(serve_kubelet(client=self.client, node_name=self.node_name, runtime=self.runtime,
                                             data_dir=self.data_dir, ca_pem=self.options.ca_pem,
                                             address=self.options.kubelet_address, port=self.options.kubelet_port,
                                             registered=self.node.registered), name="kubelet-server")
                await self.node.registered.wait()
                self._tell_pod_cidr()  # before adoption, which may tear down sandboxes' networks
                await self.api.pods.wait_synced()
                await self.workers.adopt(pods=self.api.pods.list())
                tg.create_task(run_workers(queue=self.queue, sync=self.workers.sync,
                                           workers=self.options.parallel_pods), name="kubelet-pod-workers")
                self.ready.set()
                log.info("kubelet %s ready (%d pods)", self.node_name, len(self.api.pods.list()))
        finally:
            self.queue.shutdown()
