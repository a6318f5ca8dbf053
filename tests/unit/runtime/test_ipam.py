"""The file-backed pod IPAM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kybernetes.kubelet.network.ipam import IPAM, IPAMExhausted
from kybernetes.kubelet.runtime.protocol import DNSConfig
from kybernetes.kubelet.runtime.runc.podfiles import hosts_file, resolv_conf


def test_allocate_is_idempotent_and_skips_the_gateway(tmp_path: Path) -> None:
    ipam = IPAM(path=tmp_path / "ipam.json", cidr="10.244.1.0/24")
    assert str(ipam.gateway) == "10.244.1.1"
    a = ipam.allocate(owner="a")
    assert a == "10.244.1.2"
    assert ipam.allocate(owner="a") == a
    assert ipam.allocate(owner="b") == "10.244.1.3"
    assert ipam.lookup(owner="b") == "10.244.1.3" and ipam.lookup(owner="zz") is None


def test_persistent_and_round_robin(tmp_path: Path) -> None:
    path = tmp_path / "ipam.json"
    ipam = IPAM(path=path, cidr="10.244.1.0/24")
    ipam.allocate(owner="a")
    ipam.allocate(owner="b")
    ipam.release(owner="a")
    # A new object (a restarted kubelet) sees the same table and does not hand out a just-released address.
    again = IPAM(path=path, cidr="10.244.1.0/24")
    assert again.allocations() == {"10.244.1.3": "b"}
    assert again.allocate(owner="c") == "10.244.1.4"
    assert json.loads(path.read_text())["last"] == "10.244.1.4"


def test_exhaustion_and_wraparound(tmp_path: Path) -> None:
    ipam = IPAM(path=tmp_path / "ipam.json", cidr="10.0.0.0/29")  # hosts .1-.6, .1 the gateway
    got = [ipam.allocate(owner=str(i)) for i in range(5)]
    assert got == [f"10.0.0.{i}" for i in range(2, 7)]
    with pytest.raises(IPAMExhausted):
        ipam.allocate(owner="x")
    ipam.release(owner="1")
    assert ipam.allocate(owner="x") == "10.0.0.3"  # wraps around to the only free address


def test_corrupt_or_missing_file_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "ipam.json"
    path.write_text("[]")
    assert IPAM(path=path, cidr="10.1.0.0/24").allocate(owner="a") == "10.1.0.2"


def test_pod_files() -> None:
    dns = DNSConfig(servers=("10.96.0.10",), searches=("ns.svc.cluster.local", "svc.cluster.local"), options=("ndots:5",))
    assert resolv_conf(dns=dns) == (
        "nameserver 10.96.0.10\nsearch ns.svc.cluster.local svc.cluster.local\noptions ndots:5\n"
    )
    hosts = hosts_file(ip="10.244.0.5", hostname="web-0")
    assert "127.0.0.1\tlocalhost" in hosts and hosts.endswith("10.244.0.5\tweb-0\n")
