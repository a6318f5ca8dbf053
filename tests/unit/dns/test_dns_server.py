"""The transports: a `DNSServer` on a free 127.0.0.1 port answering over UDP and TCP (several queries on one
TCP connection), truncating over UDP, and surviving garbage."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import pytest
from dns_builders import endpoint, endpoint_slice, handler, headless, service

from kybernetes.dns import ClusterIndex, DNSServer, parse_listen


@pytest.fixture
async def server() -> AsyncIterator[DNSServer]:
    idx = ClusterIndex()
    idx.upsert_service(service("web", cluster_ip="10.96.0.20"))
    idx.upsert_service(headless("many"))
    idx.upsert_slice(endpoint_slice("many", *(endpoint(f"10.244.0.{i}") for i in range(1, 61))))
    srv = DNSServer(handler=handler(idx), host="127.0.0.1", port=0)
    task = asyncio.create_task(srv.serve())
    await srv.bound.wait()
    try:
        yield srv
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_parse_listen() -> None:
    assert parse_listen("0.0.0.0:53") == ("0.0.0.0", 53)
    assert parse_listen(":5353") == ("0.0.0.0", 5353)
    assert parse_listen("[::]:53") == ("::", 53)
    assert parse_listen("127.0.0.1") == ("127.0.0.1", 53)


async def test_udp_and_tcp(server: DNSServer) -> None:
    q = dns.message.make_query("web.default.svc.cluster.local", "A")
    udp = await dns.asyncquery.udp(q, "127.0.0.1", port=server.port, timeout=5)
    assert udp.answer[0][0].to_text() == "10.96.0.20"
    tcp = await dns.asyncquery.tcp(q, "127.0.0.1", port=server.port, timeout=5)
    assert tcp.answer[0][0].to_text() == "10.96.0.20"


async def test_truncated_over_udp_whole_over_tcp(server: DNSServer) -> None:
    q = dns.message.make_query("many.default.svc.cluster.local", "A")
    response, used_tcp = await dns.asyncquery.udp_with_fallback(q, "127.0.0.1", port=server.port, timeout=5)
    assert used_tcp and len(response.answer[0]) == 60
    assert server.handler.stats.truncated == 1


async def test_several_queries_on_one_tcp_connection_and_garbage(server: DNSServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for name in ("web.default.svc.cluster.local", "nope.default.svc.cluster.local"):
            wire = dns.message.make_query(name, "A").to_wire()
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = dns.message.from_wire(await reader.readexactly(length))
            assert reply.question[0].name.to_text() == name + "."
        assert reply.rcode() == dns.rcode.NXDOMAIN
    finally:
        writer.close()
    # garbage over UDP gets FORMERR and the server keeps answering
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        await loop.sock_connect(s, ("127.0.0.1", server.port))
        await loop.sock_sendall(s, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff")
        reply_wire = await asyncio.wait_for(loop.sock_recv(s, 512), 5)
    assert reply_wire[:2] == b"\x12\x34" and reply_wire[3] & 0x0F == dns.rcode.FORMERR
    q = dns.message.make_query("web.default.svc.cluster.local", "A")
    assert (await dns.asyncquery.udp(q, "127.0.0.1", port=server.port, timeout=5)).answer
