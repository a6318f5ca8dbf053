"""`ClusterDNS`: the cluster DNS as one component — informers feeding the index, the server, the publisher.

    dns = ClusterDNS(client=client, informers=factory, options=DNSOptions(listen_port=53, ...))
    async with asyncio.TaskGroup() as tg:
        tg.create_task(factory.run())
        tg.create_task(dns.run())

The Service and EndpointSlice informers (all namespaces, managedFields stripped by the factory) update the
`ClusterIndex` inline from their handlers; queries read only the index. The server binds at once — before the informers
have listed, names of the zone get SERVFAIL and everything else is forwarded — and once it is bound (so the
real port is known, for `listen_port=0`) the publisher registers it as `kube-system/kube-dns`. Changes to
that Service or to our slice nudge the publisher, which puts them back. On the way out the publisher
withdraws this server's endpoint (bounded by a few seconds, so a gone API server does not hold shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kybernetes.api.models.core_v1 import Service
from kybernetes.api.models.discovery_v1 import EndpointSlice
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import APIConnectionError, Client, SharedInformerFactory
from kybernetes.dns.forward import Forwarder, Upstream
from kybernetes.dns.handler import DNSHandler
from kybernetes.dns.index import ClusterIndex
from kybernetes.dns.publish import DNS_NAMESPACE, DNS_SERVICE, KubeDNSPublisher
from kybernetes.dns.resolver import ZoneResolver
from kybernetes.dns.server import DNSServer
from kybernetes.machinery.errors import StatusError

__all__ = ["ClusterDNS", "DNSOptions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DNSOptions:
    listen_host: str = "0.0.0.0"
    listen_port: int = 53
    domain: str = "cluster.local"
    upstreams: tuple[Upstream, ...] = ()
    service_ip: str = "10.96.0.10"
    advertise_address: str = "127.0.0.1"
    ttl: int = 5
    forward_timeout: float = 2.0
    publish: bool = True


class ClusterDNS:
    """See the module docstring."""

    def __init__(self, *, client: Client, informers: SharedInformerFactory, options: DNSOptions) -> None:
        self.client = client
        self.options = options
        self.index = ClusterIndex()
        self.services = informers.informer(Service)
        self.slices = informers.informer(EndpointSlice)
        self.resolver = ZoneResolver(index=self.index, domain=options.domain, ttl=options.ttl,
                                     dns_ip=options.service_ip)
        self.forwarder = Forwarder(upstreams=list(options.upstreams), timeout=options.forward_timeout)
        self.handler = DNSHandler(resolver=self.resolver, forwarder=self.forwarder, ready=self.synced)
        self.server = DNSServer(handler=self.handler, host=options.listen_host, port=options.listen_port)
        self.publisher: KubeDNSPublisher | None = None
        self.services.add_handler(on_add=self._service_changed, on_update=lambda _, new: self._service_changed(new),
                                  on_delete=self._service_deleted)
        self.slices.add_handler(on_add=self._slice_changed, on_update=lambda _, new: self._slice_changed(new),
                                on_delete=self._slice_deleted)

    def synced(self) -> bool:
        return self.services.has_synced and self.slices.has_synced

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.server.serve())
            await self.server.bound.wait()
            if not self.options.publish:
                return
            self.publisher = KubeDNSPublisher(client=self.client, service_ip=self.options.service_ip,
                                              address=self.options.advertise_address, port=self.server.port)
            try:
                await self.publisher.run()
            finally:
                await self._withdraw()

    async def _withdraw(self) -> None:
        assert self.publisher is not None
        try:
            async with asyncio.timeout(3.0):
                await self.publisher.withdraw()
        except (TimeoutError, StatusError, APIConnectionError) as e:
            log.warning("could not withdraw %s:%d from %s/%s: %s", self.options.advertise_address,
                        self.server.port, DNS_NAMESPACE, DNS_SERVICE, e)

    # ---- informer handlers: update the index, nudge the publisher ------------------------------------

    def _nudge_if_ours(self, meta: ObjectMeta | None, *, slice_: bool) -> None:
        publisher = self.publisher
        if publisher is None or meta is None or meta.namespace != DNS_NAMESPACE:
            return
        if meta.name == (publisher.slice_name if slice_ else DNS_SERVICE):
            publisher.nudge()

    def _service_changed(self, svc: Service) -> None:
        self.index.upsert_service(svc)
        self._nudge_if_ours(svc.metadata, slice_=False)

    def _service_deleted(self, svc: Service) -> None:
        self.index.delete_service(svc)
        self._nudge_if_ours(svc.metadata, slice_=False)

    def _slice_changed(self, slice_: EndpointSlice) -> None:
        self.index.upsert_slice(slice_)
        self._nudge_if_ours(slice_.metadata, slice_=True)

    def _slice_deleted(self, slice_: EndpointSlice) -> None:
        self.index.delete_slice(slice_)
        self._nudge_if_ours(slice_.metadata, slice_=True)
