"""A set of equal-sized subnets carved out of one cluster CIDR, with allocate / occupy / release.

`CidrSet(cluster="10.244.0.0/16", mask=24)` holds the 256 `/24`s of the cluster range. Allocation is
round-robin from the last allocation (as Kubernetes' cidrset does), so a just-released range is not handed
out again at once while its old node's routes may still linger. `occupy` marks a range already in use (a
node's existing `spec.podCIDR` found at start-up); a node CIDR that only partly overlaps the cluster range
occupies every subnet it touches.
"""

from __future__ import annotations

import ipaddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class CIDRRangeFull(Exception):
    """Every subnet of the cluster CIDR is allocated."""


class CidrSet:
    def __init__(self, *, cluster: str, mask: int) -> None:
        self.cluster: IPNetwork = ipaddress.ip_network(cluster, strict=False)
        if mask < self.cluster.prefixlen or mask > self.cluster.max_prefixlen:
            raise ValueError(
                f"node CIDR mask /{mask} does not fit in cluster CIDR {self.cluster} "
                f"(must be between /{self.cluster.prefixlen} and /{self.cluster.max_prefixlen})"
            )
        # Kubernetes refuses more than 2^16 subnets per range; so do we (the bitmap would be pointless).
        if mask - self.cluster.prefixlen > 16:
            raise ValueError(f"node CIDR mask /{mask} makes too many subnets of {self.cluster} (at most 2^16)")
        self.mask = mask
        self.size = 1 << (mask - self.cluster.prefixlen)
        self._step = 1 << (self.cluster.max_prefixlen - mask)
        self._used: set[int] = set()
        self._next = 0

    @property
    def family(self) -> int:
        return self.cluster.version

    def _subnet(self, index: int) -> IPNetwork:
        base = int(self.cluster.network_address) + index * self._step
        return ipaddress.ip_network((base, self.mask))

    def _indexes(self, cidr: str) -> range:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version != self.cluster.version or not self.cluster.overlaps(net):
            raise ValueError(f"{cidr} is not in cluster CIDR {self.cluster}")
        start = max(int(net.network_address), int(self.cluster.network_address))
        end = min(int(net.broadcast_address), int(self.cluster.broadcast_address))
        first = (start - int(self.cluster.network_address)) // self._step
        last = (end - int(self.cluster.network_address)) // self._step
        return range(first, last + 1)

    def contains(self, cidr: str) -> bool:
        try:
            self._indexes(cidr)
        except ValueError:
            return False
        return True

    def allocate(self) -> str:
        if len(self._used) >= self.size:
            raise CIDRRangeFull(f"CIDR allocation failed; there are no remaining CIDRs left to allocate in the "
                                f"accepted range {self.cluster}")
        for offset in range(self.size):
            index = (self._next + offset) % self.size
            if index not in self._used:
                self._used.add(index)
                self._next = (index + 1) % self.size
                return str(self._subnet(index))
        raise CIDRRangeFull(str(self.cluster))  # unreachable: the count above says one is free

    def occupy(self, cidr: str) -> None:
        """Mark `cidr` used; raises `ValueError` when it lies outside the cluster CIDR."""
        self._used.update(self._indexes(cidr))

    def release(self, cidr: str) -> None:
        try:
            self._used.difference_update(self._indexes(cidr))
        except ValueError:
            pass  # not ours: nothing to give back

    def used(self) -> int:
        return len(self._used)
