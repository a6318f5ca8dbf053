"""The structural view of a type that field management needs, read from an OpenAPI v2/v3 schema.

Server-side apply only has to know, at every node of an object, which of five shapes it is — a scalar, a
struct (declared properties), a map (`additionalProperties`), a list, or untyped — whether it is atomic
(owned and replaced as a whole), and for lists how items are identified: by the values of key fields
(`x-kubernetes-list-type: map`), by their own value (`set`), or not at all (`atomic`). Lists without a
list type but with a strategic-merge `patch-strategy: merge` are associative on the merge key, as in
Kubernetes; any other list is atomic.

`FieldSchema` is that view as a protocol; `OpenAPIFieldSchema` implements it lazily over a `definitions`
dict (resolving `$ref`s on first use and caching nodes per definition), and `UNTYPED` stands for parts of
an object with no schema (unknown fields, `x-kubernetes-preserve-unknown-fields`): dicts there are
granular by key and lists atomic, which is how Kubernetes treats "deduced" types.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

Shape = Literal["scalar", "struct", "map", "list", "untyped"]
ListType = Literal["atomic", "set", "map"]

# Key fields that Kubernetes defaults when an item omits them; apply fills these in to build the item's
# key (`k:{"containerPort":80,"protocol":"TCP"}`) exactly as the defaulted object would.
_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}


class FieldSchema(Protocol):
    """What field management needs to know about one node of a type."""

    @property
    def shape(self) -> Shape: ...

    @property
    def atomic(self) -> bool:
        """True when the node is owned and replaced as a whole (atomic struct, map or list)."""
        ...

    @property
    def list_type(self) -> ListType: ...

    @property
    def list_keys(self) -> tuple[str, ...]: ...

    def field(self, name: str) -> FieldSchema | None:
        """The schema of struct field / map value `name`; None when a struct does not declare it."""
        ...

    def element(self) -> FieldSchema:
        """The schema of a list's items."""
        ...

    def required(self, name: str) -> bool: ...

    def key_default(self, name: str) -> Any:
        """The default of key field `name` of a list item (a struct), or None when it has none."""
        ...


class _Untyped:
    """A node without schema: granular dicts, atomic lists."""

    shape: Shape = "untyped"
    atomic = False
    list_type: ListType = "atomic"
    list_keys: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSchema:
        return self

    def element(self) -> FieldSchema:
        return self

    def required(self, name: str) -> bool:
        return False

    def key_default(self, name: str) -> Any:
        return None


UNTYPED: FieldSchema = _Untyped()


class OpenAPIFieldSchema:
    """`FieldSchema` over an OpenAPI node; children are built on first use and memoised."""

    __slots__ = ("_children", "_defs", "_element", "_node", "atomic", "list_keys", "list_type", "shape")

    def __init__(self, *, definitions: dict[str, Any], node: dict[str, Any]) -> None:
        self._defs = definitions
        self._node = _resolve(definitions, node)
        self._children: dict[str, FieldSchema | None] = {}
        self._element: FieldSchema | None = None
        node = self._node
        self.list_type: ListType = "atomic"
        self.list_keys: tuple[str, ...] = ()
        self.shape: Shape
        kind = node.get("type")
        if node.get("x-kubernetes-int-or-string") or node.get("format") == "int-or-string":
            self.shape = "scalar"
        elif kind == "array" or "items" in node:
            self.shape = "list"
            self._list_semantics(node)
        elif node.get("properties"):
            self.shape = "struct"
        elif isinstance(node.get("additionalProperties"), dict):
            self.shape = "map"
        elif kind in ("string", "integer", "number", "boolean"):
            self.shape = "scalar"
        else:
            # `type: object` without properties (RawExtension, JSON, preserve-unknown-fields) or no type.
            self.shape = "untyped"
        if self.shape == "list":
            self.atomic = self.list_type == "atomic"
        else:
            self.atomic = node.get("x-kubernetes-map-type") == "atomic"

    @classmethod
    def for_definition(cls, definitions: dict[str, Any], name: str) -> OpenAPIFieldSchema:
        """The schema of definition `name`, e.g. `io.k8s.api.apps.v1.Deployment`."""
        if name not in definitions:
            raise KeyError(f"no definition {name!r}")
        return cls(definitions=definitions, node={"$ref": "#/definitions/" + name})

    def _list_semantics(self, node: dict[str, Any]) -> None:
        declared = node.get("x-kubernetes-list-type")
        if declared == "map":
            self.list_type = "map"
            self.list_keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
        elif declared == "set":
            self.list_type = "set"
        elif declared is None and str(node.get("x-kubernetes-patch-strategy", "")).split(",")[0] == "merge":
            # Built-in types from before list-type markers: associative on the strategic-merge key.
            key = node.get("x-kubernetes-patch-merge-key")
            self.list_type = "map" if key else "set"
            self.list_keys = (key,) if key else ()
        if self.list_type == "map" and not self.list_keys:
            self.list_type = "atomic"

    def field(self, name: str) -> FieldSchema | None:
        if name in self._children:
            return self._children[name]
        child: FieldSchema | None
        if self.shape == "struct":
            prop = self._node["properties"].get(name)
            extra = self._node.get("additionalProperties")
            if prop is not None:
                child = OpenAPIFieldSchema(definitions=self._defs, node=prop)
            elif isinstance(extra, dict):
                child = OpenAPIFieldSchema(definitions=self._defs, node=extra)
            else:
                child = None
        elif self.shape == "map":
            return self.element()  # one schema for every value; not memoised per key
        else:
            child = UNTYPED
        self._children[name] = child
        return child

    def element(self) -> FieldSchema:
        """List items; for a map, its values."""
        if self._element is None:
            sub = self._node.get("additionalProperties" if self.shape == "map" else "items")
            self._element = (OpenAPIFieldSchema(definitions=self._defs, node=sub)
                             if isinstance(sub, dict) else UNTYPED)
        return self._element

    def required(self, name: str) -> bool:
        return name in (self._node.get("required") or ())

    def key_default(self, name: str) -> Any:
        prop = (self._node.get("properties") or {}).get(name)
        if isinstance(prop, dict) and "default" in prop:
            return prop["default"]
        return _KEY_DEFAULTS.get(name)

    def __repr__(self) -> str:
        return f"OpenAPIFieldSchema(shape={self.shape!r}, atomic={self.atomic})"


def _resolve(definitions: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref` (and a lone `allOf: [$ref]`); extensions on the referring node win over the target."""
    seen = 0
    while True:
        ref = node.get("$ref")
        if ref is None:
            all_of = node.get("allOf")
            if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
                ref = all_of[0].get("$ref")
        if not isinstance(ref, str) or seen > 32:
            return node
        target = definitions.get(ref.rsplit("/", 1)[-1])
        if not isinstance(target, dict):
            return node
        overrides = {k: v for k, v in node.items() if k.startswith("x-kubernetes-")}
        node = {**target, **overrides} if overrides else target
        seen += 1
