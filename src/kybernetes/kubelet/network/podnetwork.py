"""Pod networking on one node: a Linux bridge, and per sandbox a network namespace joined to it by a veth.

`PodNetwork.setup(sandbox_id=...)` makes sure of, in order: the bridge (`bridge`, holding the CIDR's first
address as the pods' gateway, up); an address for the sandbox from the file-backed `IPAM`; the named
namespace `/run/netns/<prefix>-<id>`; a veth pair whose host end `<prefix><id>` is a port of the bridge
(up, hairpin mode on so a pod reaches itself through a Service) and whose other end is `eth0` inside the
namespace with the address, plus `lo` up and a default route via the gateway. Each step checks what is
already there, so setup is idempotent and re-running it after a crash half-way repairs the attachment.
`teardown` deletes the veth (which deletes its peer), the namespace and the address, each step tolerating
its absence. Everything is derived from the sandbox id and the IPAM file, so a restarted kubelet re-adopts
attachments with no other state.

Names: every namespace and link carries `prefix`, so tests (`kt<random>`) never collide with a real node
or with each other; interface names are cut to Linux's 15 characters.

Netlink calls block: every public method runs its work in a thread via `asyncio.to_thread`. Sandboxes are
set up concurrently (one lock per sandbox id; the bridge is ensured once under its own lock); work inside a
pod's namespace runs in a short-lived thread that entered it (`nsutil`), not in a forked helper — a setup
took ~50 ms behind one lock for all sandboxes, which alone held 100 pods created at once back by 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute, NetlinkError, config

from kybernetes.kubelet.network import nsutil
from kybernetes.kubelet.network.ipam import IPAM

# pyroute2 forks a helper for namespace work and stops it with SIGTERM. A forked child keeps the event
# loop's signal handlers and its wakeup fd: a SIGTERM landing in the child would be written to the fd the
# parent's loop reads, and the agent would stop as if it had been told to (seen: one agent in three, as
# its first pod started). With this set, the child resets SIGINT/SIGTERM to their defaults first.
config.disable_mp_signal = True

NETNS_DIR = Path("/run/netns")
IFNAMSIZ = 15


@dataclass(frozen=True)
class PodAttachment:
    sandbox_id: str
    ip: str
    prefixlen: int
    gateway: str
    netns_name: str
    netns_path: str
    host_veth: str


class PodNetwork:
    def __init__(
        self,
        *,
        bridge: str = "kyb0",
        pod_cidr: str = "10.244.0.0/24",
        prefix: str = "kyb",
        state_dir: Path = Path("/var/lib/kybernetes/network"),
        mtu: int = 1500,
    ) -> None:
        if len(bridge) > IFNAMSIZ:
            raise ValueError(f"bridge name {bridge!r} is longer than {IFNAMSIZ} characters")
        if len(prefix) > 8:
            raise ValueError(f"prefix {prefix!r} is longer than 8 characters")
        self.bridge = bridge
        self.prefix = prefix
        self.mtu = mtu
        self.ipam = IPAM(path=state_dir / f"ipam-{bridge}.json", cidr=pod_cidr)
        self.gateway = str(self.ipam.gateway)
        self.prefixlen = self.ipam.prefixlen
        # Sandboxes are set up side by side (one lock each: setup and teardown of one sandbox never
        # overlap); the bridge is made sure of once, under its own lock, and again after a failure.
        self._locks: dict[str, asyncio.Lock] = {}
        self._bridge_lock = asyncio.Lock()
        self._bridge_index: int | None = None

    # ---- names ----------------------------------------------------------------------------------------

    def netns_name(self, *, sandbox_id: str) -> str:
        return f"{self.prefix}-{sandbox_id[:16]}"

    def host_veth(self, *, sandbox_id: str) -> str:
        return (self.prefix + sandbox_id)[:IFNAMSIZ]

    def _attachment(self, *, sandbox_id: str, ip: str) -> PodAttachment:
        name = self.netns_name(sandbox_id=sandbox_id)
        return PodAttachment(
            sandbox_id=sandbox_id,
            ip=ip,
            prefixlen=self.prefixlen,
            gateway=self.gateway,
            netns_name=name,
            netns_path=str(NETNS_DIR / name),
            host_veth=self.host_veth(sandbox_id=sandbox_id),
        )

    # ---- public API -----------------------------------------------------------------------------------

    async def ensure_bridge(self) -> int:
        async with self._bridge_lock:
            if self._bridge_index is None:
                self._bridge_index = await asyncio.to_thread(self._ensure_bridge)
            return self._bridge_index

    def _sandbox_lock(self, sandbox_id: str) -> asyncio.Lock:
        return self._locks.setdefault(sandbox_id, asyncio.Lock())

    async def setup(self, *, sandbox_id: str) -> PodAttachment:
        async with self._sandbox_lock(sandbox_id):
            bridge_index = await self.ensure_bridge()
            try:
                return await asyncio.to_thread(self._setup, sandbox_id, bridge_index)
            except BaseException:
                self._bridge_index = None  # perhaps the bridge went away: look again next time
                raise

    async def teardown(self, *, sandbox_id: str) -> None:
        async with self._sandbox_lock(sandbox_id):
            await asyncio.to_thread(self._teardown, sandbox_id)
        self._locks.pop(sandbox_id, None)

    async def status(self, *, sandbox_id: str) -> PodAttachment | None:
        """The attachment if the sandbox has an address and its namespace exists."""
        ip = await asyncio.to_thread(self.ipam.lookup, owner=sandbox_id)
        if ip is None:
            return None
        att = self._attachment(sandbox_id=sandbox_id, ip=ip)
        return att if await asyncio.to_thread(os.path.exists, att.netns_path) else None

    async def list_attachments(self) -> list[PodAttachment]:
        table = await asyncio.to_thread(self.ipam.allocations)
        return [self._attachment(sandbox_id=owner, ip=ip) for ip, owner in sorted(table.items())]

    async def remove_bridge(self) -> None:
        """Delete the bridge (tests, node teardown); pods' veths must be gone first."""
        async with self._bridge_lock:
            await asyncio.to_thread(self._remove_bridge)
            self._bridge_index = None

    # ---- blocking work (threads) ----------------------------------------------------------------------

    def _ensure_bridge(self) -> int:
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=self.bridge)
            if not found:
                with contextlib.suppress(NetlinkError):  # lost a race with another creator
                    ipr.link("add", ifname=self.bridge, kind="bridge")
                found = ipr.link_lookup(ifname=self.bridge)
            index = int(found[0])
            have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)}
            if self.gateway not in have:
                ipr.addr("add", index=index, address=self.gateway, prefixlen=self.prefixlen)
            ipr.link("set", index=index, state="up")
            return index

    def _setup(self, sandbox_id: str, bridge_index: int) -> PodAttachment:
        ip = self.ipam.allocate(owner=sandbox_id)
        att = self._attachment(sandbox_id=sandbox_id, ip=ip)
        try:
            # A fresh namespace is known to be empty: no need to look inside before building the veth.
            fresh = not os.path.exists(att.netns_path)
            if fresh:
                nsutil.create(att.netns_name)
            peer = self._create_veth(att, bridge_index) if fresh or not self._pod_side_ready(att) else None
            self._configure_pod_side(att, peer=peer)
        except BaseException:
            self._teardown(sandbox_id)
            raise
        return att

    def _pod_side_ready(self, att: PodAttachment) -> bool:
        with IPRoute() as ipr:
            if not ipr.link_lookup(ifname=att.host_veth):
                return False
        def inside() -> bool:
            with IPRoute() as ns:
                return bool(ns.link_lookup(ifname="eth0"))

        return nsutil.run_in(att.netns_name, inside)

    def _create_veth(self, att: PodAttachment, bridge_index: int) -> str:
        """Create the pair, move the pod end into the namespace (under a temporary name, returned)."""
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=att.host_veth):
                ipr.link("del", index=index)
            # A temporary peer name in the host namespace: unique per sandbox, renamed to eth0 once moved.
            peer = ("p" + att.host_veth)[:IFNAMSIZ] if att.host_veth[0] != "p" else ("q" + att.host_veth)[:IFNAMSIZ]
            for index in ipr.link_lookup(ifname=peer):
                ipr.link("del", index=index)
            ipr.link("add", ifname=att.host_veth, kind="veth", peer={"ifname": peer}, mtu=self.mtu)
            host_index = ipr.link_lookup(ifname=att.host_veth)[0]
            peer_index = ipr.link_lookup(ifname=peer)[0]
            ipr.link("set", index=peer_index, net_ns_fd=att.netns_name)
            ipr.link("set", index=host_index, master=bridge_index, state="up")
            _hairpin_on(ipr, host_index)
        return peer

    def _configure_pod_side(self, att: PodAttachment, *, peer: str | None) -> None:
        nsutil.run_in(att.netns_name, lambda: self._configure_inside(att, peer=peer))
        if peer is None:  # an existing attachment (re-adoption, repair): make sure of hairpin mode too
            with IPRoute() as ipr:
                for index in ipr.link_lookup(ifname=att.host_veth):
                    _hairpin_on(ipr, index)

    def _configure_inside(self, att: PodAttachment, *, peer: str | None) -> None:
        """Run inside the pod's namespace: eth0 named, addressed, up; lo up; the default route."""
        with IPRoute() as ns:
            if peer is not None:  # just moved in: it becomes eth0
                index = ns.link_lookup(ifname=peer)[0]
                ns.link("set", index=index, ifname="eth0", mtu=self.mtu)
            lo = ns.link_lookup(ifname="lo")[0]
            ns.link("set", index=lo, state="up")
            eth0 = ns.link_lookup(ifname="eth0")[0]
            have = {a.get_attr("IFA_ADDRESS") for a in ns.get_addr(index=eth0, family=2)}
            for other in have - {att.ip}:  # an address from a former CIDR or allocation
                ns.addr("del", index=eth0, address=other, prefixlen=att.prefixlen)
            if att.ip not in have:
                ns.addr("add", index=eth0, address=att.ip, prefixlen=att.prefixlen)
            ns.link("set", index=eth0, state="up")
            routes = ns.get_default_routes(family=2)
            if not any(r.get_attr("RTA_GATEWAY") == att.gateway for r in routes):
                for r in routes:
                    ns.route("del", dst="default", gateway=r.get_attr("RTA_GATEWAY"))
                ns.route("add", dst="default", gateway=att.gateway)

    def _teardown(self, sandbox_id: str) -> None:
        host_veth = self.host_veth(sandbox_id=sandbox_id)
        name = self.netns_name(sandbox_id=sandbox_id)
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=host_veth):
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=index)
        if os.path.exists(NETNS_DIR / name):
            nsutil.remove(name)
        self.ipam.release(owner=sandbox_id)

    def _remove_bridge(self) -> None:
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=self.bridge):
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=index)


def pod_cidr_gateway(cidr: str) -> str:
    """The gateway address a `PodNetwork` uses for `cidr` (its first host address)."""
    return str(next(ipaddress.ip_network(cidr, strict=False).hosts()))


def _hairpin_on(ipr: IPRoute, index: int) -> None:
    """Hairpin mode on a bridge port, so a pod reaching itself through a Service gets its packets back.
    Through netlink: /sys/class/net shows the devices of the namespace sysfs was mounted in, which is not
    this process's when a node runs in a network namespace of its own (`nsenter --net`)."""
    ipr.brport("set", index=index, mode=1)
