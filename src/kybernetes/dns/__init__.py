"""dns: the cluster DNS server (`kyb dns`), answering the cluster zone the way CoreDNS's kubernetes plugin does.

Data flow, one direction only:

    API server ──list/watch──▶ Service, EndpointSlice informers ──handlers──▶ ClusterIndex (index.py)
    client ──UDP/TCP──▶ DNSServer (server.py) ──▶ DNSHandler (handler.py) ──▶ ZoneResolver (resolver.py)
                                                             └── names outside the zone ──▶ Forwarder (forward.py)
    KubeDNSPublisher (publish.py) ──writes──▶ kube-system/kube-dns Service, EndpointSlice, Endpoints

`ClusterDNS` (component.py) wires them; `kybernetes.cmd.dns` is the command. Queries never call the API:
the index is updated by the informers and read by the resolver on the same event loop, so no locks.
"""

from kybernetes.dns.component import ClusterDNS, DNSOptions
from kybernetes.dns.forward import Forwarder, ForwardError, upstreams_from, without_self
from kybernetes.dns.handler import DNSHandler
from kybernetes.dns.index import ClusterIndex
from kybernetes.dns.publish import KubeDNSPublisher
from kybernetes.dns.resolver import Answer, ZoneResolver
from kybernetes.dns.server import DNSServer, parse_listen

__all__ = [
    "Answer",
    "ClusterDNS",
    "ClusterIndex",
    "DNSHandler",
    "DNSOptions",
    "DNSServer",
    "ForwardError",
    "Forwarder",
    "KubeDNSPublisher",
    "ZoneResolver",
    "parse_listen",
    "upstreams_from",
    "without_self",
]
