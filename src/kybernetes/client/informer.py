"""Informers: a local, indexed, always-catching-up copy of one resource, and handlers told of each change.

`Informer.run()` is the whole mechanism, run as a task the caller owns (in its TaskGroup):

1. list the resource in pages (`list_all`), replace the store with the result and remember the list's
   resourceVersion; the first time, every object is an add, and `has_synced` turns true;
2. watch from that resourceVersion with bookmarks (so the position stays fresh even when nothing of ours
   changes), applying each event to the store and calling the handlers; a watch that ends normally (the
   server's timeout, 5 to 10 minutes, randomised as client-go does so a fleet does not reconnect in step) is
   resumed from the last resourceVersion seen;
3. when the server says the position is gone (410 / an ERROR frame with `Expired`), re-list and tell the
   handlers the *difference* between the store and the new list — adds, updates (resourceVersion changed),
   deletes (with the last known object) — so handlers see one consistent stream as if nothing was missed;
4. a connection failure retries the watch after a bounded backoff; any other error re-lists after it.

`transform` (applied to every object before it is stored) trims what the cache keeps. With
`strip_managed_fields=True` (what `SharedInformerFactory` asks for) `metadata.managedFields` is dropped first
and repeated strings are shared between objects (`share_strings`), and `transform`, if set, runs on the
result: managedFields are over half of a decoded pod's memory (9.3 of 16.3 KB typed) and no controller, the
scheduler or the simulator reads them; sharing strings halves the rest (6.9 to 3.5 KB). Writing back an
object from such a cache is safe: an update whose body has no managedFields keeps the server's.

Handlers (`add_handler(on_add=, on_update=, on_delete=)`) are plain callables run inline, in event order,
on the informer's task: they must be quick and should only enqueue keys (STYLE.md). A handler that raises
is logged and does not stop the informer. A handler added after the informer synced is first told of every
object in the store as an add. With `resync_period`, every object is periodically re-announced as
`on_update(obj, obj)`, so level-triggered controllers revisit everything.

`SharedInformerFactory` hands out one informer per (resource, namespace, label selector, field selector)
so components in one process share one watch and one cache (`kyb components` runs the scheduler, the
controller-manager and the DNS over one factory); `factory.run()` runs them all, including ones asked for
after it started, under its own TaskGroup. Its informers strip managedFields unless built with
`strip_managed_fields=False`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kybernetes.api.models import Model
from kybernetes.client.clock import REAL_CLOCK, Clock
from kybernetes.client.ratelimit import Backoff
from kybernetes.client.resource import ResourceClient, WatchEvent
from kybernetes.client.rest import APIConnectionError, Client
from kybernetes.client.store import (
    IndexFunc,
    Store,
    object_key,
    resource_version,
    share_strings,
    strip_managed_fields,
)
from kybernetes.machinery.errors import GoneError, StatusError

__all__ = ["EventHandlers", "Informer", "InformerStatistics", "SharedInformerFactory"]

log = logging.getLogger(__name__)

O = TypeVar("O")  # noqa: E741
T = TypeVar("T", bound=Model)


@dataclass(frozen=True, slots=True)
class EventHandlers(Generic[O]):
    on_add: Callable[[O], None] | None = None
    on_update: Callable[[O, O], None] | None = None
    on_delete: Callable[[O], None] | None = None


@dataclass(slots=True)
class InformerStatistics:
    resource: str
    objects: int = 0
    synced: bool = False
    resource_version: str = ""
    lists: int = 0
    relists_gone: int = 0
    watches: int = 0
    events: int = 0
    bookmarks: int = 0
    errors: int = 0
    handler_errors: int = 0
    indexes: dict[str, int] = field(default_factory=dict)


class Informer(Generic[O]):
    """List + watch one resource into an indexed `Store`; see the module docstring."""

    def __init__(
        self,
        *,
        resource: ResourceClient[O],
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        indexers: Mapping[str, IndexFunc[O]] | None = None,
        resync_period: float | None = None,
        page_size: int = 500,
        watch_timeout: tuple[int, int] = (300, 600),
        clock: Clock = REAL_CLOCK,
        backoff: Backoff | None = None,
        transform: Callable[[O], O] | None = None,
        strip_managed_fields: bool = False,
    ) -> None:
        self.resource = resource
        self.transform = transform
        self.strip_managed_fields = strip_managed_fields
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.clock = clock
        self.backoff = backoff or Backoff(initial=0.2, cap=30.0)
        self.store: Store[O] = Store(indexers=indexers, key_func=object_key)
        self._handlers: list[EventHandlers[O]] = []
        self._synced = asyncio.Event()
        self._rv = ""
        self._stats = InformerStatistics(resource=resource.info.qualified)

    # ---- reading the cache -----------------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    @property
    def last_resource_version(self) -> str:
        return self._rv

    def get(self, key: str) -> O | None:
        return self.store.get(key)

    def list(self) -> list[O]:
        return self.store.list()

    def by_index(self, name: str, value: str) -> builtins.list[O]:
        return self.store.by_index(name, value)

    def add_indexer(self, name: str, func: IndexFunc[O]) -> None:
        self.store.add_indexer(name, func)

    def statistics(self) -> InformerStatistics:
        stats = self._stats
        stats.objects = len(self.store)
        stats.synced = self.has_synced
        stats.resource_version = self._rv
        stats.indexes = self.store.statistics().indexes
        return stats

    # ---- handlers --------------------------------------------------------------------------------------

    def add_handler(
        self,
        *,
        on_add: Callable[[O], None] | None = None,
        on_update: Callable[[O, O], None] | None = None,
        on_delete: Callable[[O], None] | None = None,
    ) -> None:
        handlers = EventHandlers(on_add=on_add, on_update=on_update, on_delete=on_delete)
        self._handlers.append(handlers)
        if self.has_synced and on_add is not None:
            for obj in self.store.list():
                self._call(on_add, obj)

    def _call(self, func: Callable[..., None], *args: Any) -> None:
        try:
            func(*args)
        except Exception:
            self._stats.handler_errors += 1
            log.exception("%s informer: event handler %r failed", self._stats.resource, func)

    def _added(self, obj: O) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _updated(self, old: O, new: O) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _deleted(self, obj: O) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    # ---- the loop --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """List, watch, re-list as needed; runs until cancelled."""
        async with asyncio.TaskGroup() as tg:
            if self.resync_period:
                tg.create_task(self._resync_loop(self.resync_period))
            await self._list_watch_loop()

    async def _list_watch_loop(self) -> None:
        attempt = 0
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    attempt = 0
                await self._watch()
                attempt = 0
            except GoneError as e:
                # Our position is older than the server's history: start again from a fresh list.
                self._stats.relists_gone += 1
                log.info("%s informer: %s; re-listing", self._stats.resource, e.message or "resourceVersion gone")
                need_list = True
            except APIConnectionError as e:
                self._stats.errors += 1
                log.warning("%s informer: %s", self._stats.resource, e)
                await self.clock.sleep(self.backoff.delay(attempt))
                attempt += 1
                # A watch can resume from where it was; a list that failed is retried as a list.
            except StatusError as e:
                self._stats.errors += 1
                log.warning("%s informer: %s %s; re-listing", self._stats.resource, e.code, e.message)
                await self.clock.sleep(self.backoff.delay(attempt))
                attempt += 1
                need_list = True

    async def _relist(self) -> None:
        self._stats.lists += 1
        listed = await self.resource.list_all(
            namespace=self.namespace, label_selector=self.label_selector, field_selector=self.field_selector,
            page_size=self.page_size,
        )
        items = listed.items if not self._transforms() else [self._prepare(o) for o in listed.items]
        fresh: dict[str, O] = {object_key(obj): obj for obj in items}
        # Deletes first (with the last state we knew), then adds and updates in list order.
        for key in self.store.keys():
            if key not in fresh:
                old = self.store.remove(key)
                if old is not None:
                    self._deleted(old)
        for obj in fresh.values():
            _, old = self.store.upsert(obj)
            if old is None:
                self._added(obj)
            elif resource_version(old) != resource_version(obj):
                self._updated(old, obj)
        self._rv = listed.resource_version
        self._synced.set()

    async def _watch(self) -> None:
        self._stats.watches += 1
        low, high = self.watch_timeout
        events = self.resource.watch(
            namespace=self.namespace, resource_version=self._rv, label_selector=self.label_selector,
            field_selector=self.field_selector, allow_bookmarks=True, timeout_seconds=random.randint(low, high),
        )
        async with contextlib.aclosing(events):
            async for event in events:
                rv = resource_version(event.object)
                if event.type != "BOOKMARK" and self._transforms():
                    event = WatchEvent(type=event.type, object=self._prepare(event.object))
                if event.type == "BOOKMARK":
                    self._stats.bookmarks += 1
                elif event.type in ("ADDED", "MODIFIED"):
                    self._stats.events += 1
                    _, old = self.store.upsert(event.object)
                    if old is None:
                        self._added(event.object)
                    else:
                        self._updated(old, event.object)
                elif event.type == "DELETED":
                    self._stats.events += 1
                    self.store.remove(object_key(event.object))
                    self._deleted(event.object)  # the object's final state, as the server sent it
                if rv:
                    self._rv = rv

    def _transforms(self) -> bool:
        return self.strip_managed_fields or self.transform is not None

    def _prepare(self, obj: O) -> O:
        """The object as the store keeps it: managedFields dropped and repeated strings shared (if asked),
        then `transform`."""
        if self.strip_managed_fields:
            obj = share_strings(strip_managed_fields(obj))
        return obj if self.transform is None else self.transform(obj)

    async def _resync_loop(self, period: float) -> None:
        await self._synced.wait()
        while True:
            await self.clock.sleep(period)
            for obj in self.store.list():
                self._updated(obj, obj)


InformerKey = tuple[type, str | None, str, str]


class SharedInformerFactory:
    """One informer per (kind, namespace, label selector, field selector), shared by a process's components."""

    def __init__(
        self, *, client: Client, resync_period: float | None = None, clock: Clock = REAL_CLOCK,
        strip_managed_fields: bool = True,
    ) -> None:
        self.client = client
        self.resync_period = resync_period
        self.clock = clock
        self.strip_managed_fields = strip_managed_fields
        self._informers: dict[InformerKey, Informer[Any]] = {}
        self._group: asyncio.TaskGroup | None = None

    def informer(
        self,
        model: type[T],
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        indexers: Mapping[str, IndexFunc[T]] | None = None,
    ) -> Informer[T]:
        """The shared informer for these parameters (created on first use; indexers are added if new)."""
        key: InformerKey = (model, namespace, label_selector, field_selector)
        informer: Informer[T] | None = self._informers.get(key)
        if informer is None:
            informer = Informer(
                resource=self.client.resource(model), namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, resync_period=self.resync_period, clock=self.clock,
                strip_managed_fields=self.strip_managed_fields,
            )
            self._informers[key] = informer
            if self._group is not None:
                self._group.create_task(informer.run())
        for name, func in (indexers or {}).items():
            if name not in informer.store.statistics().indexes:
                informer.add_indexer(name, func)
        return informer

    def informers(self) -> list[Informer[Any]]:
        return list(self._informers.values())

    async def run(self) -> None:
        """Run every informer (present and future) until cancelled."""
        async with asyncio.TaskGroup() as tg:
            self._group = tg
            try:
                for informer in list(self._informers.values()):
                    tg.create_task(informer.run())
                await asyncio.Event().wait()  # until cancelled; the informers' tasks belong to `tg`
            finally:
                self._group = None

    async def wait_synced(self) -> None:
        """Wait until every informer created so far has listed once."""
        for informer in list(self._informers.values()):
            await informer.wait_synced()

    def statistics(self) -> list[InformerStatistics]:
        return [i.statistics() for i in self._informers.values()]
