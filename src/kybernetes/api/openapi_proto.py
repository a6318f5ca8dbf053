"""`/openapi/v2` as protobuf: the swagger document encoded as gnostic's `openapi.v2.Document` message.

kubectl (through client-go's discovery client) asks for `/openapi/v2` with
`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and parses the answer only as that
message; it builds its models (`kubectl explain`, client-side validation, the `fieldValidation` check on
PATCH operations) from `definitions`, their vendor extensions and the paths' operations. So the whole
JSON document from `openapi.openapi_v2()` is encoded, not just part of it.

Wire facts (gnostic's generated OpenAPIv2.proto, proto3):
- A JSON object that is a map becomes a wrapper message whose field 1 repeats `Named<X>{1 name, 2 value}`
  in document order (`Definitions`, `Properties`, `SecurityDefinitions`, ...); `Paths` and `Responses`
  carry their `x-*` keys in a separate field.
- `x-*` keys are `NamedAny` entries in each message's `vendor_extension` field; an `Any{2 yaml}` holds
  the value as YAML text (JSON is written, which YAML reads; see `_yaml_text`). `default`, `example` and
  `enum` values are `Any` too.
- `Schema.type` is `TypeItem{repeated value}`, `items` is `ItemsItem{repeated Schema}`,
  `additionalProperties` is the oneof `AdditionalPropertiesItem{1 schema | 2 boolean}`, `$ref` is `_ref`.
- Parameters are `ParametersItem{1 Parameter | 2 JsonReference}`, a `Parameter` is
  `{1 BodyParameter | 2 NonBodyParameter{1 header | 2 formData | 3 query | 4 path}}`, and the
  non-body kinds number their fields differently (query and formData have `allowEmptyValue` at 5).
- A message field present in the JSON is always written, even when empty: Go decodes an empty embedded
  message as non-nil, and kube-openapi tells an object with `properties: {}` from a map by exactly that.
  Scalars are written whenever present (proto3 readers take explicit zeros as the default).
- Keys the proto has no field for are dropped, as they would have no place in the message.

Why hand-written: the message set is fixed and the wire format (varints, 64-bit doubles,
length-delimited fields) is small, so a table of field numbers and a writer of a few lines spare a
runtime dependency on protobuf and on code generated from gnostic's .proto.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec

from kybernetes.api.openapi import openapi_v2

# Clients ask for either form. client-go sends the older `@v1.0` one, which is not a valid media type (Go's
# mime parser rejects `@`), so the answer is always labelled with the `.v1.0` form, as Kubernetes does.
MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
ACCEPTED_TYPES = frozenset({MEDIA_TYPE, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
_JSON_TYPES = frozenset({"application/json", "application/*", "*/*"})

_VARINT, _FIXED64, _LENGTH = 0, 1, 2

Encoder = Callable[[Any], bytes]  # a JSON value -> the payload of one message
FieldWriter = Callable[[int, Any], bytes]  # field number, JSON value -> the encoded field(s)


# --- wire writer ---------------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 negatives are ten-byte two's complement varints
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len_field(number: int, payload: bytes) -> bytes:
    return _key(number, _LENGTH) + _varint(len(payload)) + payload


def _string(number: int, value: Any) -> bytes:
    return _len_field(number, str(value).encode())


def _strings(number: int, value: Any) -> bytes:
    items = value if isinstance(value, list) else [value]
    return b"".join(_string(number, v) for v in items)


def _bool(number: int, value: Any) -> bytes:
    return _key(number, _VARINT) + (b"\x01" if value else b"\x00")


def _int64(number: int, value: Any) -> bytes:
    return _key(number, _VARINT) + _varint(int(value))


def _double(number: int, value: Any) -> bytes:
    return _key(number, _FIXED64) + struct.pack("<d", float(value))


# YAML 1.1 (what Go's yaml.v2 reads) allows fewer raw characters than JSON, and takes U+0085, U+2028 and
# U+2029 as line breaks, which would fold inside a quoted string; so those are written as \u escapes.
_NOT_YAML_SAFE = re.compile(
    "[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def _yaml_text(value: Any) -> str:
    """`value` as JSON that YAML 1.1 reads back unchanged (JSON is YAML, given spaces after `:` and `,`)."""
    text = json.dumps(value, ensure_ascii=False)
    return _NOT_YAML_SAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _any_payload(value: Any) -> bytes:
    return _string(2, _yaml_text(value))  # Any{1 google.protobuf.Any value (unused), 2 yaml}


def _any(number: int, value: Any) -> bytes:
    return _len_field(number, _any_payload(value))


def _anys(number: int, value: Any) -> bytes:
    return b"".join(_any(number, v) for v in value)


def _one(encode: Encoder) -> FieldWriter:
    """An embedded message field."""
    return lambda number, value: _len_field(number, encode(value))


def _many(encode: Encoder) -> FieldWriter:
    """A repeated embedded message field, from a JSON list."""
    return lambda number, value: b"".join(_len_field(number, encode(v)) for v in value)


def _named(name: str, payload: bytes) -> bytes:
    """`Named<X>{1 name, 2 value}` with an embedded message value."""
    return _string(1, name) + _len_field(2, payload)


def _named_map(encode: Encoder, *, number: int = 1) -> Encoder:
    """A JSON map as a wrapper message repeating `Named<X>` in field `number`."""
    return lambda value: b"".join(_len_field(number, _named(k, encode(v))) for k, v in value.items())


def _extensions(number: int, items: list[tuple[str, Any]]) -> bytes:
    return b"".join(_len_field(number, _named(k, _any_payload(v))) for k, v in items)


@dataclass(frozen=True, slots=True)
class _Message:
    """A message whose fields map one to one to JSON keys; `x-*` keys go to `extensions` (0: none)."""

    fields: dict[str, tuple[int, FieldWriter]]
    extensions: int = 0

    def __call__(self, value: Any) -> bytes:
        out = []
        for key, item in value.items():
            spec = self.fields.get(key)
            if spec is not None:
                out.append(spec[1](spec[0], item))
            elif self.extensions and key.startswith("x-"):
                out.append(_extensions(self.extensions, [(key, item)]))
        return b"".join(out)


# --- schemas -------------------------------------------------------------------------------------------


def _schema(value: Any) -> bytes:
    return _SCHEMA(value)


def _items_item(value: Any) -> bytes:
    return _many(_schema)(1, value if isinstance(value, list) else [value])


def _additional_properties(value: Any) -> bytes:
    return _bool(2, value) if isinstance(value, bool) else _len_field(1, _schema(value))


_EXTERNAL_DOCS = _Message({"description": (1, _string), "url": (2, _string)}, extensions=3)
_XML = _Message(
    {"name": (1, _string), "namespace": (2, _string), "prefix": (3, _string), "attribute": (4, _bool),
     "wrapped": (5, _bool)},
    extensions=6,
)

_SCHEMA = _Message(
    {
        "$ref": (1, _string), "format": (2, _string), "title": (3, _string), "description": (4, _string),
        "default": (5, _any), "multipleOf": (6, _double), "maximum": (7, _double),
        "exclusiveMaximum": (8, _bool), "minimum": (9, _double), "exclusiveMinimum": (10, _bool),
        "maxLength": (11, _int64), "minLength": (12, _int64), "pattern": (13, _string),
        "maxItems": (14, _int64), "minItems": (15, _int64), "uniqueItems": (16, _bool),
        "maxProperties": (17, _int64), "minProperties": (18, _int64), "required": (19, _strings),
        "enum": (20, _anys), "additionalProperties": (21, _one(_additional_properties)),
        "type": (22, _one(lambda v: _strings(1, v))), "items": (23, _one(_items_item)),
        "allOf": (24, _many(_schema)), "properties": (25, _one(_named_map(_schema))),
        "discriminator": (26, _string), "readOnly": (27, _bool), "xml": (28, _one(_XML)),
        "externalDocs": (29, _one(_EXTERNAL_DOCS)), "example": (30, _any),
    },
    extensions=31,
)

_FILE_SCHEMA = _Message(
    {"format": (1, _string), "title": (2, _string), "description": (3, _string), "default": (4, _any),
     "required": (5, _strings), "type": (6, _string), "readOnly": (7, _bool),
     "externalDocs": (8, _one(_EXTERNAL_DOCS)), "example": (9, _any)},
    extensions=10,
)


# --- parameters ----------------------------------------------------------------------------------------


def _primitives_items(value: Any) -> bytes:
    return _PRIMITIVES_ITEMS(value)


def _validations(first: int) -> dict[str, tuple[int, FieldWriter]]:
    """The primitive type and validation fields, numbered consecutively from `first` (`type`) on, as
    PrimitivesItems, Header and every non-body parameter kind lay them out."""
    names: list[tuple[str, FieldWriter]] = [
        ("type", _string), ("format", _string), ("items", _one(_primitives_items)),
        ("collectionFormat", _string), ("default", _any), ("maximum", _double), ("exclusiveMaximum", _bool),
        ("minimum", _double), ("exclusiveMinimum", _bool), ("maxLength", _int64), ("minLength", _int64),
        ("pattern", _string), ("maxItems", _int64), ("minItems", _int64), ("uniqueItems", _bool),
        ("enum", _anys), ("multipleOf", _double),
    ]
    return {name: (first + i, writer) for i, (name, writer) in enumerate(names)}


_PRIMITIVES_ITEMS = _Message(_validations(1), extensions=18)
_HEADER = _Message({**_validations(1), "description": (18, _string)}, extensions=19)

_PARAMETER_HEAD = {
    "required": (1, _bool), "in": (2, _string), "description": (3, _string), "name": (4, _string),
}
# header and path: the validations follow the head; query and formData put allowEmptyValue first.
_HEADER_PARAMETER = _Message({**_PARAMETER_HEAD, **_validations(5)}, extensions=22)
_PATH_PARAMETER = _HEADER_PARAMETER
_QUERY_PARAMETER = _Message(
    {**_PARAMETER_HEAD, "allowEmptyValue": (5, _bool), **_validations(6)}, extensions=23
)
_NON_BODY = {"header": (1, _HEADER_PARAMETER), "formData": (2, _QUERY_PARAMETER),
             "query": (3, _QUERY_PARAMETER), "path": (4, _PATH_PARAMETER)}

_BODY_PARAMETER = _Message(
    {"description": (1, _string), "name": (2, _string), "in": (3, _string), "required": (4, _bool),
     "schema": (5, _one(_schema))},
    extensions=6,
)
_JSON_REFERENCE = _Message({"$ref": (1, _string), "description": (2, _string)})


def _parameter(value: Any) -> bytes:
    location = value.get("in")
    if location == "body":
        return _len_field(1, _BODY_PARAMETER(value))
    if location not in _NON_BODY:
        return b""  # no swagger 2.0 location: nothing in the oneof fits
    number, message = _NON_BODY[location]
    return _len_field(2, _len_field(number, message(value)))


def _parameters_item(value: Any) -> bytes:
    if "$ref" in value:
        return _len_field(2, _JSON_REFERENCE(value))
    return _len_field(1, _parameter(value))


# --- responses, operations, paths ----------------------------------------------------------------------


def _schema_item(value: Any) -> bytes:
    if value.get("type") == "file":
        return _len_field(2, _FILE_SCHEMA(value))
    return _len_field(1, _schema(value))


_RESPONSE = _Message(
    {"description": (1, _string), "schema": (2, _one(_schema_item)),
     "headers": (3, _one(_named_map(_HEADER))),
     "examples": (4, _one(lambda v: _extensions(1, list(v.items()))))},
    extensions=5,
)


def _response_value(value: Any) -> bytes:
    if "$ref" in value:
        return _len_field(2, _JSON_REFERENCE(value))
    return _len_field(1, _RESPONSE(value))


def _responses(value: Any) -> bytes:
    codes = {k: v for k, v in value.items() if not k.startswith("x-")}
    extensions = [(k, v) for k, v in value.items() if k.startswith("x-")]
    return _named_map(_response_value)(codes) + _extensions(2, extensions)


def _security_requirement(value: Any) -> bytes:
    # SecurityRequirement{1 repeated NamedStringArray{1 name, 2 StringArray{1 repeated value}}}
    return b"".join(_len_field(1, _named(k, _strings(1, v))) for k, v in value.items())


_OPERATION = _Message(
    {
        "tags": (1, _strings), "summary": (2, _string), "description": (3, _string),
        "externalDocs": (4, _one(_EXTERNAL_DOCS)), "operationId": (5, _string), "produces": (6, _strings),
        "consumes": (7, _strings), "parameters": (8, _many(_parameters_item)),
        "responses": (9, _one(_responses)),
        "schemes": (10, _strings), "deprecated": (11, _bool), "security": (12, _many(_security_requirement)),
    },
    extensions=13,
)

_PATH_ITEM = _Message(
    {"$ref": (1, _string), "get": (2, _one(_OPERATION)), "put": (3, _one(_OPERATION)),
     "post": (4, _one(_OPERATION)), "delete": (5, _one(_OPERATION)), "options": (6, _one(_OPERATION)),
     "head": (7, _one(_OPERATION)), "patch": (8, _one(_OPERATION)),
     "parameters": (9, _many(_parameters_item))},
    extensions=10,
)


def _paths(value: Any) -> bytes:
    extensions = [(k, v) for k, v in value.items() if k.startswith("x-")]
    paths = {k: v for k, v in value.items() if not k.startswith("x-")}
    return _extensions(1, extensions) + _named_map(_PATH_ITEM, number=2)(paths)


# --- security definitions, document --------------------------------------------------------------------

_SCOPES = {"scopes": (3, _one(lambda v: b"".join(_len_field(1, _string(1, k) + _string(2, s))
                                                  for k, s in v.items())))}
_SECURITY_SCHEMES: dict[tuple[str, str], tuple[int, _Message]] = {
    ("basic", ""): (1, _Message({"type": (1, _string), "description": (2, _string)}, extensions=3)),
    ("apiKey", ""): (2, _Message({"type": (1, _string), "name": (2, _string), "in": (3, _string),
                                  "description": (4, _string)}, extensions=5)),
    ("oauth2", "implicit"): (3, _Message({"type": (1, _string), "flow": (2, _string), **_SCOPES,
                                          "authorizationUrl": (4, _string), "description": (5, _string)},
                                         extensions=6)),
    ("oauth2", "password"): (4, _Message({"type": (1, _string), "flow": (2, _string), **_SCOPES,
                                          "tokenUrl": (4, _string), "description": (5, _string)},
                                         extensions=6)),
    ("oauth2", "application"): (5, _Message({"type": (1, _string), "flow": (2, _string), **_SCOPES,
                                             "tokenUrl": (4, _string), "description": (5, _string)},
                                            extensions=6)),
    ("oauth2", "accessCode"): (6, _Message({"type": (1, _string), "flow": (2, _string), **_SCOPES,
                                            "authorizationUrl": (4, _string), "tokenUrl": (5, _string),
                                            "description": (6, _string)}, extensions=7)),
}


def _security_definitions_item(value: Any) -> bytes:
    kind = value.get("type", "")
    spec = _SECURITY_SCHEMES.get((kind, value.get("flow", "") if kind == "oauth2" else ""))
    if spec is None:
        return b""  # not a swagger 2.0 security scheme: nothing in the oneof fits
    return _len_field(spec[0], spec[1](value))


_INFO = _Message(
    {"title": (1, _string), "version": (2, _string), "description": (3, _string),
     "termsOfService": (4, _string),
     "contact": (5, _one(_Message({"name": (1, _string), "url": (2, _string), "email": (3, _string)},
                                  extensions=4))),
     "license": (6, _one(_Message({"name": (1, _string), "url": (2, _string)}, extensions=3)))},
    extensions=7,
)
_TAG = _Message(
    {"name": (1, _string), "description": (2, _string), "externalDocs": (3, _one(_EXTERNAL_DOCS))},
    extensions=4,
)

_DOCUMENT = _Message(
    {
        "swagger": (1, _string), "info": (2, _one(_INFO)), "host": (3, _string), "basePath": (4, _string),
        "schemes": (5, _strings), "consumes": (6, _strings), "produces": (7, _strings),
        "paths": (8, _one(_paths)), "definitions": (9, _one(_named_map(_schema))),
        "parameters": (10, _one(_named_map(_parameter))), "responses": (11, _one(_named_map(_RESPONSE))),
        "security": (12, _many(_security_requirement)),
        "securityDefinitions": (13, _one(_named_map(_security_definitions_item))),
        "tags": (14, _many(_TAG)), "externalDocs": (15, _one(_EXTERNAL_DOCS)),
    },
    extensions=16,
)


def wants_protobuf(*, accept: str) -> bool:
    """Whether an Accept header picks the protobuf form of `/openapi/v2` over JSON: the acceptable type
    with the highest `q` wins, the earlier on a tie; no acceptable type (or no header) means JSON."""
    best, best_q = "", 0.0
    for entry in accept.split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if (media in ACCEPTED_TYPES or media in _JSON_TYPES) and q > best_q:
            best, best_q = media, q
    return best in ACCEPTED_TYPES


def encode_document(*, document: dict[str, Any]) -> bytes:
    """A swagger 2.0 document (decoded JSON) as a serialized gnostic `openapi.v2.Document`."""
    return _DOCUMENT(document)


@cache
def openapi_v2_protobuf() -> bytes:
    """The `/openapi/v2` document as protobuf (`MEDIA_TYPE`), built once from `openapi_v2()`."""
    return encode_document(document=msgspec.json.decode(openapi_v2()))
