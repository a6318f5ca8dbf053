"""Objects in wire form and cache keys, for controllers that build objects from templates.

`wire(obj)` is a Struct as the mutable camelCase dict the API would send (what templates are edited as:
a pod's spec gets a hostname, volumes, tolerations); `from_wire(data, Model)` turns it back into a Struct.
`key_of(namespace, name)` is the informer key of an object (`namespace/name`, or `name` when cluster-scoped).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


def key_of(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def wire(obj: Any) -> dict[str, Any]:
    """A Struct as a mutable wire-form dict (camelCase keys)."""
    out = msgspec.to_builtins(obj)
    assert isinstance(out, dict)
    return out


def from_wire(data: dict[str, Any], model: type[T]) -> T:
    return msgspec.convert(data, model)
