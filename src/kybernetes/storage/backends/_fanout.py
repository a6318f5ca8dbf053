"""In-process watch fan-out shared by the memory and SQLite backends.

The backend's writer calls `WatchHub.publish(events)` on the event loop after each commit, in revision
order. Each watcher owns a bounded buffer: publishing only appends to buffers and never waits, so a slow
watcher cannot hold up a writer. When a watcher's buffer would exceed its capacity the watcher is marked
overflowed and dropped from the hub; it then hands out what it buffered (a contiguous run of events) and
ends with `WatchOverflowError(revision=<last delivered>)`.

`HubWatch` implements the Store protocol's watch (kine's subscribe-then-replay): on first iteration it
subscribes to the hub, then pages through the backend's history after `from_revision` with the backend's
`replay` function, then switches to the live buffer. Because the subscription precedes the history read,
every event committed after the read's snapshot is in the buffer, and every event published before the
subscription is in the snapshot; events seen both ways are dropped by revision (only events with a
revision above the last one handed out pass). So: no gap, no duplicate, revision order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Protocol

from kybernetes.storage.protocol import Event, WatchOverflowError

DEFAULT_WATCH_BUFFER = 10_000
REPLAY_PAGE = 1_000


class Replay(Protocol):
    """Read history: up to `limit` events under `prefix` with revision > `after`, in revision order.
    Raises CompactedError when `after` is below the compacted revision."""

    def __call__(self, *, prefix: str, after: int, limit: int) -> Awaitable[list[Event]]: ...


class _Subscriber:
    __slots__ = ("capacity", "closed", "events", "overflowed", "prefix", "ready")

    def __init__(self, *, prefix: str, capacity: int) -> None:
        self.prefix = prefix
        self.capacity = capacity
        self.events: deque[Event] = deque()
        self.overflowed = False
        self.closed = False
        self.ready = asyncio.Event()

    def offer(self, events: list[Event]) -> bool:
        """Buffer events; False (and nothing buffered) when they do not fit."""
        if len(self.events) + len(events) > self.capacity:
            self.overflowed = True
            self.ready.set()
            return False
        self.events.extend(events)
        self.ready.set()
        return True

    def take(self, *, after: int) -> list[Event]:
        batch = [event for event in self.events if event.kv.mod_revision > after]
        self.events.clear()
        return batch

    def end(self) -> None:
        self.closed = True
        self.ready.set()


class WatchHub:
    """Fan-out of committed events to subscribers; all methods run on the event loop thread."""

    def __init__(self, *, buffer_size: int = DEFAULT_WATCH_BUFFER) -> None:
        self.buffer_size = buffer_size
        self._subscribers: set[_Subscriber] = set()
        self._closed = False

    def subscribe(self, *, prefix: str) -> _Subscriber:
        subscriber = _Subscriber(prefix=prefix, capacity=self.buffer_size)
        if self._closed:
            subscriber.end()
        else:
            self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: _Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.end()

    def publish(self, events: list[Event]) -> None:
        if not events or not self._subscribers:
            return
        for subscriber in tuple(self._subscribers):
            prefix = subscriber.prefix
            matching = events if not prefix else [e for e in events if e.kv.key.startswith(prefix)]
            if matching and not subscriber.offer(matching):
                self._subscribers.discard(subscriber)

    @property
    def watcher_count(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        self._closed = True
        for subscriber in tuple(self._subscribers):
            subscriber.end()
        self._subscribers.clear()


class HubWatch:
    """One watch over a `WatchHub` plus a history `Replay`; see the module docstring."""

    def __init__(self, *, hub: WatchHub, replay: Replay, prefix: str, from_revision: int) -> None:
        self._hub = hub
        self._replay = replay
        self._prefix = prefix
        self._last = from_revision
        self._subscriber: _Subscriber | None = None
        self._replaying = True
        self._closed = False

    def __aiter__(self) -> HubWatch:
        return self

    async def __anext__(self) -> list[Event]:
        if self._closed:
            raise StopAsyncIteration
        if self._subscriber is None:
            self._subscriber = self._hub.subscribe(prefix=self._prefix)
        subscriber = self._subscriber
        if self._replaying:
            try:
                page = await self._replay(prefix=self._prefix, after=self._last, limit=REPLAY_PAGE)
            except asyncio.CancelledError:
                raise  # nothing was handed out: the next iteration replays the same page again
            except BaseException:
                self._end()
                raise
            if len(page) < REPLAY_PAGE:
                self._replaying = False
            if page:
                self._last = page[-1].kv.mod_revision
                return page
        while True:
            batch = subscriber.take(after=self._last)
            if batch:
                self._last = batch[-1].kv.mod_revision
                return batch
            if self._closed or subscriber.closed:
                self._end()
                raise StopAsyncIteration
            if subscriber.overflowed:
                self._end()
                raise WatchOverflowError(self._last)
            subscriber.ready.clear()
            await subscriber.ready.wait()

    def _end(self) -> None:
        self._closed = True
        if self._subscriber is not None:
            self._hub.unsubscribe(self._subscriber)

    async def close(self) -> None:
        self._end()
