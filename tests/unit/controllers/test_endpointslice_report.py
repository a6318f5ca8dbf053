"""The EndpointSlice controller's reports about bad Services: a selector matching nothing, a named target
port no pod has, a pod on a node that is gone (left out of the slices) — each a Warning event on the
Service, once, and never in the way of other Services' slices."""

from __future__ import annotations

from cluster_fake_api import recorded_events
from fakeclient_core import FakeClient
from test_endpoints_controller import _ctx, pod, service

from kybernetes.api.models.core_v1 import ContainerPort, Node, ServicePort
from kybernetes.api.models.discovery_v1 import EndpointSlice
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.controllers.endpointslice import new as new_slices
from kybernetes.controllers.endpointslice.report import NO_PODS, NODE_NOT_FOUND, PORT_NOT_FOUND, check_service


def _endpoint_ips(client: FakeClient, name: str) -> set[str]:
    return {e.addresses[0] for s in client.resource(EndpointSlice).stored()
            if s.metadata.labels["kubernetes.io/service-name"] == name for e in s.endpoints or []}


def test_check_service_finds_each_problem() -> None:
    named = service(ports=[ServicePort(name="http", port=80, target_port="web", protocol="TCP")])
    web = [ContainerPort(name="web", container_port=8080)]
    assert [r for r, _ in check_service(named, [], nodes={"n1"}).problems] == [NO_PODS]
    ok = check_service(named, [pod("a", ports=web)], nodes={"n1"})
    assert ok.problems == [] and len(ok.pods) == 1
    [(reason, message)] = check_service(named, [pod("a")], nodes={"n1"}).problems
    assert reason == PORT_NOT_FOUND and "'web'" in message and "'http'" in message
    lost = check_service(named, [pod("a", ports=web), pod("b", ports=web, node="gone")], nodes={"n1"})
    assert [p.metadata.name for p in lost.pods] == ["a"]
    assert lost.problems == [(NODE_NOT_FOUND, "Error updating Endpoint Slices for Service ns/web: "
                              "skipping Pod b for Service ns/web: Node gone not found")]
    # Publishing not-ready addresses keeps the pod, as Kubernetes does.
    kept = check_service(service(publish_not_ready_addresses=True), [pod("b", node="gone")], nodes=set())
    assert kept.problems == [] and len(kept.pods) == 1


async def test_problems_are_events_once_and_other_services_keep_their_endpoints() -> None:
    client = FakeClient()
    controller = new_slices(_ctx(client))
    recorder = controller.reporter.recorder
    assert recorder is not None
    controller.nodes.store.upsert(Node(metadata=ObjectMeta(name="n1")))
    controller.nodes.store.upsert(Node(metadata=ObjectMeta(name="n2")))
    controller.services.store.upsert(service("good"))
    controller.services.store.upsert(service("empty", selector={"app": "nothing"}))
    controller.services.store.upsert(service("badport", ports=[ServicePort(name="http", port=80,
                                                                           target_port="nope")]))
    controller.pods.store.upsert(pod("a", ip="10.0.0.1", node="n1"))
    controller.pods.store.upsert(pod("b", ip="10.0.0.2", node="n2"))
    for name in ("good", "empty", "badport"):
        await controller.sync(f"ns/{name}")
    events = recorded_events(recorder)
    assert sorted(r for _, r, _ in events) == [PORT_NOT_FOUND, NO_PODS]
    assert all(t == "Warning" for t, _, _ in events)
    assert _endpoint_ips(client, "good") == {"10.0.0.1", "10.0.0.2"}

    # Node n2 is gone: its pod leaves the slices of the services selecting it, reported once.
    for s in client.resource(EndpointSlice).stored():
        controller.slices.store.upsert(s)
    controller.nodes.store.remove("n2")
    controller.nodes._deleted(Node(metadata=ObjectMeta(name="n2")))
    assert "ns/good" in [controller.queue.get_nowait() for _ in range(len(controller.queue))]
    await controller.sync("ns/good")
    assert _endpoint_ips(client, "good") == {"10.0.0.1"}
    [(kind, reason, message)] = recorded_events(recorder)
    assert (kind, reason) == ("Warning", NODE_NOT_FOUND) and "Pod b" in message
    for s in client.resource(EndpointSlice).stored():
        controller.slices.store.upsert(s)
    await controller.sync("ns/good")
    assert recorded_events(recorder) == []  # not again while nothing changes
    assert controller.reporter.reported["ns/good"]
    # The orphan is gone: the problem is forgotten.
    controller.pods.store.remove("ns/b")
    await controller.sync("ns/good")
    assert "ns/good" not in controller.reporter.reported


def test_a_pod_without_an_address_on_a_gone_node_is_no_endpoint_problem() -> None:
    checked = check_service(service(), [pod("a", ip=None, node="gone")], nodes={"n1"})
    assert checked.problems == []
