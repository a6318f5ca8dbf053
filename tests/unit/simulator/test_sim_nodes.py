"""Node specs, the Node and Lease objects built from them, and per-node pod addresses."""

from __future__ import annotations

import ipaddress

import pytest

from kybernetes.api.models.core_v1 import Taint
from kybernetes.kubelet.simulator.addresses import PodAddresses, RangeExhausted
from kybernetes.kubelet.simulator.nodes import (
    KUBELET_VERSION,
    build_lease,
    build_node,
    derived_pod_cidr,
    internal_ip,
    node_specs,
    parse_labels,
    parse_taints,
)


def test_node_specs_names_zones_and_labels() -> None:
    specs = node_specs(count=4, prefix="n", start=2, zones=["a", "b"], labels={"team": "x"})
    assert [s.name for s in specs] == ["n-2", "n-3", "n-4", "n-5"]
    assert [s.zone for s in specs] == ["a", "b", "a", "b"]
    labels = specs[0].all_labels()
    assert labels["kubernetes.io/hostname"] == "n-2"
    assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"] == "amd64"
    assert labels["topology.kubernetes.io/zone"] == "a"
    assert labels["kybernetes.io/simulated"] == "true"
    assert labels["team"] == "x"
    assert "topology.kubernetes.io/zone" not in node_specs(count=1)[0].all_labels()


def test_build_node_is_what_a_kubelet_registers() -> None:
    spec = node_specs(count=1, prefix="n", cpu="8", memory="16Gi", pods=50,
                      taints=[Taint(key="k", value="v", effect="NoSchedule")])[0]
    node = build_node(spec, now="2030-01-01T00:00:00Z")
    assert node.metadata is not None and node.metadata.name == "n-0"
    assert node.spec is not None and node.spec.taints == [Taint(key="k", value="v", effect="NoSchedule")]
    status = node.status
    assert status is not None
    assert status.capacity == {"cpu": "8", "memory": "16Gi", "pods": "50", "ephemeral-storage": "100Gi"}
    assert status.allocatable == status.capacity
    assert status.node_info is not None
    assert status.node_info.kubelet_version == KUBELET_VERSION == "v1.36.0-kyb-sim"
    assert status.node_info.container_runtime_version == "fake://1.0"
    assert status.node_info.architecture == "amd64" and status.node_info.operating_system == "linux"
    assert status.addresses is not None
    assert {(a.type, a.address) for a in status.addresses} == {("InternalIP", "172.18.0.2"), ("Hostname", "n-0")}
    conditions = {c.type: c for c in status.conditions or []}
    assert conditions["Ready"].status == "True" and conditions["Ready"].reason == "KubeletReady"
    for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert conditions[kind].status == "False"
        assert conditions[kind].last_heartbeat_time == "2030-01-01T00:00:00Z"


def test_lease_is_owned_by_its_node() -> None:
    lease = build_lease(node="n-0", node_uid="u1", renew_time="2030-01-01T00:00:00.000000Z", duration=40)
    assert lease.metadata is not None and lease.metadata.namespace == "kube-node-lease"
    assert lease.metadata.owner_references is not None
    assert lease.metadata.owner_references[0].uid == "u1" and lease.metadata.owner_references[0].kind == "Node"
    assert lease.spec is not None and lease.spec.holder_identity == "n-0" and lease.spec.lease_duration_seconds == 40


def test_addresses_are_distinct_and_in_test_ranges() -> None:
    ips = {internal_ip(i) for i in range(2000)}
    assert len(ips) == 2000
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("172.18.0.0/16") for ip in ips)
    cidrs = {derived_pod_cidr(i) for i in range(1000)}
    assert len(cidrs) == 1000
    assert derived_pod_cidr(0) == "10.244.0.0/24" and derived_pod_cidr(257) == "10.245.1.0/24"


def test_parse_labels_and_taints() -> None:
    assert parse_labels("a=1, b=,c=x=y") == {"a": "1", "b": "", "c": "x=y"}
    assert parse_labels("") == {}
    with pytest.raises(ValueError):
        parse_labels("novalue")
    assert parse_taints("k=v:NoSchedule,gpu:NoExecute") == [
        Taint(key="k", value="v", effect="NoSchedule"), Taint(key="gpu", effect="NoExecute"),
    ]
    for bad in ("k=v", "k=v:Sometimes", ":NoSchedule"):
        with pytest.raises(ValueError):
            parse_taints(bad)


def test_pod_addresses_round_robin_without_prompt_reuse() -> None:
    pool = PodAddresses(cidr="10.1.0.0/29")  # 8 addresses: .2 to .6 usable
    assert pool.size == 5
    got = [pool.allocate() for _ in range(3)]
    assert got == ["10.1.0.2", "10.1.0.3", "10.1.0.4"]
    pool.release("10.1.0.2")
    assert pool.allocate() == "10.1.0.5"  # the freed one is not handed out at once
    assert pool.allocate() == "10.1.0.6"
    assert pool.allocate() == "10.1.0.2"
    with pytest.raises(RangeExhausted):
        pool.allocate()
    pool.set_cidr("10.2.0.0/24")
    assert pool.allocate() == "10.2.0.2"
    pool.reserve("10.2.0.3")
    assert pool.allocate() == "10.2.0.4"
    pool.release("192.168.0.1")  # not ours: ignored
    assert len(pool) == 3
