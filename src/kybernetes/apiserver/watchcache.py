"""The watch cache: one store watch per resource, serving every client watch and cached list from memory.

For each storage prefix (e.g. `/registry/pods/`) the cache lists the store once, then follows one store
watch. It keeps:

- the current objects by key as bytes only: `CachedObject.data` is the JSON the API sends (the stored
  bytes with resourceVersion spliced in), beside what the filters read (namespace, name, labels,
  selectable fields). Each event is decoded once, for those; nothing decoded is kept (`obj` decodes on
  demand), so a list is a join of ready-made bytes and a pod costs its JSON plus a few hundred bytes;
- a ring buffer of recent events, so a client watch from a resourceVersion replays what it missed
  without touching the store; bounded by count and by bytes. A resourceVersion older than the buffer
  answers 410 Gone, as Kubernetes does;
- the set of client watchers; each event is matched against each watcher's filter and put on its queue
  as the already-encoded object (one encode per event, not one per watcher).

A filtered watcher sees Kubernetes' semantics: an object that stops matching its selector arrives as
DELETED, one that starts matching as ADDED.

Lists with `resourceVersion=""` (the consistent read) wait until the cache has caught up with the store's
current revision and are then served from memory, as Kubernetes does since its consistent reads from cache.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import itertools
import logging
import sys
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
# The start of a watch event's JSON line, by type: a frame is head + object + b"}\n".
EVENT_FRAME_HEAD = {t: b'{"type":"' + t.encode() + b'","object":' for t in (ADDED, MODIFIED, DELETED)}


@dataclass(slots=True, eq=False)
class CachedObject:
    """One object as the cache keeps it: the wire bytes and what the filters read, nothing decoded.

    `data` is the JSON the API sends (resourceVersion included); `obj` decodes it on demand, for the rare
    callers that need a dict (tables, PartialObjectMetadata, admission lookups). Lists, watches and GETs
    as JSON only join `data`.
    """

    key: str
    rv: int
    data: bytes
    namespace: str
    name: str
    labels: dict[str, str]
    fields: dict[str, str]

    @property
    def obj(self) -> dict[str, Any]:
        """A fresh decode of `data`: the caller may keep or change it."""
        decoded: dict[str, Any] = _decode(self.data)
        return decoded

    def selectable(self) -> CachedObject:
        """The same object without its bytes: what a buffered event needs of the previous version to
        match filters, so the ring buffer does not keep superseded versions' JSON alive."""
        return CachedObject(key=self.key, rv=self.rv, data=b"", namespace=self.namespace, name=self.name,
                            labels=self.labels, fields=self.fields)


@dataclass(slots=True, eq=False)
class CacheEvent:
    type: str  # ADDED / MODIFIED / DELETED
    obj: CachedObject
    prev: CachedObject | None  # filter view only (`data` is empty)
    rv: int


# What a buffered event costs beyond its object's bytes (the event, the object's slots, its dicts), for
# the ring buffer's byte bound; an estimate, measured with bench/watchcache_memory.py.
_EVENT_OVERHEAD = 600
_NO_LABELS: dict[str, str] = {}
# A list body larger than this is streamed in chunks of LIST_CHUNK_BYTES rather than built whole.
LIST_STREAM_BYTES = 4 << 20
LIST_CHUNK_BYTES = 1 << 20
_METADATA = b'"metadata":{'
_RV_KEY = b'"resourceVersion":'


def _shared(value: str) -> str:
    # Label values, namespaces and field values repeat across thousands of objects ("Running", the
    # node's name, pod-template-hash): one string object each instead of one per object.
    return sys.intern(value) if len(value) <= 64 else value


def with_resource_version(value: bytes, rv: int, obj: dict[str, Any] | None = None) -> bytes:
    """`value` (stored JSON, no resourceVersion) with metadata.resourceVersion = rv; `obj` is its decode
    when the caller has it.

    The API server stores objects as msgspec writes them (no whitespace, apiVersion and kind first), so the
    version is spliced in after the first `"metadata":{` instead of decoding and encoding the object. That
    occurrence is the top-level metadata when nothing but scalars precede it (a quote inside a JSON string
    is escaped, so a string cannot fake it). When that cannot be shown (or metadata may already carry a
    resourceVersion), the object is decoded, given the version and encoded again.
    """
    at = value.find(_METADATA)
    if at > 0 and value[:1] == b"{":
        if obj is not None:
            meta = obj.get("metadata")
            safe = isinstance(meta, dict) and "resourceVersion" not in meta and all(
                not isinstance(v, dict | list) for k, v in itertools.takewhile(lambda kv: kv[0] != "metadata",
                                                                              obj.items()))
        else:
            # Without the decode: no container opens before metadata, and no resourceVersion anywhere.
            safe = value.find(b"{", 1, at) < 0 and value.find(b"[", 0, at) < 0 and _RV_KEY not in value
        if safe:
            at += len(_METADATA)
            sep = b"" if value[at:at + 1] == b"}" else b","
            return b"".join((value[:at], b'"resourceVersion":"', str(rv).encode(), b'"', sep, value[at:]))
    if obj is None:
        obj = _decode(value)
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    obj["metadata"]["resourceVersion"] = str(rv)
    return _encode(obj)


Predicate = Callable[[CachedObject], bool]


WatchItem = tuple[str, CachedObject] | None


class WatchQueue:
    """A watcher's pending events: a bounded deque read by one task.

    Lighter than asyncio.Queue on the fan-out path (one append and, when the reader sleeps, one future
    per wake-up), and `wait()` lets the reader sleep until events arrive or `wake()` is called (its
    bookmark/deadline timer) without a timeout object per wait. The end marker (None) is always
    accepted, even when full, so a reader always learns that its watch ended.
    """

    __slots__ = ("_items", "_waiter", "maxsize")

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self._items: collections.deque[WatchItem] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: WatchItem) -> None:
        if item is not None and 0 < self.maxsize <= len(self._items):
            raise asyncio.QueueFull
        self._items.append(item)
        self.wake()

    def get_nowait(self) -> WatchItem:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    async def get(self) -> WatchItem:
        while not self._items:
            await self.wait()
        return self._items.popleft()

    async def wait(self) -> None:
        """Return when an item is pending or `wake()` was called."""
        if self._items:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass(eq=False)
class Watcher:
    """One client watch. Events arrive on `queue`; None on the queue means the watch ended."""

    namespace: str | None
    predicate: Predicate | None
    queue: WatchQueue
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
            self.queue.put_nowait(None)


@dataclass(slots=True)
class SnapshotPage:
    items: list[CachedObject]
    more: bool  # objects followed the page at the snapshot's revision
    remaining: int  # how many (all of them, whatever a filter would say)


@dataclass
class CacheStatistics:
    objects: int
    revision: int
    oldest_servable_revision: int
    buffered_events: int
    buffered_bytes: int
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
    # The ring buffer also holds at most this many bytes of objects, so that a resource with big objects
    # (ConfigMaps, CRDs) cannot keep hundreds of MB for replays.
    capacity_bytes: int = 64 << 20
    watcher_queue_size: int = 10_000

    objects: dict[str, CachedObject] = field(default_factory=dict)
    revision: int = 0
    _events: collections.deque[CacheEvent] = field(default_factory=collections.deque)
    _event_bytes: int = 0
    _sorted_keys: list[str] | None = None
    _oldest_servable: int = 0
    _watchers: set[Watcher] = field(default_factory=set)
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _dispatched: int = 0

    # ---- building cached objects -------------------------------------------------------------------

    def _cached(self, key: str, value: bytes, rv: int) -> CachedObject:
        # One decode for the filters' view; the bytes are the stored ones with the version spliced in.
        obj = _decode(value)
        data = with_resource_version(value, rv, obj)
        meta = obj.get("metadata") or {}
        labels = meta.get("labels")
        return CachedObject(
            key=key,
            rv=rv,
            data=data,
            namespace=_shared(meta.get("namespace") or ""),
            name=meta.get("name") or "",
            labels={_shared(k): _shared(v) for k, v in labels.items()} if labels else _NO_LABELS,
            fields={k: _shared(v) for k, v in self.fields_of(obj).items()},
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
        self._sorted_keys = None
        self._events.clear()
        self._event_bytes = 0
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
                gone = self._cached(key, ev.kv.value or prev.data, ev.kv.mod_revision)
                del self.objects[key]
                self._sorted_keys = None
                self._record(CacheEvent(DELETED, gone, prev.selectable(), ev.kv.mod_revision))
            else:
                cur = self._cached(key, ev.kv.value, ev.kv.mod_revision)
                self.objects[key] = cur
                if prev is None:
                    self._sorted_keys = None
                self._record(CacheEvent(MODIFIED if prev is not None else ADDED, cur,
                                        prev.selectable() if prev is not None else None, ev.kv.mod_revision))

    def _record(self, ev: CacheEvent) -> None:
        self._events.append(ev)
        self._event_bytes += len(ev.obj.data) + _EVENT_OVERHEAD
        # Bounded by count and by bytes; the newest event always stays. A watch can resume from any
        # revision at or after the last dropped event's: every later event is still buffered.
        while len(self._events) > 1 and (
            len(self._events) > self.capacity or self._event_bytes > self.capacity_bytes
        ):
            dropped = self._events.popleft()
            self._event_bytes -= len(dropped.obj.data) + _EVENT_OVERHEAD
            self._oldest_servable = dropped.rv
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
            if before:
                # The deleted object as it was last, at the delete's revision.
                w.offer(DELETED, ev.obj)
        elif now and before:
            w.offer(MODIFIED, ev.obj)
        elif now:
            w.offer(ADDED, ev.obj)
        elif before:
            w.offer(DELETED, ev.obj)

    # ---- reads -------------------------------------------------------------------------------------

    def _keys(self) -> list[str]:
        """The current keys in order; rebuilt after keys were added or removed, shared by lists and pages."""
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.objects)
        return self._sorted_keys

    def _range(self, key_prefix: str, start: str = "") -> tuple[list[str], int, int]:
        keys = self._keys()
        # Keys are "<prefix>.../"-terminated paths: every key under key_prefix sorts before the prefix with
        # its trailing "/" bumped to "0".
        end = key_prefix[:-1] + chr(ord(key_prefix[-1]) + 1)
        return keys, bisect.bisect_left(keys, max(start, key_prefix)), bisect.bisect_left(keys, end)

    def list(self, *, namespace: str | None, predicate: Predicate | None) -> list[CachedObject]:
        """The current objects (of one namespace), in key order, that `predicate` accepts."""
        keys, lo, hi = self._range(self.prefix if namespace is None else f"{self.prefix}{namespace}/")
        objects = self.objects
        items = [objects[k] for k in keys[lo:hi]]
        if namespace is not None:
            items = [o for o in items if o.namespace == namespace]
        if predicate is not None:
            items = [o for o in items if predicate(o)]
        return items

    def snapshot_page(
        self, *, revision: int, key_prefix: str, start: str, limit: int, predicate: Predicate | None,
    ) -> SnapshotPage | None:
        """Up to `limit` (0: all) objects under `key_prefix` from key `start` on, as they were at `revision`,
        or None when the cache cannot prove that state.

        The cache's objects are the store at `revision` except for the keys written after it, which are all
        in the ring buffer while `revision` is servable. A page whose key range holds none of those keys is
        therefore exact; `more` and `remaining` count what followed the page at `revision`.
        """
        if revision > self.revision or revision < self._oldest_servable:
            return None
        existed: dict[str, bool] = {}  # key written after `revision` -> whether it existed at `revision`
        for ev in reversed(self._events):
            if ev.rv <= revision:
                break
            if ev.obj.key.startswith(key_prefix):
                existed[ev.obj.key] = ev.prev is not None  # the oldest write after `revision` decides
        keys, lo, hi = self._range(key_prefix, start)
        items: list[CachedObject] = []
        i = lo
        while i < hi and (limit <= 0 or len(items) < limit):
            o = self.objects[keys[i]]
            if predicate is None or predicate(o):
                items.append(o)
            i += 1
        complete = i >= hi
        last = keys[i - 1] if i > lo else start
        if any(k >= start and (complete or k <= last) for k in existed):
            return None
        if complete:
            return SnapshotPage(items=items, more=False, remaining=0)
        after = hi - i  # current keys after the page, corrected by the writes after `revision`
        for k, was in existed.items():
            if k > last:
                after += int(was) - int(k in self.objects)
        return SnapshotPage(items=items, more=after > 0, remaining=after)

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
            queue=WatchQueue(self.watcher_queue_size + len(initial)),
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
            buffered_bytes=self._event_bytes,
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
