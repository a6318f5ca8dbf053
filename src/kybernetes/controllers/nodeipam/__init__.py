"""Node IPAM: gives every node a pod CIDR (`spec.podCIDR` / `spec.podCIDRs`) out of the cluster CIDR.

Kubernetes' range allocator, through the API only. The cluster CIDR comes from `ctx.options["cluster-cidr"]`
(default `10.244.0.0/16`; a comma-separated IPv4,IPv6 pair gives dual-stack nodes one range per family) and
the per-node mask from `node-cidr-mask-size-ipv4` / `node-cidr-mask-size-ipv6` (or `node-cidr-mask-size`;
defaults /24 and /64). On start, before any allocation, the ranges of every node already in the cache are
marked used, so a restart never hands a used range out twice; then each node without a range gets the next
free one, written with a merge patch, and a deleted node's range goes back to the pool. A node whose range
cannot be allocated (the pool is exhausted) gets a `CIDRNotAvailable` event and is retried with backoff.

Module: `controller` (the controller), `cidrset` (the subnet bitmap).
"""

from __future__ import annotations

from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.nodeipam.cidrset import CIDRRangeFull, CidrSet
from kybernetes.controllers.nodeipam.controller import NodeIpamController, cidr_sets_from_options

__all__ = ["CIDRRangeFull", "CidrSet", "NodeIpamController", "cidr_sets_from_options", "new"]


def new(ctx: ControllerContext) -> NodeIpamController:
    return NodeIpamController(ctx=ctx)
