"""Schema-guided walks over wire-form objects: field sets, comparison, merge and removal.

All four walk an object (or two) along a `FieldSchema`. A node is *granular* when its parts are tracked
separately — a non-atomic struct/map/untyped node holding a dict, or a map/set list holding a list whose
items all have distinct keys — and a *leaf* otherwise (scalars, atomic nodes, nulls, and values whose
type does not fit the schema). A leaf is owned and compared as a whole.

- `fieldset_of` gives the paths an applied configuration sets, with Kubernetes' rules: leaves, list items
  and map entries are owned; a struct field is owned only through its leaves unless it is empty or null.
- `compare` gives added / modified / removed paths between two versions; added non-leaf nodes are
  recorded too (they become the `".": {}` markers of an Update manager).
- `merge` lays an applied configuration over the live object: structs and maps merge per key, keyed lists
  per item (live order kept, new items placed as in the configuration), sets by union, leaves replace.
- `remove` deletes owned-no-more paths and drops containers the removal left empty.

Associative lists whose items cannot be keyed (missing key field, duplicates) are an error in an
applied configuration (`InvalidObjectError`) and are treated atomically everywhere else, so objects that
older clients wrote never break field tracking.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from kybernetes.machinery.managedfields.fieldset import (
    FieldSet,
    Path,
    field_element,
    key_element,
    path_string,
    value_element,
)
from kybernetes.machinery.managedfields.schema import UNTYPED, FieldSchema

_sorted_json = functools.partial(msgspec.json.encode, order="sorted")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class InvalidObjectError(ValueError):
    """An applied configuration that cannot be typed, e.g. a keyed list item without its key."""


def _granular(schema: FieldSchema, value: Any) -> bool:
    if schema.atomic:
        return False
    if isinstance(value, dict):
        return schema.shape in ("struct", "map", "untyped")
    if isinstance(value, list):
        return schema.shape == "list" and schema.list_type != "atomic"
    return False


def _child(schema: FieldSchema, name: str) -> tuple[FieldSchema, bool]:
    """The schema of `name` under a dict node, and whether it is a declared struct field."""
    sub = schema.field(name)
    if sub is None:
        return UNTYPED, False
    return sub, schema.shape == "struct"


def list_elements(schema: FieldSchema, items: list[Any], *, strict: bool, path: Path) -> list[str] | None:
    """The path element of every item of a map/set list; None (or InvalidObjectError) when not keyable."""
    out: list[str] = []
    seen: set[str] = set()
    item_schema = schema.element()
    for i, item in enumerate(items):
        if schema.list_type == "map":
            if not isinstance(item, dict):
                return _unkeyable(strict, path, f"element {i}: associative list with keys may only contain maps")
            keys: dict[str, Any] = {}
            for key in schema.list_keys:
                value = item.get(key)
                if value is None:
                    value = item_schema.key_default(key)
                if value is None:
                    return _unkeyable(strict, path, f"element {i}: associative list with keys has an element "
                                                    f'that omits key field "{key}" (and doesn\'t have default value)')
                keys[key] = value
            element = key_element(keys)
        else:
            element = value_element(item)
        if element in seen:
            kind = "key" if schema.list_type == "map" else "value"
            return _unkeyable(strict, path, f"duplicate entries for {kind} {path_string((element,))}")
        seen.add(element)
        out.append(element)
    return out


def _unkeyable(strict: bool, path: Path, message: str) -> list[str] | None:
    if strict:
        raise InvalidObjectError(f"{path_string(path)}: {message}" if path else message)
    return None


# --- field sets -------------------------------------------------------------------------------------------


def fieldset_of(*, obj: Any, schema: FieldSchema, strict: bool = False) -> FieldSet:
    """The paths `obj` sets (as an applied configuration would own them)."""
    out: set[Path] = set()
    _collect(obj, schema, (), out, strict)
    return FieldSet(out)


def _collect(value: Any, schema: FieldSchema, path: Path, out: set[Path], strict: bool) -> None:
    if value is None or not _granular(schema, value):
        out.add(path)
        return
    if isinstance(value, dict):
        for name, sub in value.items():
            child, declared = _child(schema, name)
            sub_path = (*path, field_element(name))
            _collect(sub, child, sub_path, out, strict)
            if sub is None or sub == {} or not declared:
                out.add(sub_path)
        return
    elements = list_elements(schema, value, strict=strict, path=path)
    if elements is None:
        out.add(path)
        return
    for element, item in zip(elements, value, strict=True):
        _collect(item, schema.element(), (*path, element), out, strict)
        out.add((*path, element))


def all_paths(*, obj: Any, schema: FieldSchema, path: Path = ()) -> set[Path]:
    """Every node path of `obj`, granular nodes included (what a deletion of `obj` removes)."""
    out: set[Path] = {path}
    if obj is None or not _granular(schema, obj):
        return out
    if isinstance(obj, dict):
        for name, sub in obj.items():
            out |= all_paths(obj=sub, schema=_child(schema, name)[0], path=(*path, field_element(name)))
        return out
    elements = list_elements(schema, obj, strict=False, path=path)
    for element, item in zip(elements or (), obj, strict=False):
        out |= all_paths(obj=item, schema=schema.element(), path=(*path, element))
    return out


# --- comparison -------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    def changed(self) -> FieldSet:
        return FieldSet(self.added | self.modified)


def compare(*, old: Any, new: Any, schema: FieldSchema, shortcut: bool = True) -> Comparison:
    """What changed from `old` to `new`.

    Kubernetes compares Go-typed objects, in which nested structs reachable through struct fields from the
    root (spec, status, template, ...) and required fields always exist, even in the zero value a create
    starts from. So adding those is not recorded as adding the node itself (no `".": {}` marker), only
    their contents are; inside new list items and map entries every added node is recorded.

    With `shortcut` the top two levels (the root's fields and theirs: `spec`, `status`, `metadata.labels`,
    ...) are skipped when provably unchanged, which is most of a status write or a label change, and new
    subtrees (all of a create) take a walk that only collects; the result is the same as without it.
    """
    result = Comparison()
    _compare(old, new, schema, (), True, result, shortcut, shortcut)
    result.added.discard(())
    result.modified.discard(())
    result.removed.discard(())
    return result


def _compare(old: Any, new: Any, schema: FieldSchema, path: Path, skeleton: bool, out: Comparison,
             shortcut: bool = False, fast: bool = True) -> None:
    if new is MISSING:
        out.removed |= all_paths(obj=old, schema=schema, path=path)
        return
    if old is MISSING and fast:
        _added(new, schema, path, skeleton, out.added)
        return
    granular = _granular(schema, new) and (old is MISSING or (_granular(schema, old) and type(old) is type(new)))
    new_elements: list[str] | None = None
    old_elements: list[str] | None = None
    if granular and isinstance(new, list):
        new_elements = list_elements(schema, new, strict=False, path=path)
        old_elements = [] if old is MISSING else list_elements(schema, old, strict=False, path=path)
        if new_elements is None or old_elements is None:
            granular = False
    if not granular:
        if old is MISSING:
            out.added.add(path)
        elif not same(old, new):
            out.modified.add(path)
            if _granular(schema, old):
                out.removed |= all_paths(obj=old, schema=schema, path=path) - {path}
        return
    if old is MISSING and not skeleton:
        out.added.add(path)
    if isinstance(new, dict):
        before = old if isinstance(old, dict) else {}
        shortcut = shortcut and len(path) < 2
        for name in {**before, **new}:
            if shortcut and name in before and name in new and unchanged(before[name], new[name]):
                continue  # an unchanged subtree adds, modifies and removes nothing
            child, declared = _child(schema, name)
            keep_skeleton = skeleton and declared and (
                (child.shape == "struct" and not child.atomic) or schema.required(name))
            _compare(before.get(name, MISSING), new.get(name, MISSING), child, (*path, field_element(name)),
                     keep_skeleton, out, shortcut, fast)
        return
    old_items = dict(zip(old_elements or (), old if isinstance(old, list) else (), strict=False))
    new_items = dict(zip(new_elements or (), new, strict=False))
    for element in {**old_items, **new_items}:
        _compare(old_items.get(element, MISSING), new_items.get(element, MISSING), schema.element(),
                 (*path, element), False, out, False, fast)


def _added(new: Any, schema: FieldSchema, path: Path, skeleton: bool, out: set[Path]) -> None:
    """`_compare` of a node that did not exist before (all of a create): every node is added, except the
    skeleton's granular nodes. The same rules as `_compare`, without the bookkeeping of the old side."""
    elements: list[str] | None = None
    if not _granular(schema, new) or (
            isinstance(new, list) and (elements := list_elements(schema, new, strict=False, path=path)) is None):
        out.add(path)
        return
    if not skeleton:
        out.add(path)
    if isinstance(new, dict):
        struct = schema.shape == "struct"
        for name, sub in new.items():
            child = schema.field(name)
            declared = struct and child is not None
            if child is None:
                child = UNTYPED
            keep_skeleton = skeleton and declared and (
                (child.shape == "struct" and not child.atomic) or schema.required(name))
            _added(sub, child, (*path, "f:" + name), keep_skeleton, out)
        return
    item_schema = schema.element()
    for element, item in zip(elements or (), new, strict=True):
        _added(item, item_schema, (*path, element), False, out)


def unchanged(a: Any, b: Any) -> bool:
    """A fast sufficient test for `same(a, b)`, in C: Python equality plus equal JSON with sorted keys.

    `==` alone would take `true` for `1`; the JSON tells those apart (and `1` from `1.0`, which `same`
    equates — then this merely answers False and the caller does the full walk).
    """
    if a is b:
        return True
    try:
        return bool(a == b) and _sorted_json(a) == _sorted_json(b)
    except (TypeError, ValueError):  # not JSON-encodable: let the full walk decide
        return False


def same(a: Any, b: Any) -> bool:
    """Deep equality that, unlike `==`, tells `true` from `1` and `1` from `1.0` as JSON values differ."""
    if type(a) is not type(b):
        if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) \
                and not isinstance(b, bool):
            return bool(a == b)
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# --- merge ------------------------------------------------------------------------------------------------


def merge(*, live: Any, config: Any, schema: FieldSchema, path: Path = ()) -> Any:
    """`config` laid over `live` (neither is modified). Nulls in `config` delete the field."""
    if not _granular(schema, config):
        return copy.deepcopy(config)
    if isinstance(config, dict):
        base = live if isinstance(live, dict) and _granular(schema, live) else {}
        out: dict[str, Any] = {}
        for name in {**base, **config}:  # live order first, then what the configuration adds
            sub = config.get(name, MISSING)
            if sub is MISSING:
                out[name] = copy.deepcopy(base[name])
            elif sub is not None:
                out[name] = merge(live=base.get(name, MISSING), config=sub, schema=_child(schema, name)[0],
                                  path=(*path, field_element(name)))
        return out
    return _merge_list(live, config, schema, path)


def _merge_list(live: Any, config: list[Any], schema: FieldSchema, path: Path) -> list[Any]:
    item_schema = schema.element()
    config_elements = list_elements(schema, config, strict=True, path=path) or []
    base: list[Any] = live if isinstance(live, list) else []
    base_elements = list_elements(schema, base, strict=False, path=path)
    if base_elements is None:
        base, base_elements = [], []
    lhs = dict(zip(base_elements, base, strict=True))
    rhs = dict(zip(config_elements, config, strict=True))

    def merged(element: str) -> Any:
        return merge(live=lhs.get(element, MISSING), config=rhs[element], schema=item_schema,
                     path=(*path, element))

    out: list[Any] = []
    emitted: set[str] = set()
    li = ri = 0
    while li < len(base) or ri < len(config):
        if li < len(base) and base_elements[li] in emitted:
            li += 1
            continue
        if li < len(base) and (ri >= len(config) or base_elements[li] not in rhs):
            out.append(copy.deepcopy(base[li]))  # only live has it: keep it where it was
            emitted.add(base_elements[li])
            li += 1
            continue
        if ri < len(config):
            element = config_elements[ri]
            ri += 1
            if element not in emitted:
                out.append(merged(element))
                emitted.add(element)
            if li < len(base) and base_elements[li] == element:
                li += 1
    return out


# --- removal ----------------------------------------------------------------------------------------------


def remove(*, obj: Any, paths: set[Path], keep: FieldSet, schema: FieldSchema) -> Any:
    """`obj` without `paths` (each with its subtree); containers emptied by it go too unless in `keep`."""
    if not paths:
        return obj
    prefixes = {p[:i] for p in paths for i in range(len(p))}
    value, _ = _remove(obj, schema, (), paths, prefixes, keep)
    return value


def _remove(value: Any, schema: FieldSchema, path: Path, paths: set[Path], prefixes: set[Path],
            keep: FieldSet) -> tuple[Any, bool]:
    """Returns the pruned value and whether pruning left it empty (so the parent should drop it)."""
    if not _granular(schema, value):
        return value, False
    changed = False
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for name, sub in value.items():
            sub_path = (*path, field_element(name))
            if sub_path in paths:
                changed = True
                continue
            if sub_path in prefixes:
                sub, emptied = _remove(sub, _child(schema, name)[0], sub_path, paths, prefixes, keep)
                if emptied:
                    changed = True
                    continue
            out[name] = sub
        return out, changed and not out and path not in keep
    elements = list_elements(schema, value, strict=False, path=path)
    if elements is None:
        return value, False
    items: list[Any] = []
    for element, item in zip(elements, value, strict=True):
        sub_path = (*path, element)
        if sub_path in paths:
            changed = True
            continue
        if sub_path in prefixes:
            item, emptied = _remove(item, schema.element(), sub_path, paths, prefixes, keep)
            if emptied:
                changed = True
                continue
        items.append(item)
    return items, changed and not items and path not in keep


def is_struct_field(*, schema: FieldSchema, path: Path) -> bool:
    """Whether the last element of `path` is a declared field of a struct (a "named field")."""
    node: FieldSchema = schema
    declared = False
    for element in path:
        if element.startswith("f:"):
            node, declared = _child(node, element[2:])
        else:
            node, declared = node.element(), False
    return declared
