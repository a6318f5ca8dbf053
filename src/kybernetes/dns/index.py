"""The in-memory index the cluster DNS answers from: Services and the ready endpoints of their EndpointSlices.

The informers' handlers call `upsert_service` / `delete_service` / `upsert_slice` / `delete_slice` with
the objects as the API serves them; every query then reads plain dicts, so answering costs no API call.
Everything is keyed by lower-cased names (DNS compares names case-insensitively, and the Kubernetes DNS
specification says every comparison between query data and cluster data is too).

What is kept, per Service: its kind (ClusterIP, headless, ExternalName), cluster IPs, external name and named
ports; per EndpointSlice (matched to its Service by the `kubernetes.io/service-name` label): the *ready*
endpoints — `conditions.ready` absent counts as ready, as the API documents — each with its IP, its DNS
label (the endpoint's `hostname`, or the IP written with dashes, as CoreDNS names endpoints that have none)
and the slice's ports. The same endpoint in two slices (a move between slices is not atomic) is listed once.

Reverse records are derived per Service whenever it or one of its slices changes: the cluster IPs point at
`<svc>.<ns>.svc`, each ready endpoint IP at `<label>.<svc>.<ns>.svc` (names here are relative to the
cluster domain, which the resolver appends).
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from dataclasses import dataclass

from kybernetes.api.models.core_v1 import Service
from kybernetes.api.models.discovery_v1 import EndpointSlice

__all__ = [
    "SERVICE_NAME_LABEL",
    "ClusterIndex",
    "EndpointEntry",
    "PortEntry",
    "ServiceEntry",
    "dashed_ip",
    "endpoint_entries",
    "service_entry",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

ServiceKey = tuple[str, str]  # (namespace, name), lower-cased


@dataclass(frozen=True, slots=True)
class PortEntry:
    name: str  # lower-cased; "" for an unnamed port (no SRV record)
    port: int
    protocol: str  # lower-cased: tcp, udp, sctp


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    namespace: str
    name: str
    kind: str  # "ClusterIP" (any type with a cluster IP), "Headless" or "ExternalName"
    cluster_ips: tuple[str, ...] = ()
    external_name: str = ""
    ports: tuple[PortEntry, ...] = ()

    @property
    def headless(self) -> bool:
        return self.kind == "Headless"


@dataclass(frozen=True, slots=True)
class EndpointEntry:
    ip: str
    label: str  # the endpoint's DNS label, lower-cased: its hostname, or its IP with dashes
    ports: tuple[PortEntry, ...] = ()


def dashed_ip(ip: str) -> str:
    """`10.0.0.1` → `10-0-0-1`, `fd00::1` → `fd00--1`: how endpoints without a hostname are named."""
    return ip.replace(".", "-").replace(":", "-")


def _ports(ports: list[tuple[str | None, int | None, str | None]]) -> tuple[PortEntry, ...]:
    return tuple(
        PortEntry(name=(name or "").lower(), port=port, protocol=(protocol or "TCP").lower())
        for name, port, protocol in ports if port is not None
    )


def service_entry(svc: Service) -> ServiceEntry | None:
    """What DNS needs of a Service (None when it has no name or namespace)."""
    meta, spec = svc.metadata, svc.spec
    if meta is None or not meta.name or not meta.namespace or spec is None:
        return None
    ports = _ports([(p.name, p.port, p.protocol) for p in spec.ports or []])
    namespace, name = meta.namespace.lower(), meta.name.lower()
    if spec.type == "ExternalName":
        return ServiceEntry(namespace=namespace, name=name, kind="ExternalName", ports=ports,
                            external_name=(spec.external_name or "").rstrip(".").lower())
    ips = [ip for ip in (spec.cluster_ips or ([spec.cluster_ip] if spec.cluster_ip else [])) if ip]
    if not ips or ips[0] == "None":
        return ServiceEntry(namespace=namespace, name=name, kind="Headless", ports=ports)
    valid = tuple(ip for ip in ips if _is_ip(ip))
    return ServiceEntry(namespace=namespace, name=name, kind="ClusterIP", cluster_ips=valid, ports=ports)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def endpoint_entries(slice_: EndpointSlice) -> tuple[str, tuple[EndpointEntry, ...]] | None:
    """(service name, ready endpoints) of a slice; None for a slice of no Service or of FQDN addresses."""
    meta = slice_.metadata
    labels = (meta.labels if meta else None) or {}
    service = labels.get(SERVICE_NAME_LABEL)
    if not service or slice_.address_type not in ("IPv4", "IPv6"):
        return None
    ports = _ports([(p.name, p.port, p.protocol) for p in slice_.ports or []])
    entries: list[EndpointEntry] = []
    for ep in slice_.endpoints or []:
        if ep.conditions is not None and ep.conditions.ready is False:
            continue
        for ip in ep.addresses or []:
            if not _is_ip(ip):
                continue
            label = (ep.hostname or dashed_ip(ip)).lower()
            entries.append(EndpointEntry(ip=ip, label=label, ports=ports))
    return service.lower(), tuple(entries)


class ClusterIndex:
    """Services, their ready endpoints and the reverse map, kept current by the informers' handlers."""

    def __init__(self) -> None:
        self._services: dict[ServiceKey, ServiceEntry] = {}
        self._slices: dict[tuple[str, str], tuple[str, tuple[EndpointEntry, ...]]] = {}
        self._slices_of: dict[ServiceKey, set[str]] = {}
        self._endpoints: dict[ServiceKey, tuple[EndpointEntry, ...]] = {}
        self._namespaces: Counter[str] = Counter()
        self._ptr: dict[str, set[str]] = {}
        self._ptr_of: dict[ServiceKey, set[tuple[str, str]]] = {}
        self.serial = int(time.time())

    # ---- updates (from informer handlers) --------------------------------------------------------------

    def upsert_service(self, svc: Service) -> None:
        entry = service_entry(svc)
        if entry is None:
            return
        key = (entry.namespace, entry.name)
        if key not in self._services:
            self._namespaces[entry.namespace] += 1
        self._services[key] = entry
        self._changed(key)

    def delete_service(self, svc: Service) -> None:
        meta = svc.metadata
        if meta is None or not meta.name or not meta.namespace:
            return
        key = (meta.namespace.lower(), meta.name.lower())
        if self._services.pop(key, None) is not None:
            self._namespaces[key[0]] -= 1
            if self._namespaces[key[0]] <= 0:
                del self._namespaces[key[0]]
        self._changed(key)

    def upsert_slice(self, slice_: EndpointSlice) -> None:
        meta = slice_.metadata
        if meta is None or not meta.name or not meta.namespace:
            return
        slice_key = (meta.namespace.lower(), meta.name)
        old = self._slices.pop(slice_key, None)
        if old is not None:
            self._unlink(slice_key, old[0])
        found = endpoint_entries(slice_)
        if found is None:
            return
        service, entries = found
        self._slices[slice_key] = (service, entries)
        self._slices_of.setdefault((slice_key[0], service), set()).add(slice_key[1])
        self._refresh_endpoints((slice_key[0], service))

    def delete_slice(self, slice_: EndpointSlice) -> None:
        meta = slice_.metadata
        if meta is None or not meta.name or not meta.namespace:
            return
        slice_key = (meta.namespace.lower(), meta.name)
        old = self._slices.pop(slice_key, None)
        if old is not None:
            self._unlink(slice_key, old[0])

    def _unlink(self, slice_key: tuple[str, str], service: str) -> None:
        key = (slice_key[0], service)
        names = self._slices_of.get(key)
        if names is not None:
            names.discard(slice_key[1])
            if not names:
                del self._slices_of[key]
        self._refresh_endpoints(key)

    def _refresh_endpoints(self, key: ServiceKey) -> None:
        seen: set[tuple[str, str]] = set()
        merged: list[EndpointEntry] = []
        for name in sorted(self._slices_of.get(key, ())):
            for entry in self._slices[(key[0], name)][1]:
                if (entry.ip, entry.label) not in seen:
                    seen.add((entry.ip, entry.label))
                    merged.append(entry)
        if merged:
            self._endpoints[key] = tuple(merged)
        else:
            self._endpoints.pop(key, None)
        self._changed(key)

    def _changed(self, key: ServiceKey) -> None:
        """Re-derive the reverse records of one Service."""
        for ip, name in self._ptr_of.pop(key, set()):
            names = self._ptr.get(ip)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._ptr[ip]
        entry = self._services.get(key)
        wanted: set[tuple[str, str]] = set()
        if entry is not None and entry.kind != "ExternalName":
            base = f"{entry.name}.{entry.namespace}.svc"
            wanted.update((ip, base) for ip in entry.cluster_ips)
            wanted.update((ep.ip, f"{ep.label}.{base}") for ep in self._endpoints.get(key, ()))
        for ip, name in wanted:
            self._ptr.setdefault(_canonical_ip(ip), set()).add(name)
        if wanted:
            self._ptr_of[key] = {(_canonical_ip(ip), name) for ip, name in wanted}
        self.serial = max(self.serial + 1, int(time.time()))

    # ---- reads (from the resolver) ---------------------------------------------------------------------

    def service(self, *, namespace: str, name: str) -> ServiceEntry | None:
        return self._services.get((namespace, name))

    def endpoints(self, *, namespace: str, name: str) -> tuple[EndpointEntry, ...]:
        """The ready endpoints of a Service (whether or not the Service itself is known)."""
        return self._endpoints.get((namespace, name), ())

    def has_namespace(self, namespace: str) -> bool:
        """Whether any Service lives in `namespace` (the index watches no Namespaces)."""
        return namespace in self._namespaces

    def reverse(self, ip: str) -> list[str]:
        """Names (relative to the cluster domain) whose address is `ip`, sorted."""
        return sorted(self._ptr.get(_canonical_ip(ip), ()))

    def statistics(self) -> dict[str, int]:
        return {"services": len(self._services), "slices": len(self._slices),
                "services_with_endpoints": len(self._endpoints), "reverse_addresses": len(self._ptr)}


def _canonical_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip
