"""Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) decoded to the JSON form.

kubectl's typed commands (`create namespace|deployment|secret|...`, `create token`, `drain`, `auth can-i`)
send protobuf. A body is the magic `k8s\\x00` then a `runtime.Unknown` message: 1 typeMeta {1 apiVersion,
2 kind}, 2 raw (the object's own encoding, per k8s.io/api's generated.proto), 3 contentEncoding,
4 contentType. `decode_protobuf()` returns the dict the client would have sent as JSON, so everything after
the codec only ever sees JSON-shaped objects. Responses stay JSON (clients accept it).

Why hand-written: Python protobuf libraries decode through generated classes or descriptors, and these
messages exist only as gogo-flavoured .proto files whose Go-side facts (JSON names, pointers, omitempty,
inlining) the descriptors do not carry anyway. The wire format itself is small (varint, 64-bit,
length-delimited, 32-bit), so a reader plus a field table is the simpler dependency.

The table, `api/data/protobuf.json`, is written by `scripts/gen_protobuf_schema.py` from Kubernetes'
generated.proto and Go types. Per field it knows the number, JSON name, type, and these Go facts:
- gogo writes every non-pointer field, zero or not, and a pointer field only when set. JSON instead drops
  `omitempty` fields that are zero. So a present non-pointer scalar that is zero is dropped when the Go
  field says omitempty, and a present pointer field is kept even when zero (`spec.replicas: 0`).
- A field absent from the wire becomes what Go's JSON encoder writes for the zero value: dropped when
  omitempty, the zero scalar otherwise; non-pointer structs are always written (omitempty never drops a
  struct; `omitzero` does).
- Where Go would write `null` (a nil pointer, slice or map without omitempty, a zero Time, an empty
  RawExtension) the field is left out instead: Kubernetes decodes null and absent alike, and leaving it
  out spares handlers and validators that type-check every present field (`kubectl create token` without
  `--duration` would otherwise send `expirationSeconds: null`).
- Embedded structs that JSON inlines (`VolumeSource` in `Volume`) are separate messages on the wire and
  are merged into their parent here.
- apimachinery types with their own JSON form: Quantity (1 string), IntOrString (1 type, 2 intVal,
  3 strVal), Time (1 seconds; nanos ignored, as Kubernetes does), MicroTime (seconds, nanos to the
  microsecond), Duration (1 int64 nanoseconds -> Go's "1h2m3s"), RawExtension and FieldsV1 (raw JSON
  bytes), and `bytes` fields (base64 strings, as Go's JSON writes `[]byte`).
Unknown field numbers are skipped; malformed input is a 400 BadRequest.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

from kybernetes.machinery.errors import BadRequestError

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
TIME = f"{_META}.Time"
MICRO_TIME = f"{_META}.MicroTime"
DURATION = f"{_META}.Duration"
FIELDS_V1 = f"{_META}.FieldsV1"
RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"
INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_VARINT_TYPES = frozenset({"int32", "int64", "uint32", "uint64", "bool"})
_MAX_NESTED_RAW = 4  # RawExtensions holding protobuf objects, nested


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    json: str
    type: str  # proto scalar or full message name; for maps the value type
    repeated: bool
    is_map: bool
    pointer: bool
    omitempty: bool
    omitzero: bool
    inline: bool


@dataclass(frozen=True, slots=True)
class Schema:
    kinds: dict[str, str]  # "apps/v1 Deployment" -> message name; "* DeleteOptions" for any group
    wrappers: dict[str, str]  # Go named slices: message name -> item type
    messages: dict[str, tuple[Field, ...]]  # in Go declaration order
    by_number: dict[str, dict[int, Field]]

    def message_for(self, *, api_version: str, kind: str) -> str | None:
        return self.kinds.get(f"{api_version} {kind}") or self.kinds.get(f"* {kind}")


@cache
def schema() -> Schema:
    raw = json.loads(importlib_resources.files("kybernetes.api").joinpath("data/protobuf.json").read_bytes())
    messages: dict[str, tuple[Field, ...]] = {}
    for name, rows in raw["messages"].items():
        messages[name] = tuple(
            Field(
                number=number,
                json=json_name,
                type=type_,
                repeated="r" in flags,
                is_map="m" in flags,
                pointer="p" in flags,
                omitempty="o" in flags,
                omitzero="z" in flags,
                inline="i" in flags,
            )
            for number, json_name, type_, flags in rows
        )
    return Schema(
        kinds=raw["kinds"],
        wrappers=raw["wrappers"],
        messages=messages,
        by_number={name: {f.number: f for f in fields} for name, fields in messages.items()},
    )


def decode_protobuf(body: bytes) -> dict[str, Any]:
    """The JSON form of a `k8s\\x00`-framed protobuf object; BadRequestError if it cannot be read."""
    return _decode_envelope(body, depth=0)


def _decode_envelope(body: bytes, *, depth: int) -> dict[str, Any]:
    if not body.startswith(MAGIC):
        raise BadRequestError("the protobuf body does not start with the Kubernetes magic number k8s\\x00")
    envelope = _group(_read_fields(body, start=len(MAGIC), end=len(body)))
    type_meta = _group(_read_fields(_last_bytes(envelope, 1), start=0, end=len(_last_bytes(envelope, 1))))
    api_version = _text(_last_bytes(type_meta, 1))
    kind = _text(_last_bytes(type_meta, 2))
    encoding = _text(_last_bytes(envelope, 3))
    if encoding:
        raise BadRequestError(f"protobuf body: unsupported content encoding {encoding!r}")
    if not kind:
        raise BadRequestError("protobuf body: the object has no kind")
    tables = schema()
    message = tables.message_for(api_version=api_version, kind=kind)
    if message is None:
        raise BadRequestError(f"protobuf body: no protobuf schema for kind {kind!r} in {api_version!r}")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(_Decoder(tables, depth=depth).message(message, _last_bytes(envelope, 2)))
    return obj


# --- the wire --------------------------------------------------------------------------------------------


def _read_fields(data: bytes, *, start: int, end: int) -> list[tuple[int, int, Any]]:
    """(number, wire type, value) in wire order: an int for varint/fixed, bytes for length-delimited."""
    out: list[tuple[int, int, Any]] = []
    pos = start
    while pos < end:
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if number == 0:
            raise BadRequestError("protobuf body: invalid field number 0")
        if wire == VARINT:
            value, pos = _varint(data, pos, end)
        elif wire == LENGTH:
            length, pos = _varint(data, pos, end)
            if length > end - pos:
                raise BadRequestError("protobuf body: truncated length-delimited field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == FIXED64:
            if pos + 8 > end:
                raise BadRequestError("protobuf body: truncated 64-bit field")
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == FIXED32:
            if pos + 4 > end:
                raise BadRequestError("protobuf body: truncated 32-bit field")
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise BadRequestError(f"protobuf body: unsupported wire type {wire} (field {number})")
        out.append((number, wire, value))
    return out


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise BadRequestError("protobuf body: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise BadRequestError("protobuf body: varint longer than 10 bytes")


def _group(fields: list[tuple[int, int, Any]]) -> dict[int, list[tuple[int, Any]]]:
    grouped: dict[int, list[tuple[int, Any]]] = {}
    for number, wire, value in fields:
        grouped.setdefault(number, []).append((wire, value))
    return grouped


def _last_bytes(grouped: dict[int, list[tuple[int, Any]]], number: int) -> bytes:
    values = grouped.get(number)
    if not values:
        return b""
    wire, value = values[-1]
    if wire != LENGTH:
        raise BadRequestError(f"protobuf body: field {number} has wire type {wire}, expected bytes")
    return bytes(value)


def _last_int(grouped: dict[int, list[tuple[int, Any]]], number: int) -> int:
    values = grouped.get(number)
    if not values:
        return 0
    wire, value = values[-1]
    if wire != VARINT:
        raise BadRequestError(f"protobuf body: field {number} has wire type {wire}, expected a varint")
    return _signed64(value)


def _text(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise BadRequestError("protobuf body: a string field is not valid UTF-8") from None


def _signed64(value: int) -> int:
    # int32 and int64 are both sent as 64-bit two's complement varints.
    return value - (1 << 64) if value >= 1 << 63 else value


# --- fields to JSON ---------------------------------------------------------------------------------------


class _Decoder:
    def __init__(self, tables: Schema, *, depth: int) -> None:
        self.tables = tables
        self.depth = depth

    def message(self, name: str, data: bytes) -> Any:
        """The JSON value of message `name` encoded as `data` (a dict for ordinary messages)."""
        special = _SPECIAL.get(name)
        if special is not None:
            return special(self, _group(_read_fields(data, start=0, end=len(data))))
        if name in self.tables.wrappers:
            item = self.tables.wrappers[name]
            grouped = _group(_read_fields(data, start=0, end=len(data)))
            return [self.scalar_or_message(item, wire, value) for wire, value in self._items(item, grouped, 1)]
        fields = self.tables.messages.get(name)
        if fields is None:
            raise BadRequestError(f"protobuf body: no protobuf schema for message {name}")
        grouped = _group(_read_fields(data, start=0, end=len(data)))
        out: dict[str, Any] = {}
        for field in fields:
            values = grouped.get(field.number)
            if field.inline:
                if values or not field.pointer:
                    inner = self.message(field.type, self._last_message(field, values))
                    out.update(inner)
                continue
            if not values:
                self._absent(field, out)
            elif field.is_map:
                out[field.json] = dict(self._entry(field, wire, value) for wire, value in values)
            elif field.repeated:
                out[field.json] = [
                    self.scalar_or_message(field.type, wire, value)
                    for wire, value in self._items(field.type, grouped, field.number)
                ]
            else:
                self._single(field, values[-1], out)
        return out

    def _absent(self, field: Field, out: dict[str, Any]) -> None:
        """What Go's JSON encoder writes for a field left at its zero value (never null: see the module)."""
        if field.pointer or field.repeated or field.is_map:
            return
        if field.type in _ZERO_SCALARS:
            zero = _ZERO_SCALARS[field.type]
            if zero is not None and not field.omitempty and not field.omitzero:
                out[field.json] = zero
        elif not field.omitzero:
            value = self.message(field.type, b"")
            if value is not None:
                out[field.json] = value

    def _single(self, field: Field, item: tuple[int, Any], out: dict[str, Any]) -> None:
        wire, value = item
        if field.type in _ZERO_SCALARS:
            decoded = self.scalar_or_message(field.type, wire, value)
            if not field.pointer and (field.omitempty or field.omitzero) and not decoded:
                return
            out[field.json] = decoded
            return
        if wire != LENGTH:
            raise BadRequestError(f"protobuf body: field {field.json} has wire type {wire}, expected a message")
        if field.omitzero and not field.pointer and not value:
            return
        decoded = self.message(field.type, bytes(value))
        if decoded is not None:
            out[field.json] = decoded

    def _last_message(self, field: Field, values: list[tuple[int, Any]] | None) -> bytes:
        if not values:
            return b""
        wire, value = values[-1]
        if wire != LENGTH:
            raise BadRequestError(f"protobuf body: field {field.json} has wire type {wire}, expected a message")
        return bytes(value)

    def _items(
        self, type_: str, grouped: dict[int, list[tuple[int, Any]]], number: int
    ) -> list[tuple[int, Any]]:
        """A repeated field's items; numeric items may come packed into one length-delimited field."""
        items: list[tuple[int, Any]] = []
        for wire, value in grouped.get(number, ()):
            if wire == LENGTH and type_ in _VARINT_TYPES:
                pos, end = 0, len(value)
                while pos < end:
                    item, pos = _varint(value, pos, end)
                    items.append((VARINT, item))
            else:
                items.append((wire, value))
        return items

    def _entry(self, field: Field, wire: int, value: Any) -> tuple[str, Any]:
        if wire != LENGTH:
            raise BadRequestError(f"protobuf body: map {field.json} has an entry of wire type {wire}")
        entry = _group(_read_fields(value, start=0, end=len(value)))
        key = _text(_last_bytes(entry, 1))
        values = entry.get(2)
        if values:
            return key, self.scalar_or_message(field.type, *values[-1])
        if field.type == "bytes":
            return key, ""  # an entry whose value is empty: Secret `data: {k: ""}`
        if field.type in _ZERO_SCALARS:
            return key, _ZERO_SCALARS[field.type]
        return key, self.message(field.type, b"")

    def scalar_or_message(self, type_: str, wire: int, value: Any) -> Any:
        if type_ == "string":
            return _text(_expect(type_, wire, LENGTH, value))
        if type_ == "bytes":
            return base64.b64encode(_expect(type_, wire, LENGTH, value)).decode()
        if type_ in ("int32", "int64"):
            return _signed64(_expect(type_, wire, VARINT, value))
        if type_ in ("uint32", "uint64"):
            return _expect(type_, wire, VARINT, value)
        if type_ == "bool":
            return bool(_expect(type_, wire, VARINT, value))
        if type_ == "double":
            return struct.unpack("<d", _expect(type_, wire, FIXED64, value).to_bytes(8, "little"))[0]
        if type_ == "float":
            return struct.unpack("<f", _expect(type_, wire, FIXED32, value).to_bytes(4, "little"))[0]
        return self.message(type_, bytes(_expect(type_, wire, LENGTH, value)))

    # -- apimachinery types with their own JSON form --

    def _time(self, grouped: dict[int, list[tuple[int, Any]]]) -> str | None:
        if not grouped:
            return None  # the zero time, which Kubernetes writes as an empty message and JSON as null
        return _utc(_last_int(grouped, 1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _micro_time(self, grouped: dict[int, list[tuple[int, Any]]]) -> str | None:
        if not grouped:
            return None
        micros = _last_int(grouped, 2) // 1000
        return _utc(_last_int(grouped, 1)).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"

    def _duration(self, grouped: dict[int, list[tuple[int, Any]]]) -> str:
        return go_duration(_last_int(grouped, 1))

    def _raw_json(self, grouped: dict[int, list[tuple[int, Any]]]) -> Any:
        raw = _last_bytes(grouped, 1)
        if not raw:
            return None
        if raw.startswith(MAGIC):
            if self.depth >= _MAX_NESTED_RAW:
                raise BadRequestError("protobuf body: embedded objects nested too deeply")
            return _decode_envelope(raw, depth=self.depth + 1)
        try:
            return json.loads(raw)
        except ValueError as e:
            raise BadRequestError(f"protobuf body: an embedded object is not valid JSON: {e}") from None

    def _int_or_string(self, grouped: dict[int, list[tuple[int, Any]]]) -> int | str:
        if _last_int(grouped, 1) == 1:
            return _text(_last_bytes(grouped, 3))
        return _last_int(grouped, 2)

    def _quantity(self, grouped: dict[int, list[tuple[int, Any]]]) -> str:
        return _text(_last_bytes(grouped, 1)) or "0"


_SPECIAL = {
    TIME: _Decoder._time,
    MICRO_TIME: _Decoder._micro_time,
    DURATION: _Decoder._duration,
    FIELDS_V1: _Decoder._raw_json,
    RAW_EXTENSION: _Decoder._raw_json,
    INT_OR_STRING: _Decoder._int_or_string,
    QUANTITY: _Decoder._quantity,
}

# Go's JSON for the zero value of each scalar; a nil []byte is null (so left out).
_ZERO_SCALARS: dict[str, Any] = {
    "string": "",
    "int32": 0,
    "int64": 0,
    "uint32": 0,
    "uint64": 0,
    "bool": False,
    "double": 0.0,
    "float": 0.0,
    "bytes": None,
}


def _expect(type_: str, wire: int, expected: int, value: Any) -> Any:
    if wire != expected:
        raise BadRequestError(f"protobuf body: a {type_} value has wire type {wire}, expected {expected}")
    return value


def _utc(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadRequestError(f"protobuf body: timestamp {seconds} is out of range") from None


def go_duration(nanoseconds: int) -> str:
    """Go's `time.Duration.String()`: "0s", "1.5s", "1h2m3s", "150ms", "2µs"."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    n = abs(nanoseconds)
    if n < 1_000_000_000:
        for unit, scale, digits in (("ns", 1, 0), ("µs", 1_000, 3), ("ms", 1_000_000, 6)):
            if n < scale * 1000:
                return sign + _fraction(n, scale, digits) + unit
    seconds, rest = divmod(n, 1_000_000_000)
    text = _fraction(seconds % 60 * 1_000_000_000 + rest, 1_000_000_000, 9) + "s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes >= 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _fraction(value: int, scale: int, digits: int) -> str:
    whole, rest = divmod(value, scale)
    if not rest:
        return str(whole)
    return f"{whole}." + f"{rest:0{digits}d}".rstrip("0")
