"""Port forwarding into a pod over a WebSocket, in the two protocols clients speak.

`SPDY/3.1+portforward.k8s.io` (kubectl >= 1.30): the WebSocket's binary messages carry the bytes of one
SPDY/3.1 session (see `spdy`). Per forwarded connection kubectl opens an *error* stream and then a *data*
stream, both with headers `streamtype`, `port` and `requestid`; the two are paired by request id (by stream id,
error = n and data = n + 2, for clients without one). Every stream gets a SYN_REPLY at once (kubectl waits
for it). Once a pair is complete the pod's port is dialled: bytes are relayed between the data stream and the
connection, a FIN from the client half-closes the connection, the pod's end of file is a FIN on the data
stream. A failure is written as text on the error stream; the error stream always ends with a FIN, since
kubectl waits for it before it lets the local connection go. A RST_STREAM of the data stream drops the
connection. PING is echoed; GOAWAY ends the session.

`v4.channel.k8s.io` (the official Python client, `?ports=80&ports=8080`): channel 2*i carries the data of
the i-th port and 2*i+1 its errors; the first message on each channel is the port as 2 little-endian bytes.
All ports are dialled at once; the session ends (the WebSocket closes) when every connection has ended.

Dialling is the caller's `connect(port)` (the runtime's `port_forward` in the pod's network namespace);
`describe(port, error)` turns a failure into the text the client shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from kybernetes.kubelet.agent import spdy

__all__ = ["CHANNEL_PROTOCOL", "PORTFORWARD_PROTOCOLS", "SPDY_PROTOCOL", "Connect", "Describe", "serve_channels",
           "serve_spdy"]

SPDY_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHANNEL_PROTOCOL = "v4.channel.k8s.io"
PORTFORWARD_PROTOCOLS = (SPDY_PROTOCOL, CHANNEL_PROTOCOL)
CHUNK = 32 * 1024

Connect = Callable[[int], Awaitable[tuple[Any, Any]]]  # port → (asyncio StreamReader, StreamWriter)
Describe = Callable[[int, BaseException], str]


async def _pump_to_pod(*, queue: asyncio.Queue[bytes | None], writer: Any) -> None:
    """Client → pod, until the client's end (None), then half-close the connection."""
    while (chunk := await queue.get()) is not None:
        writer.write(chunk)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _close(writer: Any) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


# ---- SPDY/3.1 over WebSocket ---------------------------------------------------------------------------------


@dataclass
class _Pair:
    request_id: str
    port: int = 0
    error_id: int = 0
    data_id: int = 0
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)  # client → pod; None: FIN
    task: asyncio.Task[None] | None = None


@dataclass
class _SpdySession:
    ws: web.WebSocketResponse
    connect: Connect
    describe: Describe
    codec: spdy.Codec = field(default_factory=spdy.Codec)
    # Header compression is stateful: a frame must be encoded and sent in one step, in send order.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pairs: dict[str, _Pair] = field(default_factory=dict)
    inbound: dict[int, asyncio.Queue[bytes | None]] = field(default_factory=dict)
    data_pairs: dict[int, _Pair] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)  # streams reset by the client or finished by us
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def send(self, encode: Callable[[], bytes]) -> None:
        async with self.lock:
            await self.ws.send_bytes(encode())

    async def send_data(self, stream_id: int, data: bytes, *, fin: bool = False) -> None:
        if stream_id in self.closed:
            return
        if fin:
            self.closed.add(stream_id)
        await self.send(lambda: self.codec.encode_data(stream_id=stream_id, data=data, fin=fin))

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                for frame in self.codec.feed(msg.data):
                    if not await self.handle(frame):
                        return
        except spdy.SpdyError:
            with contextlib.suppress(Exception):
                await self.send(lambda: self.codec.encode_goaway(last_good_stream_id=0, status=1))
        finally:
            for task in self.tasks:
                task.cancel()
            if self.tasks:
                await asyncio.wait(self.tasks)

    async def handle(self, frame: spdy.Frame) -> bool:
        """Act on one frame; False ends the session."""
        if isinstance(frame, spdy.SynStream):
            await self.open(frame)
        elif isinstance(frame, spdy.Data):
            queue = self.inbound.get(frame.stream_id)
            if queue is not None:
                if frame.data:
                    queue.put_nowait(frame.data)
                if frame.fin:
                    queue.put_nowait(None)
                    del self.inbound[frame.stream_id]
        elif isinstance(frame, spdy.RstStream):
            self.closed.add(frame.stream_id)
            pair = self.data_pairs.get(frame.stream_id)
            if pair is not None and pair.task is not None:
                pair.task.cancel()
        elif isinstance(frame, spdy.Ping):
            ping_id = frame.id
            await self.send(lambda: self.codec.encode_ping(id=ping_id))
        elif isinstance(frame, spdy.GoAway):
            return False
        return True

    async def open(self, frame: spdy.SynStream) -> None:
        sid, headers = frame.stream_id, frame.headers
        kind, port_text = headers.get("streamtype", ""), headers.get("port", "")
        try:
            port = int(port_text)
        except ValueError:
            port = 0
        if kind not in ("error", "data") or not 0 < port < 65536:
            # Kubernetes refuses such a stream; the client sees the reset.
            await self.send(lambda: self.codec.encode_rst_stream(stream_id=sid, status=spdy.REFUSED_STREAM))
            return
        await self.send(lambda: self.codec.encode_syn_reply(stream_id=sid))
        request_id = headers.get("requestid") or str(sid if kind == "error" else sid - 2)
        pair = self.pairs.setdefault(request_id, _Pair(request_id=request_id))
        if kind == "error":
            pair.error_id = sid
        else:
            pair.data_id, pair.port = sid, port
            self.inbound[sid] = pair.queue
            self.data_pairs[sid] = pair
        if pair.error_id and pair.data_id and pair.task is None:
            del self.pairs[request_id]
            pair.task = asyncio.create_task(self.forward(pair))
            self.tasks.add(pair.task)
            pair.task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a client gone mid-send is not worth a traceback

    async def forward(self, pair: _Pair) -> None:
        try:
            try:
                reader, writer = await self.connect(pair.port)
            except Exception as e:  # any failure to dial is the client's error text
                await self.send_data(pair.error_id, self.describe(pair.port, e).encode())
                return
            upstream = asyncio.create_task(_pump_to_pod(queue=pair.queue, writer=writer))
            try:
                while data := await reader.read(CHUNK):
                    await self.send_data(pair.data_id, data)
            except OSError as e:
                await self.send_data(pair.error_id, self.describe(pair.port, e).encode())
            finally:
                upstream.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await upstream
                await _close(writer)
        finally:
            self.inbound.pop(pair.data_id, None)
            self.data_pairs.pop(pair.data_id, None)
            with contextlib.suppress(Exception):
                await self.send_data(pair.data_id, b"", fin=True)
                await self.send_data(pair.error_id, b"", fin=True)


async def serve_spdy(*, ws: web.WebSocketResponse, connect: Connect, describe: Describe) -> None:
    """Serve one kubectl port-forward session on `ws` until the client leaves."""
    await _SpdySession(ws=ws, connect=connect, describe=describe).run()


# ---- v4.channel.k8s.io ---------------------------------------------------------------------------------------


async def serve_channels(*, ws: web.WebSocketResponse, ports: list[int], connect: Connect,
                         describe: Describe) -> None:
    """Serve the channel protocol for `ports` on `ws`; returns when every connection has ended."""
    send_lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with send_lock:
            await ws.send_bytes(bytes([channel]) + data)

    queues: list[asyncio.Queue[bytes | None]] = [asyncio.Queue() for _ in ports]
    for i, port in enumerate(ports):
        await send(2 * i, struct.pack("<H", port))
        await send(2 * i + 1, struct.pack("<H", port))

    async def forward(i: int, port: int) -> None:
        try:
            reader, writer = await connect(port)
        except Exception as e:  # any failure to dial is the client's error text
            await send(2 * i + 1, describe(port, e).encode())
            return
        upstream = asyncio.create_task(_pump_to_pod(queue=queues[i], writer=writer))
        try:
            while data := await reader.read(CHUNK):
                await send(2 * i, data)
        except OSError as e:
            await send(2 * i + 1, describe(port, e).encode())
        finally:
            upstream.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await upstream
            await _close(writer)

    async def read_client() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or len(msg.data) < 2:
                continue
            channel = msg.data[0]
            if channel % 2 == 0 and channel // 2 < len(ports):
                queues[channel // 2].put_nowait(msg.data[1:])

    async def all_forwards() -> None:
        await asyncio.wait(forwards)

    forwards = [asyncio.create_task(forward(i, p)) for i, p in enumerate(ports)]
    tasks = [*forwards, asyncio.create_task(read_client()), asyncio.create_task(all_forwards())]
    try:
        await asyncio.wait(tasks[-2:], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.exception()  # retrieved: a client gone mid-send is not worth a traceback
