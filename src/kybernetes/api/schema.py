"""Type-checking wire objects against their model, and finding unknown fields.

`decode_object(data, model)` is what the API server runs on every object it is sent: it checks `data` (a
JSON-decoded dict) against the generated Struct `model`, and returns the canonical wire dict together with
the paths of unknown fields in Kubernetes' form (`spec.containers[0].foo`), so the caller can apply
`fieldValidation` (Ignore drops them, Warn reports them, Strict fails with
`strict decoding error: unknown field "spec.containers[0].foo"`).

`decode_json(body, model)` is the request path's one-pass form: it decodes the JSON bytes straight into the
Struct and back to the canonical dict, and answers None for anything msgspec refuses (not JSON, a type error,
an unknown field), so the caller falls back to decoding the body and `decode_object`, whose messages are
Kubernetes'.

How: the fast path is one `msgspec.convert` (the models forbid unknown fields, so success means there are
none) and one `msgspec.to_builtins`. Only when that fails do we walk the data against the model's type info
(`msgspec.inspect`), collecting every unknown path, dropping those fields and reporting the first type error
the way Kubernetes' JSON decoder does (`json: cannot unmarshal string into Go struct field
ContainerPort.spec.containers.ports.containerPort of type int32`).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources as importlib_resources
from typing import Any, NamedTuple

import msgspec
from msgspec import inspect as mi

from kybernetes.api.models import Model, definition_name
from kybernetes.machinery.errors import BadRequestError


class _TypeMismatch(Exception):
    def __init__(self, *, got: Any, expected: mi.Type, at: _At) -> None:
        super().__init__(at.go_path)
        self.got = got
        self.expected = expected
        self.owner = at.owner
        self.field = at.field
        self.go_path = at.go_path


class _At(NamedTuple):
    """Where the walk is: the struct and wire field being decoded, and the Go decoder's path to it
    (struct fields only: no list indices, no map keys)."""

    owner: type | None
    field: str
    go_path: str


def decode_object(data: Any, model: type[Model]) -> tuple[dict[str, Any], list[str]]:
    """Check `data` against `model`; return (canonical wire dict, unknown field paths).

    Unknown fields are dropped from the returned dict. A value of the wrong type raises `BadRequestError`
    naming the field, as Kubernetes does."""
    obj, unknown = decode_struct(data, model)
    return msgspec.to_builtins(obj), unknown


def decode_json(body: bytes, model: type[Model]) -> dict[str, Any] | None:
    """The canonical wire dict of a JSON `body` that `model` accepts as it is (no unknown field, every type
    right), in one pass; None otherwise (then `decode_object` on the decoded body says what is wrong)."""
    try:
        obj = _json_decoder(model)(body)
    except msgspec.DecodeError:  # ValidationError included
        return None
    canonical: dict[str, Any] = msgspec.to_builtins(obj)
    return canonical


@cache
def _json_decoder(model: type[Model]) -> Any:
    return msgspec.json.Decoder(model).decode


def decode_struct(data: Any, model: type[Model]) -> tuple[Model, list[str]]:
    """Like `decode_object`, but return the Struct itself."""
    try:
        return msgspec.convert(data, model), []
    except msgspec.ValidationError as exc:
        first_error = str(exc)
    unknown: list[str] = []
    try:
        cleaned = _walk(data, _struct_type(model), "", _At(None, "", ""), unknown)
    except _TypeMismatch as mismatch:
        raise BadRequestError(_cannot_handle(data, model, _unmarshal_message(mismatch))) from None
    try:
        return msgspec.convert(cleaned, model), unknown
    except msgspec.ValidationError as exc:  # something the walk does not model; say what msgspec says
        raise BadRequestError(_cannot_handle(data, model, str(exc) or first_error)) from None


def encode(obj: Model) -> bytes:
    return msgspec.json.encode(obj)


@cache
def _struct_type(model: type[Model]) -> mi.StructType:
    info = mi.type_info(model)
    assert isinstance(info, mi.StructType)
    return info


@cache
def _fields_by_wire_name(model: type) -> dict[str, mi.Field]:
    return {f.encode_name: f for f in _struct_type(model).fields}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk(value: Any, typ: mi.Type, path: str, at: _At, unknown: list[str]) -> Any:
    """Return `value` with unknown fields removed (appending their paths); raise _TypeMismatch on a type
    error."""
    if isinstance(typ, mi.UnionType):
        if value is None and any(isinstance(t, mi.NoneType) for t in typ.types):
            return None
        options = [t for t in typ.types if not isinstance(t, mi.NoneType)]
        if len(options) == 1:
            return _walk(value, options[0], path, at, unknown)
        if any(_scalar_ok(value, t) for t in options):
            return value
        raise _TypeMismatch(got=value, expected=typ, at=at)
    if isinstance(typ, mi.StructType):
        if not isinstance(value, dict):
            raise _TypeMismatch(got=value, expected=typ, at=at)
        fields = _fields_by_wire_name(typ.cls)
        out: dict[str, Any] = {}
        for key, item in value.items():
            f = fields.get(key)
            if f is None:
                unknown.append(_join(path, key))
                continue
            out[key] = _walk(
                item, f.type, _join(path, key), _At(typ.cls, key, _join(at.go_path, key)), unknown
            )
        return out
    if isinstance(typ, mi.ListType):
        if not isinstance(value, list):
            raise _TypeMismatch(got=value, expected=typ, at=at)
        return [_walk(item, typ.item_type, f"{path}[{i}]", at, unknown) for i, item in enumerate(value)]
    if isinstance(typ, mi.DictType):
        if not isinstance(value, dict):
            raise _TypeMismatch(got=value, expected=typ, at=at)
        return {k: _walk(v, typ.value_type, _join(path, str(k)), at, unknown) for k, v in value.items()}
    if _scalar_ok(value, typ):
        return value
    raise _TypeMismatch(got=value, expected=typ, at=at)


def _scalar_ok(value: Any, typ: mi.Type) -> bool:
    if isinstance(typ, mi.AnyType):
        return True
    if isinstance(typ, mi.StrType):
        return isinstance(value, str)
    if isinstance(typ, mi.BoolType):
        return isinstance(value, bool)
    if isinstance(typ, mi.IntType):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(typ, mi.FloatType):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False


# --- Kubernetes-style messages -------------------------------------------------------------------------


def _cannot_handle(data: Any, model: type[Model], detail: str) -> str:
    kind = model.__name__
    version = "v1"
    if isinstance(data, dict) and isinstance(data.get("apiVersion"), str) and data["apiVersion"]:
        version = data["apiVersion"].rsplit("/", 1)[-1]
    if isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"]:
        kind = data["kind"]
    return f'{kind} in version "{version}" cannot be handled as a {model.__name__}: {detail}'


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _unmarshal_message(m: _TypeMismatch) -> str:
    got = _json_type(m.got)
    go_type = _go_type(m.expected, m.owner, m.field)
    if got == "number" and isinstance(m.got, float) and go_type.startswith("int"):
        got = f"number {json.dumps(m.got)}"
    if m.owner is None:
        return f"json: cannot unmarshal {got} into Go value of type {go_type}"
    return (
        f"json: cannot unmarshal {got} into Go struct field {m.owner.__name__}.{m.go_path} of type {go_type}"
    )


def _go_type(typ: mi.Type, owner: type | None, field: str) -> str:
    if isinstance(typ, mi.UnionType):
        options = [t for t in typ.types if not isinstance(t, mi.NoneType)]
        if len(options) == 1:
            return _go_type(options[0], owner, field)
        if {type(t) for t in options} == {mi.IntType, mi.StrType}:
            return "intstr.IntOrString"
        return "resource.Quantity"
    if isinstance(typ, mi.StructType):
        return _go_package(typ.cls) + "." + typ.cls.__name__
    if isinstance(typ, mi.ListType):
        return "[]" + _go_type(typ.item_type, owner, field)
    if isinstance(typ, mi.DictType):
        return "map[string]" + _go_type(typ.value_type, owner, field)
    if isinstance(typ, mi.StrType):
        return "string"
    if isinstance(typ, mi.BoolType):
        return "bool"
    if isinstance(typ, mi.FloatType):
        return "float64"
    if isinstance(typ, mi.IntType):
        return _int_format(owner, field)
    return "interface {}"


def _go_package(model: type) -> str:
    # io.k8s.api.core.v1.Pod -> v1
    try:
        return definition_name(model).rsplit(".", 2)[-2]
    except KeyError:
        return "v1"


def _int_format(owner: type | None, field: str) -> str:
    if owner is None:
        return "int64"
    try:
        schema = _definitions()[definition_name(owner)]
    except KeyError:
        return "int64"
    prop = schema.get("properties", {}).get(field, {})
    prop = prop.get("items", prop.get("additionalProperties", prop))
    fmt = prop.get("format") if isinstance(prop, dict) else None
    return fmt if fmt in ("int32", "int64") else "int64"


@cache
def _definitions() -> dict[str, Any]:
    """The reference definitions (loaded only when an error message or an OpenAPI document needs them)."""
    text = importlib_resources.files("kybernetes.api").joinpath("data/definitions.json").read_bytes()
    loaded: dict[str, Any] = msgspec.json.decode(text)["definitions"]
    return loaded


def definitions() -> dict[str, Any]:
    """The OpenAPI v2 `definitions` of every served type (shared, read-only): the schema the server's
    strategic merge patch and field ownership follow, the same one kubectl reads."""
    return _definitions()
