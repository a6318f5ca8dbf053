"""Node IPAM: pod CIDRs from the cluster CIDR, unique, rebuilt from existing nodes, released on delete."""

from __future__ import annotations

import ipaddress

import pytest
from cluster_fake_api import drain, make_context, recorded_events

from kybernetes.api.models.core_v1 import Node, NodeSpec
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.controllers import nodeipam
from kybernetes.controllers.nodeipam import CIDRRangeFull, CidrSet, cidr_sets_from_options


def node(name: str, cidr: str | None = None) -> Node:
    spec = NodeSpec(pod_cidr=cidr, pod_cidrs=[cidr] if cidr else None)
    return Node(metadata=ObjectMeta(name=name), spec=spec)


def test_cidrset_round_robin_and_full() -> None:
    s = CidrSet(cluster="10.0.0.0/30", mask=31)
    assert s.size == 2
    first, second = s.allocate(), s.allocate()
    assert {first, second} == {"10.0.0.0/31", "10.0.0.2/31"}
    with pytest.raises(CIDRRangeFull):
        s.allocate()
    s.release(first)
    assert s.allocate() == first
    with pytest.raises(ValueError):
        CidrSet(cluster="10.0.0.0/24", mask=16)


def test_cidrset_occupy_outside_range() -> None:
    s = CidrSet(cluster="10.244.0.0/16", mask=24)
    with pytest.raises(ValueError):
        s.occupy("192.168.0.0/24")
    s.occupy("10.244.0.0/23")  # touches two subnets
    assert s.used() == 2


def test_options_dual_stack_and_masks() -> None:
    sets = cidr_sets_from_options({"cluster-cidr": "10.1.0.0/16,fd00::/48", "node-cidr-mask-size-ipv4": "26"})
    assert [(s.family, s.mask) for s in sets] == [(4, 26), (6, 64)]
    with pytest.raises(ValueError):
        cidr_sets_from_options({"cluster-cidr": "10.1.0.0/16,10.2.0.0/16"})


async def test_allocates_unique_cidrs_and_releases() -> None:
    client, ctx = make_context()
    ctrl = nodeipam.new(ctx)
    nodes = client.resource(Node)
    for i in range(3):
        nodes.add(node(f"n{i}"))
    await drain(ctrl.queue, ctrl.sync)
    cidrs = [nodes.objects[f"n{i}"].spec.pod_cidr for i in range(3)]
    assert len(set(cidrs)) == 3
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        assert net.prefixlen == 24 and net.subnet_of(ipaddress.ip_network("10.244.0.0/16"))
    assert nodes.objects["n0"].spec.pod_cidrs == [cidrs[0]]
    # A node's range comes back to the pool when it is deleted.
    nodes.remove("n1")
    await drain(ctrl.queue, ctrl.sync)
    assert ctrl.sets[0].used() == 2
    # Synced again with its range in place: no further write.
    writes = len(client.writes)
    ctrl.queue.add("n0")
    await drain(ctrl.queue, ctrl.sync)
    assert len(client.writes) == writes


async def test_rebuilds_from_existing_nodes_before_allocating() -> None:
    client, ctx = make_context({"cluster-cidr": "10.9.0.0/23"})  # two /24s only
    ctrl = nodeipam.new(ctx)
    nodes = client.resource(Node)
    nodes.add(node("old", "10.9.0.0/24"))
    nodes.add(node("new"))
    ctrl.occupy_existing()
    await drain(ctrl.queue, ctrl.sync)
    assert nodes.objects["new"].spec.pod_cidr == "10.9.1.0/24"
    # The pool is exhausted now: a third node gets an event and an error (retried with backoff).
    nodes.add(node("third"))
    with pytest.raises(RuntimeError):
        await drain(ctrl.queue, ctrl.sync)
    assert ("Normal", "CIDRNotAvailable", "Node third status is now: CIDRNotAvailable") in recorded_events(ctrl.recorder)
    assert nodes.objects["third"].spec.pod_cidr is None
