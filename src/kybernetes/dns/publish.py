"""Publishing this DNS server as the cluster's `kube-system/kube-dns` Service.

Pods' resolv.conf names the Service IP (10.96.0.10 by default, the tenth address of the service range as in
Kubernetes); the service proxy turns that IP into this server's address through the Service's endpoints.
`KubeDNSPublisher.ensure()` makes that so, idempotently (it writes only what differs):

* the Service `kube-system/kube-dns`, labelled as kubeadm's (`k8s-app: kube-dns`,
  `kubernetes.io/cluster-service: "true"`, `kubernetes.io/name: CoreDNS`), ClusterIP `service_ip`, ports
  `dns` 53/UDP and `dns-tcp` 53/TCP, and *no selector*: no pods back it, this process does. (A kube-dns that
  has a selector belongs to a DNS deployed as pods; it is left alone and nothing is published.)
* an EndpointSlice `kube-dns-<address>-<port>` of its own (`endpointslice.kubernetes.io/managed-by: kyb-dns`,
  owned by the Service so it goes with it) listing `address` as a ready endpoint with the `dns` / `dns-tcp`
  ports at the port this server listens on. One slice per server, so several `kyb dns` can publish side by
  side and each withdraws only itself.
* the legacy Endpoints `kube-dns`, for clients that still read those: the address is merged into the subset
  with the same ports, next to the other servers' addresses.

`run()` keeps it so: it ensures on start (retrying with backoff while the API server is unreachable or
refuses), again whenever `nudge()` says the Service or our slice changed (the informer handlers call it),
and every `resync` seconds. `withdraw()` (on shutdown) removes this server's slice and address.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from kybernetes.api.models.core_v1 import (
    EndpointAddress,
    Endpoints,
    EndpointSubset,
    Service,
    ServicePort,
    ServiceSpec,
)
from kybernetes.api.models.core_v1 import EndpointPort as CoreEndpointPort
from kybernetes.api.models.discovery_v1 import Endpoint, EndpointConditions, EndpointPort, EndpointSlice
from kybernetes.api.models.meta_v1 import ObjectMeta, OwnerReference
from kybernetes.client import APIConnectionError, Backoff, Client
from kybernetes.dns.index import SERVICE_NAME_LABEL, dashed_ip
from kybernetes.machinery.errors import AlreadyExistsError, ConflictError, NotFoundError, StatusError

__all__ = ["DNS_NAMESPACE", "DNS_SERVICE", "MANAGED_BY", "MANAGED_BY_LABEL", "SERVICE_LABELS", "KubeDNSPublisher"]

log = logging.getLogger(__name__)

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
SERVICE_LABELS = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "kyb-dns"
FIELD_MANAGER = "kyb-dns"


class KubeDNSPublisher:
    """See the module docstring."""

    def __init__(self, *, client: Client, service_ip: str, address: str, port: int,
                 namespace: str = DNS_NAMESPACE, name: str = DNS_SERVICE) -> None:
        self.client = client
        self.service_ip = service_ip
        self.address = address
        self.port = port
        self.namespace = namespace
        self.name = name
        self.slice_name = f"{name}-{dashed_ip(address)}-{port}"
        self._wake = asyncio.Event()
        self._warned: set[str] = set()
        self.published = asyncio.Event()

    # ---- the loop --------------------------------------------------------------------------------------

    def nudge(self) -> None:
        self._wake.set()

    async def run(self, *, resync: float = 60.0) -> None:
        backoff = Backoff(initial=0.5, cap=30.0)
        attempt = 0
        while True:
            self._wake.clear()
            try:
                await self.ensure()
                attempt = 0
                delay = resync
            except (StatusError, APIConnectionError) as e:
                log.warning("publishing %s/%s: %s", self.namespace, self.name, e)
                delay = backoff.delay(attempt)
                attempt += 1
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def ensure(self) -> None:
        service = await self._ensure_service()
        if service is None:
            return
        await self._ensure_slice(service)
        await self._ensure_endpoints()
        self.published.set()

    # ---- the Service -----------------------------------------------------------------------------------

    def _desired_ports(self) -> list[ServicePort]:
        return [ServicePort(name="dns", port=53, protocol="UDP", target_port=53),
                ServicePort(name="dns-tcp", port=53, protocol="TCP", target_port=53)]

    async def _ensure_service(self) -> Service | None:
        services = self.client.resource(Service)
        try:
            svc = await services.get(name=self.name, namespace=self.namespace)
        except NotFoundError:
            desired = Service(
                metadata=ObjectMeta(name=self.name, namespace=self.namespace, labels=dict(SERVICE_LABELS)),
                spec=ServiceSpec(type="ClusterIP", cluster_ip=self.service_ip, cluster_ips=[self.service_ip],
                                 ports=self._desired_ports()),
            )
            try:
                created = await services.create(desired, field_manager=FIELD_MANAGER)
            except AlreadyExistsError:
                return await self._ensure_service()  # another server was quicker: check theirs
            log.info("created Service %s/%s with ClusterIP %s", self.namespace, self.name, self.service_ip)
            return created
        spec = svc.spec or ServiceSpec()
        meta = svc.metadata or ObjectMeta()
        if spec.selector:
            self._warn_once("selector", "Service %s/%s has a selector (a DNS deployed as pods?): not publishing "
                            "this server in it", self.namespace, self.name)
            return None
        if spec.cluster_ip != self.service_ip:
            self._warn_once("ip", "Service %s/%s has ClusterIP %s, not %s (the ClusterIP cannot change; delete "
                            "the Service to move it)", self.namespace, self.name, spec.cluster_ip, self.service_ip)
        labels = {**(meta.labels or {}), **SERVICE_LABELS}
        ports = self._desired_ports()
        current = [(p.name, p.port, p.protocol, p.target_port) for p in spec.ports or []]
        if labels == (meta.labels or {}) and current == [(p.name, p.port, p.protocol, p.target_port) for p in ports]:
            return svc
        updated = msgspec.structs.replace(
            svc, metadata=msgspec.structs.replace(meta, labels=labels),
            spec=msgspec.structs.replace(spec, ports=ports))
        return await services.update(updated, field_manager=FIELD_MANAGER)

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    # ---- the EndpointSlice -----------------------------------------------------------------------------

    def desired_slice(self, service: Service) -> EndpointSlice:
        meta = service.metadata or ObjectMeta()
        return EndpointSlice(
            metadata=ObjectMeta(
                name=self.slice_name, namespace=self.namespace,
                labels={**SERVICE_LABELS, SERVICE_NAME_LABEL: self.name, MANAGED_BY_LABEL: MANAGED_BY},
                owner_references=[OwnerReference(api_version="v1", kind="Service", name=self.name, uid=meta.uid,
                                                 controller=True, block_owner_deletion=True)],
            ),
            address_type="IPv6" if ":" in self.address else "IPv4",
            endpoints=[Endpoint(addresses=[self.address],
                                conditions=EndpointConditions(ready=True, serving=True, terminating=False))],
            ports=[EndpointPort(name="dns", port=self.port, protocol="UDP"),
                   EndpointPort(name="dns-tcp", port=self.port, protocol="TCP")],
        )

    async def _ensure_slice(self, service: Service) -> None:
        slices = self.client.resource(EndpointSlice)
        desired = self.desired_slice(service)
        try:
            current = await slices.get(name=self.slice_name, namespace=self.namespace)
        except NotFoundError:
            try:
                await slices.create(desired, field_manager=FIELD_MANAGER)
            except AlreadyExistsError as e:
                raise ConflictError(f"EndpointSlice {self.slice_name} appeared meanwhile") from e
            log.info("published %s:%d in EndpointSlice %s/%s", self.address, self.port, self.namespace,
                     self.slice_name)
            return
        meta = current.metadata or ObjectMeta()
        want_meta = desired.metadata or ObjectMeta()
        labels = {**(meta.labels or {}), **(want_meta.labels or {})}
        owners = [(o.kind, o.name, o.uid) for o in meta.owner_references or []]
        if (labels == (meta.labels or {}) and owners == [("Service", self.name, want_meta.uid)]
                and (current.address_type, current.endpoints, current.ports)
                == (desired.address_type, desired.endpoints, desired.ports)):
            return
        updated = msgspec.structs.replace(
            desired, metadata=msgspec.structs.replace(meta, labels=labels,
                                                      owner_references=want_meta.owner_references))
        await slices.update(updated, field_manager=FIELD_MANAGER)

    # ---- the Endpoints ---------------------------------------------------------------------------------

    def _core_ports(self) -> list[CoreEndpointPort]:
        return [CoreEndpointPort(name="dns", port=self.port, protocol="UDP"),
                CoreEndpointPort(name="dns-tcp", port=self.port, protocol="TCP")]

    @staticmethod
    def _port_set(ports: list[CoreEndpointPort] | None) -> frozenset[tuple[str | None, int | None, str | None]]:
        return frozenset((p.name, p.port, p.protocol or "TCP") for p in ports or [])

    async def _ensure_endpoints(self) -> None:
        resource = self.client.resource(Endpoints)
        ours = self._port_set(self._core_ports())
        try:
            current = await resource.get(name=self.name, namespace=self.namespace)
        except NotFoundError:
            created = Endpoints(
                metadata=ObjectMeta(name=self.name, namespace=self.namespace, labels=dict(SERVICE_LABELS)),
                subsets=[EndpointSubset(addresses=[EndpointAddress(ip=self.address)], ports=self._core_ports())],
            )
            try:
                await resource.create(created, field_manager=FIELD_MANAGER)
            except AlreadyExistsError as e:
                raise ConflictError("Endpoints kube-dns appeared meanwhile") from e
            return
        subsets = list(current.subsets or [])
        for i, subset in enumerate(subsets):
            if self._port_set(subset.ports) == ours:
                addresses = list(subset.addresses or [])
                if any(a.ip == self.address for a in addresses):
                    return
                addresses.append(EndpointAddress(ip=self.address))
                addresses.sort(key=lambda a: a.ip or "")
                subsets[i] = msgspec.structs.replace(subset, addresses=addresses)
                break
        else:
            subsets.append(EndpointSubset(addresses=[EndpointAddress(ip=self.address)], ports=self._core_ports()))
        await resource.update(msgspec.structs.replace(current, subsets=subsets), field_manager=FIELD_MANAGER)

    # ---- shutdown --------------------------------------------------------------------------------------

    async def withdraw(self) -> None:
        """Remove this server's slice and its address from the Endpoints (the Service stays)."""
        try:
            await self.client.resource(EndpointSlice).delete(name=self.slice_name, namespace=self.namespace)
        except NotFoundError:
            pass
        resource = self.client.resource(Endpoints)
        for _ in range(5):
            try:
                current = await resource.get(name=self.name, namespace=self.namespace)
            except NotFoundError:
                return
            subsets: list[EndpointSubset] = []
            changed = False
            for subset in current.subsets or []:
                addresses = [a for a in subset.addresses or [] if a.ip != self.address]
                changed = changed or len(addresses) != len(subset.addresses or [])
                if addresses or subset.not_ready_addresses:
                    subsets.append(msgspec.structs.replace(subset, addresses=addresses or None))
            if not changed:
                return
            try:
                await resource.update(msgspec.structs.replace(current, subsets=subsets or None),
                                      field_manager=FIELD_MANAGER)
                return
            except ConflictError:
                continue
