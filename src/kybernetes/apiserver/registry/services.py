"""Services: ClusterIP and NodePort allocation at create, release at delete.

Each allocated address or port is a key in the store (`/registry/ranges/serviceips/<ip>`,
`/registry/ranges/servicenodeports/<port>`) created with create-if-absent, so two writers — even two API
servers sharing an etcd — can never hand out the same one. Random allocation draws from above the first
16 addresses of the range, which stay free for fixed choices such as the `kubernetes` Service (the first
address) and cluster DNS (the tenth), as Kubernetes reserves a low band for static allocation.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver.registry.strategy import Strategy
from kybernetes.apiserver.rest import RequestContext
from kybernetes.machinery import errors
from kybernetes.storage import KeyExistsError, KeyNotFoundError, Store

IP_PREFIX = "/registry/ranges/serviceips/"
PORT_PREFIX = "/registry/ranges/servicenodeports/"
STATIC_BAND = 16


class Allocator:
    def __init__(self, *, store: Store, service_cidr: str, node_port_range: tuple[int, int]) -> None:
        self.store = store
        self.network = ipaddress.ip_network(service_cidr)
        self.ports = node_port_range

    def first_ip(self, n: int = 1) -> str:
        return str(self.network.network_address + n)

    async def allocate_ip(self, *, owner: str, wanted: str | None) -> str:
        if wanted:
            try:
                addr = ipaddress.ip_address(wanted)
            except ValueError:
                raise self._ip_error(wanted, "must be a valid IP address", owner) from None
            if addr not in self.network or addr in (self.network.network_address, self.network.broadcast_address):
                raise self._ip_error(wanted, f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid range. The range of valid IPs is {self.network}", owner)
            try:
                await self.store.create(key=IP_PREFIX + wanted, value=owner.encode())
            except KeyExistsError:
                raise self._ip_error(wanted, f"failed to allocate IP {wanted}: provided IP is already allocated", owner) from None
            return wanted
        size = self.network.num_addresses
        low = min(STATIC_BAND, size // 4) + 1
        for _ in range(64):
            candidate = str(self.network.network_address + random.randrange(low, size - 1))
            try:
                await self.store.create(key=IP_PREFIX + candidate, value=owner.encode())
            except KeyExistsError:
                continue
            return candidate
        raise errors.InternalError("failed to allocate a service IP: range is full")

    @staticmethod
    def _ip_error(ip: str, message: str, owner: str) -> errors.InvalidError:
        return errors.InvalidError.of(kind="Service", group="", name=owner.split("/", 1)[-1],
                                      causes=[errors.invalid("spec.clusterIPs", [ip], message)])

    @staticmethod
    def _port_error(path: str, port: int, message: str, owner: str) -> errors.InvalidError:
        return errors.InvalidError.of(kind="Service", group="", name=owner.split("/", 1)[-1],
                                      causes=[errors.invalid(path, port, message)])

    async def allocate_port(self, *, owner: str, wanted: int | None, path: str) -> int:
        lo, hi = self.ports
        if wanted:
            if not lo <= wanted <= hi:
                raise self._port_error(path, wanted, "provided port is not in the valid range. "
                                       f"The range of valid ports is {lo}-{hi}", owner)
            try:
                await self.store.create(key=f"{PORT_PREFIX}{wanted}", value=owner.encode())
            except KeyExistsError:
                raise self._port_error(path, wanted, "provided port is already allocated", owner) from None
            return wanted
        for _ in range(64):
            candidate = random.randint(lo, hi)
            try:
                await self.store.create(key=f"{PORT_PREFIX}{candidate}", value=owner.encode())
            except KeyExistsError:
                continue
            return candidate
        raise errors.InternalError("failed to allocate a node port: range is full")

    async def release_ip(self, ip: str) -> None:
        try:
            await self.store.delete(key=IP_PREFIX + ip)
        except KeyNotFoundError:
            pass

    async def release_port(self, port: int) -> None:
        try:
            await self.store.delete(key=f"{PORT_PREFIX}{port}")
        except KeyNotFoundError:
            pass


def _needs_ip(spec: dict[str, Any]) -> bool:
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


def _needs_node_ports(spec: dict[str, Any]) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


class ServiceStrategy(Strategy):
    def __init__(self, info: ResourceInfo, *, allocator: Allocator) -> None:
        super().__init__(info)
        self.allocator = allocator

    def prepare_for_create(self, *, obj: dict[str, Any]) -> None:
        super().prepare_for_create(obj=obj)
        obj["status"] = {"loadBalancer": {}}

    @staticmethod
    def _owner(obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return f'{meta.get("namespace", "")}/{meta.get("name", "")}'

    async def before_create(self, *, ctx: RequestContext, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        owner = self._owner(obj)
        allocated: list[Any] = []
        try:
            if _needs_ip(spec):
                ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
                ip = await self.allocator.allocate_ip(owner=owner, wanted=ips[0] if ips else None)
                allocated.append(ip)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            elif spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            if spec.get("type") != "ExternalName":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
            if _needs_node_ports(spec):
                for i, port in enumerate(spec.get("ports") or []):
                    p = await self.allocator.allocate_port(owner=owner, wanted=port.get("nodePort"),
                                                           path=f"spec.ports[{i}].nodePort")
                    allocated.append(p)
                    port["nodePort"] = p
        except BaseException:
            await self._release(allocated)
            raise

    async def _release(self, allocated: list[Any]) -> None:
        for item in allocated:
            if isinstance(item, int):
                await self.allocator.release_port(item)
            else:
                await self.allocator.release_ip(item)

    @staticmethod
    def _held(obj: dict[str, Any]) -> list[Any]:
        spec = obj.get("spec") or {}
        held: list[Any] = []
        if _needs_ip(spec) and spec.get("clusterIP"):
            held.append(spec["clusterIP"])
        if _needs_node_ports(spec):
            held.extend(p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort"))
        return held

    async def after_create_failed(self, *, ctx: RequestContext, obj: dict[str, Any]) -> None:
        await self._release(self._held(obj))

    async def after_delete(self, *, ctx: RequestContext, obj: dict[str, Any]) -> None:
        await self._release(self._held(obj))

    def prepare_for_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_for_update(new=new, old=old)
        spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        # An omitted clusterIP on update keeps the allocated one (kubectl apply sends specs without it).
        if _needs_ip(spec) and not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
            spec["clusterIPs"] = old_spec.get("clusterIPs", [old_spec["clusterIP"]])
        if _needs_node_ports(spec) and _needs_node_ports(old_spec):
            by_port = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports") or []}
            for p in spec.get("ports") or []:
                if not p.get("nodePort"):
                    kept = by_port.get((p.get("port"), p.get("protocol", "TCP")))
                    if kept:
                        p["nodePort"] = kept

    async def before_update(self, *, ctx: RequestContext, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Allocate node ports a type change or a new port needs; release what is no longer used."""
        spec = new.get("spec") or {}
        owner = self._owner(new)
        old_held = set(self._held(old))
        if _needs_ip(spec) and not spec.get("clusterIP"):
            ip = await self.allocator.allocate_ip(owner=owner, wanted=None)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        if _needs_node_ports(spec):
            for i, port in enumerate(spec.get("ports") or []):
                want = port.get("nodePort")
                if want and want in old_held:
                    continue
                port["nodePort"] = await self.allocator.allocate_port(owner=owner, wanted=want,
                                                                      path=f"spec.ports[{i}].nodePort")

    async def after_update(self, *, ctx: RequestContext, new: dict[str, Any], old: dict[str, Any]) -> None:
        await self._release(sorted(set(self._held(old)) - set(self._held(new)), key=str))
