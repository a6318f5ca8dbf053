"""`metadata.managedFields` entries: decoding, identity, ordering, capping, and manager names.

An entry records one manager's field set. Entries are identified as Kubernetes does: an Apply entry by
(manager, subresource) — so re-applying at another version replaces it — and an Update entry by
(manager, apiVersion, subresource). Encoded entries are sorted Apply before Update, then oldest first,
then by manager, apiVersion and subresource; at most ten Update entries are kept, the oldest ones of a
version being folded into an `ancient-changes` entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from kybernetes.machinery.managedfields.fieldset import FieldSet

APPLY = "Apply"
UPDATE = "Update"
FIELDS_V1 = "FieldsV1"
MAX_UPDATE_ENTRIES = 10
ANCIENT_CHANGES = "ancient-changes"
MAX_MANAGER_LENGTH = 128

EntryKey = tuple[str, str, str, str]

_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class Entry:
    manager: str
    operation: str
    api_version: str
    time: str | None
    fields: FieldSet
    subresource: str = ""

    @property
    def key(self) -> EntryKey:
        return entry_key(manager=self.manager, operation=self.operation, api_version=self.api_version,
                         subresource=self.subresource)

    def describe(self) -> str:
        """The manager as conflict messages print it: `"kubectl" using apps/v1` for Update entries."""
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += " with subresource " + json.dumps(self.subresource, ensure_ascii=False)
        if self.operation == UPDATE:
            text += " using " + self.api_version
        return text

    def identifier(self) -> str:
        """The JSON identity Kubernetes sorts managers by (Go field order, empty fields omitted)."""
        ident: dict[str, str] = {}
        for name, value in (("manager", self.manager), ("operation", self.operation),
                            ("apiVersion", "" if self.operation == APPLY else self.api_version),
                            ("subresource", self.subresource)):
            if value:
                ident[name] = value
        return json.dumps(ident, separators=(",", ":"), ensure_ascii=False)

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation,
                               "apiVersion": self.api_version}
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = FIELDS_V1
        out["fieldsV1"] = self.fields.fresh_fields_v1()
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def entry_key(*, manager: str, operation: str, api_version: str, subresource: str) -> EntryKey:
    return (manager, operation, "" if operation == APPLY else api_version, subresource)


def is_reset_request(raw: Any) -> bool:
    """`managedFields: [{}]` — the one way a client asks for managed fields to be dropped."""
    return isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], dict) and not any(raw[0].values())


def decode_entries(raw: Any, *, cached: bool = True) -> dict[EntryKey, Entry]:
    """Parse `metadata.managedFields`; raises ValueError on anything malformed.

    With `cached`, field sets are looked up by their JSON first (`fields_from_v1`): the same entries are
    decoded on every write of an object, and pods of one template share most of theirs.
    """
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ValueError("managedFields must be a list")
    out: dict[EntryKey, Entry] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"managedFields[{i}] must be an object")
        operation = item.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError(f"managedFields[{i}]: unsupported operation {operation!r}")
        if item.get("fieldsType", FIELDS_V1) != FIELDS_V1:
            raise ValueError(f"managedFields[{i}]: unsupported fieldsType {item.get('fieldsType')!r}")
        time = item.get("time")
        entry = Entry(
            manager=str(item.get("manager") or ""),
            operation=operation,
            api_version=str(item.get("apiVersion") or ""),
            time=time if isinstance(time, str) else None,
            fields=(fields_from_v1 if cached else FieldSet.from_fields_v1)(item.get("fieldsV1") or {}),
            subresource=str(item.get("subresource") or ""),
        )
        if entry.key in out:
            raise ValueError(f"managedFields[{i}]: duplicate entry for manager {entry.manager!r}")
        out[entry.key] = entry
    return out


_DECODED: dict[bytes, FieldSet] = {}
DECODE_CACHE_SIZE = 4096


def fields_from_v1(fields: Any) -> FieldSet:
    """`FieldSet.from_fields_v1`, memoised by the trie's JSON (sets are immutable, so sharing is safe)."""
    try:
        key = _encode(fields)
    except (TypeError, ValueError, OverflowError):
        return FieldSet.from_fields_v1(fields)
    found = _DECODED.get(key)
    if found is not None:
        return found
    decoded = FieldSet.from_fields_v1(fields)
    if len(_DECODED) >= DECODE_CACHE_SIZE:
        _DECODED.pop(next(iter(_DECODED)))  # oldest first: insertion order
    _DECODED[key] = decoded
    return decoded


def encode_entries(entries: dict[EntryKey, Entry]) -> list[dict[str, Any]]:
    ordered = sorted(entries.values(), key=lambda e: (e.operation, e.time or "", e.manager, e.api_version,
                                                       e.subresource))
    return [e.encode() for e in ordered]


def cap_update_entries(entries: dict[EntryKey, Entry], *, limit: int = MAX_UPDATE_ENTRIES) -> dict[EntryKey, Entry]:
    """Fold the oldest Update entries into per-version `ancient-changes` entries until `limit` remain."""
    updaters = sorted((e for e in entries.values() if e.operation == UPDATE),
                      key=lambda e: (e.time or "", e.identifier()))
    if len(updaters) <= limit:
        return entries
    out = dict(entries)
    count = len(updaters)
    first_of_version: dict[str, EntryKey] = {}
    for entry in updaters:
        if count <= limit:
            break
        first = first_of_version.get(entry.api_version)
        if first is None:
            first_of_version[entry.api_version] = entry.key
            continue
        bucket_key = entry_key(manager=ANCIENT_CHANGES, operation=UPDATE, api_version=entry.api_version,
                               subresource="")
        bucket = out.get(bucket_key)
        if bucket is None:
            seed = out.pop(first)
            bucket = Entry(ANCIENT_CHANGES, UPDATE, entry.api_version, seed.time, seed.fields)
        out[bucket_key] = replace(bucket, fields=bucket.fields.union(entry.fields), time=entry.time)
        del out[entry.key]
        count -= 1
    return out


def manager_from_user_agent(user_agent: str) -> str:
    """The manager name for a request without `fieldManager`: the user agent up to its first `/`.

    `kubectl/v1.31.0 (linux/amd64) kubernetes/abc` gives `kubectl`; the official Python client's
    `OpenAPI-Generator/31.0.0/python` gives `OpenAPI-Generator`.
    """
    return user_agent.split("/", 1)[0][:MAX_MANAGER_LENGTH]
