"""`kyb describe TYPE NAME...` (or `TYPE/NAME`, or `TYPE -l SEL`): an object in detail, events last.

The text is laid out as kubectl lays it out: each describer writes tab-separated lines (`Name:\\tweb`),
indented two spaces per level, and `printers.tabwrite` aligns them with Go's tabwriter rules (padding 2),
so runs of `Key:\\tvalue` lines line up and a section header (`Containers:`) starts a new alignment.

Pods, Deployments, Services and Nodes have kubectl's layout (`describers`); any other kind gets the
generic one: name, namespace, labels, annotations, then the object's other fields as an indented key/value
tree. Every description ends with the object's Events (`Type Reason Age From Message`, repeated events as
`35s (x4 over 3m44s)`), or `Events:  <none>`. Several objects are separated by a blank line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kybernetes.api.resources import ResourceInfo
from kybernetes.cli.context import CliContext, CliError, add_connection_flags, error_line
from kybernetes.cli.kinds import collection_path, object_path, parse_targets
from kybernetes.cli.printers import tabwrite
from kybernetes.client import Client
from kybernetes.machinery.errors import StatusError
from kybernetes.machinery.timefmt import human_duration, parse_rfc3339, utcnow

__all__ = ["Out", "add_arguments", "describe_generic", "events_for", "format_time", "run", "write_events"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("resources", nargs="+", metavar="TYPE[/NAME]", help="what to describe")
    parser.add_argument("-l", "--selector", default="", help="describe the objects this label selector matches")
    parser.add_argument("--show-events", nargs="?", const=True, default=True,
                        type=lambda v: v.lower() in ("true", "1", "yes"), help="print events (default true)")
    add_connection_flags(parser, all_namespaces=True)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_describe(ctx, args=args))


class Out:
    """Lines for the tabwriter: `out.w(level, "Key:\\t%s", value)` writes `"  " * level` then the text."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def w(self, level: int, text: str) -> None:
        self.lines.append("  " * level + text)

    def render(self) -> str:
        return tabwrite("\n".join(self.lines) + "\n")


MAX_ANNOTATION = 140
ANNOTATION_CUT = 138  # what kubectl keeps of a longer value, before its "..."

# ---- small formatters ------------------------------------------------------------------------------


def format_time(value: object) -> str:
    """kubectl's RFC 1123 with a numeric zone: `Wed, 25 Nov 2026 21:09:50 +0000`."""
    if not value:
        return "<unset>"
    return parse_rfc3339(str(value)).strftime("%a, %d %b %Y %H:%M:%S +0000")


def since(value: object, now: datetime | None = None) -> str:
    if not value:
        return "<unknown>"
    seconds = ((now or utcnow()) - parse_rfc3339(str(value))).total_seconds()
    return human_duration(max(seconds, 0.0))


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def write_map(out: Out, level: int, title: str, values: Mapping[str, Any] | None, *,
              separator: str = "=", skip: tuple[str, ...] = ()) -> None:
    """`Labels:\\ta=b` with one further `\\tc=d` line per entry (kubectl's multi-line maps), or `<none>`."""
    entries = [(k, v) for k, v in sorted((values or {}).items()) if k not in skip]
    if not entries:
        out.w(level, f"{title}:\t<none>")
        return
    for i, (key, value) in enumerate(entries):
        text = f"{key}{separator}{value}"
        out.w(level, f"{title}:\t{text}" if i == 0 else f"\t{text}")


def write_annotations(out: Out, level: int, annotations: Mapping[str, Any] | None) -> None:
    shown = sorted((k, str(v)) for k, v in (annotations or {}).items()
                   if k != "kubectl.kubernetes.io/last-applied-configuration")
    if not shown:
        out.w(level, "Annotations:\t<none>")
        return
    for i, (key, value) in enumerate(shown):
        lead = "Annotations:\t" if i == 0 else "\t"
        if len(value) > MAX_ANNOTATION or "\n" in value:
            # kubectl moves a long value to its own line, cut to 140 characters with the dots.
            out.w(level, f"{lead}{key}:")
            out.w(level, "\t  " + (value[:ANNOTATION_CUT] + "..." if len(value) > MAX_ANNOTATION else value))
        else:
            out.w(level, f"{lead}{key}: {value}")


# ---- events ----------------------------------------------------------------------------------------


async def events_for(client: Client, obj: Mapping[str, Any], *, info: ResourceInfo) -> list[dict[str, Any]]:
    """The core/v1 Events about `obj` (by kind, name, namespace and uid), oldest first."""
    m = meta(obj)
    selector = [f"involvedObject.name={m.get('name', '')}", f"involvedObject.kind={info.kind}"]
    if m.get("uid"):
        selector.append(f"involvedObject.uid={m['uid']}")
    namespace = m.get("namespace") if info.namespaced else None
    if namespace:
        selector.append(f"involvedObject.namespace={namespace}")
    path = f"/api/v1/namespaces/{namespace}/events" if namespace else "/api/v1/events"
    try:
        listed = (await client.request("GET", path, params=[("fieldSelector", ",".join(selector))])).json()
    except StatusError:
        return []
    items: list[dict[str, Any]] = listed.get("items") or []
    items.sort(key=_event_time)
    return items


def _event_time(event: Mapping[str, Any]) -> str:
    last = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or ""
    return str(last)[:19]


def write_events(out: Out, events: list[dict[str, Any]], *, now: datetime | None = None) -> None:
    if not events:
        out.w(0, "Events:\t<none>")
        return
    out.w(0, "Events:")
    out.w(1, "Type\tReason\tAge\tFrom\tMessage")
    out.w(1, "----\t------\t----\t----\t-------")
    for event in events:
        last = event.get("lastTimestamp") or event.get("eventTime")
        count = int(event.get("count") or (event.get("series") or {}).get("count") or 1)
        age = since(last, now)
        if count > 1 and event.get("firstTimestamp"):
            age = f"{age} (x{count} over {since(event['firstTimestamp'], now)})"
        source = event.get("source") or {}
        origin = source.get("component") or event.get("reportingComponent") or ""
        message = str(event.get("message") or "").strip()
        out.w(1, f"{event.get('type', '')}\t{event.get('reason', '')}\t{age}\t{origin}\t{message}")


# ---- generic ---------------------------------------------------------------------------------------


def _title(key: str) -> str:
    """`apiVersion` → `API Version`, `clusterIP` → `Cluster IP` (kubectl's field titles)."""
    words: list[str] = []
    current = ""
    for i, ch in enumerate(key):
        upper_run = ch.isupper() and (i + 1 == len(key) or key[i + 1].isupper() or not key[i + 1].isalpha())
        if ch.isupper() and current and not (current[-1].isupper() and upper_run):
            words.append(current)
            current = ""
        current += ch
    words.append(current)
    return " ".join(w[:1].upper() + w[1:] if w.lower() != "api" else "API" for w in words if w)


# Maps whose keys are data, not field names: printed as they are, not titled.
_VERBATIM = frozenset({"data", "stringData", "binaryData", "labels", "annotations", "matchLabels", "selector",
                       "nodeSelector", "capacity", "allocatable", "limits", "requests", "parameters"})


def _tree(out: Out, level: int, value: Any, *, verbatim: bool = False) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            title = str(key) if verbatim else _title(str(key))
            if isinstance(item, dict | list) and item:
                out.w(level, f"{title}:")
                _tree(out, level + 1, item, verbatim=key in _VERBATIM)
            else:
                out.w(level, f"{title}:\t{_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                _tree(out, level, item)
            else:
                out.w(level, _scalar(item))


def _scalar(value: Any) -> str:
    if value is None or value == {} or value == []:
        return "<none>" if value is None else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_generic(obj: Mapping[str, Any], *, info: ResourceInfo, events: list[dict[str, Any]]) -> str:
    m = meta(obj)
    out = Out()
    out.w(0, f"Name:\t{m.get('name', '')}")
    if info.namespaced:
        out.w(0, f"Namespace:\t{m.get('namespace', '')}")
    write_map(out, 0, "Labels", m.get("labels"))
    write_annotations(out, 0, m.get("annotations"))
    out.w(0, f"API Version:\t{obj.get('apiVersion', info.api_version)}")
    out.w(0, f"Kind:\t{obj.get('kind', info.kind)}")
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    _tree(out, 0, rest)
    write_events(out, events)
    return out.render()


# ---- the command -----------------------------------------------------------------------------------


Describer = Callable[..., Any]


async def describe_object(ctx: CliContext, obj: dict[str, Any], *, info: ResourceInfo, show_events: bool) -> str:
    from kybernetes.cli import describers

    events = await events_for(ctx.client, obj, info=info) if show_events else []
    special = describers.DESCRIBERS.get((info.group, info.kind))
    if special is not None:
        return str(await special(ctx.client, obj, events=events))
    return describe_generic(obj, info=info, events=events)


async def run_describe(ctx: CliContext, *, args: argparse.Namespace) -> int:
    targets = parse_targets(args.resources)
    failed = False
    texts: list[str] = []
    for target in targets:
        info = target.info
        namespace = ctx.namespace if info.namespaced else None
        objects: list[dict[str, Any]] = []
        if target.names:
            for name in target.names:
                try:
                    objects.append((await ctx.client.request(
                        "GET", object_path(info, name=name, namespace=namespace))).json())
                except StatusError as e:
                    print(error_line(e), file=sys.stderr)
                    failed = True
        else:
            params = [("labelSelector", args.selector)] if args.selector else []
            path = collection_path(info, namespace=ctx.list_namespace() if info.namespaced else None)
            listed = (await ctx.client.request("GET", path, params=params)).json()
            objects.extend(listed.get("items") or [])
            if not objects:
                raise CliError(f"No resources found in {ctx.namespace} namespace." if info.namespaced
                               and not ctx.all_namespaces else "No resources found")
        for obj in objects:
            texts.append(await describe_object(ctx, obj, info=info, show_events=args.show_events))
    sys.stdout.write("\n\n".join(t.rstrip("\n") + "\n" for t in texts) if texts else "")
    return 1 if failed else 0
