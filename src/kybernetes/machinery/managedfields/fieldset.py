"""Sets of field paths and their `FieldsV1` trie encoding.

A path is a tuple of path elements, each spelled as in `FieldsV1`: `f:<field>` (struct field or map key),
`k:<json object of the key fields>` (an item of an associative list), `v:<json value>` (an item of a set
list) or `i:<index>`. JSON inside elements is canonical (sorted keys, no spaces) so that equal items give
equal strings whatever the client sent.

A `FieldSet` holds the paths a manager owns. In the trie, a path that is itself owned and also has owned
descendants carries a `".": {}` marker; a leaf path is `{}`; an ancestor that is not owned just nests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

Path = tuple[str, ...]

ENCODE_CACHE_SIZE = 2048
_ENCODED: dict[frozenset[Path], bytes] = {}
_decode_trie = msgspec.json.Decoder(dict[str, Any]).decode

_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def field_element(name: str) -> str:
    return "f:" + name


def key_element(keys: dict[str, Any]) -> str:
    return "k:" + canonical_json(keys)


def value_element(value: Any) -> str:
    return "v:" + canonical_json(value)


def _element_order(element: str) -> tuple[int, int, str]:
    prefix = element[:1]
    if prefix == "i":
        try:
            return (3, int(element[2:]), "")
        except ValueError:
            pass
    return (_RANK.get(prefix, 4), 0, element[2:])


class _OrderCache(dict[str, tuple[int, int, str]]):
    """`_element_order` memoised, so that sorting uses the dict's C-level `__getitem__` as its key."""

    def __missing__(self, element: str) -> tuple[int, int, str]:
        if len(self) > 100_000:
            self.clear()  # element strings include item keys (IPs, names): keep the cache bounded
        order = self[element] = _element_order(element)
        return order


_order_key = _OrderCache().__getitem__


def _go_value(value: Any) -> str:
    """A value as Kubernetes prints it inside a path: strings quoted, numbers and booleans bare."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return canonical_json(value)


def path_string(path: Path) -> str:
    """The path as Kubernetes prints it in conflicts: `.spec.containers[name="nginx"].image`."""
    out: list[str] = []
    for element in path:
        prefix, body = element[:2], element[2:]
        if prefix == "f:":
            out.append("." + body)
        elif prefix == "k:":
            keys = json.loads(body)
            out.append("[" + ",".join(f"{k}={_go_value(keys[k])}" for k in sorted(keys)) + "]")
        elif prefix == "v:":
            out.append("[=" + _go_value(json.loads(body)) + "]")
        else:
            out.append("[" + body + "]")
    return "".join(out)


class FieldSet:
    """An immutable set of owned paths."""

    __slots__ = ("_json", "_paths")

    def __init__(self, paths: Iterable[Path] = ()) -> None:
        self._paths: frozenset[Path] = frozenset(p for p in paths if p)
        self._json: bytes | None = None  # the encoded trie, memoised: sets are immutable

    @property
    def paths(self) -> frozenset[Path]:
        return self._paths

    def __contains__(self, path: object) -> bool:
        return path in self._paths

    def __iter__(self) -> Iterator[Path]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self._paths)

    def __bool__(self) -> bool:
        return bool(self._paths)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and other._paths == self._paths

    def __hash__(self) -> int:
        return hash(self._paths)

    def __repr__(self) -> str:
        return f"FieldSet({sorted(self._paths)!r})"

    def union(self, other: FieldSet) -> FieldSet:
        if other._paths <= self._paths:
            return self  # keeps the memoised encoding of a set that did not grow
        return FieldSet(self._paths | other._paths)

    def difference(self, other: FieldSet) -> FieldSet:
        if self._paths.isdisjoint(other._paths):
            return self
        return FieldSet(self._paths - other._paths)

    def intersection(self, other: FieldSet) -> FieldSet:
        return FieldSet(self._paths & other._paths)

    def owns_within(self, prefix: Path) -> bool:
        """Whether `prefix` or anything below it is in the set."""
        n = len(prefix)
        return any(p[:n] == prefix for p in self._paths)

    def prefixes(self) -> set[Path]:
        """Every path of the set and every ancestor of one: `owns_within` for many queries."""
        return {p[:i] for p in self._paths for i in range(1, len(p) + 1)}

    def without(self, *, exact: Iterable[Path] = (), prefixes: Iterable[Path] = ()) -> FieldSet:
        """Drop the `exact` paths, and every path at or below one of `prefixes`."""
        drop = set(exact)
        roots = {tuple(p) for p in prefixes}
        if not roots:
            kept = [p for p in self._paths if p not in drop]
        elif all(len(r) == 1 for r in roots):  # the usual reset fields (`status`, `spec`): one test each
            firsts = {r[0] for r in roots}
            kept = [p for p in self._paths if p not in drop and p[0] not in firsts]
        else:
            lengths = sorted({len(r) for r in roots})
            kept = [p for p in self._paths if p not in drop and not any(p[:n] in roots for n in lengths)]
        return self if len(kept) == len(self._paths) else FieldSet(kept)

    def sorted(self) -> list[Path]:
        """Paths in trie order: at each level the owned elements first, then descendants, each sorted."""
        out: list[Path] = []

        def visit(node: _Trie, prefix: Path) -> None:
            names = sorted(node.children, key=_order_key)
            out.extend((*prefix, n) for n in names if node.children[n].member)
            for n in names:
                visit(node.children[n], (*prefix, n))

        visit(self._trie(), ())
        return out

    def _trie(self) -> _Trie:
        root = _Trie()
        for path in self._paths:
            node = root
            for element in path:
                child = node.children.get(element)
                if child is None:
                    child = node.children[element] = _Trie()
                node = child
            node.member = True
        return root

    def to_fields_v1(self) -> dict[str, Any]:
        def encode(node: _Trie) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if node.member and node.children:
                out["."] = {}
            for name in sorted(node.children, key=_order_key):
                out[name] = encode(node.children[name])
            return out

        return encode(self._trie())

    def fields_v1_json(self) -> bytes:
        """`to_fields_v1()` as compact JSON, computed once per set (decode it for a fresh dict)."""
        if self._json is None:
            # Equal sets recur across objects (every pod of a ReplicaSet, every create of a client), so
            # encodings are also shared by value, not only per set object.
            encoded = _ENCODED.get(self._paths)
            if encoded is None:
                encoded = msgspec.json.encode(self.to_fields_v1())
                if len(_ENCODED) >= ENCODE_CACHE_SIZE:
                    _ENCODED.pop(next(iter(_ENCODED)))  # oldest first
                _ENCODED[self._paths] = encoded
            self._json = encoded
        return self._json

    def fresh_fields_v1(self) -> dict[str, Any]:
        """Equal to `to_fields_v1()` (same keys in the same order), from the memoised encoding."""
        out: dict[str, Any] = _decode_trie(self.fields_v1_json())
        return out

    @classmethod
    def from_fields_v1(cls, fields: Any) -> FieldSet:
        """Parse a `fieldsV1` trie; raises ValueError when it is malformed."""
        if not isinstance(fields, dict):
            raise ValueError("fieldsV1 must be an object")
        paths: list[Path] = []

        def walk(node: dict[str, Any], prefix: Path) -> None:
            for name, child in node.items():
                if name == ".":
                    if prefix:
                        paths.append(prefix)
                    continue
                if not isinstance(child, dict):
                    raise ValueError(f"fieldsV1 entry {name!r} must be an object")
                path = (*prefix, _canonical_element(name))
                if not child:
                    paths.append(path)
                else:
                    walk(child, path)

        walk(fields, ())
        return cls(paths)


class _Trie:
    __slots__ = ("children", "member")

    def __init__(self) -> None:
        self.children: dict[str, _Trie] = {}
        self.member = False


def _canonical_element(name: str) -> str:
    prefix, body = name[:2], name[2:]
    if prefix == "f:":
        return name
    if prefix in ("k:", "v:"):
        try:
            value = json.loads(body)
        except ValueError as e:
            raise ValueError(f"invalid fieldsV1 element {name!r}: {e}") from None
        if prefix == "k:" and not isinstance(value, dict):
            raise ValueError(f"invalid fieldsV1 key element {name!r}")
        return prefix + canonical_json(value)
    if prefix == "i:" and body.lstrip("-").isdigit():
        return "i:" + str(int(body))
    raise ValueError(f"invalid fieldsV1 element {name!r}")
