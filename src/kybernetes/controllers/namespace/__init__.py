"""The namespace lifecycle controller: a deleted namespace loses all its content, then its `kubernetes`
finalizer, and the API server then removes it.

A namespace that is being deleted (deletionTimestamp set, `kubernetes` in spec.finalizers) is synced until
it is empty: `deleter.delete_content` deletes every object of every served namespaced resource in it (pods
first, so no workload keeps running while the objects around it vanish) and lists what remains; the
namespace's status carries the same conditions Kubernetes writes (NamespaceDeletionContentFailure,
NamespaceContentRemaining, NamespaceFinalizersRemaining, ...). While content remains — pods in their grace
period, objects held by finalizers — the namespace is looked at again after half the estimated wait, as
Kubernetes does. Once nothing remains, `PUT /api/v1/namespaces/NAME/finalize` drops `kubernetes` from
spec.finalizers and the server deletes the namespace.

Handlers only enqueue names; every sync reads the namespace live (several controllers may act on a
terminating namespace, and the decision to finalize must not rest on a stale cache).
"""

from __future__ import annotations

import logging

import msgspec

from kybernetes.api.models.core_v1 import Namespace, NamespaceCondition, NamespaceSpec, NamespaceStatus
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import Client, Clock, WorkQueue
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.namespace.deleter import ContentDeleter, DeletionResult, deletable_resources
from kybernetes.machinery.errors import ConflictError, NotFoundError
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["FINALIZER", "NamespaceController", "conditions_for", "new"]

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
# The condition types Kubernetes keeps on a terminating namespace, in its order.
CONDITION_TYPES = (
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
)


def conditions_for(result: DeletionResult) -> dict[str, tuple[str, str, str]]:
    """condition type → (status, reason, message), worded as Kubernetes words them."""
    out = {
        "NamespaceDeletionDiscoveryFailure": ("False", "ResourcesDiscovered", "All resources successfully discovered"),
        "NamespaceDeletionGroupVersionParsingFailure": (
            "False", "ParsedGroupVersions", "All legacy kube types successfully parsed"
        ),
    }
    if result.errors:
        out["NamespaceDeletionContentFailure"] = (
            "True", "ContentDeletionFailed",
            f"Failed to delete all resource types, {len(result.errors)} remaining: " + ", ".join(result.errors),
        )
    else:
        out["NamespaceDeletionContentFailure"] = (
            "False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"
        )
    if result.remaining:
        parts = [f"{resource} has {count} resource instances" for resource, count in sorted(result.remaining.items())]
        out["NamespaceContentRemaining"] = ("True", "SomeResourcesRemain", "Some resources are remaining: " + ", ".join(parts))
    else:
        out["NamespaceContentRemaining"] = ("False", "ContentRemoved", "All content successfully removed")
    if result.finalizers:
        parts = [f"{name} in {count} resource instances" for name, count in sorted(result.finalizers.items())]
        out["NamespaceFinalizersRemaining"] = (
            "True", "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: " + ", ".join(parts)
        )
    else:
        out["NamespaceFinalizersRemaining"] = ("False", "ContentHasNoFinalizers", "All content-preserving finalizers finished")
    return out


def _merge_conditions(
    current: list[NamespaceCondition], wanted: dict[str, tuple[str, str, str]], *, now: str
) -> list[NamespaceCondition] | None:
    """The new condition list, or None when nothing changed (lastTransitionTime moves only on a change of
    status)."""
    by_type = {c.type: c for c in current}
    out: list[NamespaceCondition] = [c for c in current if c.type not in wanted]
    changed = False
    for ctype in CONDITION_TYPES:
        if ctype not in wanted:
            continue
        status, reason, message = wanted[ctype]
        old = by_type.get(ctype)
        if old is not None and (old.status, old.reason, old.message) == (status, reason, message):
            out.append(old)
            continue
        changed = True
        when = old.last_transition_time if old is not None and old.status == status else now
        out.append(NamespaceCondition(type=ctype, status=status, reason=reason, message=message,
                                      last_transition_time=when))
    return out if changed else None


class NamespaceController:
    name = "namespace"

    def __init__(self, *, client: Client, deleter: ContentDeleter, clock: Clock) -> None:
        self.client = client
        self.deleter = deleter
        self.clock = clock
        self.queue = WorkQueue(name="namespace", clock=clock)

    def enqueue(self, ns: Namespace) -> None:
        meta = ns.metadata
        if meta is not None and meta.name and meta.deletion_timestamp:
            self.queue.add(meta.name)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    async def sync(self, name: str) -> None:
        namespaces = self.client.resource(Namespace)
        try:
            ns = await namespaces.get(name=name)
        except NotFoundError:
            return
        meta = ns.metadata or ObjectMeta()
        if not meta.deletion_timestamp:
            return
        ns = await self._mark_terminating(ns)
        finalizers = list((ns.spec or NamespaceSpec()).finalizers or [])
        if FINALIZER not in finalizers:
            return  # finalized by us already; other finalizers belong to others
        result = await self.deleter.delete_content(namespace=name)
        ns = await self._write_conditions(ns, result)
        if result.errors:
            raise RuntimeError(f"namespace {name}: content deletion failed: {'; '.join(result.errors)}")
        if result.estimate > 0:
            # Kubernetes looks again after half the estimated wait, plus a second.
            self.queue.add_after(name, result.estimate / 2 + 1)
            return
        await self._finalize(ns)

    async def _mark_terminating(self, ns: Namespace) -> Namespace:
        status = ns.status or NamespaceStatus()
        if status.phase == "Terminating":
            return ns
        updated = msgspec.structs.replace(ns, status=msgspec.structs.replace(status, phase="Terminating"))
        try:
            return await self.client.resource(Namespace).update_status(updated)
        except ConflictError:
            return await self.client.resource(Namespace).get(name=(ns.metadata or ObjectMeta()).name or "")

    async def _write_conditions(self, ns: Namespace, result: DeletionResult) -> Namespace:
        status = ns.status or NamespaceStatus()
        merged = _merge_conditions(list(status.conditions or []), conditions_for(result), now=now_rfc3339())
        if merged is None:
            return ns
        updated = msgspec.structs.replace(ns, status=msgspec.structs.replace(status, conditions=merged))
        try:
            return await self.client.resource(Namespace).update_status(updated)
        except ConflictError:
            # Conditions are advisory; the next pass writes them. The finalize below re-reads anyway.
            return ns
        except NotFoundError:
            return ns

    async def _finalize(self, ns: Namespace) -> None:
        meta = ns.metadata or ObjectMeta()
        name = meta.name or ""
        spec = ns.spec or NamespaceSpec()
        remaining = sorted({f for f in spec.finalizers or [] if f != FINALIZER})
        body = Namespace(
            api_version="v1", kind="Namespace",
            metadata=ObjectMeta(name=name, uid=meta.uid, resource_version=meta.resource_version),
            spec=NamespaceSpec(finalizers=remaining),
        )
        try:
            await self.client.request(
                "PUT", f"/api/v1/namespaces/{name}/finalize", body=msgspec.json.encode(body)
            )
        except NotFoundError:
            return
        log.info("namespace %s: content removed, finalized", name)


def new(ctx: ControllerContext) -> NamespaceController:
    deleter = ContentDeleter(client=ctx.client, resources=deletable_resources())
    controller = NamespaceController(client=ctx.client, deleter=deleter, clock=ctx.clock)
    informer = ctx.informers.informer(Namespace)
    informer.add_handler(
        on_add=controller.enqueue,
        on_update=lambda old, new: controller.enqueue(new),
    )
    return controller
