"""The node IPAM controller (see the package docstring)."""

from __future__ import annotations

import logging

from kybernetes.api.models.core_v1 import Node
from kybernetes.client import WorkQueue
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.nodeipam.cidrset import CIDRRangeFull, CidrSet
from kybernetes.machinery.errors import NotFoundError

log = logging.getLogger(__name__)

NAME = "node-ipam-controller"
DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_MASK = {4: 24, 6: 64}


def cidr_sets_from_options(options: dict[str, str]) -> list[CidrSet]:
    """One `CidrSet` per family of `cluster-cidr` (at most one IPv4 and one IPv6, as Kubernetes allows)."""
    text = options.get("cluster-cidr") or DEFAULT_CLUSTER_CIDR
    sets: list[CidrSet] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        family = 6 if ":" in part else 4
        mask_text = (options.get(f"node-cidr-mask-size-ipv{family}") or options.get("node-cidr-mask-size")
                     or str(DEFAULT_MASK[family]))
        sets.append(CidrSet(cluster=part, mask=int(mask_text)))
    families = [s.family for s in sets]
    if not sets or len(set(families)) != len(families):
        raise ValueError(f"cluster-cidr {text!r}: give one CIDR, or one IPv4 and one IPv6 CIDR")
    return sets


def _pod_cidrs(node: Node) -> list[str]:
    spec = node.spec
    if spec is None:
        return []
    if spec.pod_cidrs:
        return list(spec.pod_cidrs)
    return [spec.pod_cidr] if spec.pod_cidr else []


class NodeIpamController:
    name = "node-ipam"

    def __init__(self, *, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.sets = cidr_sets_from_options(ctx.options)
        self.nodes = ctx.informers.informer(Node)
        self.client = ctx.client.resource(Node)
        self.recorder = ctx.recorder(NAME)
        self.queue = WorkQueue(name=self.name, clock=ctx.clock)
        # What we know each node holds (from its spec, or what we patched and have not seen back yet).
        self.assigned: dict[str, list[str]] = {}
        self.nodes.add_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new), on_delete=self._enqueue
        )

    def _enqueue(self, node: Node) -> None:
        if node.metadata is not None and node.metadata.name:
            self.queue.add(node.metadata.name)

    def _set_for(self, cidr: str) -> CidrSet | None:
        for s in self.sets:
            if s.contains(cidr):
                return s
        return None

    def occupy_existing(self) -> None:
        """Mark the ranges of every cached node used (done once, before the first allocation)."""
        for node in self.nodes.list():
            self._occupy(node)

    def _occupy(self, node: Node) -> bool:
        name = node.metadata.name if node.metadata else None
        cidrs = _pod_cidrs(node)
        if not name or not cidrs:
            return False
        for cidr in cidrs:
            found = self._set_for(cidr)
            if found is None:
                log.warning("node %s: pod CIDR %s is outside the cluster CIDR; leaving it alone", name, cidr)
                continue
            found.occupy(cidr)
        self.assigned[name] = cidrs
        return True

    def _release(self, name: str) -> None:
        for cidr in self.assigned.pop(name, []):
            found = self._set_for(cidr)
            if found is not None:
                found.release(cidr)

    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None or (node.metadata is not None and node.metadata.deletion_timestamp):
            if node is None:
                self._release(key)
            return
        if self._occupy(node):
            return
        cidrs = self.assigned.get(key)
        if cidrs is None:
            cidrs = []
            try:
                for s in self.sets:
                    cidrs.append(s.allocate())
            except CIDRRangeFull as e:
                for cidr in cidrs:
                    self._set_for(cidr).release(cidr)  # type: ignore[union-attr]
                self.recorder.event(node, type="Normal", reason="CIDRNotAvailable",
                                    message=f"Node {key} status is now: CIDRNotAvailable")
                raise RuntimeError(f"node {key}: {e}") from e
            self.assigned[key] = cidrs
        try:
            await self.client.patch(name=key, patch={"spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs}},
                                    type="merge", field_manager=NAME)
        except NotFoundError:
            self._release(key)
            return
        except Exception:
            self.recorder.event(node, type="Warning", reason="CIDRAssignmentFailed",
                                message=f"Node {key} status is now: CIDRAssignmentFailed")
            self._release(key)
            raise
        log.info("node %s: pod CIDRs %s", key, ",".join(cidrs))

    async def run(self, *, workers: int) -> None:
        await self.nodes.wait_synced()
        self.occupy_existing()
        # One worker: allocation reads and writes the shared bitmap; parallel patches buy nothing here.
        await run_queue(queue=self.queue, sync=self.sync, workers=1)
