"""The watch cache: one store watch per resource, serving every client watch and cached list from memory.

For each storage prefix (e.g. `/registry/pods/`) the cache lists the store once, then follows one store
watch. It keeps:

- the current objects by key, each decoded once and encoded once (`CachedObject.data` is the JSON the
  API sends, resourceVersion included), so a list is a join of ready-made bytes;
- a ring buffer of recent events, so a client watch from a resourceVersion replays what it missed
  without touching the store; a resourceVersion older than the buffer answers 410 Gone, as Kubernetes does;
- the set of client watchers; each event is matched against each watcher's filter and put on its queue
  as the already-encoded object (one encode per event, not one per watcher).

A filtered watcher sees Kubernetes' semantics: an object that stops matching its selector arrives as
DELETED, one that starts matching as ADDED.

Lists with `resourceVersion=""` (the consistent read) wait until the cache has caught up with the store's
current revision and are then served from memory, as Kubernetes does since its consistent reads from cache.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from kybernetes.machinery.errors import FieldError, GoneError, TimeoutError_
from kybernetes.storage import CompactedError, Event, EventType, Store, WatchOverflowError

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


@dataclass(slots=True)
class CachedObject:
    key: str
    obj: dict[str, Any]  # the wire form with resourceVersion; shared, never mutated
    rv: int
    data: bytes  # encoded `obj`
    namespace: str
    name: str
    labels: dict[str, str]
    fields: dict[str, str]


@dataclass(slots=True)
class CacheEvent:
    type: str  # ADDED / MODIFIED / DELETED
    obj: CachedObject
    prev: CachedObject | None
    rv: int


Predicate = Callable[[CachedObject], bool]


@dataclass(eq=False)
class Watcher:
    """One client watch. Events arrive on `queue`; None on the queue means the watch ended."""

    namespace: str | None
    predicate: Predicate | None
    queue: asyncio.Queue[tuple[str, CachedObject] | None]
    closed: bool = False
    overflowed: bool = False

    def matches(self, o: CachedObject) -> bool:
        if self.namespace is not None and o.namespace != self.namespace:
            return False
        return self.predicate is None or self.predicate(o)

    def offer(self, event_type: str, o: CachedObject) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait((event_type, o))
        except asyncio.QueueFull:
            # A watcher that cannot keep up is ended, as Kubernetes does; its client re-watches.
            self.overflowed = True
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


@dataclass
class CacheStatistics:
    objects: int
    revision: int
    oldest_servable_revision: int
    buffered_events: int
    watchers: int
    events_dispatched: int


@dataclass(eq=False)
class WatchCache:
    """The cache of one storage prefix. `start()` lists and begins following; `run()` is its task."""

    store: Store
    prefix: str
    # Extracts (namespace, name) from a key, and the selectable fields from an object.
    fields_of: Callable[[dict[str, Any]], dict[str, str]]
    capacity: int = 10_000
    watcher_queue_size: int = 10_000

    objects: dict[str, CachedObject] = field(default_factory=dict)
    revision: int = 0
    _events: collections.deque[CacheEvent] = field(default_factory=collections.deque)
    _oldest_servable: int = 0
    _watchers: set[Watcher] = field(default_factory=set)
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _dispatched: int = 0

    # ---- building cached objects -------------------------------------------------------------------

    def _cached(self, key: str, value: bytes, rv: int) -> CachedObject:
        obj = _decode(value)
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(rv)
        return CachedObject(
            key=key,
            obj=obj,
            rv=rv,
            data=_encode(obj),
            namespace=meta.get("namespace", ""),
            name=meta.get("name", ""),
            labels=meta.get("labels") or {},
            fields=self.fields_of(obj),
        )

    # ---- lifecycle -----------------------------------------------------------------------------------

    async def load(self, *, revision: int) -> None:
        """Fill the cache with the prefix's objects as of `revision` (0: current) and forget history."""
        objects: dict[str, CachedObject] = {}
        start_key = self.prefix
        while True:
            page = await self.store.list(prefix=self.prefix, revision=revision, limit=5000, start_key=start_key)
            revision = page.revision
            for kv in page.items:
                objects[kv.key] = self._cached(kv.key, kv.value, kv.mod_revision)
            if not page.more or not page.items:
                break
            start_key = page.items[-1].key + "\x00"
        self.objects = objects
        self._events.clear()
        self._oldest_servable = revision
        # The history the watchers relied on is gone: end them, their clients re-watch.
        for w in list(self._watchers):
            w.close()
        self._watchers.clear()
        await self.advance(revision)
        self._ready.set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def advance(self, revision: int) -> None:
        """The store has no further events for this prefix up to `revision`."""
        if revision <= self.revision:
            return
        async with self._progress:
            self.revision = revision
            self._progress.notify_all()

    async def wait_for_revision(self, revision: int, *, within: float = 3.0) -> None:
        """Wait until the cache has seen `revision`; Kubernetes answers 504 after ~3 s otherwise."""
        if self.revision >= revision:
            return
        try:
            async with asyncio.timeout(within), self._progress:
                await self._progress.wait_for(lambda: self.revision >= revision)
        except TimeoutError:
            raise TimeoutError_(
                f"Too large resource version: {revision}, current: {self.revision}", retry_after_seconds=1,
                # client-go's reflector recognises this case by the cause.
                causes=[FieldError("", "ResourceVersionTooLarge", "Too large resource version")],
            ) from None

    def apply(self, batch: list[Event]) -> None:
        """Apply events of this prefix (in revision order); the hub advances the revision after."""
        for ev in batch:
            key = ev.kv.key
            prev = self.objects.get(key)
            if ev.type is EventType.DELETE:
                if prev is None:
                    continue
                gone = self._cached(key, ev.kv.value or (prev.data if prev else b"{}"), ev.kv.mod_revision)
                del self.objects[key]
                self._record(CacheEvent(DELETED, gone, prev, ev.kv.mod_revision))
            else:
                cur = self._cached(key, ev.kv.value, ev.kv.mod_revision)
                self.objects[key] = cur
                self._record(CacheEvent(MODIFIED if prev is not None else ADDED, cur, prev, ev.kv.mod_revision))

    def _record(self, ev: CacheEvent) -> None:
        if len(self._events) >= self.capacity:
            dropped = self._events.popleft()
            self._oldest_servable = dropped.rv
        self._events.append(ev)
        self._dispatch(ev)

    def _dispatch(self, ev: CacheEvent) -> None:
        dead: list[Watcher] = []
        for w in self._watchers:
            self._deliver(w, ev)
            if w.closed:
                dead.append(w)
        for w in dead:
            self._watchers.discard(w)
        self._dispatched += 1

    @staticmethod
    def _deliver(w: Watcher, ev: CacheEvent) -> None:
        now = w.matches(ev.obj) if ev.type != DELETED else False
        before = ev.prev is not None and w.matches(ev.prev)
        if ev.type == DELETED:
            if before and ev.prev is not None:
                # The deleted object as it was last, at the delete's revision.
                w.offer(DELETED, ev.obj)
        elif now and before:
            w.offer(MODIFIED, ev.obj)
        elif now:
            w.offer(ADDED, ev.obj)
        elif before:
            w.offer(DELETED, ev.obj)

    # ---- reads -------------------------------------------------------------------------------------

    def list(self, *, namespace: str | None, predicate: Predicate | None) -> list[CachedObject]:
        items = [
            o
            for o in self.objects.values()
            if (namespace is None or o.namespace == namespace) and (predicate is None or predicate(o))
        ]
        items.sort(key=lambda o: o.key)
        return items

    def get(self, key: str) -> CachedObject | None:
        return self.objects.get(key)

    def watch(
        self,
        *,
        from_revision: int | None,
        namespace: str | None,
        predicate: Predicate | None,
        send_initial: bool = False,
    ) -> Watcher:
        """Start a client watch. `from_revision` None (resourceVersion "" or "0") starts with synthetic
        ADDED events for every current object, then streams; otherwise replays events after it.
        Raises GoneError when the events after `from_revision` are no longer buffered."""
        initial: list[CachedObject] = []
        replay = from_revision is not None and not send_initial
        if not replay:
            initial = self.list(namespace=namespace, predicate=predicate)
        elif from_revision is not None and from_revision < self._oldest_servable:
            raise GoneError(f"too old resource version: {from_revision} ({self._oldest_servable})")
        # Room for the initial state on top of the usual backlog, so a large list never overflows at once.
        w = Watcher(
            namespace=namespace,
            predicate=predicate,
            queue=asyncio.Queue(self.watcher_queue_size + len(initial)),
        )
        for o in initial:
            w.queue.put_nowait((ADDED, o))
        if replay and from_revision is not None:
            for ev in self._events:
                if ev.rv > from_revision:
                    self._deliver(w, ev)
        self._watchers.add(w)
        return w

    def stop_watch(self, w: Watcher) -> None:
        w.close()
        self._watchers.discard(w)

    def statistics(self) -> CacheStatistics:
        return CacheStatistics(
            objects=len(self.objects),
            revision=self.revision,
            oldest_servable_revision=self._oldest_servable,
            buffered_events=len(self._events),
            watchers=len(self._watchers),
            events_dispatched=self._dispatched,
        )


@dataclass(eq=False)
class CacheHub:
    """One store watch for all caches: routes each event to the cache of its prefix and then moves every
    cache's revision to the batch's revision.

    A cache learns that nothing happened to its prefix up to revision R only from a watch that covers R;
    with one watch per prefix, a write elsewhere (another resource, an IP allocation) would leave every
    other cache behind the store's revision, and a consistent read would wait for an event that never
    comes. One watch over the whole registry gives every cache that progress for free (etcd would need
    progress notifications per watch otherwise) and costs one stream instead of one per resource.
    """

    store: Store
    root: str = "/registry/"
    caches: dict[str, WatchCache] = field(default_factory=dict)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, cache: WatchCache) -> None:
        self.caches[cache.prefix] = cache

    def _route(self, key: str) -> WatchCache | None:
        # Prefixes are /registry/<resource>/ or /registry/<group>/<resource>/.
        first = key.find("/", len(self.root))
        if first < 0:
            return None
        cache = self.caches.get(key[: first + 1])
        if cache is not None:
            return cache
        second = key.find("/", first + 1)
        return self.caches.get(key[: second + 1]) if second >= 0 else None

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def run(self) -> None:
        while True:
            revision = await self.store.current_revision()
            for cache in self.caches.values():
                await cache.load(revision=revision)
            self._ready.set()
            try:
                watch = self.store.watch(prefix=self.root, from_revision=revision)
                try:
                    async for batch in watch:
                        routed: dict[WatchCache, list[Event]] = {}
                        for ev in batch:
                            target = self._route(ev.kv.key)
                            if target is not None:
                                routed.setdefault(target, []).append(ev)
                        for cache, events in routed.items():
                            cache.apply(events)
                        if batch:
                            last = batch[-1].revision
                            for cache in self.caches.values():
                                await cache.advance(last)
                finally:
                    await watch.close()
            except (CompactedError, WatchOverflowError):
                log.warning("watch caches fell behind the store watch; re-listing")
