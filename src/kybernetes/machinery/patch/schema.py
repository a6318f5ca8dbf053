"""What strategic merge patch needs to know about a type, behind a small Protocol.

The merge only asks, at each field: what is the schema of this field's value, what is the element schema of
a list, and which patch strategy / merge key did the parent declare for this field. `PatchSchema` says just
that, so the patch code does not depend on the models; `OpenAPIPatchSchema` answers it from an OpenAPI v2
`definitions` map, reading the `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` extensions
that Kubernetes publishes on properties (the same facts as the Go struct tags `patchStrategy` /
`patchMergeKey`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

STRATEGY_KEY = "x-kubernetes-patch-strategy"
MERGE_KEY_KEY = "x-kubernetes-patch-merge-key"


@runtime_checkable
class PatchSchema(Protocol):
    def field(self, name: str) -> PatchSchema | None:
        """Schema of a struct field's (or a map entry's) value, or None when unknown."""
        ...

    def item(self) -> PatchSchema | None:
        """Schema of a list's elements, or None when unknown."""
        ...

    @property
    def patch_strategy(self) -> str:
        """The strategy declared for this field: "", "merge", "replace", "retainKeys", "merge,retainKeys"."""
        ...

    @property
    def merge_key(self) -> str:
        """The key identifying elements of a merged list of objects; "" when none."""
        ...


class OpenAPIPatchSchema:
    """`PatchSchema` over OpenAPI v2 definitions; follows `$ref` lazily, so building one is cheap."""

    __slots__ = ("_definitions", "_merge_key", "_node", "_resolved", "_strategy")

    def __init__(
        self,
        *,
        definitions: Mapping[str, Any],
        node: Mapping[str, Any],
        strategy: str = "",
        merge_key: str = "",
    ) -> None:
        self._definitions = definitions
        self._node = node
        self._strategy = strategy
        self._merge_key = merge_key
        self._resolved: Mapping[str, Any] | None = None

    @classmethod
    def for_definition(cls, definitions: Mapping[str, Any], name: str) -> OpenAPIPatchSchema:
        """The schema of definition `name`, e.g. `io.k8s.api.apps.v1.Deployment`; KeyError if absent."""
        if name not in definitions:
            raise KeyError(f"no OpenAPI definition named {name!r}")
        return cls(definitions=definitions, node=definitions[name])

    @property
    def patch_strategy(self) -> str:
        return self._strategy

    @property
    def merge_key(self) -> str:
        return self._merge_key

    def field(self, name: str) -> OpenAPIPatchSchema | None:
        node = self._resolve()
        props = node.get("properties")
        if isinstance(props, Mapping) and name in props:
            prop = props[name]
            return OpenAPIPatchSchema(
                definitions=self._definitions,
                node=prop,
                strategy=str(prop.get(STRATEGY_KEY, "")),
                merge_key=str(prop.get(MERGE_KEY_KEY, "")),
            )
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping):
            # A map (`labels`, `data`, ...): every entry's value has this schema.
            return OpenAPIPatchSchema(definitions=self._definitions, node=extra)
        return None

    def item(self) -> OpenAPIPatchSchema | None:
        items = self._resolve().get("items")
        if isinstance(items, Mapping):
            return OpenAPIPatchSchema(definitions=self._definitions, node=items)
        return None

    def _resolve(self) -> Mapping[str, Any]:
        if self._resolved is None:
            node = self._node
            for _ in range(64):  # bounded: a malformed document must not loop forever
                ref = node.get("$ref")
                if isinstance(ref, str):
                    node = self._definitions.get(ref.rsplit("/", 1)[-1], {})
                    continue
                all_of = node.get("allOf")
                if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
                    node = all_of[0]
                    continue
                break
            self._resolved = node
        return self._resolved

    def __repr__(self) -> str:
        return f"OpenAPIPatchSchema(strategy={self._strategy!r}, merge_key={self._merge_key!r})"
