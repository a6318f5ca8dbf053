"""The service account controller: a `default` ServiceAccount in every active namespace.

A namespace that appears (or changes) is enqueued, and so is the namespace of a managed account that is
deleted, so a deleted `default` comes back. The sync creates the account when the cache does not have it;
AlreadyExists (our cache lagging behind our own create) is success. Terminating namespaces are left alone:
the server refuses new content there.

The root CA publisher (`kube-root-ca.crt` ConfigMaps) lives beside it in `serviceaccount.rootca`.
"""

from __future__ import annotations

from kybernetes.api.models.core_v1 import Namespace, ServiceAccount
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import Client, Clock, Informer, WorkQueue
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common.queue import run_queue
from kybernetes.machinery.errors import AlreadyExistsError, ForbiddenError, NotFoundError

__all__ = ["MANAGED_NAMES", "ServiceAccountsController", "namespace_active", "new"]

MANAGED_NAMES = ("default",)


def namespace_active(ns: Namespace | None) -> bool:
    if ns is None or ns.metadata is None:
        return False
    if ns.metadata.deletion_timestamp:
        return False
    return ns.status is None or ns.status.phase in (None, "Active")


class ServiceAccountsController:
    name = "serviceaccount"

    def __init__(
        self, *, client: Client, namespaces: Informer[Namespace], accounts: Informer[ServiceAccount], clock: Clock
    ) -> None:
        self.client = client
        self.namespaces = namespaces
        self.accounts = accounts
        self.queue = WorkQueue(name="serviceaccount", clock=clock)
        namespaces.add_handler(on_add=self._namespace_changed, on_update=lambda old, new: self._namespace_changed(new))
        accounts.add_handler(on_delete=self._account_deleted)

    def _namespace_changed(self, ns: Namespace) -> None:
        if ns.metadata is not None and ns.metadata.name:
            self.queue.add(ns.metadata.name)

    def _account_deleted(self, sa: ServiceAccount) -> None:
        meta = sa.metadata
        if meta is not None and meta.name in MANAGED_NAMES and meta.namespace:
            self.queue.add(meta.namespace)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    async def sync(self, namespace: str) -> None:
        if not namespace_active(self.namespaces.get(namespace)):
            return
        for name in MANAGED_NAMES:
            if self.accounts.get(f"{namespace}/{name}") is not None:
                continue
            account = ServiceAccount(metadata=ObjectMeta(name=name, namespace=namespace))
            try:
                await self.client.resource(ServiceAccount).create(account)
            except AlreadyExistsError:
                continue
            except (ForbiddenError, NotFoundError):
                return  # the namespace began terminating, or is gone


def new(ctx: ControllerContext) -> ServiceAccountsController:
    return ServiceAccountsController(
        client=ctx.client,
        namespaces=ctx.informers.informer(Namespace),
        accounts=ctx.informers.informer(ServiceAccount),
        clock=ctx.clock,
    )
