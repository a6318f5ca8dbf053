"""Pod IPs for one simulated node: handed out from the node's pod CIDR, returned when the pod goes.

The range is `spec.podCIDR` once a controller (node IPAM) has set it, else the range derived from the node's
index (`nodes.derived_pod_cidr`). Addresses are taken round-robin from the last one handed out, skipping
those in use, so a freed address is not reused at once (as a CNI's host-local allocator does); the network
address, `.1` (a would-be gateway) and the broadcast address are never handed out.
"""

from __future__ import annotations

import ipaddress

__all__ = ["PodAddresses", "RangeExhausted"]


class RangeExhausted(Exception):
    """Every address of the node's pod range is in use."""


class PodAddresses:
    def __init__(self, *, cidr: str) -> None:
        self._used: set[int] = set()
        self._next = 0
        self.cidr = ""
        self._network = ipaddress.ip_network("0.0.0.0/32")
        self.set_cidr(cidr)

    def set_cidr(self, cidr: str) -> None:
        """Switch to a new range (addresses already handed out stay with their pods, outside it)."""
        if cidr == self.cidr:
            return
        network = ipaddress.ip_network(cidr, strict=False)
        self.cidr, self._network = cidr, network
        self._next = 0
        self._used = set()  # the old range's offsets mean nothing in the new one

    @property
    def size(self) -> int:
        return max(0, self._network.num_addresses - 3)

    def _offset(self, ip: str) -> int | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if address not in self._network:
            return None
        return int(address) - int(self._network.network_address)

    def allocate(self) -> str:
        size = self.size
        if size <= 0:
            raise RangeExhausted(self.cidr)
        for step in range(size):
            offset = 2 + (self._next + step) % size
            if offset not in self._used:
                self._used.add(offset)
                self._next = (self._next + step + 1) % size
                return str(self._network.network_address + offset)
        raise RangeExhausted(self.cidr)

    def reserve(self, ip: str) -> None:
        """Mark an address found on an existing pod as taken (after a restart of the simulator)."""
        offset = self._offset(ip)
        if offset is not None:
            self._used.add(offset)

    def release(self, ip: str) -> None:
        offset = self._offset(ip)
        if offset is not None:
            self._used.discard(offset)

    def __len__(self) -> int:
        return len(self._used)
