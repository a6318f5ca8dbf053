"""Recording core/v1 Events about objects, aggregated as Kubernetes does, without ever blocking the caller.

`recorder.event(obj, type="Normal", reason="Scheduled", message="...")` only puts a record on a bounded
queue and returns; when the queue is full the event is dropped and counted (events are advisory; a
controller must never stall or fail because of them). `await recorder.run()`, a task the caller owns in its
TaskGroup, drains the queue and writes through the API.

Aggregation: an event with the same involved object, type, reason, message and source as one written in the
last 10 minutes is not written again; instead the earlier Event is PATCHed with `count + 1` and a new
`lastTimestamp` (the Event keeps its name). If that Event is gone meanwhile, a new one is created. New Events
are named `<object name>.<hex nanosecond timestamp>` in the object's namespace (`default` for cluster-scoped
objects), with `source` = (component, host) and `reportingComponent` / `reportingInstance` to match.

Write failures are logged and counted in `statistics()`, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from kybernetes.api.models.core_v1 import Event, EventSource, ObjectReference
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client.clock import REAL_CLOCK, Clock
from kybernetes.client.resource import info_for_model
from kybernetes.client.rest import APIConnectionError, Client
from kybernetes.machinery.errors import NotFoundError, StatusError
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["EventRecorder", "EventRecorderStatistics", "object_reference"]

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
AGGREGATION_WINDOW = 600.0


def object_reference(obj: Any) -> ObjectReference:
    """An ObjectReference to a Struct object, a dict object, or an ObjectReference itself."""
    if isinstance(obj, ObjectReference):
        return obj
    if isinstance(obj, dict):
        meta = obj.get("metadata") or {}
        return ObjectReference(
            api_version=obj.get("apiVersion"), kind=obj.get("kind"), name=meta.get("name"),
            namespace=meta.get("namespace"), uid=meta.get("uid"), resource_version=meta.get("resourceVersion"),
        )
    kind, api_version = getattr(obj, "kind", None), getattr(obj, "api_version", None)
    if not kind or not api_version:
        # Objects from lists and informers carry no kind; the Struct's class says what it is.
        info = info_for_model(type(obj))  # type: ignore[arg-type]
        kind, api_version = info.kind, info.api_version
    meta = getattr(obj, "metadata", None)
    return ObjectReference(
        api_version=api_version, kind=kind,
        name=getattr(meta, "name", None), namespace=getattr(meta, "namespace", None),
        uid=getattr(meta, "uid", None), resource_version=getattr(meta, "resource_version", None),
    )


@dataclass(slots=True)
class _Written:
    namespace: str
    name: str
    count: int
    last_seen: float


@dataclass(slots=True)
class EventRecorderStatistics:
    queued: int = 0
    created: int = 0
    aggregated: int = 0
    dropped: int = 0
    failed: int = 0


_Key = tuple[str | None, str | None, str | None, str | None, str | None, str, str, str]


class EventRecorder:
    """Writes Events for `component` on `host`; see the module docstring."""

    def __init__(
        self,
        *,
        client: Client,
        component: str,
        host: str = "",
        max_queue: int = 1000,
        cache_size: int = 4096,
        window: float = AGGREGATION_WINDOW,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.events = client.resource(Event)
        self.component = component
        self.host = host
        self.window = window
        self.clock = clock
        self._queue: asyncio.Queue[tuple[ObjectReference, str, str, str]] = asyncio.Queue(maxsize=max_queue)
        self._cache: OrderedDict[_Key, _Written] = OrderedDict()
        self._cache_size = cache_size
        self._stats = EventRecorderStatistics()

    def event(self, obj: Any, *, type: str = NORMAL, reason: str, message: str) -> None:
        """Record an event about `obj`. Never blocks, never raises."""
        try:
            ref = object_reference(obj)
            self._queue.put_nowait((ref, type, reason, message))
            self._stats.queued += 1
        except asyncio.QueueFull:
            self._stats.dropped += 1
            log.debug("event queue full; dropped %s %s", reason, message)
        except Exception:  # a malformed object must not break the caller
            self._stats.dropped += 1
            log.exception("cannot record event %s about %r", reason, obj)

    async def run(self) -> None:
        """Write queued events until cancelled."""
        while True:
            ref, type_, reason, message = await self._queue.get()
            try:
                await self._write(ref, type_, reason, message)
            except (StatusError, APIConnectionError) as e:
                self._stats.failed += 1
                log.warning("writing event %s about %s/%s failed: %s", reason, ref.namespace, ref.name, e)
            finally:
                self._queue.task_done()

    async def wait_idle(self) -> None:
        """Wait until every event recorded so far has been written (or has failed)."""
        await self._queue.join()

    def statistics(self) -> EventRecorderStatistics:
        return self._stats

    async def _write(self, ref: ObjectReference, type_: str, reason: str, message: str) -> None:
        key: _Key = (ref.kind, ref.api_version, ref.namespace, ref.name, ref.uid, type_, reason, message)
        now = self.clock.now()
        timestamp = now_rfc3339()
        seen = self._cache.get(key)
        if seen is not None and now - seen.last_seen < self.window:
            try:
                await self.events.patch(
                    namespace=seen.namespace, name=seen.name, type="merge",
                    patch={"count": seen.count + 1, "lastTimestamp": timestamp},
                )
            except NotFoundError:
                pass  # deleted (or expired) meanwhile: write a fresh one below
            else:
                seen.count += 1
                seen.last_seen = now
                self._cache.move_to_end(key)
                self._stats.aggregated += 1
                return
        namespace = ref.namespace or "default"
        name = f"{ref.name}.{time.time_ns():x}"
        event = Event(
            metadata=ObjectMeta(name=name, namespace=namespace),
            involved_object=ref,
            reason=reason,
            message=message,
            type=type_,
            source=EventSource(component=self.component, host=self.host or None),
            first_timestamp=timestamp,
            last_timestamp=timestamp,
            count=1,
            reporting_component=self.component,
            reporting_instance=self.host or None,
        )
        created = await self.events.create(event)
        created_name = created.metadata.name if created.metadata and created.metadata.name else name
        self._cache[key] = _Written(namespace=namespace, name=created_name, count=1, last_seen=now)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        self._stats.created += 1
