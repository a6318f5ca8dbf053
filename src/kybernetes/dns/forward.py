"""Forwarding names outside the cluster zone to the host's resolvers.

`upstreams_from("/etc/resolv.conf")` reads `nameserver` lines (an argument may also list addresses,
`1.1.1.1`, `10.0.0.2:5353`, `[fd00::1]:53`, comma-separated, or other resolv.conf-style files).
`without_self` then drops the upstreams that would be this server itself — the address and port it listens
on, loopback addresses on its port when it listens on every address, and the cluster DNS Service IP — since a
query forwarded to ourselves would loop until it timed out (CoreDNS's `loop` plugin guards the same case).
When that leaves nothing and systemd-resolved's list of real upstreams exists, that list is used, as the
kubelet does for a host whose resolv.conf points at a local stub.

`Forwarder.query` sends the question (RD, CD and the DO bit as the client set them; EDNS with a 1232-byte
payload so most answers fit one datagram) to one upstream at a time, each with `timeout` seconds: over UDP
falling back to TCP when the answer is truncated, or over TCP when the client asked over TCP. The upstream
that answered last is tried first next time. SERVFAIL / REFUSED answers move on to the next upstream; if no
upstream answers at all, `ForwardError` is raised and the caller replies SERVFAIL.
"""

from __future__ import annotations

import ipaddress
import logging
import os

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode

__all__ = [
    "SYSTEMD_RESOLV_CONF",
    "ForwardError",
    "Forwarder",
    "Upstream",
    "parse_upstream",
    "read_resolv_conf",
    "upstreams_from",
    "without_self",
]

log = logging.getLogger(__name__)

Upstream = tuple[str, int]  # (ip, port)
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"
UPSTREAM_PAYLOAD = 1232  # the DNS flag day 2020 figure: no fragmentation on ordinary paths


class ForwardError(Exception):
    """No upstream answered."""


def parse_upstream(text: str, *, default_port: int = 53) -> Upstream:
    """`ip`, `ip:port`, `[ipv6]:port` or a bare IPv6 address; raises ValueError otherwise."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = int(port_text)
    host = host.split("%", 1)[0]  # a zone index (fe80::1%eth0) cannot be used here
    ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


def read_resolv_conf(path: str) -> list[Upstream]:
    upstreams: list[Upstream] = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                upstreams.append(parse_upstream(words[1]))
            except ValueError:
                log.warning("%s: ignoring nameserver %r", path, words[1])
    return upstreams


def upstreams_from(spec: str) -> list[Upstream]:
    """Addresses and resolv.conf-style files, comma- or space-separated, in order."""
    upstreams: list[Upstream] = []
    for item in spec.replace(",", " ").split():
        if item.startswith(("/", ".")) or os.path.exists(item):
            upstreams.extend(read_resolv_conf(item))
        else:
            upstreams.append(parse_upstream(item))
    return list(dict.fromkeys(upstreams))


def without_self(upstreams: list[Upstream], *, listen_host: str, listen_port: int,
                 service_ip: str | None = None) -> list[Upstream]:
    """Drop the upstreams that are this server (see the module docstring)."""
    wildcard = listen_host in ("", "0.0.0.0", "::")
    kept: list[Upstream] = []
    for host, port in upstreams:
        ip = ipaddress.ip_address(host)
        if service_ip and host == service_ip:
            continue
        if port == listen_port and (host == listen_host or (wildcard and ip.is_loopback)):
            continue
        kept.append((host, port))
    return kept


class Forwarder:
    """Resolves questions through upstream resolvers; see the module docstring."""

    def __init__(self, *, upstreams: list[Upstream], timeout: float = 2.0) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self._preferred = 0
        self.forwarded = 0
        self.failures = 0

    async def query(self, query: dns.message.Message, *, tcp: bool = False) -> dns.message.Message:
        """The upstream's response to `query`'s question (its id is the upstream query's, not the client's)."""
        if not self.upstreams:
            self.failures += 1
            raise ForwardError("no upstream resolvers")
        question = query.question[0]
        outgoing = dns.message.make_query(
            question.name, question.rdtype, question.rdclass, use_edns=0, payload=UPSTREAM_PAYLOAD,
            want_dnssec=bool(query.ednsflags & dns.flags.DO),
        )
        outgoing.flags = dns.flags.Flag(query.flags & (dns.flags.RD | dns.flags.CD))
        self.forwarded += 1
        last: dns.message.Message | None = None
        count = len(self.upstreams)
        for step in range(count):
            index = (self._preferred + step) % count
            host, port = self.upstreams[index]
            try:
                if tcp:
                    response = await dns.asyncquery.tcp(outgoing, host, timeout=self.timeout, port=port)
                else:
                    response, _ = await dns.asyncquery.udp_with_fallback(
                        outgoing, host, timeout=self.timeout, port=port, ignore_unexpected=True)
            except (dns.exception.DNSException, OSError, EOFError) as e:
                log.debug("upstream %s:%d: %r", host, port, e)
                continue
            last = response
            if response.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                continue
            self._preferred = index
            return response
        if last is not None:
            return last
        self.failures += 1
        raise ForwardError(f"no answer from {', '.join(f'{h}:{p}' for h, p in self.upstreams)}")
