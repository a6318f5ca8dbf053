"""`kyb events [-n NS | -A] [--for TYPE/NAME] [--types Warning,Normal] [-w]`: kubectl's events table.

`LAST SEEN  TYPE  REASON  OBJECT  MESSAGE` (NAMESPACE first with `-A`), oldest first; a repeated event shows
`10m (x4 over 12m)`; OBJECT is `Kind/name`. `-w` prints the current events, then each new or updated one as
the watch delivers it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

import msgspec

from kybernetes.cli.context import CliContext, add_connection_flags, split_name, stream_frames
from kybernetes.cli.describe import since
from kybernetes.cli.kinds import resolve_type
from kybernetes.cli.printers import align

__all__ = ["add_arguments", "event_row", "run", "run_events", "sort_key"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--for", dest="for_object", default="", metavar="TYPE/NAME",
                        help="only the events about this object")
    parser.add_argument("--types", default="", help="comma-separated event types (Normal, Warning)")
    parser.add_argument("-w", "--watch", action="store_true", help="after listing, watch for new events")
    parser.add_argument("--no-headers", action="store_true", help="no header line")
    add_connection_flags(parser, all_namespaces=True)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_events(ctx, args=args))


def sort_key(event: dict[str, Any]) -> str:
    meta = event.get("metadata") or {}
    when = (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
            or meta.get("creationTimestamp") or "")
    return str(when)[:19]


def event_row(event: dict[str, Any], *, all_namespaces: bool) -> list[str]:
    last = event.get("lastTimestamp") or event.get("eventTime") or (event.get("metadata") or {}).get(
        "creationTimestamp")
    seen = since(last)
    count = int(event.get("count") or (event.get("series") or {}).get("count") or 1)
    if count > 1 and event.get("firstTimestamp"):
        seen = f"{seen} (x{count} over {since(event['firstTimestamp'])})"
    involved = event.get("involvedObject") or event.get("regarding") or {}
    row = [seen, str(event.get("type", "")), str(event.get("reason", "")),
           f"{involved.get('kind', '')}/{involved.get('name', '')}", str(event.get("message", "")).strip()]
    if all_namespaces:
        row.insert(0, str((event.get("metadata") or {}).get("namespace", "")))
    return row


async def run_events(ctx: CliContext, *, args: argparse.Namespace) -> int:
    namespace = ctx.list_namespace()
    path = f"/api/v1/namespaces/{namespace}/events" if namespace else "/api/v1/events"
    selector = []
    if args.for_object:
        kind, name = split_name(args.for_object)
        if kind:
            selector.append(f"involvedObject.kind={resolve_type(kind).kind}")
        selector.append(f"involvedObject.name={name}")
    params = [("fieldSelector", ",".join(selector))] if selector else []
    types = {t.strip().lower() for t in args.types.split(",") if t.strip()}
    listed = (await ctx.client.request("GET", path, params=params)).json()
    events = sorted((e for e in listed.get("items") or [] if not types or str(e.get("type", "")).lower() in types),
                    key=sort_key)
    header = [*(["NAMESPACE"] if ctx.all_namespaces else []), "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    rows = [event_row(e, all_namespaces=ctx.all_namespaces) for e in events]
    if rows:
        sys.stdout.write(align(rows if args.no_headers else [header, *rows]))
    elif not args.watch:
        print(f"No events found in {namespace} namespace." if namespace else "No events found.", file=sys.stderr)
    sys.stdout.flush()
    if not args.watch:
        return 0
    header_printed = bool(rows) or args.no_headers
    rv = str((listed.get("metadata") or {}).get("resourceVersion", ""))
    watch = [*params, ("watch", "1"), ("resourceVersion", rv)]
    with contextlib.suppress(KeyboardInterrupt):
        async with contextlib.aclosing(stream_frames(ctx.client, path, params=watch)) as frames:
            async for line in frames:
                frame = msgspec.json.decode(line)
                if frame.get("type") not in ("ADDED", "MODIFIED"):
                    continue
                event = frame.get("object") or {}
                if types and str(event.get("type", "")).lower() not in types:
                    continue
                lines = [event_row(event, all_namespaces=ctx.all_namespaces)]
                if not header_printed:
                    lines.insert(0, header)
                    header_printed = True
                sys.stdout.write(align(lines))
                sys.stdout.flush()
    return 0
