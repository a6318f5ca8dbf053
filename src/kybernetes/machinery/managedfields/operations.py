"""Server-side apply and managed-fields tracking for updates — the two writes the API server performs.

`update` (create, PUT, and every non-apply PATCH) gives the writing manager the fields that changed
between the stored and the new object and takes them from everyone else; removed fields leave every set.

`apply` merges a partial configuration into the live object: the manager's set becomes exactly the fields
in the configuration; fields it applied last time but not now are removed from the object unless someone
else owns them; and fields of other managers whose value would change are conflicts (HTTP 409) unless
`force`, which takes them over. `kubectl` itself may take over fields recorded in the client-side-apply
annotation, and keeps that annotation in step, which is what makes `kubectl apply` followed by
`kubectl apply --server-side` work as on Kubernetes.

Both leave out the fields Kubernetes never tracks (apiVersion, kind, name, uid, resourceVersion, ...) and
the "reset fields" of the endpoint: `status` through the main resource and `spec` through `/status`, whose
values the registry strategy resets anyway. `apply` also drops those parts of the configuration.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection
from typing import Any

from kybernetes.machinery.errors import BadRequestError, ConflictError, FieldError
from kybernetes.machinery.managedfields.entries import (
    APPLY,
    Entry,
    EntryKey,
    cap_update_entries,
    decode_entries,
    encode_entries,
    entry_key,
    is_reset_request,
)
from kybernetes.machinery.managedfields.fieldset import FieldSet, Path, path_string
from kybernetes.machinery.managedfields.schema import FieldSchema
from kybernetes.machinery.managedfields.walk import (
    InvalidObjectError,
    compare,
    fieldset_of,
    is_struct_field,
    merge,
    remove,
    same,
)

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
FIELD_MANAGER_CONFLICT = "FieldManagerConflict"

# Never tracked: identity and server-owned metadata (Kubernetes' "strip meta" set; exact paths).
_UNTRACKED: frozenset[Path] = frozenset(
    [("f:apiVersion",), ("f:kind",), ("f:metadata",)]
    + [("f:metadata", "f:" + name) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
        "managedFields", "resourceVersion")]
)


class ApplyConflictError(ConflictError):
    """409 Conflict of an apply; causes are `FieldManagerConflict`s rendered with their raw message."""

    def to_status(self) -> dict[str, Any]:
        status = super().to_status()
        if self.causes:
            status.setdefault("details", {})["causes"] = [
                {"reason": c.type, "message": c.message, "field": c.path} for c in self.causes
            ]
        return status


def update(*, old: dict[str, Any] | None, new: dict[str, Any], manager: str, api_version: str, schema: FieldSchema,
           now: str, operation: str = "Update", subresource: str = "",
           reset_fields: Collection[str] | None = None, in_place: bool = False) -> dict[str, Any]:
    """`new` (a copy, or `new` itself with `in_place`) with `metadata.managedFields` updated for a
    non-apply write; `old=None` on create."""
    result = new if in_place else copy.deepcopy(new)
    meta = result.get("metadata")
    if not isinstance(meta, dict):
        return result
    entries = _entries_for_update(old, meta.get("managedFields"), subresource)
    meta.pop("managedFields", None)
    before = _without_managed_fields(old) if old is not None else {}
    prefixes = _reset_prefixes(reset_fields, subresource)
    diff = compare(old=before, new=result, schema=schema)
    changed = _tracked(diff.changed(), prefixes)
    removed = _tracked(FieldSet(diff.removed), prefixes)
    key = entry_key(manager=manager, operation=operation, api_version=api_version, subresource=subresource)
    original = entries.get(key)
    entries = {k: _replace_fields(e, e.fields.difference(changed).difference(removed)) for k, e in entries.items()}
    if changed:
        previous = entries.get(key)
        fields = previous.fields.union(changed) if previous else changed
        if original is not None and fields == original.fields:
            fields = original.fields  # the same set again (a manager rewriting its own fields): keep its encoding
        entries[key] = Entry(manager, operation, api_version, now, fields, subresource)
    _store(meta, entries)
    return result


def apply(*, live: dict[str, Any] | None, config: dict[str, Any], manager: str, api_version: str, force: bool,
          schema: FieldSchema, now: str, subresource: str = "",
          reset_fields: Collection[str] | None = None) -> dict[str, Any]:
    """The object after `manager` applies `config` over `live` (None: the object does not exist yet)."""
    _check_config(config, api_version)
    prefixes = _reset_prefixes(reset_fields, subresource)
    before = _without_managed_fields(live) if live is not None else {}
    try:
        entries = decode_entries(((live or {}).get("metadata") or {}).get("managedFields"))
    except ValueError:
        entries = {}  # unreadable history: start afresh rather than refuse every apply
    view = _without_prefixes(config, prefixes)
    try:
        applied = _tracked(fieldset_of(obj=view, schema=schema, strict=True), prefixes)
        merged = merge(live=before, config=view, schema=schema)
    except InvalidObjectError as invalid:
        raise BadRequestError(f"failed to create typed patch object ({_describe(config)}): {invalid}") from None

    key = entry_key(manager=manager, operation=APPLY, api_version=api_version, subresource=subresource)
    previous = entries.get(key)
    owners = {k: e.fields for k, e in entries.items() if k != key}
    owners[key] = applied
    if previous is not None and previous.fields:
        merged = _prune(merged, previous.fields, owners, schema)

    diff = compare(old=before, new=merged, schema=schema)
    changed = _tracked(diff.changed(), prefixes)
    removed = _tracked(FieldSet(diff.removed), prefixes)
    conflicts = {k: e.fields.intersection(changed) for k, e in entries.items() if k != key}
    conflicts = {k: s for k, s in conflicts.items() if s}
    if conflicts and not force and not _allowed_by_last_applied(manager, live, conflicts, schema):
        raise _conflict_error({entries[k]: s for k, s in conflicts.items()})

    out: dict[EntryKey, Entry] = {}
    for k, e in entries.items():
        if k != key:
            out[k] = _replace_fields(e, e.fields.difference(removed).difference(conflicts.get(k, FieldSet())))
    unchanged = (previous is not None and previous.fields == applied and previous.api_version == api_version
                 and same(before, merged))
    out[key] = Entry(manager, APPLY, api_version, previous.time if unchanged and previous else now, applied,
                     subresource)

    meta = merged.setdefault("metadata", {})
    if manager == "kubectl":
        _sync_last_applied(meta, config)
    _store(meta, out)
    return merged


# --- pieces -----------------------------------------------------------------------------------------------


def _check_config(config: Any, api_version: str) -> None:
    if not isinstance(config, dict):
        raise BadRequestError("apply patch must be an object")
    meta = config.get("metadata")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise BadRequestError("metadata.managedFields must be nil")
    if config.get("apiVersion") != api_version:
        raise BadRequestError("Incorrect version specified in apply patch. "
                              f"Specified patch version: {config.get('apiVersion', '')}, expected: {api_version}")


def _describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = "/".join(x for x in (meta.get("namespace"), meta.get("name")) if x)  # type: ignore[union-attr]
    return f"{name}; {obj.get('apiVersion', '')}, Kind={obj.get('kind', '')}"


def _reset_prefixes(reset_fields: Collection[str] | None, subresource: str) -> list[Path]:
    if reset_fields is None:
        reset_fields = {"": ("status",), "status": ("spec",)}.get(subresource, ())
    return [tuple("f:" + part for part in dotted.split(".")) for dotted in reset_fields if dotted]


def _tracked(fields: FieldSet, prefixes: list[Path]) -> FieldSet:
    return fields.without(exact=_UNTRACKED, prefixes=prefixes)


def _without_prefixes(obj: dict[str, Any], prefixes: list[Path]) -> dict[str, Any]:
    """A copy of `obj` without the reset fields, nor the nulls (`creationTimestamp: null` from
    `kubectl create --dry-run -o yaml`) that would otherwise delete server-owned metadata."""
    out = copy.deepcopy(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for name in [k for k, v in meta.items() if v is None and ("f:metadata", "f:" + k) in _UNTRACKED]:
            del meta[name]
    for prefix in prefixes:
        node: Any = out
        for element in prefix[:-1]:
            node = node.get(element[2:]) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(prefix[-1][2:], None)
    return out


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """A read-only view of `obj` without managedFields (shares everything else with `obj`)."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _replace_fields(entry: Entry, fields: FieldSet) -> Entry:
    return entry if fields == entry.fields else Entry(entry.manager, entry.operation, entry.api_version,
                                                      entry.time, fields, entry.subresource)


def _entries_for_update(old: dict[str, Any] | None, sent: Any, subresource: str) -> dict[EntryKey, Entry]:
    """Whose history the write starts from: the client's managedFields if it sent some, else the live ones.

    Through a subresource the client cannot touch them; `[{}]` resets them; an empty or unreadable list is
    ignored, so clients unaware of managed fields never wipe them by accident.
    """
    stored = ((old or {}).get("metadata") or {}).get("managedFields")
    if not subresource:
        if is_reset_request(sent):
            return {}
        try:
            entries = decode_entries(sent)
        except ValueError:
            entries = {}
        if entries:
            return entries
    try:
        return decode_entries(stored)
    except ValueError:
        return {}


def _prune(merged: dict[str, Any], last: FieldSet, owners: dict[EntryKey, FieldSet],
           schema: FieldSchema) -> dict[str, Any]:
    """Remove what the applier owned last time, no longer applies, and nobody else owns.

    Besides the owned paths themselves, the struct fields above them go when nothing below is owned any
    more (Kubernetes treats named fields as owned by whoever owns something inside them).
    """
    owned = FieldSet()
    for fields in owners.values():
        owned = owned.union(fields)
    kept = owned.prefixes()
    ancestors = {path[:i] for path in last.paths for i in range(2, len(path))} - kept
    doomed = {p for p in last.paths if p not in kept}
    doomed |= {p for p in ancestors
               if p[0] != "f:metadata" and p not in _UNTRACKED and is_struct_field(schema=schema, path=p)}
    result = remove(obj=merged, paths=doomed, keep=owned, schema=schema)
    return result if isinstance(result, dict) else merged


def _allowed_by_last_applied(manager: str, live: dict[str, Any] | None, conflicts: dict[EntryKey, FieldSet],
                             schema: FieldSchema) -> bool:
    """kubectl may take over what its client-side apply recorded (the upgrade to server-side apply)."""
    if manager != "kubectl" or live is None:
        return False
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    recorded = annotations.get(LAST_APPLIED_ANNOTATION)
    if not isinstance(recorded, str):
        return False
    try:
        allowed = fieldset_of(obj=json.loads(recorded), schema=schema)
    except ValueError:
        return False
    return all(not s.difference(allowed) for s in conflicts.values())


def _sync_last_applied(meta: dict[str, Any], config: dict[str, Any]) -> None:
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict) or LAST_APPLIED_ANNOTATION not in annotations:
        return
    recorded = copy.deepcopy(config)
    config_meta = recorded.get("metadata")
    if isinstance(config_meta, dict) and isinstance(config_meta.get("annotations"), dict):
        config_meta["annotations"].pop(LAST_APPLIED_ANNOTATION, None)
        if not config_meta["annotations"]:
            del config_meta["annotations"]
    annotations[LAST_APPLIED_ANNOTATION] = _go_json(recorded)


def _go_json(value: Any) -> str:
    """JSON as Go's encoding/json writes it: sorted keys, compact, `<>&` escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _conflict_error(conflicts: dict[Entry, FieldSet]) -> ApplyConflictError:
    ordered = sorted(conflicts.items(), key=lambda item: item[0].identifier())
    causes = [FieldError(path_string(p), FIELD_MANAGER_CONFLICT, f"conflict with {entry.describe()}")
              for entry, fields in ordered for p in fields.sorted()]
    if len(causes) == 1:
        message = f"Apply failed with 1 conflict: {causes[0].message}: {causes[0].path}"
    else:
        lines: list[str] = []
        for entry, fields in ordered:
            lines.append(f"conflicts with {entry.describe()}:")
            lines.extend(f"- {path_string(p)}" for p in fields.sorted())
        message = f"Apply failed with {len(causes)} conflicts: " + "\n".join(lines)
    return ApplyConflictError(message, causes=causes)


def _store(meta: dict[str, Any], entries: dict[EntryKey, Entry]) -> None:
    kept = {k: e for k, e in entries.items() if e.fields}
    encoded = encode_entries(cap_update_entries(kept))
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
