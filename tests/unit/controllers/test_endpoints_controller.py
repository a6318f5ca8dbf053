"""The Endpoints and EndpointSlice controllers on fake caches: addresses from pod readiness, named target
ports, hostnames, selectorless services left alone, slices of at most N endpoints, no needless writes."""

from __future__ import annotations

from typing import Any

from fakeclient_core import FakeClient

from kybernetes.api.models.core_v1 import (
    Container,
    ContainerPort,
    Endpoints,
    Node,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    Service,
    ServicePort,
    ServiceSpec,
)
from kybernetes.api.models.discovery_v1 import EndpointSlice
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import FakeClock, SharedInformerFactory
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.endpoints import MANAGED_BY_LABEL, build_subsets
from kybernetes.controllers.endpoints import new as new_endpoints
from kybernetes.controllers.endpointslice import desired_endpoints
from kybernetes.controllers.endpointslice import new as new_slices
from kybernetes.controllers.endpointslice.reconcile import SERVICE_NAME_LABEL


def pod(name: str, *, ip: str | None = "10.0.0.1", ready: bool = True, labels: dict[str, str] | None = None,
        ports: list[ContainerPort] | None = None, node: str | None = "n1", deleting: bool = False,
        hostname: str | None = None, subdomain: str | None = None, phase: str = "Running") -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="ns", uid=f"uid-{name}", labels=labels or {"app": "web"},
                            deletion_timestamp="2026-01-01T00:00:00Z" if deleting else None),
        spec=PodSpec(containers=[Container(name="c", ports=ports)], node_name=node, hostname=hostname,
                     subdomain=subdomain),
        status=PodStatus(phase=phase, pod_ip=ip,
                         conditions=[PodCondition(type="Ready", status="True" if ready else "False")]),
    )


def service(name: str = "web", *, selector: dict[str, str] | None = None, ports: list[ServicePort] | None = None,
            cluster_ip: str = "10.96.0.10", **spec: Any) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace="ns", uid=f"uid-svc-{name}", labels={"team": "a"}),
        spec=ServiceSpec(selector=selector if selector is not None else {"app": "web"},
                         ports=ports if ports is not None else [ServicePort(name="http", port=80, target_port=8080,
                                                                             protocol="TCP")],
                         cluster_ip=cluster_ip, **spec),
    )


def test_ready_and_not_ready_addresses() -> None:
    subsets, truncated = build_subsets(service(), [
        pod("a", ip="10.0.0.2"), pod("b", ip="10.0.0.1", ready=False), pod("c", ip=None), pod("d", deleting=True),
    ])
    assert not truncated
    assert len(subsets) == 1
    assert [a.ip for a in subsets[0].addresses or []] == ["10.0.0.2"]
    assert [a.ip for a in subsets[0].not_ready_addresses or []] == ["10.0.0.1"]
    ref = (subsets[0].addresses or [])[0].target_ref
    assert ref is not None and (ref.kind, ref.name, ref.uid) == ("Pod", "a", "uid-a")
    assert (subsets[0].ports or [])[0].port == 8080


def test_named_target_port_resolves_per_pod() -> None:
    svc = service(ports=[ServicePort(name="http", port=80, target_port="web", protocol="TCP")])
    subsets, _ = build_subsets(svc, [
        pod("a", ip="10.0.0.1", ports=[ContainerPort(name="web", container_port=8080)]),
        pod("b", ip="10.0.0.2", ports=[ContainerPort(name="web", container_port=9090)]),
        pod("c", ip="10.0.0.3", ports=[ContainerPort(name="other", container_port=1)]),
    ])
    by_port = {(s.ports or [])[0].port: [a.ip for a in s.addresses or []] for s in subsets}
    assert by_port == {8080: ["10.0.0.1"], 9090: ["10.0.0.2"]}


def test_hostname_only_for_matching_subdomain() -> None:
    subsets, _ = build_subsets(service(), [
        pod("a", ip="10.0.0.1", hostname="a", subdomain="web"), pod("b", ip="10.0.0.2", hostname="b", subdomain="x"),
    ])
    assert [(a.ip, a.hostname) for a in subsets[0].addresses or []] == [("10.0.0.1", "a"), ("10.0.0.2", None)]


def test_publish_not_ready_and_finished_pods() -> None:
    svc = service(publish_not_ready_addresses=True)
    never = pod("done", ip="10.0.0.9")
    never = Pod(metadata=never.metadata, spec=PodSpec(containers=[Container(name="c")], restart_policy="Never"),
                status=PodStatus(phase="Succeeded", pod_ip="10.0.0.9"))
    subsets, _ = build_subsets(svc, [pod("a", ready=False), never])
    assert [a.ip for a in subsets[0].addresses or []] == ["10.0.0.1"]
    assert subsets[0].not_ready_addresses is None


def _ctx(client: FakeClient) -> ControllerContext:
    return ControllerContext(client=client, informers=SharedInformerFactory(client=client),  # type: ignore[arg-type]
                             clock=FakeClock())


async def test_endpoints_sync_creates_updates_and_skips() -> None:
    client = FakeClient()
    ctx = _ctx(client)
    controller = new_endpoints(ctx)
    svc = service()
    controller.services.store.upsert(svc)
    controller.pods.store.upsert(pod("a"))
    controller.pods.store.upsert(pod("x", labels={"app": "other"}, ip="10.0.0.7"))
    await controller.sync("ns/web")
    ep = client.objects[("endpoints", "ns", "web")]
    assert (ep.metadata.labels or {})[MANAGED_BY_LABEL] == "endpoint-controller"
    assert ep.metadata.labels["team"] == "a"
    assert [a.ip for a in ep.subsets[0].addresses] == ["10.0.0.1"]
    controller.endpoints.store.upsert(ep)
    writes = len(client.calls)
    await controller.sync("ns/web")
    assert len(client.calls) == writes  # nothing changed, nothing written
    controller.pods.store.upsert(pod("a", ready=False))
    await controller.sync("ns/web")
    ep = client.objects[("endpoints", "ns", "web")]
    assert ep.subsets[0].addresses is None
    assert [a.ip for a in ep.subsets[0].not_ready_addresses] == ["10.0.0.1"]


async def test_endpoints_selectorless_untouched_and_deleted_service() -> None:
    client = FakeClient()
    controller = new_endpoints(_ctx(client))
    controller.services.store.upsert(service("manual", selector={}))
    await controller.sync("ns/manual")
    assert client.calls == []
    await client.resource(Endpoints).create(Endpoints(metadata=ObjectMeta(name="gone", namespace="ns")))
    await controller.sync("ns/gone")
    assert ("endpoints", "ns", "gone") not in client.objects


async def test_pod_change_enqueues_matching_services() -> None:
    client = FakeClient()
    controller = new_endpoints(_ctx(client))
    controller.services.store.upsert(service("web"))
    controller.services.store.upsert(service("db", selector={"app": "db"}))
    controller._pods_changed(pod("a"))
    assert controller.queue.get_nowait() == "ns/web"
    assert controller.queue.get_nowait() is None


def test_slice_endpoint_conditions() -> None:
    groups = desired_endpoints(service(), [pod("a"), pod("b", ready=False, ip="10.0.0.2"),
                                           pod("c", deleting=True, ip="10.0.0.3")], zone_of={"n1": "z1"})
    [(key, endpoints)] = groups.items()
    assert key == (("http", 8080, "TCP", ""),)
    conds = {e.target_ref.name: (e.conditions.ready, e.conditions.serving, e.conditions.terminating)
             for e in endpoints if e.target_ref and e.conditions}
    assert conds == {"a": (True, True, False), "b": (False, False, False), "c": (False, True, True)}
    assert {e.zone for e in endpoints} == {"z1"}


async def test_slices_split_at_max_and_owned_by_service() -> None:
    client = FakeClient()
    ctx = _ctx(client)
    ctx.options["max-endpoints-per-slice"] = "2"
    controller = new_slices(ctx)
    controller.services.store.upsert(service())
    controller.nodes.store.upsert(Node(metadata=ObjectMeta(name="n1")))
    for i in range(5):
        controller.pods.store.upsert(pod(f"p{i}", ip=f"10.0.0.{i + 1}"))
    await controller.sync("ns/web")
    slices = client.resource(EndpointSlice).stored()
    assert sorted(len(s.endpoints) for s in slices) == [1, 2, 2]
    for s in slices:
        assert s.address_type == "IPv4"
        assert s.metadata.labels[SERVICE_NAME_LABEL] == "web"
        assert s.metadata.labels["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
        [owner] = s.metadata.owner_references
        assert (owner.kind, owner.name, owner.controller, owner.block_owner_deletion) == ("Service", "web", True, True)
    # Until the cache has seen our writes, a sync does nothing (no duplicate slices).
    await controller.sync("ns/web")
    assert len(client.resource(EndpointSlice).stored()) == 3
    for s in slices:
        controller.slices.store.upsert(s)
    for i in range(3, 5):
        controller.pods.store.remove(f"ns/p{i}")
    writes = len(client.calls)
    await controller.sync("ns/web")
    stored = client.resource(EndpointSlice).stored()
    assert sorted(len(s.endpoints) for s in stored) == [1, 2]
    assert len(client.calls) - writes <= 2  # one slice rewritten at most, one deleted


async def test_service_without_pods_gets_placeholder_slice() -> None:
    client = FakeClient()
    controller = new_slices(_ctx(client))
    controller.services.store.upsert(service())
    await controller.sync("ns/web")
    [placeholder] = client.resource(EndpointSlice).stored()
    assert placeholder.endpoints == [] and placeholder.ports == []
