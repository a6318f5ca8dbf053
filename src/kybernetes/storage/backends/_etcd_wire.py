"""etcd v3 gRPC-gateway JSON messages, as msgspec Structs, and the conversions to Store types.

The gateway spells protobuf int64 fields as JSON strings and omits fields at their default value
(`succeeded: false`, `more: false`, an empty `value`, the PUT event type), hence the defaults and
`strict=False` decoding (which accepts "12" for an int). Keys and values are base64.
"""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import msgspec

from kybernetes.storage.protocol import Event, EventType, KeyValue

T = TypeVar("T")


class Header(msgspec.Struct):
    revision: int = 0


class WireKV(msgspec.Struct):
    key: str = ""
    value: str = ""
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0


class RangeResponse(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    kvs: list[WireKV] = []
    more: bool = False
    count: int = 0


class PutResponse(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    prev_kv: WireKV | None = None


class DeleteRangeResponse(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    deleted: int = 0
    prev_kvs: list[WireKV] = []


class ResponseOp(msgspec.Struct):
    response_range: RangeResponse | None = None
    response_put: PutResponse | None = None
    response_delete_range: DeleteRangeResponse | None = None


class TxnResponse(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    succeeded: bool = False
    responses: list[ResponseOp] = []


class CompactionResponse(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)


class WireEvent(msgspec.Struct):
    type: str = "PUT"
    kv: WireKV = msgspec.field(default_factory=WireKV)
    prev_kv: WireKV | None = None


class WatchResult(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""
    events: list[WireEvent] = []


class WireError(msgspec.Struct):
    error: str = ""
    message: str = ""
    code: int = 0


class WatchMessage(msgspec.Struct):
    result: WatchResult | None = None
    error: WireError | None = None


def decode(data: bytes, type: type[T]) -> T:
    return msgspec.json.decode(data, type=type, strict=False)


def encode(body: dict[str, Any]) -> bytes:
    return msgspec.json.encode(body)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_b64(key: str) -> str:
    return b64(key.encode())


def prefix_end(prefix: bytes) -> bytes:
    """etcd's range_end for "every key starting with prefix"; b"\\0" (with key b"\\0") means all keys."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\0"
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def to_kv(wire: WireKV, *, mod_revision: int | None = None) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(wire.key).decode(),
        value=base64.b64decode(wire.value),
        create_revision=wire.create_revision,
        mod_revision=wire.mod_revision if mod_revision is None else mod_revision,
    )


def to_event(wire: WireEvent) -> Event:
    prev = to_kv(wire.prev_kv) if wire.prev_kv is not None else None
    if wire.type == "DELETE":
        # etcd's delete event carries only the key and the delete's revision; the rest is prev_kv's
        revision = wire.kv.mod_revision
        if prev is None:  # prev_kv unavailable (history compacted under the watch)
            kv = KeyValue(
                key=base64.b64decode(wire.kv.key).decode(),
                value=b"",
                create_revision=0,
                mod_revision=revision,
            )
        else:
            kv = KeyValue(
                key=prev.key, value=prev.value, create_revision=prev.create_revision, mod_revision=revision
            )
        return Event(type=EventType.DELETE, kv=kv, prev=prev)
    kv = to_kv(wire.kv)
    if wire.kv.version == 1:
        return Event(type=EventType.CREATE, kv=kv)
    return Event(type=EventType.UPDATE, kv=kv, prev=prev)
