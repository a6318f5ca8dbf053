"""Node routes to other nodes' pod ranges, and the node's masquerade table.

The pure parts are checked directly; the netlink and nft parts run as root inside a scratch network
namespace (unique name, removed at the end), never in the machine's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from kybernetes.api.models.core_v1 import Node
from kybernetes.kubelet.network.routes import ROUTE_PROTOCOL, desired_routes, masquerade_ruleset


def node(name: str, *, cidr: str = "", ip: str = "", extra: dict[str, Any] | None = None) -> Node:
    obj: dict[str, Any] = {"metadata": {"name": name}, "spec": {}, "status": {}}
    if cidr:
        obj["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
    if ip:
        obj["status"]["addresses"] = [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}]
    obj.update(extra or {})
    return msgspec.convert(obj, Node)


def test_desired_routes_skip_self_and_nodes_without_a_range_or_address() -> None:
    nodes = [node("a", cidr="10.244.0.0/24", ip="192.0.2.10"), node("b", cidr="10.244.1.0/24", ip="192.0.2.11"),
             node("c", cidr="10.244.2.0/24"), node("d", ip="192.0.2.13"),
             node("e", cidr="10.244.4.0/24", ip="2001:db8::4")]
    assert desired_routes(nodes=nodes, self_name="a") == {"10.244.1.0/24": "192.0.2.11"}
    assert desired_routes(nodes=nodes, self_name="b") == {"10.244.0.0/24": "192.0.2.10"}


def test_masquerade_ruleset_is_valid_nft() -> None:
    script = masquerade_ruleset(table="kt-check", pod_cidr="10.244.3.0/24", cluster_cidr="10.244.0.0/16")
    assert "ip saddr 10.244.3.0/24 ip daddr != 10.244.0.0/16 masquerade" in script
    if os.geteuid() != 0 or not os.path.exists("/usr/sbin/nft"):
        pytest.skip("nft check mode needs root and nft")
    done = subprocess.run(["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def scratch_netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"ktr{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"], ["ip", "addr", "add", "192.0.2.1/24", "dev", "d0"],
                    ["ip", "link", "set", "d0", "up"], ["ip", "link", "set", "d1", "up"]):
            subprocess.run(["ip", "netns", "exec", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _in_netns(netns: str, body: str) -> str:
    script = textwrap.dedent("""
        import asyncio
        import msgspec
        from kybernetes.api.models.core_v1 import Node
        from kybernetes.kubelet.network.routes import NodeRoutes

        def node(name, cidr, ip):
            return msgspec.convert({"metadata": {"name": name}, "spec": {"podCIDR": cidr},
                                   "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}, Node)

        async def main():
        """) + textwrap.indent(textwrap.dedent(body), "    ") + "\nasyncio.run(main())\n"
    done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _routes(netns: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "exec", netns, "ip", "-4", "route", "show", "proto", str(ROUTE_PROTOCOL)],
                         capture_output=True, text=True, check=True).stdout
    return sorted(" ".join(line.split()[:3]) for line in out.splitlines())


def _nft_tables(netns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "tables"], capture_output=True, text=True,
                          check=True).stdout


def test_routes_follow_nodes_and_leave_others_alone(scratch_netns: str) -> None:
    # A route of somebody else's in the same range must survive our syncs.
    subprocess.run(["ip", "netns", "exec", scratch_netns, "ip", "route", "add", "10.250.9.0/24", "via", "192.0.2.99"],
                   check=True)
    _in_netns(scratch_netns, """
        routes = NodeRoutes(node_name="self", table="ktr-node")
        await routes.sync(nodes=[node("self", "10.250.0.0/24", "192.0.2.1"), node("b", "10.250.1.0/24", "192.0.2.2"),
                                 node("c", "10.250.2.0/24", "192.0.2.3"),
                                 node("far", "10.250.3.0/24", "198.51.100.7")])  # not on a connected network
    """)
    assert _routes(scratch_netns) == ["10.250.1.0/24 via 192.0.2.2", "10.250.2.0/24 via 192.0.2.3"]

    _in_netns(scratch_netns, """
        routes = NodeRoutes(node_name="self", table="ktr-node")
        await routes.sync(nodes=[node("b", "10.250.1.0/24", "192.0.2.5")])   # b moved, c is gone
        await routes.masquerade(pod_cidr="10.250.0.0/24")
    """)
    assert _routes(scratch_netns) == ["10.250.1.0/24 via 192.0.2.5"]
    assert "ktr-node" in _nft_tables(scratch_netns)
    forward = subprocess.run(["ip", "netns", "exec", scratch_netns, "cat", "/proc/sys/net/ipv4/ip_forward"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert forward == "1"
    others = subprocess.run(["ip", "netns", "exec", scratch_netns, "ip", "route", "show", "10.250.9.0/24"],
                            capture_output=True, text=True, check=True).stdout
    assert "via 192.0.2.99" in others

    _in_netns(scratch_netns, """
        await NodeRoutes(node_name="self", table="ktr-node").remove()
    """)
    assert _routes(scratch_netns) == []
    assert "ktr-node" not in _nft_tables(scratch_netns)
