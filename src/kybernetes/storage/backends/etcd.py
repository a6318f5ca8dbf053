"""etcd v3 store over etcd's gRPC-gateway JSON API (HTTP + JSON, via aiohttp).

Why the JSON gateway and not gRPC: etcd 3.4 serves every call we need (`/v3/kv/range`, `/v3/kv/txn`,
`/v3/kv/deleterange`, `/v3/kv/compaction` and the streaming `/v3/watch`) as plain HTTP POSTs with JSON
bodies, on the client port, by default. That keeps us on aiohttp, which the project already depends on,
instead of grpcio (a large native wheel with its own event-loop integration) plus generated protobuf
stubs; the cost, base64 keys/values and JSON parsing, is small next to a network round trip and a raft
commit.

Mapping. Revisions are etcd's revisions one to one (etcd's first write is revision 2; revision 1 is the
empty store). create = txn(create_revision(key) == 0 → put, else range); update = txn(mod_revision(key) ==
expected → put with prev_kv, else range): a failed txn's range tells KeyNotFound from Conflict; delete is
the same with delete_range. list = range(key=max(prefix, start_key), range_end=prefix+1, revision, limit);
etcd's `count` gives `remaining`. watch = POST /v3/watch with start_revision = from_revision + 1 and
prev_kv, read as newline-delimited JSON; a compacted start answers with `compact_revision` →
CompactedError. Note that etcd keeps the events *at* the compacted revision, so a watch from exactly
compacted-1 still works on etcd where the other backends already answer CompactedError.

Endpoints: requests go to the current endpoint and move on to the next one only when the connection
cannot be made (so a write is never sent twice). A watch whose stream breaks reconnects from the last
revision it delivered, so consumers see no gap.
"""

from __future__ import annotations

import asyncio
import builtins
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import aiohttp

from kybernetes.storage.backends._etcd_wire import (
    CompactionResponse,
    RangeResponse,
    TxnResponse,
    WatchMessage,
    WireError,
    b64,
    decode,
    encode,
    key_b64,
    prefix_end,
    to_event,
    to_kv,
)
from kybernetes.storage.protocol import (
    CompactedError,
    ConflictError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StorageError,
)

T = TypeVar("T")
_ALL = b64(b"\0")  # key "\0" with range_end "\0" means every key


class _Compacted(StorageError):
    """A probe read hit the compacted revision (internal to compacted_revision)."""


class EtcdStore:
    def __init__(
        self,
        *,
        endpoints: Sequence[str],
        scheme: str = "http",
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoints")
        self._urls = [f"{scheme}://{endpoint}" for endpoint in endpoints]
        self._current = 0
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._watches: set[EtcdWatch] = set()
        self._compacted = 0  # the last compacted revision seen; a lower bound for the next search

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout)
        )
        await self.current_revision()  # fail fast when etcd is unreachable

    async def close(self) -> None:
        for watch in builtins.list(self._watches):
            await watch.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # transport

    async def _open(self, path: str, body: dict[str, Any], *, total: float | None) -> aiohttp.ClientResponse:
        """POST to the current endpoint, moving to the next only when no connection could be made."""
        if self._session is None:
            raise StorageError("store is not running")
        request_timeout = aiohttp.ClientTimeout(total=total, connect=self._timeout)
        last_error: Exception | None = None
        for attempt in range(len(self._urls)):
            index = (self._current + attempt) % len(self._urls)
            try:
                response = await self._session.post(
                    self._urls[index] + path,
                    data=encode(body),
                    headers={"Content-Type": "application/json"},
                    ssl=self._ssl,
                    timeout=request_timeout,
                )
            except aiohttp.ClientConnectorError as error:
                last_error = error
                continue
            self._current = index
            return response
        raise StorageError(f"no etcd endpoint reachable: {last_error}")

    async def _call(self, path: str, body: dict[str, Any], type: type[T], *, requested: int = 0) -> T:
        try:
            response = await self._open(path, body, total=self._timeout)
            async with response:
                data = await response.read()
                if response.status != 200:
                    await self._raise_error(data, requested=requested)
        except aiohttp.ClientError as error:
            raise StorageError(f"etcd request {path} failed: {error}") from error
        return decode(data, type)

    async def _raise_error(self, data: bytes, *, requested: int) -> None:
        try:
            message = decode(data, WireError).message or data.decode(errors="replace")
        except ValueError:
            message = data.decode(errors="replace")
        if "required revision has been compacted" in message:
            if requested < 0:  # probing from compacted_revision()
                raise _Compacted(message)
            raise CompactedError(requested, await self.compacted_revision())
        if "required revision is a future revision" in message:
            raise FutureRevisionError(requested, await self.current_revision())
        raise StorageError(f"etcd: {message}")

    # the Store protocol

    async def current_revision(self) -> int:
        response = await self._call(
            "/v3/kv/range", {"key": _ALL, "range_end": _ALL, "count_only": True}, RangeResponse
        )
        return response.header.revision

    async def compacted_revision(self) -> int:
        """etcd has no call that returns it, but a read at revision R fails iff R is below it: binary
        search between the last answer (compaction only moves forward) and the current revision, with
        cheap count-only reads (about log2(revisions) of them; callers ask rarely)."""
        low, high = max(self._compacted, 1), await self.current_revision()
        while low < high:
            middle = (low + high) // 2
            try:
                await self._call(
                    "/v3/kv/range",
                    {"key": _ALL, "revision": middle, "count_only": True},
                    RangeResponse,
                    requested=-1,
                )
            except _Compacted:
                low = middle + 1
            else:
                high = middle
        self._compacted = low if low > 1 else 0
        return self._compacted

    async def get(self, *, key: str) -> KeyValue | None:
        response = await self._call("/v3/kv/range", {"key": key_b64(key)}, RangeResponse)
        return to_kv(response.kvs[0]) if response.kvs else None

    async def create(self, *, key: str, value: bytes) -> KeyValue:
        encoded = key_b64(key)
        body = {
            "compare": [{"key": encoded, "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
            "success": [{"request_put": {"key": encoded, "value": b64(value)}}],
            "failure": [],
        }
        response = await self._call("/v3/kv/txn", body, TxnResponse)
        if not response.succeeded:
            raise KeyExistsError(key)
        revision = response.header.revision
        return KeyValue(key=key, value=value, create_revision=revision, mod_revision=revision)

    def _guarded(self, key: str, expected_revision: int | None, request: dict[str, Any]) -> dict[str, Any]:
        encoded = key_b64(key)
        compare: list[dict[str, Any]]
        if expected_revision is None:  # only "the key exists"
            compare = [{"key": encoded, "target": "CREATE", "result": "GREATER", "create_revision": 0}]
        else:
            compare = [
                {"key": encoded, "target": "MOD", "result": "EQUAL", "mod_revision": expected_revision}
            ]
        return {"compare": compare, "success": [request], "failure": [{"request_range": {"key": encoded}}]}

    @staticmethod
    def _failed(key: str, response: TxnResponse) -> StorageError:
        ranged = response.responses[0].response_range if response.responses else None
        if ranged is None or not ranged.kvs:
            return KeyNotFoundError(key)
        return ConflictError(key, to_kv(ranged.kvs[0]))

    async def update(self, *, key: str, value: bytes, expected_revision: int) -> KeyValue:
        put = {"request_put": {"key": key_b64(key), "value": b64(value), "prev_kv": True}}
        response = await self._call("/v3/kv/txn", self._guarded(key, expected_revision, put), TxnResponse)
        if not response.succeeded:
            raise self._failed(key, response)
        put_response = response.responses[0].response_put
        prev = put_response.prev_kv if put_response is not None else None
        create_revision = prev.create_revision if prev is not None else 0
        return KeyValue(
            key=key, value=value, create_revision=create_revision, mod_revision=response.header.revision
        )

    async def delete(self, *, key: str, expected_revision: int | None = None) -> KeyValue:
        request = {"request_delete_range": {"key": key_b64(key), "prev_kv": True}}
        response = await self._call("/v3/kv/txn", self._guarded(key, expected_revision, request), TxnResponse)
        if not response.succeeded:
            raise self._failed(key, response)
        deleted = response.responses[0].response_delete_range
        if deleted is None or not deleted.prev_kvs:
            raise KeyNotFoundError(key)
        return to_kv(deleted.prev_kvs[0], mod_revision=response.header.revision)

    async def list(
        self, *, prefix: str, revision: int = 0, limit: int = 0, start_key: str = ""
    ) -> ListResult:
        raw_prefix = prefix.encode()
        start = max(raw_prefix, start_key.encode()) or b"\0"
        body: dict[str, Any] = {"key": b64(start), "range_end": b64(prefix_end(raw_prefix))}
        if revision:
            body["revision"] = revision
        if limit:
            body["limit"] = limit
        response = await self._call("/v3/kv/range", body, RangeResponse, requested=revision)
        items = [to_kv(kv) for kv in response.kvs]
        remaining = max(response.count - len(items), 0) if response.more else 0
        return ListResult(
            items=items,
            revision=revision or response.header.revision,
            more=response.more,
            remaining=remaining,
        )

    async def count(self, *, prefix: str) -> int:
        raw = prefix.encode()
        body = {"key": b64(raw or b"\0"), "range_end": b64(prefix_end(raw)), "count_only": True}
        return (await self._call("/v3/kv/range", body, RangeResponse)).count

    def watch(self, *, prefix: str, from_revision: int) -> EtcdWatch:
        return EtcdWatch(store=self, prefix=prefix, from_revision=from_revision)

    async def compact(self, *, revision: int) -> None:
        try:
            await self._call(
                "/v3/kv/compaction",
                {"revision": revision, "physical": True},
                CompactionResponse,
                requested=revision,
            )
        except CompactedError:
            return  # already compacted at or past `revision`: nothing to do


async def _messages(response: aiohttp.ClientResponse) -> AsyncIterator[WatchMessage]:
    """Decode a newline-delimited JSON stream; lines may be larger than aiohttp's readline limit."""
    buffer = bytearray()
    while True:
        newline = buffer.find(b"\n")
        if newline >= 0:
            line = bytes(buffer[:newline])
            del buffer[: newline + 1]
            if line.strip():
                yield decode(line, WatchMessage)
            continue
        chunk = await response.content.readany()
        if not chunk:
            return
        buffer += chunk


class EtcdWatch:
    """A running etcd watch; reconnects from the last delivered revision when the stream breaks."""

    _RECONNECTS = 5

    def __init__(self, *, store: EtcdStore, prefix: str, from_revision: int) -> None:
        self._store = store
        self._prefix = prefix
        self._last = from_revision
        self._response: aiohttp.ClientResponse | None = None
        self._messages: AsyncIterator[WatchMessage] | None = None
        self._closed = False
        self._failures = 0

    def __aiter__(self) -> EtcdWatch:
        return self

    async def _connect(self) -> None:
        raw = self._prefix.encode()
        request = {
            "key": b64(raw or b"\0"),
            "range_end": b64(prefix_end(raw)),
            "start_revision": self._last + 1,
            "prev_kv": True,
        }
        self._response = await self._store._open("/v3/watch", {"create_request": request}, total=None)
        self._store._watches.add(self)
        if self._response.status != 200:
            data = await self._response.read()
            await self._store._raise_error(data, requested=self._last)
        self._messages = _messages(self._response)

    async def __anext__(self) -> builtins.list[Event]:
        while not self._closed:
            try:
                if self._response is None:
                    await self._connect()
                assert self._messages is not None
                message = await anext(self._messages, None)
            except (TimeoutError, aiohttp.ClientError, StorageError) as error:
                if self._closed:
                    break
                if isinstance(error, CompactedError) or self._failures >= self._RECONNECTS:
                    await self.close()
                    raise
                self._failures += 1
                self._drop_connection()
                await asyncio.sleep(0.1 * self._failures)
                continue
            except asyncio.CancelledError:
                # the stream's reader is gone with the cancellation; resume from the last revision next time
                self._drop_connection()
                raise
            except BaseException:
                await self.close()
                raise
            if message is None:  # the stream ended under us: reconnect from the last revision
                if self._closed:
                    break
                self._drop_connection()
                self._failures += 1
                if self._failures > self._RECONNECTS:
                    await self.close()
                    raise StorageError("etcd watch stream keeps ending")
                continue
            try:
                events = self._handle(message)
            except StorageError:
                await self.close()
                raise
            if events:
                self._failures = 0
                return events
        raise StopAsyncIteration

    def _handle(self, message: WatchMessage) -> builtins.list[Event]:
        if message.error is not None:
            raise StorageError(f"etcd watch: {message.error.message or message.error.error}")
        result = message.result
        if result is None:
            return []
        if result.compact_revision:
            raise CompactedError(self._last, result.compact_revision)
        if result.canceled:
            raise StorageError(f"etcd canceled the watch: {result.cancel_reason or 'no reason given'}")
        events = [event for event in map(to_event, result.events) if event.kv.mod_revision > self._last]
        if events:
            self._last = events[-1].kv.mod_revision
        return events

    def _drop_connection(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        self._messages = None
        self._store._watches.discard(self)

    async def close(self) -> None:
        self._closed = True
        self._drop_connection()
