"""Upstream resolvers: where they come from, which are skipped as ourselves, and the forwarder's fail-over
and TCP fallback against tiny resolvers on 127.0.0.1 (in process)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import cast

import dns.flags
import dns.message
import dns.rcode
import pytest

from kybernetes.dns import Forwarder, ForwardError, upstreams_from, without_self
from kybernetes.dns.forward import parse_upstream, read_resolv_conf

Answerer = Callable[[dns.message.Message, bool], dns.message.Message]


class TinyResolver:
    """UDP and TCP on one 127.0.0.1 port; `answer(query, tcp)` makes each reply."""

    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self.port = 0
        self.queries: list[tuple[str, bool]] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        outer = self

        class UDP(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                outer._udp = cast(asyncio.DatagramTransport, transport)

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                assert outer._udp is not None
                outer._udp.sendto(outer._reply(data, tcp=False), addr)

        for _ in range(20):  # the UDP socket's free port may be taken for TCP: pick another then
            await loop.create_datagram_endpoint(UDP, local_addr=("127.0.0.1", 0))
            assert self._udp is not None
            self.port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._client, "127.0.0.1", self.port)
                return
            except OSError:
                self._udp.close()
        raise RuntimeError("no port free for both UDP and TCP")

    def _reply(self, data: bytes, *, tcp: bool) -> bytes:
        query = dns.message.from_wire(data)
        self.queries.append((query.question[0].name.to_text(), tcp))
        return self.answer(query, tcp).to_wire(max_size=65535 if tcp else 512, prefer_truncation=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = self._reply(await reader.readexactly(length), tcp=True)
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
        finally:
            writer.close()

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()


def a_records(count: int) -> Answerer:
    def answer(query: dns.message.Message, tcp: bool) -> dns.message.Message:
        response = dns.message.make_response(query)
        name = query.question[0].name
        lines = "".join(f"{name} 60 IN A 192.0.2.{i + 1}\n" for i in range(count))
        response.answer = dns.message.from_text(f"id 1\n;ANSWER\n{lines}").answer
        return response
    return answer


def failing(query: dns.message.Message, tcp: bool) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.SERVFAIL)
    return response


@pytest.fixture
async def resolvers() -> AsyncIterator[list[TinyResolver]]:
    started: list[TinyResolver] = []
    yield started
    for r in started:
        r.close()


async def start(resolvers: list[TinyResolver], answer: Answerer) -> TinyResolver:
    r = TinyResolver(answer)
    await r.start()
    resolvers.append(r)
    return r


def test_parse_upstream() -> None:
    assert parse_upstream("10.0.0.2") == ("10.0.0.2", 53)
    assert parse_upstream("10.0.0.2:5353") == ("10.0.0.2", 5353)
    assert parse_upstream("[fd00::1]:54") == ("fd00::1", 54)
    assert parse_upstream("fd00::1") == ("fd00::1", 53)
    with pytest.raises(ValueError):
        parse_upstream("resolver.example")


def test_upstreams_from_resolv_conf_and_addresses(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver fd00::53 # v6\n"
                    "nameserver bogus\noptions ndots:2\n")
    assert read_resolv_conf(str(conf)) == [("10.0.0.2", 53), ("fd00::53", 53)]
    assert upstreams_from(f"{conf},192.0.2.9:5300 10.0.0.2") == [("10.0.0.2", 53), ("fd00::53", 53),
                                                                 ("192.0.2.9", 5300)]
    assert read_resolv_conf(str(tmp_path / "missing")) == []


def test_upstreams_that_are_ourselves_are_skipped() -> None:
    ups = [("127.0.0.1", 53), ("127.0.0.53", 53), ("127.0.0.1", 5353), ("10.0.0.2", 53), ("10.96.0.10", 53)]
    # listening on every address, port 53: loopback on 53 is us, and so is the kube-dns Service IP
    assert without_self(ups, listen_host="0.0.0.0", listen_port=53, service_ip="10.96.0.10") == [
        ("127.0.0.1", 5353), ("10.0.0.2", 53)]
    # listening on one address: only that address and port is us (a stub on 127.0.0.53 is someone else)
    assert without_self(ups, listen_host="127.0.0.1", listen_port=53) == [
        ("127.0.0.53", 53), ("127.0.0.1", 5353), ("10.0.0.2", 53), ("10.96.0.10", 53)]


async def test_forwarder_answers_and_fails_over(resolvers: list[TinyResolver]) -> None:
    bad = await start(resolvers, failing)
    good = await start(resolvers, a_records(1))
    forwarder = Forwarder(upstreams=[("127.0.0.1", bad.port), ("127.0.0.1", good.port)], timeout=2.0)
    query = dns.message.make_query("www.example.", "A")
    response = await forwarder.query(query)
    assert response.rcode() == dns.rcode.NOERROR and response.answer[0][0].to_text() == "192.0.2.1"
    assert bad.queries == [("www.example.", False)] and good.queries == [("www.example.", False)]
    # the upstream that answered is asked first from now on
    await forwarder.query(query)
    assert len(bad.queries) == 1 and len(good.queries) == 2


async def test_forwarder_passes_on_the_last_error_when_every_upstream_fails(resolvers: list[TinyResolver]) -> None:
    bad = await start(resolvers, failing)
    forwarder = Forwarder(upstreams=[("127.0.0.1", bad.port)], timeout=2.0)
    response = await forwarder.query(dns.message.make_query("www.example.", "A"))
    assert response.rcode() == dns.rcode.SERVFAIL


async def test_forwarder_falls_back_to_tcp_on_truncation(resolvers: list[TinyResolver]) -> None:
    big = await start(resolvers, a_records(60))
    forwarder = Forwarder(upstreams=[("127.0.0.1", big.port)], timeout=2.0)
    response = await forwarder.query(dns.message.make_query("many.example.", "A"))
    assert len(response.answer[0]) == 60 and not response.flags & dns.flags.TC
    assert big.queries == [("many.example.", False), ("many.example.", True)]
    # a client that asked over TCP is forwarded over TCP
    await forwarder.query(dns.message.make_query("many.example.", "A"), tcp=True)
    assert big.queries[-1] == ("many.example.", True)


async def test_forwarder_without_upstreams_raises() -> None:
    with pytest.raises(ForwardError):
        await Forwarder(upstreams=[]).query(dns.message.make_query("www.example.", "A"))
