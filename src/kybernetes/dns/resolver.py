"""The cluster zone: which records exist at a name, computed from the `ClusterIndex` on each query.

`ZoneResolver.answer(qname=, qtype=)` is synchronous and pure (the index is only read), which is what the
unit tests drive. It behaves as CoreDNS's kubernetes plugin does with `pods insecure` and
`fallthrough in-addr.arpa ip6.arpa` (the Corefile every kubeadm cluster ships), following the Kubernetes
DNS-Based Service Discovery specification:

* `<svc>.<ns>.svc.<zone>` A/AAAA: the cluster IPs; for a headless Service the ready endpoints' IPs
  (NXDOMAIN while it has none); for an ExternalName Service a CNAME to the external name, whose own
  records are chased (inside the zone here, outside it by the caller through the upstream resolvers).
* `<label>.<svc>.<ns>.svc.<zone>` A/AAAA: the ready endpoints whose hostname (or dashed IP) is `label` —
  StatefulSet pods as `<hostname>.<subdomain>`.
* `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV for named ports: priority 0, the weight shared out over the
  records; the target is the Service's name (ClusterIP) or each ready endpoint's name (headless), and the
  targets' addresses go to the additional section.
* `<a-b-c-d>.<ns>.pod.<zone>` A (and the dashed IPv6 form AAAA), from the name alone (insecure mode).
* `dns-version.<zone>` TXT "1.1.0" (the schema version), `ns.dns.<zone>` A → this DNS's Service IP, and
  the zone apex's SOA and NS.
* PTR under in-addr.arpa / ip6.arpa for cluster IPs and ready endpoint IPs; other reverse names, like all
  names outside the zone, are not ours (`Answer.forward`), so the caller forwards them.

A name that does not exist is NXDOMAIN, an existing name without the asked type NODATA (NOERROR, empty
answer); both carry the zone's SOA in the authority section so resolvers cache the negative answer for the
TTL (5 s, CoreDNS's default) and no longer. Names are compared case-insensitively; answers are owned by the
name exactly as asked.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
from dns.rdatatype import RdataType

from kybernetes.dns.index import ClusterIndex, EndpointEntry, PortEntry, ServiceEntry

__all__ = ["DNS_SCHEMA_VERSION", "Answer", "ZoneResolver"]

DNS_SCHEMA_VERSION = "1.1.0"
IN_ADDR_ARPA = dns.name.from_text("in-addr.arpa.")
IP6_ARPA = dns.name.from_text("ip6.arpa.")
_A, _AAAA, _SRV, _PTR, _CNAME = RdataType.A, RdataType.AAAA, RdataType.SRV, RdataType.PTR, RdataType.CNAME
_SOA, _NS, _TXT, _ANY = RdataType.SOA, RdataType.NS, RdataType.TXT, RdataType.ANY
_MAX_CHASE = 8


@dataclass(slots=True)
class Answer:
    """One response's content: rcode, sections, and what the caller still has to do."""

    rcode: int = 0  # dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    authoritative: bool = True
    forward: bool = False  # not in our zones: ask the upstream resolvers
    chase: tuple[dns.name.Name, int] | None = None  # a CNAME target outside the zone, to resolve upstream


@dataclass(slots=True)
class _Node:
    """The records at one name: rdata texts per type, and additional-section records per type."""

    records: dict[int, list[str]] = field(default_factory=dict)
    additional: list[tuple[str, int, list[str]]] = field(default_factory=list)
    cname: str = ""


def _family_type(ip: str) -> int:
    return _AAAA if ":" in ip else _A


def _addresses(ips: list[str]) -> dict[int, list[str]]:
    records: dict[int, list[str]] = {}
    for ip in ips:
        records.setdefault(_family_type(ip), [])
        if ip not in records[_family_type(ip)]:
            records[_family_type(ip)].append(ip)
    return records


class ZoneResolver:
    """Answers for `<domain>` and the reverse zones from a `ClusterIndex`; see the module docstring."""

    def __init__(self, *, index: ClusterIndex, domain: str = "cluster.local", ttl: int = 5,
                 dns_ip: str = "10.96.0.10") -> None:
        self.index = index
        self.zone = dns.name.from_text(domain.strip(".") + ".")
        self.domain = self.zone.to_text(omit_final_dot=True).lower()
        self.ttl = ttl
        self.dns_ip = dns_ip

    # ---- entry point -----------------------------------------------------------------------------------

    def in_zone(self, qname: dns.name.Name) -> bool:
        return qname.is_subdomain(self.zone)

    def answer(self, *, qname: dns.name.Name, qtype: int) -> Answer:
        if qname.is_subdomain(IN_ADDR_ARPA) or qname.is_subdomain(IP6_ARPA):
            return self._reverse(qname, qtype)
        if not qname.is_subdomain(self.zone):
            return Answer(forward=True, authoritative=False)
        result = Answer()
        self._fill(result, qname=qname, qtype=qtype, depth=0)
        return result

    def soa(self) -> dns.rrset.RRset:
        text = (f"ns.dns.{self.domain}. hostmaster.{self.domain}. {self.index.serial % 2**32} "
                f"7200 1800 86400 {self.ttl}")
        return dns.rrset.from_text_list(self.zone, self.ttl, dns.rdataclass.IN, _SOA, [text])

    # ---- forward names ---------------------------------------------------------------------------------

    def _fill(self, result: Answer, *, qname: dns.name.Name, qtype: int, depth: int) -> None:
        node = self._node(self._labels(qname))
        if node is None:
            result.rcode = 3  # NXDOMAIN
            result.authority = [self.soa()]
            return
        if node.cname:
            result.answer.append(self._rrset(qname, _CNAME, [node.cname]))
            if qtype == _CNAME:
                return
            target = dns.name.from_text(node.cname)
            if qtype in (_A, _AAAA, _SRV, _TXT, _ANY) and target.is_subdomain(self.zone) and depth < _MAX_CHASE:
                self._fill(result, qname=target, qtype=qtype, depth=depth + 1)
            elif not target.is_subdomain(self.zone):
                result.chase = (target, qtype)
            return
        types = list(node.records) if qtype == _ANY else [qtype]
        for rtype in types:
            if node.records.get(rtype):
                result.answer.append(self._rrset(qname, rtype, node.records[rtype]))
        if not result.answer:
            result.authority = [self.soa()]  # NODATA
            return
        for name, rtype, texts in node.additional:
            result.additional.append(self._rrset(dns.name.from_text(name), rtype, texts))

    def _labels(self, qname: dns.name.Name) -> list[str] | None:
        relative = qname.relativize(self.zone)
        if relative == dns.name.empty:
            return []
        try:
            return [label.decode("ascii").lower() for label in relative.labels]
        except UnicodeDecodeError:
            return None

    def _node(self, labels: list[str] | None) -> _Node | None:
        """The records at a name (relative labels, left to right); None when the name does not exist."""
        if labels is None:
            return None
        if not labels:
            return _Node(records={_SOA: [self.soa()[0].to_text()], _NS: [f"ns.dns.{self.domain}."]})
        if labels == ["dns-version"]:
            return _Node(records={_TXT: [f'"{DNS_SCHEMA_VERSION}"']})
        if labels == ["dns"]:
            return _Node()
        if labels == ["ns", "dns"]:
            return _Node(records=_addresses([self.dns_ip]))
        if labels[-1] == "svc":
            return self._service_node(labels[:-1])
        if labels[-1] == "pod":
            return self._pod_node(labels[:-1])
        return None

    def _service_node(self, labels: list[str]) -> _Node | None:
        if not labels:
            return _Node()
        namespace = labels[-1]
        if len(labels) == 1:
            return _Node() if self.index.has_namespace(namespace) else None
        svc = self.index.service(namespace=namespace, name=labels[-2])
        if svc is None:
            return None
        endpoints = self.index.endpoints(namespace=namespace, name=svc.name)
        rest = labels[:-2]
        if not rest:
            return self._service_records(svc, endpoints)
        if rest[-1].startswith("_"):
            return self._srv_node(svc, endpoints, rest)
        if len(rest) == 1 and svc.kind != "ExternalName":
            ips = [ep.ip for ep in endpoints if ep.label == rest[0]]
            return _Node(records=_addresses(ips)) if ips else None
        return None

    def _service_records(self, svc: ServiceEntry, endpoints: tuple[EndpointEntry, ...]) -> _Node | None:
        if svc.kind == "ExternalName":
            return _Node(cname=svc.external_name + ".") if svc.external_name else _Node()
        if svc.headless:
            if not endpoints:
                return None  # as kube-dns and CoreDNS answer (and the specification now says)
            return _Node(records=_addresses([ep.ip for ep in endpoints]))
        return _Node(records=_addresses(list(svc.cluster_ips)))

    def _srv_node(self, svc: ServiceEntry, endpoints: tuple[EndpointEntry, ...], rest: list[str]) -> _Node | None:
        """`_<proto>` (an empty non-terminal) or `_<port>._<proto>` under a Service."""
        if len(rest) > 2 or not all(label.startswith("_") and len(label) > 1 for label in rest):
            return None
        protocol = rest[-1][1:]
        port_name = rest[0][1:] if len(rest) == 2 else ""

        def matches(port: PortEntry) -> bool:
            return bool(port.name) and port.protocol == protocol and (not port_name or port.name == port_name)

        base = f"{svc.name}.{svc.namespace}.svc.{self.domain}."
        # (target, port, target's addresses)
        targets: list[tuple[str, int, list[str]]] = []
        if svc.headless:
            for ep in endpoints:
                targets.extend((f"{ep.label}.{base}", p.port, [ep.ip]) for p in ep.ports if matches(p))
        elif svc.kind == "ExternalName":
            targets.extend((svc.external_name + ".", p.port, []) for p in svc.ports if matches(p) and svc.external_name)
        else:
            targets.extend((base, p.port, list(svc.cluster_ips)) for p in svc.ports if matches(p))
        if not targets:
            return None
        if not port_name:
            return _Node()
        unique = list(dict.fromkeys((t, port) for t, port, _ in targets))
        weight = max(1, 100 // len(unique))
        node = _Node(records={_SRV: [f"0 {weight} {port} {target}" for target, port in unique]})
        addresses: dict[str, list[str]] = {}
        for target, _, ips in targets:
            addresses.setdefault(target, [])
            addresses[target].extend(ip for ip in ips if ip not in addresses[target])
        for target, ips in addresses.items():
            for rtype, texts in _addresses(ips).items():
                node.additional.append((target, rtype, texts))
        return node

    def _pod_node(self, labels: list[str]) -> _Node | None:
        if not labels:
            return _Node()
        if len(labels) == 1:
            return _Node() if self.index.has_namespace(labels[0]) else None
        if len(labels) != 2:
            return None
        dashed = labels[0]
        text = dashed.replace("-", ".") if dashed.count("-") == 3 and "--" not in dashed else dashed.replace("-", ":")
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return None
        return _Node(records=_addresses([str(ip)]))

    # ---- reverse names ---------------------------------------------------------------------------------

    def _reverse(self, qname: dns.name.Name, qtype: int) -> Answer:
        try:
            ip = dns.reversename.to_address(qname)
        except (dns.exception.SyntaxError, ValueError):
            return Answer(forward=True, authoritative=False)
        names = self.index.reverse(ip)
        if not names:
            return Answer(forward=True, authoritative=False)  # fall through, as CoreDNS's default Corefile
        if qtype not in (_PTR, _ANY):
            return Answer(authority=[self.soa()])
        return Answer(answer=[self._rrset(qname, _PTR, [f"{name}.{self.domain}." for name in names])])

    def _rrset(self, name: dns.name.Name, rtype: int, texts: list[str]) -> dns.rrset.RRset:
        return dns.rrset.from_text_list(name, self.ttl, dns.rdataclass.IN, RdataType.make(rtype), texts)
