"""The agent's Node: registration, the node Lease, the Ready condition, and spec.podCIDR read back.

Capacity is measured on this machine: cpu (`os.cpu_count`), memory (`MemTotal` of /proc/meminfo), pods
(110), ephemeral-storage (the filesystem holding the data dir); nodeInfo from uname and /etc/os-release
and the runtime's version. The Lease in kube-node-lease is renewed every `lease_interval`; the conditions
are re-reported every `status_interval` (and on change). Reuses the simulator's Lease and condition builders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import msgspec

from kybernetes.api.models.coordination_v1 import Lease, LeaseSpec
from kybernetes.api.models.core_v1 import Node, NodeAddress, NodeStatus, NodeSystemInfo
from kybernetes.api.models.meta_v1 import ObjectMeta, OwnerReference
from kybernetes.client import REAL_CLOCK, Client, Clock
from kybernetes.kubelet.agent.api import FIELD_MANAGER
from kybernetes.kubelet.simulator.nodes import LEASE_NAMESPACE, build_lease, node_conditions
from kybernetes.machinery.errors import AlreadyExistsError, ConflictError, NotFoundError
from kybernetes.machinery.timefmt import format_rfc3339_micro, now_rfc3339, utcnow

__all__ = ["KUBELET_VERSION", "NodeManager", "NodeOptions", "host_ip_for", "machine_capacity"]

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.36.0-kyb"


@dataclass(frozen=True, kw_only=True)
class NodeOptions:
    lease_duration: int = 40
    lease_interval: float = 10.0
    status_interval: float = 60.0


def machine_capacity(data_dir: Path) -> dict[str, str]:
    memory_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    st = os.statvfs(data_dir)
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{memory_kib}Ki", "pods": "110",
            "ephemeral-storage": f"{st.f_blocks * st.f_frsize // 1024}Ki"}


def os_image() -> str:
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def host_ip_for(server: str) -> str:
    """The address this machine uses toward the API server (its default route when that is loopback)."""
    host = urlparse(server).hostname or "127.0.0.1"
    for target in (host, "10.255.255.255"):
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((target, 9))  # UDP connect sends nothing; it only picks the route
            address = str(s.getsockname()[0])
            if not address.startswith("127."):
                return address
    return "127.0.0.1"


class NodeManager:
    def __init__(self, *, client: Client, node_name: str, host_ip: str, data_dir: Path, runtime_version: str,
                 clock: Clock = REAL_CLOCK, options: NodeOptions | None = None,
                 labels: dict[str, str] | None = None) -> None:
        self.client, self.node_name, self.host_ip = client, node_name, host_ip
        self.data_dir, self.runtime_version, self.clock = data_dir, runtime_version, clock
        self.options = options or NodeOptions()
        self.labels = labels or {}
        self.capacity = machine_capacity(data_dir)
        self.uid = ""
        self.pod_cidr = ""
        self.registered = asyncio.Event()
        self._ready_since = ""
        self._nodes = client.resource(Node)
        self._leases = client.resource(Lease)

    def _status(self, now: str) -> NodeStatus:
        uname = platform.uname()
        return NodeStatus(
            capacity=dict(self.capacity), allocatable=dict(self.capacity),
            conditions=node_conditions(now=now, since=self._ready_since or now),
            addresses=[NodeAddress(type="InternalIP", address=self.host_ip),
                       NodeAddress(type="Hostname", address=self.node_name)],
            node_info=NodeSystemInfo(
                architecture="amd64" if uname.machine in ("x86_64", "amd64") else uname.machine,
                operating_system="linux", os_image=os_image(), kernel_version=uname.release,
                kubelet_version=KUBELET_VERSION, kube_proxy_version=KUBELET_VERSION,
                container_runtime_version=self.runtime_version, machine_id=_read("/etc/machine-id"),
                system_uuid=_read("/sys/class/dmi/id/product_uuid"),
                boot_id=_read("/proc/sys/kernel/random/boot_id"),
            ),
        )

    async def register(self) -> Node:
        now = now_rfc3339()
        self._ready_since = now
        labels = {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                  "beta.kubernetes.io/arch": "amd64", **self.labels}
        status = self._status(now)
        node = Node(api_version="v1", kind="Node", metadata=ObjectMeta(name=self.node_name, labels=labels),
                    status=status)
        try:
            created = await self._nodes.create(node, field_manager=FIELD_MANAGER)
        except AlreadyExistsError:
            await self._nodes.patch(name=self.node_name, patch={"metadata": {"labels": labels}}, type="strategic",
                                    field_manager=FIELD_MANAGER)
            created = await self._patch_status(status)
        if created.status is None or not created.status.conditions:
            created = await self._patch_status(status)
        self.uid = created.metadata.uid or "" if created.metadata else ""
        self.observe(created)
        self.registered.set()
        log.info("registered node %s (%s)", self.node_name, self.host_ip)
        return created

    async def _patch_status(self, status: NodeStatus) -> Node:
        return await self._nodes.patch(name=self.node_name, patch={"status": msgspec.to_builtins(status)},
                                       type="strategic", subresource="status", field_manager=FIELD_MANAGER)

    def observe(self, node: Node) -> None:
        if node.spec is not None and node.spec.pod_cidr and node.spec.pod_cidr != self.pod_cidr:
            self.pod_cidr = node.spec.pod_cidr
            log.info("node %s has pod CIDR %s", self.node_name, self.pod_cidr)

    async def run(self) -> None:
        """Register, then renew the Lease and report status until cancelled."""
        await self.register()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._lease_loop())
            tg.create_task(self._status_loop())

    async def _lease_loop(self) -> None:
        lease: Lease | None = None
        while True:
            try:
                lease = await self._renew(lease)
            except (ConflictError, NotFoundError):
                lease = None
                continue
            except Exception as e:  # a network failure must not stop the heartbeat
                log.warning("renewing the node lease: %s", e)
                lease = None
            await self.clock.sleep(self.options.lease_interval)

    async def _renew(self, lease: Lease | None) -> Lease:
        renew = format_rfc3339_micro(utcnow())
        if lease is None:
            try:
                lease = await self._leases.get(name=self.node_name, namespace=LEASE_NAMESPACE)
            except NotFoundError:
                return await self._leases.create(build_lease(node=self.node_name, node_uid=self.uid or None,
                                                             renew_time=renew, duration=self.options.lease_duration),
                                                 field_manager=FIELD_MANAGER)
        spec = msgspec.structs.replace(lease.spec or LeaseSpec(), holder_identity=self.node_name,
                                       lease_duration_seconds=self.options.lease_duration, renew_time=renew)
        meta = lease.metadata
        if meta is not None and not meta.owner_references and self.uid:
            meta = msgspec.structs.replace(meta, owner_references=[
                OwnerReference(api_version="v1", kind="Node", name=self.node_name, uid=self.uid)])
        return await self._leases.update(msgspec.structs.replace(lease, spec=spec, metadata=meta),
                                         field_manager=FIELD_MANAGER)

    async def _status_loop(self) -> None:
        while True:
            await self.clock.sleep(self.options.status_interval)
            try:
                now = now_rfc3339()
                patch: dict[str, Any] = {"status": {"conditions": msgspec.to_builtins(
                    node_conditions(now=now, since=self._ready_since or now))}}
                node = await self._nodes.patch(name=self.node_name, patch=patch, type="strategic",
                                               subresource="status", field_manager=FIELD_MANAGER)
                self.observe(node)
            except NotFoundError:
                log.warning("node %s was deleted; registering it again", self.node_name)
                await self.register()
            except Exception as e:
                log.warning("reporting node status: %s", e)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""
