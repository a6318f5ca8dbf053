"""Laying a service's desired endpoints out over its EndpointSlices with as few writes as possible.

Per port set (the slices of one service differ only in which ports their endpoints serve): the desired
endpoints, in order, are cut into chunks of at most `max_endpoints`; chunk i goes to the i-th existing
slice with those ports (by name); a slice whose endpoints, ports, labels and owner already match is not
written; missing slices are created with generateName `<service>-`; slices left over (and slices for
port sets no longer wanted) are deleted. With no endpoints at all, one empty placeholder slice remains.
"""

from __future__ import annotations

import logging

import msgspec

from kybernetes.api.models.core_v1 import Service
from kybernetes.api.models.discovery_v1 import Endpoint, EndpointPort, EndpointSlice
from kybernetes.api.models.meta_v1 import ObjectMeta, OwnerReference
from kybernetes.client import Client
from kybernetes.machinery.errors import NotFoundError
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["MANAGED_BY", "MANAGED_BY_LABEL", "SERVICE_NAME_LABEL", "PortKey", "SliceReconciler", "port_key"]

log = logging.getLogger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"

PortKey = tuple[tuple[str, int, str, str], ...]  # (name, port, protocol, appProtocol) per port


def port_key(slice_: EndpointSlice) -> PortKey:
    return tuple(
        (p.name or "", p.port or 0, p.protocol or "TCP", p.app_protocol or "") for p in slice_.ports or []
    )


def _ports(key: PortKey) -> list[EndpointPort]:
    return [
        EndpointPort(name=name, port=number, protocol=protocol, app_protocol=app or None)
        for name, number, protocol, app in key
    ]


def _labels(service: Service) -> dict[str, str]:
    meta = service.metadata or ObjectMeta()
    labels = {k: v for k, v in (meta.labels or {}).items() if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
    labels[SERVICE_NAME_LABEL] = meta.name or ""
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    if service.spec is not None and service.spec.cluster_ip == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


def _owner(service: Service) -> OwnerReference:
    meta = service.metadata or ObjectMeta()
    return OwnerReference(
        api_version="v1", kind="Service", name=meta.name, uid=meta.uid, controller=True, block_owner_deletion=True
    )


def _slice_name(slice_: EndpointSlice) -> str:
    return (slice_.metadata.name if slice_.metadata else None) or ""


class SliceReconciler:
    """Writes slices; `written` collects, per call, slice name → the resourceVersion written (None for a
    delete), so the controller can wait until its cache has seen its own writes."""

    def __init__(self, *, client: Client, max_endpoints: int) -> None:
        self.client = client
        self.max_endpoints = max(1, max_endpoints)
        self.written: dict[str, str | None] = {}

    async def reconcile(
        self, *, service: Service, desired: dict[PortKey, list[Endpoint]], existing: list[EndpointSlice]
    ) -> None:
        by_key: dict[PortKey, list[EndpointSlice]] = {}
        for slice_ in sorted(existing, key=_slice_name):
            by_key.setdefault(port_key(slice_), []).append(slice_)
        if not any(desired.values()):
            await self._placeholder(service=service, existing=sorted(existing, key=_slice_name))
            return
        for key, slices in by_key.items():
            if not desired.get(key):
                await self.delete_all(slices)
        for key, endpoints in desired.items():
            if not endpoints:
                continue
            chunks = [endpoints[i:i + self.max_endpoints] for i in range(0, len(endpoints), self.max_endpoints)]
            slices = by_key.get(key, [])
            for i, chunk in enumerate(chunks):
                if i < len(slices):
                    await self._update(service=service, slice_=slices[i], key=key, endpoints=chunk)
                else:
                    await self._create(service=service, key=key, endpoints=chunk)
            await self.delete_all(slices[len(chunks):])

    async def _placeholder(self, *, service: Service, existing: list[EndpointSlice]) -> None:
        keep = next((s for s in existing if not s.endpoints), None)
        if keep is None:
            await self._create(service=service, key=(), endpoints=[])
        else:
            await self._update(service=service, slice_=keep, key=port_key(keep), endpoints=[])
        await self.delete_all([s for s in existing if s is not keep])

    async def _create(self, *, service: Service, key: PortKey, endpoints: list[Endpoint]) -> None:
        meta = service.metadata or ObjectMeta()
        slice_ = EndpointSlice(
            metadata=ObjectMeta(
                generate_name=f"{meta.name}-", namespace=meta.namespace, labels=_labels(service),
                annotations={TRIGGER_TIME_ANNOTATION: now_rfc3339()}, owner_references=[_owner(service)],
            ),
            address_type="IPv4",
            endpoints=endpoints,
            ports=_ports(key),
        )
        created = await self.client.resource(EndpointSlice).create(slice_)
        self._record(created)

    async def _update(self, *, service: Service, slice_: EndpointSlice, key: PortKey, endpoints: list[Endpoint]) -> None:
        meta = slice_.metadata or ObjectMeta()
        labels = _labels(service)
        owners = [_owner(service)]
        ports = _ports(key)
        if (
            (slice_.endpoints or []) == endpoints and (slice_.ports or []) == ports
            and (meta.labels or {}) == labels and (meta.owner_references or []) == owners
        ):
            return
        annotations = {**(meta.annotations or {}), TRIGGER_TIME_ANNOTATION: now_rfc3339()}
        updated = msgspec.structs.replace(
            slice_, endpoints=endpoints, ports=ports,
            metadata=msgspec.structs.replace(meta, labels=labels, annotations=annotations, owner_references=owners),
        )
        self._record(await self.client.resource(EndpointSlice).update(updated))

    def _record(self, slice_: EndpointSlice) -> None:
        meta = slice_.metadata or ObjectMeta()
        if meta.name:
            self.written[meta.name] = meta.resource_version or ""

    async def delete_all(self, slices: list[EndpointSlice]) -> None:
        for slice_ in slices:
            meta = slice_.metadata or ObjectMeta()
            try:
                await self.client.resource(EndpointSlice).delete(name=meta.name or "", namespace=meta.namespace)
            except NotFoundError:
                pass
            if meta.name:
                self.written[meta.name] = None
