"""SPDY/3.1 framing (kybernetes.kubelet.agent.spdy) and the port-forward session over it (portforward.serve_spdy),
driven by a client-side `Codec` through an in-memory WebSocket."""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiohttp import WSMsgType, web

from kybernetes.kubelet.agent import spdy
from kybernetes.kubelet.agent.portforward import serve_channels, serve_spdy


def test_dictionary_is_the_spdy3_one() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest() == (
        "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02")


def test_header_block_layout() -> None:
    block = spdy.encode_header_block({"StreamType": "data", "port": "80"})
    assert block == (b"\x00\x00\x00\x02" + b"\x00\x00\x00\x0astreamtype" + b"\x00\x00\x00\x04data"
                     + b"\x00\x00\x00\x04port" + b"\x00\x00\x00\x0280")
    assert spdy.decode_header_block(block) == {"streamtype": "data", "port": "80"}
    with pytest.raises(spdy.SpdyError):
        spdy.decode_header_block(block[:-3])


def test_frames_round_trip_with_one_compression_context_per_direction() -> None:
    client, server = spdy.Codec(), spdy.Codec()
    wire = b"".join([
        client.encode_syn_stream(stream_id=1, headers={"streamtype": "error", "port": "80", "requestid": "0"}),
        client.encode_syn_stream(stream_id=3, headers={"streamtype": "data", "port": "80", "requestid": "0"}),
        client.encode_data(stream_id=3, data=b"hello"),
        client.encode_data(stream_id=1, data=b"", fin=True),
        client.encode_ping(id=7),
        client.encode_rst_stream(stream_id=3, status=spdy.CANCEL),
        client.encode_goaway(last_good_stream_id=3),
    ])
    # Byte by byte: frames are whole only once all their bytes are in.
    frames = [f for i in range(len(wire)) for f in server.feed(wire[i:i + 1])]
    assert frames == [
        spdy.SynStream(stream_id=1, headers={"streamtype": "error", "port": "80", "requestid": "0"}),
        spdy.SynStream(stream_id=3, headers={"streamtype": "data", "port": "80", "requestid": "0"}),
        spdy.Data(stream_id=3, data=b"hello"),
        spdy.Data(stream_id=1, data=b"", flags=spdy.FLAG_FIN),
        spdy.Ping(id=7),
        spdy.RstStream(stream_id=3, status=spdy.CANCEL),
        spdy.GoAway(last_good_stream_id=3),
    ]
    assert frames[3].fin  # type: ignore[union-attr]
    # The second header block is compressed against the first: it does not decode in a fresh context.
    later = client.encode_syn_reply(stream_id=1, headers={"a": "b"})
    with pytest.raises(spdy.SpdyError):
        spdy.Codec().feed(later)
    assert server.feed(later) == [spdy.SynReply(stream_id=1, headers={"a": "b"})]


def test_unknown_and_malformed_frames() -> None:
    codec = spdy.Codec()
    settings = struct.pack(">HHI", 0x8003, 4, 12) + struct.pack(">III", 1, 0x07, 65536)
    window = struct.pack(">HHI", 0x8003, 9, 8) + struct.pack(">II", 3, 1024)
    assert codec.feed(settings + window) == [
        spdy.Unknown(type=4, flags=0, payload=settings[8:]), spdy.WindowUpdate(stream_id=3, delta=1024)]
    with pytest.raises(spdy.SpdyError, match="version 2"):
        codec.feed(struct.pack(">HHI", 0x8002, 6, 4) + b"\0\0\0\1")
    with pytest.raises(spdy.SpdyError, match="decompress"):
        spdy.Codec().feed(struct.pack(">HHI", 0x8003, 2, 8) + b"\0\0\0\1garb")


class FakeWebSocket:
    """What the session uses of aiohttp's WebSocketResponse: iterate messages, send_bytes, close."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.sent: asyncio.Queue[bytes] = asyncio.Queue()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while (data := await self.incoming.get()) is not None:
            yield type("Msg", (), {"type": WSMsgType.BINARY, "data": data})()

    async def send_bytes(self, data: bytes) -> None:
        await self.sent.put(data)

    async def close(self) -> None:
        return None


class Client:
    """kubectl's side of the session."""

    def __init__(self, ws: FakeWebSocket) -> None:
        self.ws, self.codec, self.decoder = ws, spdy.Codec(), spdy.Codec()
        self.frames: list[spdy.Frame] = []

    def send(self, data: bytes) -> None:
        self.ws.incoming.put_nowait(data)

    async def next(self) -> spdy.Frame:
        while not self.frames:
            self.frames += self.decoder.feed(await asyncio.wait_for(self.ws.sent.get(), 5))
        return self.frames.pop(0)


async def test_spdy_session_pairs_streams_relays_and_reports_errors() -> None:
    ws = FakeWebSocket()
    dialled: list[int] = []

    async def connect(port: int) -> tuple[Any, Any]:
        dialled.append(port)
        if port != 80:
            raise ConnectionRefusedError(111, "Connection refused")
        ours, theirs = await asyncio.open_connection(*server_address)
        return ours, theirs

    async def upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.read()).upper())  # until the client's FIN
        writer.close()

    pod = await asyncio.start_server(upper, "127.0.0.1", 0)
    server_address = pod.sockets[0].getsockname()[:2]
    session = asyncio.create_task(serve_spdy(ws=cast(web.WebSocketResponse, ws), connect=connect,
                                             describe=lambda port, e: f"port {port}: {e}"))
    c = Client(ws)
    try:
        # No requestid header (old clients): error stream n and data stream n + 2 are a pair.
        c.send(c.codec.encode_syn_stream(stream_id=1, headers={"streamtype": "error", "port": "80"}))
        assert await c.next() == spdy.SynReply(stream_id=1, headers={})
        c.send(c.codec.encode_syn_stream(stream_id=3, headers={"streamtype": "data", "port": "80"})
               + c.codec.encode_data(stream_id=3, data=b"abc") + c.codec.encode_data(stream_id=3, data=b"d", fin=True)
               + c.codec.encode_ping(id=9))
        got = [await c.next() for _ in range(5)]
        assert got[0] == spdy.SynReply(stream_id=3, headers={})
        assert spdy.Ping(id=9) in got
        assert spdy.Data(stream_id=3, data=b"ABCD") in got
        assert spdy.Data(stream_id=3, data=b"", flags=spdy.FLAG_FIN) in got
        assert spdy.Data(stream_id=1, data=b"", flags=spdy.FLAG_FIN) in got
        # A refused port: the text on the error stream, then both streams end.
        c.send(c.codec.encode_syn_stream(stream_id=5, headers={"streamtype": "error", "port": "81", "requestid": "1"})
               + c.codec.encode_syn_stream(stream_id=7, headers={"streamtype": "data", "port": "81", "requestid": "1"}))
        got = [await c.next() for _ in range(5)]
        assert got[:2] == [spdy.SynReply(stream_id=5, headers={}), spdy.SynReply(stream_id=7, headers={})]
        assert got[2] == spdy.Data(stream_id=5, data=b"port 81: [Errno 111] Connection refused")
        assert set(got[3:]) == {spdy.Data(stream_id=7, data=b"", flags=spdy.FLAG_FIN),
                                spdy.Data(stream_id=5, data=b"", flags=spdy.FLAG_FIN)}
        # A stream without a valid port is refused.
        c.send(c.codec.encode_syn_stream(stream_id=9, headers={"streamtype": "data", "port": "x"}))
        assert await c.next() == spdy.RstStream(stream_id=9, status=spdy.REFUSED_STREAM)
        assert dialled == [80, 81]
        # GOAWAY ends the session.
        c.send(c.codec.encode_goaway(last_good_stream_id=0))
        await asyncio.wait_for(session, 5)
    finally:
        session.cancel()
        pod.close()


async def test_channel_session_announces_ports_and_ends_with_the_connections() -> None:
    ws = FakeWebSocket()

    async def connect(port: int) -> tuple[Any, Any]:
        if port == 81:
            raise ConnectionRefusedError(111, "Connection refused")
        reader = asyncio.StreamReader()
        reader.feed_data(b"banner")
        reader.feed_eof()

        class Writer:
            def write(self, data: bytes) -> None: ...
            async def drain(self) -> None: ...
            def can_write_eof(self) -> bool:
                return False
            def close(self) -> None: ...
            async def wait_closed(self) -> None: ...

        return reader, Writer()

    await asyncio.wait_for(serve_channels(ws=cast(web.WebSocketResponse, ws), ports=[80, 81], connect=connect,
                                          describe=lambda port, e: f"port {port} refused"), 5)
    sent = [ws.sent.get_nowait() for _ in range(ws.sent.qsize())]
    assert sent[:4] == [b"\x00\x50\x00", b"\x01\x50\x00", b"\x02\x51\x00", b"\x03\x51\x00"]
    assert set(sent[4:]) == {b"\x00banner", b"\x03port 81 refused"}
