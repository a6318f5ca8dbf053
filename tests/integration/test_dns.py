"""`kyb dns` against a real `kyb server`: Services and EndpointSlices created through the API, the DNS run as
its own process on a free 127.0.0.1 port and queried with dnspython over UDP and TCP.

Names outside the zone go to a tiny upstream resolver this test runs on 127.0.0.1 (never the internet).
Every wait polls against a deadline; changes must show within a couple of seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from cluster import ServerProcess, free_port
from kybernetes.api.models.core_v1 import Endpoints, Namespace, Service, ServicePort, ServiceSpec
from kybernetes.api.models.discovery_v1 import Endpoint, EndpointConditions, EndpointPort, EndpointSlice
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import Client, load_config
from kybernetes.machinery.errors import NotFoundError

T = TypeVar("T")
SERVICE_IP = "10.96.0.10"


# ---- a tiny upstream resolver on 127.0.0.1 ---------------------------------------------------------------

class Upstream:
    """Answers `*.example.test.` with 192.0.2.7 and `www.external.test.` with 192.0.2.53, over UDP and TCP
    on one port; says NXDOMAIN to other names, and never answers `drop.test.`."""

    def __init__(self) -> None:
        for _ in range(20):  # one port for both: TCP first, then UDP on the same number if it is free
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(("127.0.0.1", 0))
            self.port = int(self.listener.getsockname()[1])
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self.sock.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.sock.close()
                self.listener.close()
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.sock.settimeout(0.2)
        self.asked: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _answer(self, data: bytes) -> bytes | None:
        query = dns.message.from_wire(data)
        name = query.question[0].name.to_text().lower()
        self.asked.append(name)
        if name == "drop.test.":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        address = {"www.external.test.": "192.0.2.53"}.get(name, "192.0.2.7")
        if name.endswith("example.test.") or name == "www.external.test.":
            response.answer = dns.message.from_text(f"id 1\n;ANSWER\n{name} 120 IN A {address}\n").answer
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            reply = self._answer(data)
            if reply is not None:
                self.sock.sendto(reply, addr)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    length = int.from_bytes(conn.recv(2), "big")
                    data = b""
                    while len(data) < length:
                        chunk = conn.recv(length - len(data))
                        if not chunk:
                            break
                        data += chunk
                    reply = self._answer(data)
                    if reply is not None:
                        conn.sendall(len(reply).to_bytes(2, "big") + reply)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.sock.close()
        self.listener.close()


# ---- processes --------------------------------------------------------------------------------------------

class DNSProcess:
    def __init__(self, *, server: ServerProcess, upstream: Upstream, advertise: str) -> None:
        self.port = free_port()
        self.log_path = Path(tempfile.mkdtemp(prefix="kyb-dns-test-")) / "dns.log"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", "dns", "--kubeconfig", str(server.kubeconfig),
             "--listen", f"127.0.0.1:{self.port}", "--upstream", f"127.0.0.1:{upstream.port}",
             "--service-ip", SERVICE_IP, "--advertise-address", advertise],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    proc = ServerProcess().start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    try:
        yield up
    finally:
        up.close()


@pytest.fixture(scope="module")
def dns_server(server: ServerProcess, upstream: Upstream) -> Iterator[DNSProcess]:
    proc = DNSProcess(server=server, upstream=upstream, advertise="127.0.0.1")
    try:
        deadline = time.monotonic() + 30
        while True:  # ready once the cluster zone answers (the informers have listed)
            assert proc.proc.poll() is None, f"kyb dns exited:\n{proc.log()}"
            try:
                r = dns.query.udp(dns.message.make_query("kubernetes.default.svc.cluster.local", "A"),
                                  "127.0.0.1", port=proc.port, timeout=0.5)
                if r.rcode() == dns.rcode.NOERROR and r.answer:
                    break
            except (dns.exception.Timeout, OSError):
                pass
            assert time.monotonic() < deadline, f"kyb dns not answering:\n{proc.log()}"
            time.sleep(0.05)
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    async with Client(load_config(kubeconfig=str(server.kubeconfig))) as c:
        yield c


@pytest.fixture
async def namespace(client: Client) -> str:
    name = f"dns-{uuid.uuid4().hex[:8]}"
    await client.resource(Namespace).create(Namespace(metadata=ObjectMeta(name=name)))
    return name


# ---- helpers ----------------------------------------------------------------------------------------------

async def eventually(check: Callable[[], Awaitable[T | None]], *, within: float = 2.0, what: str = "") -> T:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.05)


async def query(port: int, name: str, rdtype: str = "A", *, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    if tcp:
        return await dns.asyncquery.tcp(q, "127.0.0.1", port=port, timeout=5)
    return await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=5)


def rdata(response: dns.message.Message, rdtype: str) -> list[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    return sorted(rd.to_text() for rrset in response.answer if rrset.rdtype == wanted for rd in rrset)


async def answers(port: int, name: str, rdtype: str = "A", *, want: list[str], tcp: bool = False) -> list[str]:
    async def check() -> list[str] | None:
        got = rdata(await query(port, name, rdtype, tcp=tcp), rdtype)
        return got if got == want else None
    return await eventually(check, what=f"{name} {rdtype} → {want}")


def slice_for(service: str, namespace: str, *endpoints: Endpoint, ports: list[EndpointPort],
              name: str | None = None) -> EndpointSlice:
    return EndpointSlice(
        metadata=ObjectMeta(name=name or f"{service}-1", namespace=namespace,
                            labels={"kubernetes.io/service-name": service}),
        address_type="IPv4", endpoints=list(endpoints), ports=ports,
    )


def ready(ip: str, hostname: str | None = None, is_ready: bool = True) -> Endpoint:
    return Endpoint(addresses=[ip], hostname=hostname, conditions=EndpointConditions(ready=is_ready))


# ---- tests ------------------------------------------------------------------------------------------------

async def test_cluster_ip_service_srv_ptr_and_updates(dns_server: DNSProcess, client: Client, namespace: str) -> None:
    port = dns_server.port
    created = await client.resource(Service).create(Service(
        metadata=ObjectMeta(name="web", namespace=namespace),
        spec=ServiceSpec(ports=[ServicePort(name="http", port=80, protocol="TCP")])))
    assert created.spec is not None and created.spec.cluster_ip
    ip = created.spec.cluster_ip
    name = f"web.{namespace}.svc.cluster.local"
    await answers(port, name, want=[ip])
    await answers(port, name, want=[ip], tcp=True)
    await answers(port, name.upper(), want=[ip])
    srv = await query(port, f"_http._tcp.{name}", "SRV")
    assert rdata(srv, "SRV") == [f"0 100 80 {name}."]
    reverse = ".".join(reversed(ip.split("."))) + ".in-addr.arpa."
    assert rdata(await query(port, reverse, "PTR"), "PTR") == [f"{name}."]
    nodata = await query(port, name, "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority and nodata.authority[0].rdtype == dns.rdatatype.SOA

    await client.resource(Service).delete(name="web", namespace=namespace)

    async def gone() -> bool:
        return (await query(port, name)).rcode() == dns.rcode.NXDOMAIN
    await eventually(gone, what=f"{name} NXDOMAIN after delete")


async def test_headless_statefulset_style_records(dns_server: DNSProcess, client: Client, namespace: str) -> None:
    port = dns_server.port
    await client.resource(Service).create(Service(
        metadata=ObjectMeta(name="db", namespace=namespace),
        spec=ServiceSpec(cluster_ip="None", ports=[ServicePort(name="pg", port=5432, protocol="TCP")])))
    name = f"db.{namespace}.svc.cluster.local"

    async def nxdomain() -> bool:
        return (await query(port, name)).rcode() == dns.rcode.NXDOMAIN
    await eventually(nxdomain, what="headless service without endpoints is NXDOMAIN")

    slices = client.resource(EndpointSlice)
    created = await slices.create(slice_for(
        "db", namespace, ready("10.244.0.10", "db-0"), ready("10.244.0.11", "db-1"),
        ready("10.244.0.12", "db-2", is_ready=False), ports=[EndpointPort(name="pg", port=5432, protocol="TCP")]))
    await answers(port, name, want=["10.244.0.10", "10.244.0.11"])
    await answers(port, f"db-1.{name}", want=["10.244.0.11"])
    srv = await query(port, f"_pg._tcp.{name}", "SRV")
    assert rdata(srv, "SRV") == [f"0 50 5432 db-0.{name}.", f"0 50 5432 db-1.{name}."]
    assert sorted(rrset.to_text() for rrset in srv.additional) == [
        f"db-0.{name}. 5 IN A 10.244.0.10", f"db-1.{name}. 5 IN A 10.244.0.11"]
    assert rdata(await query(port, "10.0.244.10.in-addr.arpa.", "PTR"), "PTR") == [f"db-0.{name}."]

    # db-2 becomes ready: it shows up within a couple of seconds
    assert created.endpoints is not None
    created.endpoints[2] = ready("10.244.0.12", "db-2")
    await slices.update(created)
    await answers(port, f"db-2.{name}", want=["10.244.0.12"])
    await answers(port, name, want=["10.244.0.10", "10.244.0.11", "10.244.0.12"])


async def test_external_name_pods_and_forwarding(dns_server: DNSProcess, client: Client, namespace: str,
                                                 upstream: Upstream) -> None:
    port = dns_server.port
    await client.resource(Service).create(Service(
        metadata=ObjectMeta(name="ext", namespace=namespace),
        spec=ServiceSpec(type="ExternalName", external_name="www.external.test")))
    name = f"ext.{namespace}.svc.cluster.local"

    async def chased() -> list[str] | None:
        r = await query(port, name)
        got = [rrset.to_text() for rrset in r.answer]
        return got if len(got) == 2 else None
    got = await eventually(chased, what="ExternalName CNAME and its target")
    assert got == [f"{name}. 5 IN CNAME www.external.test.", "www.external.test. 120 IN A 192.0.2.53"]

    assert rdata(await query(port, f"10-244-1-9.{namespace}.pod.cluster.local"), "A") == ["10.244.1.9"]

    # outside the zone: the upstream answers, over UDP and TCP
    forwarded = await query(port, "host.example.test")
    assert rdata(forwarded, "A") == ["192.0.2.7"] and not forwarded.flags & dns.flags.AA
    assert rdata(await query(port, "host.example.test", tcp=True), "A") == ["192.0.2.7"]
    assert (await query(port, "nothing.test")).rcode() == dns.rcode.NXDOMAIN
    assert "nothing.test." in upstream.asked
    # an upstream that never answers: SERVFAIL after the forwarding timeout
    assert (await query(port, "drop.test")).rcode() == dns.rcode.SERVFAIL
    # an unknown cluster name is never forwarded
    before = len(upstream.asked)
    assert (await query(port, f"nope.{namespace}.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN
    assert len(upstream.asked) == before


async def test_large_answers_truncate_over_udp(dns_server: DNSProcess, client: Client, namespace: str) -> None:
    port = dns_server.port
    await client.resource(Service).create(Service(
        metadata=ObjectMeta(name="many", namespace=namespace), spec=ServiceSpec(cluster_ip="None")))
    await client.resource(EndpointSlice).create(slice_for(
        "many", namespace, *(ready(f"10.244.2.{i}") for i in range(1, 61)), ports=[]))
    name = f"many.{namespace}.svc.cluster.local"

    async def truncated() -> dns.message.Message | None:
        r = await query(port, name)
        return r if r.flags & dns.flags.TC else None
    await eventually(truncated, what="a 60-address answer truncated over UDP")
    full = await query(port, name, tcp=True)
    assert len(rdata(full, "A")) == 60 and not full.flags & dns.flags.TC


async def test_kube_dns_service_is_published(dns_server: DNSProcess, client: Client, server: ServerProcess,
                                             upstream: Upstream) -> None:
    async def published() -> EndpointSlice | None:
        try:
            return await client.resource(EndpointSlice).get(name=f"kube-dns-127-0-0-1-{dns_server.port}",
                                                            namespace="kube-system")
        except NotFoundError:
            return None
    slice_ = await eventually(published, what="kube-dns EndpointSlice")
    svc = await client.resource(Service).get(name="kube-dns", namespace="kube-system")
    assert svc.spec is not None and svc.spec.cluster_ip == SERVICE_IP and not svc.spec.selector
    assert [(p.name, p.port, p.protocol) for p in svc.spec.ports or []] == [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]
    assert svc.metadata is not None and (svc.metadata.labels or {})["k8s-app"] == "kube-dns"
    assert slice_.endpoints is not None and slice_.endpoints[0].addresses == ["127.0.0.1"]
    assert [(p.name, p.port, p.protocol) for p in slice_.ports or []] == [
        ("dns", dns_server.port, "UDP"), ("dns-tcp", dns_server.port, "TCP")]
    assert slice_.metadata is not None and (slice_.metadata.labels or {}) == {
        "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS",
        "kubernetes.io/service-name": "kube-dns", "endpointslice.kubernetes.io/managed-by": "kyb-dns"}
    # the Service answers for itself
    await answers(dns_server.port, "kube-dns.kube-system.svc.cluster.local", want=[SERVICE_IP])

    # deleted by someone: put back
    await client.resource(EndpointSlice).delete(name=slice_.metadata.name or "", namespace="kube-system")
    await eventually(published, what="kube-dns EndpointSlice recreated")

    # a second server publishes beside the first, and withdraws itself when it stops
    second = DNSProcess(server=server, upstream=upstream, advertise="127.0.0.2")
    try:
        second_name = f"kube-dns-127-0-0-2-{second.port}"

        async def both() -> Endpoints | None:
            try:
                await client.resource(EndpointSlice).get(name=second_name, namespace="kube-system")
                eps = await client.resource(Endpoints).get(name="kube-dns", namespace="kube-system")
            except NotFoundError:
                return None
            ips = sorted(a.ip or "" for s in eps.subsets or [] for a in s.addresses or [])
            return eps if len(ips) == 2 else None
        await eventually(both, within=30, what="second kyb dns published")
    finally:
        assert second.stop() == 0, second.log()

    async def withdrawn() -> bool:
        try:
            await client.resource(EndpointSlice).get(name=second_name, namespace="kube-system")
            return False
        except NotFoundError:
            pass
        eps = await client.resource(Endpoints).get(name="kube-dns", namespace="kube-system")
        return [a.ip for s in eps.subsets or [] for a in s.addresses or []] == ["127.0.0.1"]
    await eventually(withdrawn, what="second kyb dns withdrawn")
    await eventually(published, what="first kyb dns still published")
