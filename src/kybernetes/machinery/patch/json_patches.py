"""JSON patch (RFC 6902) and JSON merge patch (RFC 7386) over wire-form dicts.

Both return a new document and never touch their inputs. Errors follow the API server: a patch body that is
not a patch at all is a 400; a well-formed JSON patch that cannot be applied (missing path, failed `test`)
is a 422 "the server rejected our request due to an error in our request", with the reason appended.
JSON patch application is delegated to the `jsonpatch` library; the merge patch is a few lines of our own.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from kybernetes.machinery.errors import BadRequestError, InvalidError, RequestEntityTooLargeError

# Kubernetes refuses JSON patches with more operations than this (maxJSONPatchOperations).
MAX_JSON_PATCH_OPERATIONS = 10000
_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
_REJECTED = "the server rejected our request due to an error in our request"


def apply_json_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    """Apply an RFC 6902 operation list to `doc`."""
    if not isinstance(ops, list):
        raise BadRequestError(
            f"json: cannot unmarshal {_json_type(ops)} into Go value of type jsonpatch.Patch"
        )
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLargeError(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}"
        )
    for index, op in enumerate(ops):
        _check_operation(index, op)
    # One operation at a time, so an error names the operation and path as Kubernetes' does, not the
    # library's view of the whole document.
    result: Any = copy.deepcopy(doc)
    for op in ops:
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except jsonpatch.InvalidJsonPatch as err:
            raise BadRequestError(f"invalid JSON patch: {err}") from None
        except jsonpatch.JsonPatchTestFailed:
            raise InvalidError(f"{_REJECTED}: testing value {op['path']} failed: test failed") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError, IndexError,
                ValueError):
            # (The library lets a few shape mismatches escape as builtin errors, e.g. a pointer through a string.)
            raise InvalidError(
                f'{_REJECTED}: {op["op"]} operation does not apply: doc is missing path: "{op["path"]}"'
            ) from None
    if not isinstance(result, dict):
        raise InvalidError(f"{_REJECTED}: the patched document is not a JSON object")
    return result


def apply_merge_patch(doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch: null deletes, objects merge recursively, anything else replaces."""
    if not isinstance(patch, dict):
        raise BadRequestError("Invalid JSON Patch")
    merged = merge_values(doc, patch)
    assert isinstance(merged, dict)
    return merged


def merge_values(target: Any, patch: Any) -> Any:
    """The RFC 7386 `MergePatch(target, patch)` function, building new containers throughout."""
    if not isinstance(patch, dict):
        return _copy(patch)
    result: dict[str, Any] = {k: _copy(v) for k, v in target.items()} if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_values(result.get(key), value)
    return result


def _check_operation(index: int, op: Any) -> None:
    if not isinstance(op, dict):
        raise BadRequestError(f"invalid JSON patch: operation {index} is not an object")
    name = op.get("op")
    if name not in _OPS:
        raise BadRequestError(f"invalid JSON patch: operation {index} has unsupported op {name!r}")
    if not isinstance(op.get("path"), str):
        raise BadRequestError(f"invalid JSON patch: operation {index} ({name}) is missing a string 'path'")
    if name in ("add", "replace", "test") and "value" not in op:
        raise BadRequestError(f"invalid JSON patch: operation {index} ({name}) is missing 'value'")
    if name in ("move", "copy") and not isinstance(op.get("from"), str):
        raise BadRequestError(f"invalid JSON patch: operation {index} ({name}) is missing a string 'from'")


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "value"


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
