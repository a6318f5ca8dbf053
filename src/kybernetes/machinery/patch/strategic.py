"""Kubernetes strategic merge patch over wire-form dicts.

Like a JSON merge patch (null deletes a key, objects merge, scalars replace) except for what the schema says
about a field (see `PatchSchema`):

* a list with strategy `merge` and a merge key (containers by `name`, ports by `containerPort`, ...) is
  merged element by element: a patch element updates the element with the same key or is added;
* a list of scalars with strategy `merge` (`finalizers`) is a set union;
* a map with strategy `replace` is replaced whole; every other list is replaced whole.

and for the directives a patch may carry (the ones kubectl sends):

* `$patch: replace | delete` in a map replaces it with the rest of the patch / deletes it; in a merged list,
  an element `{"$patch": "replace"}` replaces the list and `{<key>: v, "$patch": "delete"}` removes the
  element with that key. `$patch: merge` is accepted as a no-op (plain merging is the default anyway);
* `$retainKeys: [...]` in a map drops every key of the live map not listed (union types such as a
  Deployment's `strategy` or a volume's source switch kind this way);
* `$deleteFromPrimitiveList/<field>: [...]` removes those values from a merged scalar list;
* `$setElementOrder/<field>: [...]` fixes the order of a merged list. Ordering follows Kubernetes: the
  listed (or patched) items in the order given, the live-only items in their live order, interleaved so
  that a live-only item stays ahead of the patched items it preceded in the live list.

The input document and patch are never changed: the document is copied once up front and the merge then
works in place on the copy; every value taken from the patch is rebuilt (which also drops its nulls).
Errors in the patch raise `BadRequestError` (400), or `InvalidError` (422) when the content contradicts
`$retainKeys`, as the API server answers.
"""

from __future__ import annotations

import json
from typing import Any

from kybernetes.machinery.errors import BadRequestError, InvalidError
from kybernetes.machinery.patch.schema import PatchSchema

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"

_MISSING = object()


class _ContentError(Exception):
    """The patch is well formed but contradicts itself (422 rather than 400)."""


def apply_strategic_merge_patch(
    doc: dict[str, Any], patch: Any, schema: PatchSchema | None
) -> dict[str, Any]:
    """Apply a strategic merge patch to `doc` and return the result as a new dict."""
    if not isinstance(doc, dict) or not isinstance(patch, dict):
        raise BadRequestError("invalid JSON document")
    try:
        return _merge_map(_copy(doc), patch, schema)
    except _ContentError as err:
        raise InvalidError(str(err)) from None
    except ValueError as err:
        raise BadRequestError(str(err)) from None


# --- maps -------------------------------------------------------------------------------------------------


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: PatchSchema | None) -> dict[str, Any]:
    """Merge `patch` into `original` (a private copy, changed in place) and return the result."""
    directive = patch.get(DIRECTIVE, _MISSING)
    if directive is not _MISSING:
        if directive == "delete":
            return {}
        rest = {k: v for k, v in patch.items() if k != DIRECTIVE}
        if directive == "replace":
            return _merge_map({}, rest, schema)
        if directive != "merge":
            raise ValueError(f"unknown patch type: {directive} in map: {_show(patch)}")
        patch = rest

    retain = patch.get(RETAIN_KEYS, _MISSING)
    if retain is not _MISSING:
        _apply_retain_keys(original, patch, retain)

    # Ordered lists first (they consume their list from the patch), plain keys next, deletions from scalar
    # lists last so that they also see what the patch added.
    handled: set[str] = set()
    for key, order in patch.items():
        if key.startswith(SET_ELEMENT_ORDER):
            name = key[len(SET_ELEMENT_ORDER):]
            _merge_ordered_list(original, name, patch.get(name, _MISSING), order, _field(schema, name))
            handled.add(name)
    for key, value in patch.items():
        if key in handled or _is_directive(key):
            continue
        _merge_key(original, key, value, _field(schema, key))
    for key, value in patch.items():
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            name = key[len(DELETE_FROM_PRIMITIVE_LIST):]
            if not isinstance(value, list) or not name:
                raise ValueError("invalid patch format of primitive list")
            current = original.get(name)
            if isinstance(current, list):
                doomed = {_hashable(v) for v in value}
                original[name] = [v for v in current if _hashable(v) not in doomed]
    return original


def _merge_key(original: dict[str, Any], key: str, value: Any, field: PatchSchema | None) -> None:
    if value is None:
        original.pop(key, None)
        return
    current = original.get(key, _MISSING)
    if isinstance(current, dict) and isinstance(value, dict):
        if "replace" in _strategies(field):
            original[key] = _fresh(value, field)
        else:
            original[key] = _merge_map(current, value, field)
    elif isinstance(current, list) and isinstance(value, list):
        original[key] = _merge_list_field(current, value, field)
    else:
        # Absent, or of another type than the patch: the patch value wins.
        original[key] = _fresh(value, field)


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any], retain: Any) -> None:
    if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
        raise ValueError("invalid patch format of retainKeys")
    keep = set(retain)
    for key, value in patch.items():
        if value is None or _is_directive(key):
            continue
        if key not in keep:
            raise _ContentError("patch content doesn't match retainKeys list")
    for key in [k for k in original if k not in keep]:
        del original[key]


# --- lists ------------------------------------------------------------------------------------------------


def _merge_list_field(current: list[Any], value: list[Any], field: PatchSchema | None) -> list[Any]:
    if "merge" in _strategies(field):
        return _merge_list(current, value, field.item() if field else None, field.merge_key if field else "")
    return _fresh(value, field)


def _merge_list(
    original: list[Any], patch: list[Any], item: PatchSchema | None, merge_key: str
) -> list[Any]:
    """Merge two lists under strategy `merge`; `original` elements may be changed in place."""
    if not original and not patch:
        return []
    maps = _element_kind(original, patch)
    if not maps:
        merged = _dedupe([*original, *patch])
        return _normalize_order(merged, order=patch, live=original, merge_key="")
    if not merge_key:
        raise ValueError("cannot merge lists without merge key")
    live, additions = _apply_list_directives(original, patch, merge_key)
    merged = list(live)
    for element in additions:
        if merge_key not in element:
            raise ValueError(f"map: {_show(element)} does not contain declared merge key: {merge_key}")
        at = _find(merged, merge_key, element[merge_key])
        if at >= 0:
            merged[at] = _merge_map(merged[at], element, item)
        else:
            merged.append(_fresh(element, item))
    return _normalize_order(merged, order=additions, live=live, merge_key=merge_key)


def _apply_list_directives(
    original: list[Any], patch: list[Any], merge_key: str
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Handle `$patch` elements: returns (live list after deletions, the remaining patch elements)."""
    plain: list[dict[str, Any]] = []
    live = original
    replace = False
    for element in patch:
        directive = element.get(DIRECTIVE, _MISSING)
        if directive is _MISSING:
            plain.append(element)
        elif directive == "delete":
            if merge_key not in element:
                raise ValueError(f"map: {_show(element)} does not contain declared merge key: {merge_key}")
            doomed = element[merge_key]
            live = [e for e in live if _find([e], merge_key, doomed) < 0]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            plain.append({k: v for k, v in element.items() if k != DIRECTIVE})
        else:
            raise ValueError(f"unknown patch type: {directive} in map: {_show(element)}")
    if replace:
        # The patch's own elements become the list (applied to nothing, so their directives take effect).
        return [], plain
    return live, plain


def _merge_ordered_list(
    original: dict[str, Any], name: str, patch_list: Any, order: Any, field: PatchSchema | None
) -> None:
    """Handle `$setElementOrder/<name>` together with the patch's `<name>` list, if any."""
    if not isinstance(order, list) or not name:
        raise ValueError("invalid patch format of setElementOrder list")
    current = original.get(name, _MISSING)
    if current is not _MISSING and not isinstance(current, list):
        raise ValueError(f"expected a list at {name!r}, found {_show(current)}")
    if patch_list is None:
        original.pop(name, None)
        return
    live: list[Any] = current if isinstance(current, list) else []
    if isinstance(patch_list, list):
        merged = _merge_list_field(live, patch_list, field)
    elif patch_list is not _MISSING:
        raise ValueError("invalid patch format of setElementOrder list")
    elif current is _MISSING:
        return
    else:
        merged = live
    merge_key = field.merge_key if field is not None else ""
    if _element_kind(merged, order) and not merge_key:
        original[name] = merged  # objects without a merge key cannot be matched to the order: keep as is
        return
    original[name] = _normalize_order(merged, order=order, live=live, merge_key=merge_key)


def _normalize_order(merged: list[Any], *, order: list[Any], live: list[Any], merge_key: str) -> list[Any]:
    """Order `merged`: items named in `order` as there, live-only items as in `live`, interleaved.

    A live-only item is emitted before the next ordered item only when both are in the live list and it
    came first there; so new items (absent from the live list) go ahead of the live-only ones that follow.
    """
    order_index = _index(order, merge_key)
    live_index = _index(live, merge_key)
    ordered: list[Any] = []
    live_only: list[Any] = []
    for element in merged:
        (ordered if _identity(element, merge_key) in order_index else live_only).append(element)
    end = len(merged) + len(order) + len(live)
    ordered.sort(key=lambda e: order_index.get(_identity(e, merge_key), end))
    live_only.sort(key=lambda e: live_index.get(_identity(e, merge_key), end))

    result: list[Any] = []
    i = j = 0
    while i < len(live_only) and j < len(ordered):
        left = live_index.get(_identity(live_only[i], merge_key), -1)
        right = live_index.get(_identity(ordered[j], merge_key), -1)
        if left >= 0 and right >= 0 and left < right:
            result.append(live_only[i])
            i += 1
        else:
            result.append(ordered[j])
            j += 1
    result.extend(live_only[i:])
    result.extend(ordered[j:])
    return result


# --- helpers ----------------------------------------------------------------------------------------------


def _fresh(value: Any, field: PatchSchema | None) -> Any:
    """A patch value as it lands in the result: rebuilt, with nulls dropped and directives applied."""
    if isinstance(value, dict):
        return _merge_map({}, value, field)
    if isinstance(value, list):
        if "merge" in _strategies(field) and value:
            return _merge_list([], value, field.item() if field else None, field.merge_key if field else "")
        item = field.item() if field is not None else None
        return [_fresh(v, item) for v in value]
    return value


def _is_directive(key: str) -> bool:
    return key == RETAIN_KEYS or key.startswith((SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST))


def _same(a: Any, b: Any) -> bool:
    return a is not _MISSING and _hashable(a) == _hashable(b)


def _field(schema: PatchSchema | None, name: str) -> PatchSchema | None:
    return schema.field(name) if schema is not None else None


def _strategies(field: PatchSchema | None) -> set[str]:
    if field is None or not field.patch_strategy:
        return set()
    return {s.strip() for s in field.patch_strategy.split(",")}


def _element_kind(*lists: list[Any]) -> bool:
    """True when the lists hold objects, False for scalars; mixed or nested lists are an error."""
    kind: type | None = None
    for values in lists:
        for v in values:
            this = dict if isinstance(v, dict) else list if isinstance(v, list) else object
            if this is list:
                raise ValueError("lists of lists are not supported")
            if kind is None:
                kind = this
            elif kind is not this:
                raise ValueError(f"list element types are not identical: {_show(lists)}")
    return kind is dict


def _find(elements: list[Any], merge_key: str, value: Any) -> int:
    for i, e in enumerate(elements):
        if isinstance(e, dict) and _same(e.get(merge_key, _MISSING), value):
            return i
    return -1


def _identity(element: Any, merge_key: str) -> Any:
    if merge_key and isinstance(element, dict):
        return _hashable(element.get(merge_key, _MISSING))
    return _hashable(element)


def _index(elements: list[Any], merge_key: str) -> dict[Any, int]:
    index: dict[Any, int] = {}
    for i, e in enumerate(elements):
        index.setdefault(_identity(e, merge_key), i)
    return index


def _hashable(value: Any) -> Any:
    # JSON scalars compare by type as in Go (so `true` is not `1`); containers by their canonical text.
    if value is _MISSING:
        return ("missing", id(value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True))
    return (type(value).__name__, value)


def _dedupe(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out: list[Any] = []
    for v in values:
        key = _hashable(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _show(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
