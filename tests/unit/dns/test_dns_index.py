"""The index: what is kept of Services and EndpointSlices, and how it follows their changes."""

from __future__ import annotations

from dns_builders import endpoint, endpoint_slice, headless, service

from kybernetes.dns import ClusterIndex
from kybernetes.dns.index import PortEntry, dashed_ip, service_entry


def test_service_entries() -> None:
    plain = service_entry(service("Web", "Default", cluster_ip="10.96.0.20", ports=[("HTTP", 80, "TCP"), (None, 81, "UDP")]))
    assert plain is not None and plain.kind == "ClusterIP" and (plain.namespace, plain.name) == ("default", "web")
    assert plain.cluster_ips == ("10.96.0.20",)
    assert plain.ports == (PortEntry(name="http", port=80, protocol="tcp"), PortEntry(name="", port=81, protocol="udp"))
    hl = service_entry(headless("db"))
    assert hl is not None and hl.headless and hl.cluster_ips == ()
    ext = service_entry(service("ext", cluster_ip=None, type="ExternalName", external_name="WWW.Example.com."))
    assert ext is not None and ext.kind == "ExternalName" and ext.external_name == "www.example.com"


def test_dashed_ip() -> None:
    assert dashed_ip("10.244.0.5") == "10-244-0-5"
    assert dashed_ip("fd00::5") == "fd00--5"


def test_slices_merge_dedupe_and_skip_unready() -> None:
    idx = ClusterIndex()
    idx.upsert_slice(endpoint_slice("db", endpoint("10.0.0.1", hostname="a"), endpoint("10.0.0.2", ready=False),
                                    name="db-1"))
    # the same endpoint in a second slice (mid-move) is listed once
    idx.upsert_slice(endpoint_slice("db", endpoint("10.0.0.1", hostname="a"), endpoint("10.0.0.3"), name="db-2"))
    idx.upsert_slice(endpoint_slice("db", endpoint("10.0.0.9"), name="fqdn", address_type="FQDN"))
    assert [(e.ip, e.label) for e in idx.endpoints(namespace="default", name="db")] == [
        ("10.0.0.1", "a"), ("10.0.0.3", "10-0-0-3")]
    idx.delete_slice(endpoint_slice("db", name="db-1"))
    assert [e.ip for e in idx.endpoints(namespace="default", name="db")] == ["10.0.0.1", "10.0.0.3"]
    # a slice that changes service moves with it
    idx.upsert_slice(endpoint_slice("other", endpoint("10.0.0.7"), name="db-2"))
    assert idx.endpoints(namespace="default", name="db") == ()
    assert [e.ip for e in idx.endpoints(namespace="default", name="other")] == ["10.0.0.7"]


def test_reverse_records_follow_services_and_slices() -> None:
    idx = ClusterIndex()
    idx.upsert_slice(endpoint_slice("db", endpoint("10.0.0.1", hostname="db-0")))
    assert idx.reverse("10.0.0.1") == []  # no Service yet: its names do not resolve either
    idx.upsert_service(headless("db"))
    assert idx.reverse("10.0.0.1") == ["db-0.db.default.svc"]
    idx.upsert_service(headless("db2"))
    idx.upsert_slice(endpoint_slice("db2", endpoint("10.0.0.1"), name="db2-x"))
    assert idx.reverse("10.0.0.1") == ["10-0-0-1.db2.default.svc", "db-0.db.default.svc"]
    idx.upsert_service(service("web", cluster_ip="10.96.0.30"))
    assert idx.reverse("10.96.0.30") == ["web.default.svc"]
    idx.upsert_service(service("web", cluster_ip="10.96.0.31"))
    assert idx.reverse("10.96.0.30") == [] and idx.reverse("10.96.0.31") == ["web.default.svc"]
    idx.delete_service(headless("db"))
    assert idx.reverse("10.0.0.1") == ["10-0-0-1.db2.default.svc"]
    assert idx.reverse("fd00::1") == []


def test_namespaces_are_known_by_their_services() -> None:
    idx = ClusterIndex()
    assert not idx.has_namespace("default")
    idx.upsert_service(service("a"))
    idx.upsert_service(service("a"))  # an update, not a second service
    idx.upsert_service(service("b"))
    idx.delete_service(service("a"))
    assert idx.has_namespace("default")
    idx.delete_service(service("b"))
    assert not idx.has_namespace("default")
    assert idx.statistics()["services"] == 0
