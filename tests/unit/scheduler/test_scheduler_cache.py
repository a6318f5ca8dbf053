"""The assume cache and the snapshot: assumed pods count at once, confirmations, forgetting, ghosts."""

from __future__ import annotations

from msgspec.structs import replace
from scheduler_fakes import info, node, pod

from kybernetes.scheduler.cache import SchedulerCache, Snapshot

ZONE = "topology.kubernetes.io/zone"


def test_assumed_pod_is_counted_before_binding_and_confirmed_by_the_informer() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n1", cpu="2"))
    p = pod("p", cpu="1500m")
    cache.assume_pod(info(p), "n1")
    n1 = cache.node("n1")
    assert n1 is not None and n1.requested.milli_cpu == 1500 and cache.is_assumed("default/p")
    assert p.spec is not None
    bound = replace(p, spec=replace(p.spec, node_name="n1"))
    cache.add_pod(bound)  # the watch reports the binding
    assert not cache.is_assumed("default/p") and n1.requested.milli_cpu == 1500 and len(n1.pods) == 1
    cache.remove_pod(bound)
    assert n1.requested.milli_cpu == 0 and not n1.pods


def test_forget_undoes_an_assumption() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    cache.assume_pod(info(pod("p", cpu="1", host_port=80)), "n1")
    n1 = cache.node("n1")
    assert n1 is not None and n1.port_conflict("0.0.0.0", "TCP", 80)
    cache.forget_pod("default/p")
    assert n1.requested.milli_cpu == 0 and not n1.port_conflict("0.0.0.0", "TCP", 80)
    assert cache.statistics().pods == 0


def test_assumed_pod_reported_on_another_node_moves() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    cache.add_node(node("n2"))
    p = pod("p", cpu="1")
    cache.assume_pod(info(p), "n1")
    assert p.spec is not None
    cache.add_pod(replace(p, spec=replace(p.spec, node_name="n2")))
    n1, n2 = cache.node("n1"), cache.node("n2")
    assert n1 is not None and n2 is not None
    assert n1.requested.milli_cpu == 0 and n2.requested.milli_cpu == 1000


def test_pods_on_unknown_nodes_wait_on_a_ghost() -> None:
    cache = SchedulerCache()
    cache.add_pod(pod("p", cpu="1", node_name="late"))
    snap = cache.update_snapshot(Snapshot())
    assert snap.nodes == [] and snap.get("late") is None
    cache.add_node(node("late", cpu="2"))
    snap = cache.update_snapshot(snap)
    assert [n.name for n in snap.nodes] == ["late"] and snap.nodes[0].requested.milli_cpu == 1000


def test_snapshot_interleaves_zones_and_updates_incrementally() -> None:
    cache = SchedulerCache()
    for name, zone in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c")):
        cache.add_node(node(name, labels={ZONE: zone}))
    snap = cache.update_snapshot(Snapshot())
    assert [n.name for n in snap.nodes] == ["a1", "b1", "c1", "a2", "a3"]
    nodes_list = snap.nodes
    cache.add_pod(pod("p", node_name="a1"))
    assert cache.update_snapshot(snap).nodes is nodes_list  # pods only: no rebuild
    cache.add_node(node("d1", labels={ZONE: "d"}))
    assert len(cache.update_snapshot(snap).nodes) == 6


def test_owner_index_follows_assume_confirm_move_forget_and_remove() -> None:
    cache = SchedulerCache()
    for name in ("n1", "n2"):
        cache.add_node(node(name))
    a, b = pod("a", owner_uid="rs"), pod("b", owner_uid="rs")
    cache.assume_pod(info(a), "n1")
    cache.assume_pod(info(b), "n1")
    assert dict(cache.owner_nodes("rs")) == {"n1": 2}
    assert a.spec is not None and b.spec is not None
    cache.add_pod(replace(a, spec=replace(a.spec, node_name="n1")))  # confirmed where assumed
    cache.add_pod(replace(b, spec=replace(b.spec, node_name="n2")))  # reported on another node: moves
    assert dict(cache.owner_nodes("rs")) == {"n1": 1, "n2": 1}
    snap = cache.update_snapshot(Snapshot())
    assert snap.owner_nodes is not None and dict(snap.owner_nodes["rs"]) == {"n1": 1, "n2": 1}
    cache.assume_pod(info(pod("c", owner_uid="rs")), "n2")
    cache.forget_pod("default/c")
    cache.remove_pod(replace(a, spec=replace(a.spec, node_name="n1")))
    assert dict(cache.owner_nodes("rs")) == {"n2": 1}
    cache.remove_pod(replace(b, spec=replace(b.spec, node_name="n2")))
    assert dict(cache.owner_nodes("rs")) == {} and snap.owner_nodes == {}
