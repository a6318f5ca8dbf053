"""The node's part of the cluster network: routes to every other node's pods, and masquerade on the way out.

Host-gateway routing: every node reaches another node's `spec.podCIDR` through that node's InternalIP, so pod
traffic crosses nodes without encapsulation or NAT. The routes are derived from the Node objects alone
(`desired_routes`), so a node that joins later is reachable as soon as its Node carries a pod range and an
address, without restarting anything. They are installed in the main table with their own route protocol
number (`ROUTE_PROTOCOL`), which is how a sync finds the routes it owns — those of removed nodes are deleted,
the rest replaced — with no state kept on disk; a route the kernel refuses (a gateway that is not on a
connected network, as with simulated nodes) is skipped and reported once.

Traffic from this node's pods to anything outside the cluster range is masqueraded by one nftables table
(`<prefix>-node`, family ip) replaced atomically with `nft -f`; pod-to-pod traffic, local or across nodes,
keeps its source address. IPv4 forwarding is switched on, as a kubelet's network plugin expects.

pyroute2 and nft block: every public method runs its work in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from pyroute2 import IPRoute, NetlinkError

from kybernetes.api.models.core_v1 import Node
from kybernetes.client import Client, Informer

__all__ = ["ROUTE_PROTOCOL", "NodeRoutes", "desired_routes", "follow_nodes", "masquerade_ruleset"]

log = logging.getLogger(__name__)

# A route protocol number of our own (rtnetlink allows any value up to 255; 4 is "static", the well-known
# routing daemons use low numbers and the 180s-190s): routes carrying it are ours to replace and delete.
ROUTE_PROTOCOL = 75
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def _internal_ip(node: Node) -> str:
    addresses = (node.status.addresses if node.status else None) or []
    for a in addresses:
        if a.type == "InternalIP" and a.address:
            return a.address
    return ""


def desired_routes(*, nodes: Iterable[Node], self_name: str) -> dict[str, str]:
    """{pod CIDR: gateway} for every other node whose range and InternalIP are known (IPv4)."""
    routes: dict[str, str] = {}
    for node in nodes:
        if node.metadata is None or node.metadata.name == self_name or node.spec is None:
            continue
        gateway = _internal_ip(node)
        cidrs = list(node.spec.pod_cidrs or ([node.spec.pod_cidr] if node.spec.pod_cidr else []))
        if not gateway or ":" in gateway:
            continue
        for cidr in cidrs:
            with contextlib.suppress(ValueError):
                network = ipaddress.ip_network(cidr, strict=False)
                if network.version == 4:
                    routes[str(network)] = gateway
    return routes


def masquerade_ruleset(*, table: str, pod_cidr: str, cluster_cidr: str) -> str:
    """The nft script that (re)creates the node's masquerade table in one transaction."""
    return (
        f"add table ip {table}\n"
        f"delete table ip {table}\n"
        f"table ip {table} {{\n"
        f"  chain postrouting {{\n"
        f"    type nat hook postrouting priority srcnat; policy accept;\n"
        f"    ip saddr {pod_cidr} ip daddr != {cluster_cidr} masquerade\n"
        f"  }}\n"
        f"}}\n"
    )


class NodeRoutes:
    def __init__(self, *, node_name: str, cluster_cidr: str = "10.244.0.0/16", table: str = "kyb-node") -> None:
        self.node_name, self.cluster_cidr, self.table = node_name, cluster_cidr, table
        self._applied: dict[str, str] | None = None
        self._refused: set[tuple[str, str]] = set()
        self._masquerading = ""
        self._lock = asyncio.Lock()

    async def sync(self, *, nodes: Iterable[Node]) -> None:
        """Make the routes match the Node objects (a no-op when nothing changed since the last sync)."""
        wanted = desired_routes(nodes=nodes, self_name=self.node_name)
        async with self._lock:
            if wanted != self._applied:
                await asyncio.to_thread(self._sync_routes, wanted)
                self._applied = wanted

    async def masquerade(self, *, pod_cidr: str) -> None:
        """Masquerade traffic from `pod_cidr` leaving the cluster range; switch IPv4 forwarding on."""
        async with self._lock:
            if pod_cidr != self._masquerading:
                await asyncio.to_thread(self._masquerade, pod_cidr)
                self._masquerading = pod_cidr

    async def remove(self) -> None:
        """Delete our routes and our table (`kyb down`, tests)."""
        async with self._lock:
            await asyncio.to_thread(self._sync_routes, {})
            await asyncio.to_thread(_nft, f"add table ip {self.table}\ndelete table ip {self.table}\n")
            self._applied, self._masquerading = {}, ""

    # ---- blocking work (threads) ----------------------------------------------------------------------

    def _sync_routes(self, wanted: Mapping[str, str]) -> None:
        with IPRoute() as ipr:
            have: dict[str, str] = {}
            for r in ipr.get_routes(family=2, proto=ROUTE_PROTOCOL):
                dst = f"{r.get_attr('RTA_DST')}/{r['dst_len']}"
                have[dst] = r.get_attr("RTA_GATEWAY") or ""
            for dst in have.keys() - wanted.keys():
                with contextlib.suppress(NetlinkError):
                    ipr.route("del", dst=dst, proto=ROUTE_PROTOCOL)
                log.info("route to %s removed", dst)
            for dst, gateway in wanted.items():
                if have.get(dst) == gateway:
                    continue
                try:
                    ipr.route("replace", dst=dst, gateway=gateway, proto=ROUTE_PROTOCOL)
                    log.info("route to %s via %s", dst, gateway)
                except NetlinkError as e:
                    if (dst, gateway) not in self._refused:
                        self._refused.add((dst, gateway))
                        log.warning("no route to %s via %s: %s", dst, gateway, e.args[-1] if e.args else e)

    def _masquerade(self, pod_cidr: str) -> None:
        with contextlib.suppress(OSError):
            if IP_FORWARD.read_text().strip() != "1":
                IP_FORWARD.write_text("1")
        _nft(masquerade_ruleset(table=self.table, pod_cidr=pod_cidr, cluster_cidr=self.cluster_cidr))


async def follow_nodes(*, client: Client, routes: NodeRoutes, resync_seconds: float = 60.0) -> None:
    """Keep `routes` in step with every Node (an informer over all of them), until cancelled.

    Changes are coalesced: a burst of Node updates (status heartbeats every few seconds from every node) is
    one sync, and a sync with nothing new touches nothing. A failed sync is retried at the next change or
    after `resync_seconds`.
    """
    informer: Informer[Node] = Informer(resource=client.resource(Node), transform=_routing_fields)
    changed = asyncio.Event()
    informer.add_handler(on_add=lambda _: changed.set(), on_update=lambda _o, _n: changed.set(),
                         on_delete=lambda _: changed.set())
    async with asyncio.TaskGroup() as tg:
        watcher = tg.create_task(informer.run(), name="kubelet-node-routes-informer")
        try:
            await informer.wait_synced()
            while True:
                changed.clear()
                try:
                    await routes.sync(nodes=informer.list())
                except (OSError, NetlinkError) as e:
                    log.warning("node routes: %s", e)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=resync_seconds)
                await asyncio.sleep(0.05)  # let a burst of updates land before the next sync
        finally:
            watcher.cancel()


def _routing_fields(node: Node) -> Node:
    """Keep only what routing reads: a thousand Node objects with their images and conditions are heavy."""
    if node.status is not None:
        node.status.images = None
        node.status.conditions = None
    return node


def _nft(script: str) -> None:
    done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"nft: {done.stderr.strip()}")
