"""The cluster zone as clients see it: wire-format queries through `DNSHandler` against an index built from
Service and EndpointSlice objects (every record type, negative answers, case, truncation, bad input)."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest
from dns_builders import ask, endpoint, endpoint_slice, handler, headless, service, values

from kybernetes.dns import ClusterIndex, DNSHandler, Forwarder, ForwardError

ZONE = "svc.cluster.local"


@pytest.fixture
def index() -> ClusterIndex:
    idx = ClusterIndex()
    idx.upsert_service(service("web", cluster_ip="10.96.0.20", ports=[("http", 80, "TCP"), (None, 8080, "TCP"),
                                                                       ("dns", 53, "UDP")]))
    idx.upsert_slice(endpoint_slice("web", endpoint("10.244.1.5"), endpoint("10.244.1.6", ready=False),
                                    ports=[("http", 8080, "TCP")]))
    idx.upsert_service(headless("db", ports=[("pg", 5432, "TCP")]))
    idx.upsert_slice(endpoint_slice(
        "db", endpoint("10.244.0.5", hostname="db-0"), endpoint("10.244.0.6", hostname="db-1"),
        endpoint("10.244.0.7", hostname="db-2", ready=False), endpoint("10.244.0.8", ready=None),
        ports=[("pg", 5432, "TCP")]))
    idx.upsert_service(headless("empty", ports=[("x", 1, "TCP")]))
    idx.upsert_service(service("ext", cluster_ip=None, type="ExternalName", external_name="www.example.com"))
    idx.upsert_service(service("alias", cluster_ip=None, type="ExternalName",
                               external_name="web.default.svc.cluster.local."))
    idx.upsert_service(service("v6", namespace="other", cluster_ip="fd00:96::20", ports=[("http", 80, "TCP")]))
    return idx


async def test_cluster_ip_service_a_record(index: ClusterIndex) -> None:
    r = await ask(handler(index), f"web.default.{ZONE}")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert values(r) == ["10.96.0.20"]
    assert r.answer[0].ttl == 5


async def test_names_are_case_insensitive_and_owned_as_asked(index: ClusterIndex) -> None:
    r = await ask(handler(index), "WeB.DeFault.SVC.Cluster.Local.")
    assert values(r) == ["10.96.0.20"]
    assert r.answer[0].name.to_text() == "WeB.DeFault.SVC.Cluster.Local."


async def test_aaaa_for_an_ipv6_service_and_nodata_for_the_other_family(index: ClusterIndex) -> None:
    h = handler(index)
    r = await ask(h, f"v6.other.{ZONE}", "AAAA")
    assert values(r) == ["fd00:96::20"]
    nodata = await ask(h, f"v6.other.{ZONE}", "A")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    assert (await ask(h, f"web.default.{ZONE}", "AAAA")).answer == []


async def test_headless_service_answers_ready_endpoints(index: ClusterIndex) -> None:
    r = await ask(handler(index), f"db.default.{ZONE}")
    # db-2 is not ready; the endpoint without conditions counts as ready
    assert values(r) == ["10.244.0.5", "10.244.0.6", "10.244.0.8"]


async def test_headless_service_without_ready_endpoints_is_nxdomain(index: ClusterIndex) -> None:
    r = await ask(handler(index), f"empty.default.{ZONE}")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.authority[0].rdtype == dns.rdatatype.SOA


async def test_endpoint_hostname_records(index: ClusterIndex) -> None:
    h = handler(index)
    assert values(await ask(h, f"db-1.db.default.{ZONE}")) == ["10.244.0.6"]
    # endpoints without a hostname are named by their dashed IP
    assert values(await ask(h, f"10-244-0-8.db.default.{ZONE}")) == ["10.244.0.8"]
    # not-ready endpoints have no name
    assert (await ask(h, f"db-2.db.default.{ZONE}")).rcode() == dns.rcode.NXDOMAIN
    assert (await ask(h, f"db-9.db.default.{ZONE}")).rcode() == dns.rcode.NXDOMAIN
    # as in CoreDNS, a ClusterIP Service's endpoints are named too
    assert values(await ask(h, f"10-244-1-5.web.default.{ZONE}")) == ["10.244.1.5"]


async def test_srv_for_a_cluster_ip_service(index: ClusterIndex) -> None:
    r = await ask(handler(index), f"_http._tcp.web.default.{ZONE}", "SRV")
    assert values(r) == [f"0 100 80 web.default.{ZONE}."]
    assert [rrset.to_text() for rrset in r.additional] == [f"web.default.{ZONE}. 5 IN A 10.96.0.20"]
    udp = await ask(handler(index), f"_dns._udp.web.default.{ZONE}", "SRV")
    assert values(udp) == [f"0 100 53 web.default.{ZONE}."]


async def test_srv_for_a_headless_service_names_each_endpoint(index: ClusterIndex) -> None:
    r = await ask(handler(index), f"_pg._tcp.db.default.{ZONE}", "SRV")
    assert values(r) == [f"0 33 5432 10-244-0-8.db.default.{ZONE}.", f"0 33 5432 db-0.db.default.{ZONE}.",
                         f"0 33 5432 db-1.db.default.{ZONE}."]
    extra = {rrset.name.to_text(): [rd.to_text() for rd in rrset] for rrset in r.additional}
    assert extra[f"db-0.db.default.{ZONE}."] == ["10.244.0.5"]
    assert extra[f"10-244-0-8.db.default.{ZONE}."] == ["10.244.0.8"]


async def test_srv_misses(index: ClusterIndex) -> None:
    h = handler(index)
    # wrong protocol, unknown port name: the name does not exist
    assert (await ask(h, f"_http._udp.web.default.{ZONE}", "SRV")).rcode() == dns.rcode.NXDOMAIN
    assert (await ask(h, f"_nope._tcp.web.default.{ZONE}", "SRV")).rcode() == dns.rcode.NXDOMAIN
    # `_tcp.<svc>` exists (it has names below it) but holds no records
    ent = await ask(h, f"_tcp.web.default.{ZONE}", "SRV")
    assert ent.rcode() == dns.rcode.NOERROR and not ent.answer
    # an A query at an SRV name: NODATA
    a = await ask(h, f"_http._tcp.web.default.{ZONE}", "A")
    assert a.rcode() == dns.rcode.NOERROR and not a.answer and a.authority


async def test_external_name_is_a_cname_chased_upstream(index: ClusterIndex) -> None:
    class Upstream(Forwarder):
        async def query(self, query: dns.message.Message, *, tcp: bool = False) -> dns.message.Message:
            assert query.question[0].name.to_text() == "www.example.com."
            response = dns.message.make_response(query)
            response.answer = dns.message.from_text(
                "id 1\n;ANSWER\nwww.example.com. 300 IN A 192.0.2.53\n").answer
            return response

    h = handler(index, forwarder=Upstream(upstreams=[]))
    r = await ask(h, f"ext.default.{ZONE}")
    assert [rrset.to_text() for rrset in r.answer] == [f"ext.default.{ZONE}. 5 IN CNAME www.example.com.",
                                                       "www.example.com. 300 IN A 192.0.2.53"]
    cname = await ask(h, f"ext.default.{ZONE}", "CNAME")
    assert values(cname) == ["www.example.com."]


async def test_external_name_whose_target_is_unreachable_keeps_the_cname(index: ClusterIndex) -> None:
    r = await ask(handler(index), f"ext.default.{ZONE}")  # no upstreams at all
    assert r.rcode() == dns.rcode.NOERROR
    assert values(r) == ["www.example.com."]


async def test_external_name_inside_the_zone_is_chased_locally(index: ClusterIndex) -> None:
    r = await ask(handler(index), f"alias.default.{ZONE}")
    assert values(r, "CNAME") == [f"web.default.{ZONE}."]
    assert values(r, "A") == ["10.96.0.20"]


async def test_ptr_for_cluster_ips_and_endpoints(index: ClusterIndex) -> None:
    h = handler(index)
    assert values(await ask(h, "20.0.96.10.in-addr.arpa.", "PTR")) == [f"web.default.{ZONE}."]
    assert values(await ask(h, "5.0.244.10.in-addr.arpa.", "PTR")) == [f"db-0.db.default.{ZONE}."]
    assert values(await ask(h, "8.0.244.10.in-addr.arpa.", "PTR")) == [f"10-244-0-8.db.default.{ZONE}."]
    v6 = "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa."
    assert values(await ask(h, v6, "PTR")) == [f"v6.other.{ZONE}."]


async def test_unknown_reverse_names_fall_through_to_the_upstreams(index: ClusterIndex) -> None:
    asked: list[str] = []

    class Upstream(Forwarder):
        async def query(self, query: dns.message.Message, *, tcp: bool = False) -> dns.message.Message:
            asked.append(query.question[0].name.to_text())
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response

    r = await ask(handler(index, forwarder=Upstream(upstreams=[])), "9.9.9.10.in-addr.arpa.", "PTR")
    assert asked == ["9.9.9.10.in-addr.arpa."] and r.rcode() == dns.rcode.NXDOMAIN
    assert not r.flags & dns.flags.AA


async def test_pod_records_from_the_name(index: ClusterIndex) -> None:
    h = handler(index)
    assert values(await ask(h, "10-244-3-4.default.pod.cluster.local")) == ["10.244.3.4"]
    assert values(await ask(h, "fd00--1.default.pod.cluster.local", "AAAA")) == ["fd00::1"]
    assert (await ask(h, "10-244-3-999.default.pod.cluster.local")).rcode() == dns.rcode.NXDOMAIN
    assert (await ask(h, "10-244-3-4.default.pod.cluster.local", "AAAA")).answer == []


async def test_zone_apex_version_and_nameserver(index: ClusterIndex) -> None:
    h = handler(index)
    soa = await ask(h, "cluster.local", "SOA")
    assert soa.answer[0][0].mname.to_text() == "ns.dns.cluster.local."
    assert soa.answer[0][0].minimum == 5
    assert values(await ask(h, "dns-version.cluster.local", "TXT")) == ['"1.1.0"']
    assert values(await ask(h, "ns.dns.cluster.local")) == ["10.96.0.10"]
    assert values(await ask(h, "cluster.local", "NS")) == ["ns.dns.cluster.local."]


async def test_nxdomain_and_nodata(index: ClusterIndex) -> None:
    h = handler(index)
    for name in (f"nope.default.{ZONE}", f"web.nowhere.{ZONE}", "x.y.z.cluster.local", f"a.b.web.default.{ZONE}",
                 "nowhere.svc.cluster.local"):
        r = await ask(h, name)
        assert r.rcode() == dns.rcode.NXDOMAIN, name
        assert r.authority[0].rdtype == dns.rdatatype.SOA and r.authority[0].ttl == 5
        assert r.flags & dns.flags.AA
    for name, rdtype in ((f"web.default.{ZONE}", "MX"), (f"default.{ZONE}", "A"), (ZONE, "A")):
        r = await ask(h, name, rdtype)
        assert r.rcode() == dns.rcode.NOERROR and not r.answer, name
        assert r.authority[0].rdtype == dns.rdatatype.SOA


async def test_index_updates_show_at_once(index: ClusterIndex) -> None:
    h = handler(index)
    index.delete_service(service("web"))
    assert (await ask(h, f"web.default.{ZONE}")).rcode() == dns.rcode.NXDOMAIN
    assert (await ask(h, "20.0.96.10.in-addr.arpa.", "PTR")).answer == []  # forwarded (nothing upstream)
    index.delete_slice(endpoint_slice("db"))
    assert (await ask(h, f"db.default.{ZONE}")).rcode() == dns.rcode.NXDOMAIN


def _big_headless(count: int) -> ClusterIndex:
    idx = ClusterIndex()
    idx.upsert_service(headless("many", ports=[("p", 1, "TCP")]))
    idx.upsert_slice(endpoint_slice("many", *(endpoint(f"10.244.{i // 250}.{i % 250 + 1}") for i in range(count))))
    return idx


async def test_udp_answers_longer_than_512_bytes_are_truncated(index: ClusterIndex) -> None:
    h = handler(_big_headless(60))  # 60 A records of 16 bytes each (compressed) do not fit 512 bytes
    r = await ask(h, f"many.default.{ZONE}")
    assert r.flags & dns.flags.TC
    assert len(values(r)) < 60
    tcp = await ask(h, f"many.default.{ZONE}", tcp=True)
    assert not tcp.flags & dns.flags.TC and len(values(tcp)) == 60
    edns = await ask(h, f"many.default.{ZONE}", use_edns=0, payload=4096)
    assert not edns.flags & dns.flags.TC and len(values(edns)) == 60
    assert edns.edns == 0 and edns.payload == 1232  # our own advertised size
    assert h.stats.truncated == 1


async def test_not_synced_yet_is_servfail_for_the_zone(index: ClusterIndex) -> None:
    h = handler(index, ready=False)
    assert (await ask(h, f"web.default.{ZONE}")).rcode() == dns.rcode.SERVFAIL
    assert (await ask(h, "20.0.96.10.in-addr.arpa.", "PTR")).rcode() == dns.rcode.SERVFAIL


async def test_forwarding_and_its_failure(index: ClusterIndex) -> None:
    class Upstream(Forwarder):
        async def query(self, query: dns.message.Message, *, tcp: bool = False) -> dns.message.Message:
            if query.question[0].name.to_text() == "down.example.":
                raise ForwardError("timed out")
            response = dns.message.make_response(query)
            response.id = 4242  # the upstream query's id, not the client's
            response.answer = dns.message.from_text(
                f"id 1\n;ANSWER\n{query.question[0].name} 60 IN A 192.0.2.1\n").answer
            return response

    h = handler(index, forwarder=Upstream(upstreams=[]))
    ok = await ask(h, "up.example.")
    assert values(ok) == ["192.0.2.1"] and not ok.flags & dns.flags.AA and ok.flags & dns.flags.RA
    assert (await ask(h, "down.example.")).rcode() == dns.rcode.SERVFAIL


async def test_bad_input(index: ClusterIndex) -> None:
    h = handler(index)
    # garbage with a header: FORMERR, same id
    garbage = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x05abc"
    reply = await h.handle(garbage, tcp=False)
    assert reply is not None
    qid, flags = struct.unpack("!HH", reply[:4])
    assert qid == 0xBEEF and flags & 0x8000 and flags & 0x000F == dns.rcode.FORMERR
    # shorter than a header: nothing
    assert await h.handle(b"\x01\x02", tcp=False) is None
    # a response is never answered
    response = dns.message.make_response(dns.message.make_query("x.example.", "A"))
    assert await h.handle(response.to_wire(), tcp=False) is None
    # two questions: FORMERR
    two = dns.message.make_query(f"web.default.{ZONE}", "A")
    two.question.append(dns.message.make_query("x.example.", "A").question[0])
    assert dns.message.from_wire(await h.handle(two.to_wire(), tcp=False) or b"").rcode() == dns.rcode.FORMERR
    # another opcode: NOTIMP
    notify = dns.message.make_query(f"web.default.{ZONE}", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert dns.message.from_wire(await h.handle(notify.to_wire(), tcp=False) or b"").rcode() == dns.rcode.NOTIMP
    # EDNS version 1: BADVERS
    v1 = dns.message.make_query(f"web.default.{ZONE}", "A", use_edns=1)
    assert dns.message.from_wire(await h.handle(v1.to_wire(), tcp=False) or b"").rcode() == dns.rcode.BADVERS
    # zone transfers and other classes: REFUSED
    assert (await ask(h, "cluster.local", "AXFR", tcp=True)).rcode() == dns.rcode.REFUSED
    chaos = dns.message.make_query("version.bind.", "TXT", "CH")
    assert dns.message.from_wire(await h.handle(chaos.to_wire(), tcp=False) or b"").rcode() == dns.rcode.REFUSED


def test_handler_is_a_dnshandler(index: ClusterIndex) -> None:
    assert isinstance(handler(index), DNSHandler)
