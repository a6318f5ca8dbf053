"""One DNS message in, one out: parsing, checks, the zone or the upstreams, EDNS and truncation.

`DNSHandler.respond(wire, tcp=)` does everything that needs no waiting — which is every name of the cluster
zone — and returns the reply bytes (or None: nothing is sent back to garbage shorter than a header, or to a
message that is itself a response). Only forwarding needs I/O: then it returns a `Pending` that
`complete()` finishes; `handle()` is both in one. The UDP server answers the zone inline from the datagram
callback, so cluster names cost no task.

Checks, as an authoritative server makes them: an unparsable message gets FORMERR (its id and opcode kept),
as does a query with other than one question; other opcodes NOTIMP; EDNS versions above 0 BADVERS; classes
other than IN, and zone transfers, REFUSED. Until the informers have listed once, names of the zone (and
reverse names) get SERVFAIL, never a wrong NXDOMAIN that clients would cache.

Replies over UDP fit the client's advertised EDNS payload (512 bytes without EDNS); a longer one is cut
at a record boundary with the TC bit set, so the client asks again over TCP, where up to 64 KiB fits.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from kybernetes.dns.forward import Forwarder, ForwardError
from kybernetes.dns.resolver import IN_ADDR_ARPA, IP6_ARPA, Answer, ZoneResolver

__all__ = ["OUR_PAYLOAD", "DNSHandler", "HandlerStatistics", "Pending"]

log = logging.getLogger(__name__)

OUR_PAYLOAD = 1232
_HEADER = struct.Struct("!HHHHHH")


@dataclass(slots=True)
class Pending:
    """A reply that waits on the upstream resolvers: the whole question, or an ExternalName's target."""

    query: dns.message.Message
    response: dns.message.Message
    chase: tuple[dns.name.Name, int] | None = None  # None: forward the query itself


@dataclass(slots=True)
class HandlerStatistics:
    queries: int = 0
    answered_locally: int = 0
    forwarded: int = 0
    nxdomain: int = 0
    servfail: int = 0
    formerr: int = 0
    truncated: int = 0
    dropped: int = 0


class DNSHandler:
    """See the module docstring."""

    def __init__(self, *, resolver: ZoneResolver, forwarder: Forwarder,
                 ready: Callable[[], bool] = lambda: True) -> None:
        self.resolver = resolver
        self.forwarder = forwarder
        self.ready = ready
        self.stats = HandlerStatistics()

    async def handle(self, wire: bytes, *, tcp: bool) -> bytes | None:
        result = self.respond(wire, tcp=tcp)
        if isinstance(result, Pending):
            return await self.complete(result, tcp=tcp)
        return result

    def respond(self, wire: bytes, *, tcp: bool) -> bytes | Pending | None:
        self.stats.queries += 1
        try:
            query = dns.message.from_wire(wire)
        except dns.message.ShortHeader:
            self.stats.dropped += 1
            return None
        except Exception:  # dnspython raises many kinds for bad input; every one means FORMERR
            return self._formerr_raw(wire)
        if query.flags & dns.flags.QR:
            self.stats.dropped += 1
            return None
        response = dns.message.make_response(query, recursion_available=True, our_payload=OUR_PAYLOAD)
        if query.opcode() != dns.opcode.QUERY:
            return self._finish(query, response, dns.rcode.NOTIMP, tcp=tcp)
        if len(query.question) != 1:
            self.stats.formerr += 1
            return self._finish(query, response, dns.rcode.FORMERR, tcp=tcp)
        if query.edns > 0:
            return self._finish(query, response, dns.rcode.BADVERS, tcp=tcp)
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        if question.rdclass != dns.rdataclass.IN or qtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            return self._finish(query, response, dns.rcode.REFUSED, tcp=tcp)
        answer = self.resolver.answer(qname=qname, qtype=qtype)
        if not self.ready() and (not answer.forward or _reverse_name(qname)):
            # Before the first list a reverse name may still be one of ours, and a cluster name surely is.
            return self._finish(query, response, dns.rcode.SERVFAIL, tcp=tcp)
        if answer.forward:
            return Pending(query=query, response=response)
        self.stats.answered_locally += 1
        self._fill(response, answer)
        if answer.chase is not None:
            return Pending(query=query, response=response, chase=answer.chase)
        return self._render(query, response, tcp=tcp)

    async def complete(self, pending: Pending, *, tcp: bool) -> bytes:
        query, response = pending.query, pending.response
        try:
            if pending.chase is None:
                self.stats.forwarded += 1
                upstream = await self.forwarder.query(query, tcp=tcp)
                response.set_rcode(upstream.rcode())
                response.answer = upstream.answer
                response.authority = upstream.authority
                response.additional = upstream.additional
                response.flags |= upstream.flags & dns.flags.AD
            else:
                target, qtype = pending.chase
                chase = dns.message.make_query(target, dns.rdatatype.RdataType.make(qtype))
                upstream = await self.forwarder.query(chase, tcp=tcp)
                response.answer.extend(upstream.answer)
        except ForwardError as e:
            if pending.chase is None:
                log.debug("forwarding %s failed: %s", query.question[0].name, e)
                self.stats.servfail += 1
                response.set_rcode(dns.rcode.SERVFAIL)
                response.answer, response.authority, response.additional = [], [], []
            # a target that cannot be resolved leaves the CNAME alone, which clients can chase themselves
        return self._render(query, response, tcp=tcp)

    # ---- building replies ------------------------------------------------------------------------------

    def _fill(self, response: dns.message.Message, answer: Answer) -> None:
        if answer.authoritative:
            response.flags |= dns.flags.AA
        response.set_rcode(dns.rcode.Rcode.make(answer.rcode))
        if answer.rcode == dns.rcode.NXDOMAIN:
            self.stats.nxdomain += 1
        response.answer = list(answer.answer)
        response.authority = list(answer.authority)
        response.additional = list(answer.additional)

    def _finish(self, query: dns.message.Message, response: dns.message.Message, rcode: dns.rcode.Rcode,
                *, tcp: bool) -> bytes:
        if rcode == dns.rcode.SERVFAIL:
            self.stats.servfail += 1
        if rcode == dns.rcode.BADVERS:
            response.use_edns(0, 0, OUR_PAYLOAD)
        response.set_rcode(rcode)
        return self._render(query, response, tcp=tcp)

    def _render(self, query: dns.message.Message, response: dns.message.Message, *, tcp: bool) -> bytes:
        if tcp:
            limit = 65535
        elif query.edns >= 0:
            limit = max(512, min(query.payload, 65535))
        else:
            limit = 512
        wire = response.to_wire(max_size=limit, prefer_truncation=True)
        if not tcp and wire[2] & 0x02:  # the TC bit of the header's flags
            self.stats.truncated += 1
        return wire

    def _formerr_raw(self, wire: bytes) -> bytes | None:
        """FORMERR for a message dnspython cannot parse: the header only, with its id, opcode and RD."""
        qid, flags = struct.unpack("!HH", wire[:4])
        if flags & 0x8000:
            self.stats.dropped += 1
            return None  # never answer a response (that is how reflection loops start)
        self.stats.formerr += 1
        reply_flags = 0x8000 | (flags & 0x7800) | (flags & 0x0100) | 0x0080 | dns.rcode.FORMERR
        return _HEADER.pack(qid, reply_flags, 0, 0, 0, 0)


def _reverse_name(qname: dns.name.Name) -> bool:
    return qname.is_subdomain(IN_ADDR_ARPA) or qname.is_subdomain(IP6_ARPA)
