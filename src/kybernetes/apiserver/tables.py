"""Server-side Table output (`as=Table`), so `kubectl get` prints what it prints against Kubernetes.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints the server's columns verbatim:
the ones with priority 0 always, the others only with `-o wide`. The server always fills every column (as the
Kubernetes API server does, which renders tables in wide mode) and attaches to each row either the object,
its metadata as a PartialObjectMetadata (the default), or nothing, according to `includeObject`.

Columns and cells come from the per-kind printers in kybernetes.apiserver.printers. A kind without a printer
gets the server's default table: NAME and CREATED AT (a "date" column holding the RFC 3339 creation time),
which is what `kubectl get roles` or `kubectl get limitranges` show.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from kybernetes.apiserver.printers import PRINTERS
from kybernetes.apiserver.printers.format import doc, meta, name, rfc3339
from kybernetes.apiserver.printers.model import Cell, Column, Printer
from kybernetes.machinery.errors import BadRequestError

INCLUDE_OBJECT_VALUES = ("None", "Object", "Metadata")

DEFAULT_PRINTER = Printer(
    columns=(
        Column("Name", format="name", description=doc("meta.v1.ObjectMeta.name")),
        Column("Created At", "date", doc("meta.v1.ObjectMeta.creationTimestamp")),
    ),
    cells=lambda obj, now: [name(obj), rfc3339(meta(obj).get("creationTimestamp"))],
)


def printer_for(*, group: str, kind: str) -> Printer:
    """The printer of a kind, or the default (NAME, CREATED AT) printer."""
    return PRINTERS.get((group, kind), DEFAULT_PRINTER)


def has_printer(*, group: str, kind: str) -> bool:
    """Whether the kind has its own columns (rather than the default table)."""
    return (group, kind) in PRINTERS


def column_definitions(*, group: str, kind: str) -> list[dict[str, Any]]:
    """meta.k8s.io TableColumnDefinitions of a kind: name, type, format, description, priority."""
    return [column.to_dict() for column in printer_for(group=group, kind=kind).columns]


def row_cells(*, group: str, kind: str, obj: Mapping[str, Any], now: datetime.datetime) -> list[Cell]:
    """One JSON-compatible cell per column of the kind, for the wire-form object `obj` as of `now`."""
    return printer_for(group=group, kind=kind).cells(obj, _aware(now))


def build_table(
    *,
    group: str,
    kind: str,
    objects: list[dict[str, Any]],
    now: datetime.datetime,
    include_object: str = "Metadata",
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
) -> dict[str, Any]:
    """A complete meta.k8s.io/v1 Table for `objects` (one object for a GET, the items for a LIST).

    Raises BadRequestError for an `includeObject` other than None, Object or Metadata ("" means Metadata).
    """
    include = include_object or "Metadata"
    if include not in INCLUDE_OBJECT_VALUES:
        raise BadRequestError(f"unrecognized includeObject value: {include_object!r}")
    printer = printer_for(group=group, kind=kind)
    moment = _aware(now)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.cells(obj, moment)}
        conditions = printer.conditions(obj)
        if conditions:
            row["conditions"] = conditions
        if include == "Object":
            row["object"] = obj
        elif include == "Metadata":
            row["object"] = partial_object_metadata(obj)
        rows.append(row)

    list_meta: dict[str, Any] = {}
    if resource_version:
        list_meta["resourceVersion"] = resource_version
    if continue_token:
        list_meta["continue"] = continue_token
    if remaining is not None:
        list_meta["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [column.to_dict() for column in printer.columns],
        "rows": rows,
    }


def partial_object_metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object's metadata wrapped as a meta.k8s.io/v1 PartialObjectMetadata."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(meta(obj)),
    }


def _aware(now: datetime.datetime) -> datetime.datetime:
    # A naive `now` is taken as UTC, like every timestamp on the wire.
    return now if now.tzinfo is not None else now.replace(tzinfo=datetime.UTC)
