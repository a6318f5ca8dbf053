"""The DNS transports: UDP datagrams and TCP streams (RFC 7766: 2-byte length prefix, several queries per
connection, an idle timeout) on one address and port.

`DNSServer.serve()` binds both — UDP first, so that port 0 picks a free port that TCP then shares — and runs
until cancelled, then closes the sockets and ends its open connections. Answers from the cluster zone are
sent from the datagram callback itself; queries that wait on the upstream resolvers run as tasks of the
server's TaskGroup, at most `max_inflight` at once (past that, datagrams are dropped and the client retries,
which is how a DNS server sheds load). A failing query is logged and answered SERVFAIL; it never stops the
server.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
from typing import cast

from kybernetes.dns.handler import DNSHandler, Pending

__all__ = ["DNSServer", "parse_listen"]

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!H")


def parse_listen(text: str, *, default_port: int = 53) -> tuple[str, int]:
    """`0.0.0.0:53`, `127.0.0.1:5353`, `[::]:53`, `:53` (every address) or a bare host."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest.removeprefix(":")) if rest else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host or "0.0.0.0", int(port)
    if text.count(":") > 1:
        return text, default_port
    return text or "0.0.0.0", default_port


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # (not a subclass under every loop)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %r", exc)  # e.g. ICMP port unreachable from a client that went away


class DNSServer:
    """See the module docstring."""

    def __init__(self, *, handler: DNSHandler, host: str = "0.0.0.0", port: int = 53,
                 tcp_idle_timeout: float = 10.0, max_inflight: int = 1024) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.tcp_idle_timeout = tcp_idle_timeout
        self.max_inflight = max_inflight
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._group: asyncio.TaskGroup | None = None
        self._inflight = 0
        self._connections: set[asyncio.Task[None]] = set()
        self.bound = asyncio.Event()

    async def _bind(self) -> asyncio.DatagramTransport:
        """UDP and TCP on one port. With port 0 the UDP socket picks it, and the same number may be taken
        for TCP: then another is picked (a few times) rather than failing."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        wanted = self.port
        for attempt in range(20 if wanted == 0 else 1):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UDP(self), local_addr=(self.host, wanted), family=family)
            self._udp = transport
            self.port = int(transport.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, self.host, self.port, family=family,
                                                       reuse_address=True)
                return transport
            except OSError as e:
                transport.close()
                if wanted != 0 or e.errno != errno.EADDRINUSE or attempt == 19:
                    raise
        raise AssertionError("unreachable")

    async def serve(self) -> None:
        transport = await self._bind()
        try:
            log.info("DNS serving on %s port %d (UDP and TCP)", self.host, self.port)
            self.bound.set()
            async with asyncio.TaskGroup() as tg:
                self._group = tg
                try:
                    await asyncio.Event().wait()  # until cancelled
                finally:
                    self._group = None
        finally:
            transport.close()
            if self._tcp is not None:
                self._tcp.close()
            for task in list(self._connections):
                task.cancel()
            if self._connections:
                await asyncio.gather(*self._connections, return_exceptions=True)

    # ---- UDP -------------------------------------------------------------------------------------------

    def on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            result = self.handler.respond(data, tcp=False)
        except Exception:
            log.exception("DNS query from %s failed", addr[0])
            return
        if isinstance(result, Pending):
            if self._group is None or self._inflight >= self.max_inflight:
                self.handler.stats.dropped += 1
                return
            self._inflight += 1
            self._group.create_task(self._complete_udp(result, addr))
        elif result is not None and self._udp is not None:
            self._udp.sendto(result, addr)

    async def _complete_udp(self, pending: Pending, addr: tuple[str, int]) -> None:
        try:
            reply = await self.handler.complete(pending, tcp=False)
        except Exception:
            log.exception("DNS query from %s failed", addr[0])
            return
        finally:
            self._inflight -= 1
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(reply, addr)

    # ---- TCP -------------------------------------------------------------------------------------------

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                async with asyncio.timeout(self.tcp_idle_timeout):
                    (length,) = _LENGTH.unpack(await reader.readexactly(2))
                    wire = await reader.readexactly(length)
                try:
                    reply = await self.handler.handle(wire, tcp=True)
                except Exception:
                    log.exception("DNS query over TCP failed")
                    return
                if reply is None:
                    return
                writer.write(_LENGTH.pack(len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
