"""`kyb get`: kubectl's get, from the server's own tables.

    kyb get TYPE[,TYPE...] [NAME...] | TYPE/NAME... [-o wide|yaml|json|name] [-l SEL] [--field-selector SEL]
            [-n NS | -A] [--show-labels] [--show-kind] [--no-headers] [-w | --watch-only]

Tables come from the API server (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), so the columns
and cells are the ones kubectl prints for the same objects; `printers.TableView` lays them out as kubectl's
tabwriter does. Several kinds print one table each, separated by a blank line, names prefixed by their kind.
A name that is not found is reported on stderr (`Error from server (NotFound): ...`), the others are still
printed, and the exit status is 1. Nothing found at all prints `No resources found in NS namespace.`

`-w` prints the current objects, then one line per change as the server's watch delivers it (as a one-row
Table, aligned to the widths seen so far), until interrupted or the watch ends.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

import msgspec

from kybernetes.api.resources import ResourceInfo
from kybernetes.cli.context import CliContext, CliError, add_connection_flags, error_line, stream_frames
from kybernetes.cli.kinds import Target, collection_path, kind_prefix, object_path, parse_targets
from kybernetes.cli.printers import TableView, dump_json, dump_yaml, for_output, list_document
from kybernetes.client import Client
from kybernetes.machinery.errors import StatusError

__all__ = ["TABLE_ACCEPT", "add_arguments", "run_get"]

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io"
OUTPUTS = ("", "wide", "yaml", "json", "name")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("resources", nargs="*", metavar="TYPE[/NAME]", help="what to get: po, svc, deploy/web, ...")
    parser.add_argument("-o", "--output", default="", choices=OUTPUTS, help="wide, yaml, json or name")
    parser.add_argument("-l", "--selector", default="", help="label selector (e.g. app=web,tier!=db)")
    parser.add_argument("--field-selector", default="", help="field selector (e.g. status.phase=Running)")
    parser.add_argument("-w", "--watch", action="store_true", help="after listing, watch for changes")
    parser.add_argument("--watch-only", action="store_true", help="watch for changes without listing first")
    parser.add_argument("--show-labels", action="store_true", help="a LABELS column")
    parser.add_argument("--show-kind", action="store_true", help="prefix names with their kind")
    parser.add_argument("--no-headers", action="store_true", help="tables without their header line")
    parser.add_argument("--show-managed-fields", action="store_true", help="keep managedFields in yaml/json")
    add_connection_flags(parser, all_namespaces=True)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_get(ctx, args=args))


async def _fetch_table(client: Client, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    response = await client.request("GET", path, params=params, headers={"Accept": TABLE_ACCEPT})
    table: dict[str, Any] = response.json()
    return table


async def _fetch_json(client: Client, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    data: dict[str, Any] = (await client.request("GET", path, params=params)).json()
    return data


def _params(args: argparse.Namespace) -> list[tuple[str, str]]:
    params = []
    if args.selector:
        params.append(("labelSelector", args.selector))
    if args.field_selector:
        params.append(("fieldSelector", args.field_selector))
    return params


def _with_kind(obj: dict[str, Any], info: ResourceInfo) -> dict[str, Any]:
    # List items come without kind/apiVersion; printed objects carry them (as kubectl's do).
    return {"apiVersion": info.api_version, "kind": info.kind, **obj} if "kind" not in obj else obj


async def run_get(ctx: CliContext, *, args: argparse.Namespace) -> int:
    targets = parse_targets(args.resources)
    if args.watch or args.watch_only:
        if len(targets) != 1:
            raise CliError("you may only specify a single resource type")
        return await _watch(ctx, args=args, target=targets[0])
    output = args.output
    several = len(targets) > 1 or args.show_kind
    failed = False
    printed = 0
    tables: list[str] = []
    objects: list[dict[str, Any]] = []
    single = len(targets) == 1 and len(targets[0].names) == 1
    for target in targets:
        info = target.info
        namespace = ctx.namespace if info.namespaced else None
        list_ns = ctx.list_namespace() if info.namespaced else None
        if output in ("", "wide"):
            view = TableView(
                wide=output == "wide", all_namespaces=ctx.all_namespaces and info.namespaced,
                show_labels=args.show_labels, prefix=f"{kind_prefix(info)}/" if several else "",
                no_headers=args.no_headers,
            )
            if target.names:
                merged: dict[str, Any] | None = None
                for name in target.names:
                    try:
                        table = await _fetch_table(ctx.client, object_path(info, name=name, namespace=namespace), [])
                    except StatusError as e:
                        print(error_line(e), file=sys.stderr)
                        failed = True
                        continue
                    if merged is None:
                        merged = table
                    else:
                        merged.setdefault("rows", []).extend(table.get("rows") or [])
                if merged is not None and merged.get("rows"):
                    tables.append(view.render(merged))
                    printed += len(merged["rows"])
            else:
                table = await _fetch_table(ctx.client, collection_path(info, namespace=list_ns), _params(args))
                if table.get("rows"):
                    tables.append(view.render(table))
                    printed += len(table["rows"])
            continue
        if target.names:
            for name in target.names:
                try:
                    obj = await _fetch_json(ctx.client, object_path(info, name=name, namespace=namespace), [])
                except StatusError as e:
                    print(error_line(e), file=sys.stderr)
                    failed = True
                    continue
                objects.append(_with_kind(obj, info))
        else:
            single = False
            data = await _fetch_json(ctx.client, collection_path(info, namespace=list_ns), _params(args))
            objects.extend(_with_kind(item, info) for item in data.get("items") or [])
    out = sys.stdout
    if output in ("", "wide"):
        out.write("\n".join(tables))
    elif output == "name":
        for obj in objects:
            info = _info_of(obj, targets)
            out.write(f"{kind_prefix(info)}/{obj.get('metadata', {}).get('name', '')}\n")
        printed = len(objects)
    else:
        shown = [for_output(o, show_managed_fields=args.show_managed_fields) for o in objects]
        document = shown[0] if single and len(shown) == 1 else list_document(shown)
        if not (single and not shown):
            out.write(dump_yaml(document) if output == "yaml" else dump_json(document))
        printed = max(printed, 1)  # an empty List is still output
    out.flush()
    if printed == 0 and not failed:
        namespaced = any(t.info.namespaced for t in targets)
        if namespaced and not ctx.all_namespaces:
            print(f"No resources found in {ctx.namespace} namespace.", file=sys.stderr)
        else:
            print("No resources found", file=sys.stderr)
    return 1 if failed else 0


def _info_of(obj: dict[str, Any], targets: list[Target]) -> ResourceInfo:
    for target in targets:
        if target.info.kind == obj.get("kind"):
            return target.info
    return targets[0].info


class _Aligner:
    """Rows printed one by one, each aligned to the widest cells seen so far (kubectl's `-w` tabwriter)."""

    def __init__(self) -> None:
        self.widths: list[int] = []

    def line(self, row: list[str]) -> str:
        for i, cell in enumerate(row[:-1]):
            width = max(len(cell) + 3, 6)
            if i >= len(self.widths):
                self.widths.append(width)
            else:
                self.widths[i] = max(self.widths[i], width)
        return "".join(c.ljust(self.widths[i]) for i, c in enumerate(row[:-1])) + (row[-1] if row else "") + "\n"


async def _watch(ctx: CliContext, *, args: argparse.Namespace, target: Target) -> int:
    info = target.info
    list_ns = ctx.namespace if info.namespaced and not ctx.all_namespaces else None
    params = _params(args)
    if target.names:
        if len(target.names) > 1:
            raise CliError("watch is only supported on individual resources and resource collections, "
                           f"but {len(target.names)} resources were found")
        if info.namespaced:
            list_ns = ctx.namespace
        params = [p for p in params if p[0] != "fieldSelector"]
        params.append(("fieldSelector", f"metadata.name={target.names[0]}"))
    path = collection_path(info, namespace=list_ns)
    output = args.output
    table_mode = output in ("", "wide")
    view = TableView(wide=output == "wide", all_namespaces=ctx.all_namespaces and info.namespaced,
                     show_labels=args.show_labels, prefix=f"{kind_prefix(info)}/" if args.show_kind else "",
                     no_headers=args.no_headers)
    aligner = _Aligner()
    out = sys.stdout
    if table_mode:
        table = await _fetch_table(ctx.client, path, params)
        columns = table.get("columnDefinitions") or []
        resource_version = str((table.get("metadata") or {}).get("resourceVersion", ""))
        if not args.watch_only:
            rows = view.rows(table)
            if not rows:
                _no_resources(ctx, info)
            else:
                if not args.no_headers:
                    out.write(aligner.line(view.header(table)))
                for row in rows:
                    out.write(aligner.line(row))
    else:
        data = await _fetch_json(ctx.client, path, params)
        resource_version = str((data.get("metadata") or {}).get("resourceVersion", ""))
        if not args.watch_only:
            for item in data.get("items") or []:
                _print_object(_with_kind(item, info), info=info, output=output, args=args)
    out.flush()
    watch_params = [*params, ("watch", "1"), ("resourceVersion", resource_version)]
    headers_printed = not args.watch_only or args.no_headers
    lines = stream_frames(ctx.client, path, params=watch_params, accept=TABLE_ACCEPT if table_mode else "application/json")
    with contextlib.suppress(KeyboardInterrupt):
        async with contextlib.aclosing(lines) as frames:
            async for line in frames:
                frame = msgspec.json.decode(line)
                if frame.get("type") == "ERROR":
                    raise StatusError.from_status(frame.get("object") or {})
                if frame.get("type") == "BOOKMARK":
                    continue
                obj = frame.get("object") or {}
                if table_mode:
                    event_table = {**obj, "columnDefinitions": obj.get("columnDefinitions") or columns}
                    columns = event_table["columnDefinitions"]
                    if not headers_printed:
                        out.write(aligner.line(view.header(event_table)))
                        headers_printed = True
                    for row in view.rows(event_table):
                        out.write(aligner.line(row))
                else:
                    _print_object(_with_kind(obj, info), info=info, output=output, args=args)
                out.flush()
    return 0


def _print_object(obj: dict[str, Any], *, info: ResourceInfo, output: str, args: argparse.Namespace) -> None:
    if output == "name":
        sys.stdout.write(f"{kind_prefix(info)}/{obj.get('metadata', {}).get('name', '')}\n")
    elif output == "yaml":
        sys.stdout.write("---\n" + dump_yaml(for_output(obj, show_managed_fields=args.show_managed_fields)))
    else:
        sys.stdout.write(dump_json(for_output(obj, show_managed_fields=args.show_managed_fields)))


def _no_resources(ctx: CliContext, info: ResourceInfo) -> None:
    if info.namespaced and not ctx.all_namespaces:
        print(f"No resources found in {ctx.namespace} namespace.", file=sys.stderr)
    else:
        print("No resources found", file=sys.stderr)

