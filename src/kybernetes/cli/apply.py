"""`kyb apply -f`, and the writes `kyb create -f` and `kyb delete` share with it.

    kyb apply -f FILE|DIR|URL|- [-f ...] [-R] [--server-side] [--force-conflicts] [--dry-run=server]

Apply is server-side apply (`PATCH` with `application/apply-patch+yaml`, field manager `kyb`): the server
merges the manifest into the live object and records which fields `kyb` owns, so a later apply that drops a
field removes it. Each object's line says what happened, in kubectl's words: `deployment.apps/web created`
(it did not exist), `unchanged` (the resourceVersion did not move), `configured`; with `--server-side`
every line says `serverside-applied`, as kubectl's does.

Conflicts: without `--server-side`, the manifest wins over fields other managers set (the patch is forced),
which is what a kubectl user gets from client-side apply after `create` or `scale`; with `--server-side`
a conflict fails, as kubectl's does, unless `--force-conflicts`. One object's failure is reported and the
others are still applied; the exit status is then 1.

Namespaces: a namespaced object without one goes to `-n` (or the context's); an object naming another
namespace than an explicit `-n` is refused, as kubectl refuses it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from kybernetes.api.resources import ResourceInfo
from kybernetes.cli.context import FIELD_MANAGER, CliContext, CliError, add_connection_flags, error_line
from kybernetes.cli.kinds import collection_path, for_object, kind_prefix, object_path
from kybernetes.cli.manifests import Manifest, read_manifests
from kybernetes.machinery.errors import NotFoundError, StatusError

__all__ = [
    "Placed",
    "add_arguments",
    "add_file_flags",
    "create_objects",
    "delete_object",
    "deleted_line",
    "place",
    "run",
    "run_apply",
    "wait_deleted",
]

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"


def add_file_flags(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("-f", "--filename", action="append", default=[], required=required, metavar="FILE",
                        help="a file, directory, URL (file://, http://) or - for stdin; repeatable")
    parser.add_argument("-R", "--recursive", action="store_true", help="read directories recursively")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_file_flags(parser, required=True)
    parser.add_argument("--server-side", action="store_true",
                        help="kubectl's --server-side: conflicts fail unless --force-conflicts; lines say serverside-applied")
    parser.add_argument("--force-conflicts", action="store_true", help="take fields other managers own")
    parser.add_argument("--field-manager", default=FIELD_MANAGER, help="the field manager (default: kyb)")
    parser.add_argument("--dry-run", choices=("none", "server"), default="none",
                        help="server: the server checks and answers but stores nothing")
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_apply(ctx, args=args))


@dataclass(frozen=True)
class Placed:
    """A manifest's object with its resource and namespace settled."""

    manifest: Manifest
    info: ResourceInfo
    namespace: str | None
    name: str

    @property
    def ref(self) -> str:
        """`deployment.apps/web`: the object in kubectl's messages."""
        return f"{kind_prefix(self.info)}/{self.name}"

    @property
    def path(self) -> str:
        return object_path(self.info, name=self.name, namespace=self.namespace)


async def place(ctx: CliContext, manifest: Manifest) -> Placed:
    obj = manifest.obj
    info = await for_object(ctx.client, api_version=str(obj["apiVersion"]), kind=str(obj["kind"]))
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise CliError(f'error validating "{manifest.source}": metadata is not an object')
    name = str(meta.get("name") or "")
    namespace: str | None = None
    if info.namespaced:
        own = meta.get("namespace")
        if own and ctx.namespace_flag and own != ctx.namespace:
            raise CliError(
                f'the namespace from the provided object "{own}" does not match the namespace '
                f'"{ctx.namespace}". You must pass \'--namespace={own}\' to perform this operation.'
            )
        namespace = str(own or ctx.namespace)
        meta["namespace"] = namespace
    return Placed(manifest=manifest, info=info, namespace=namespace, name=name)


async def _apply_one(ctx: CliContext, placed: Placed, *, args: argparse.Namespace) -> str:
    if not placed.name:
        raise CliError(f'error when retrieving current configuration of "{placed.manifest.source}": '
                       "resource name may not be empty")
    try:
        before = (await ctx.client.request("GET", placed.path)).json()
    except NotFoundError:
        before = None
    params = [("fieldManager", args.field_manager)]
    if args.force_conflicts or not args.server_side:
        params.append(("force", "true"))
    if args.dry_run == "server":
        params.append(("dryRun", "All"))
    response = await ctx.client.request(
        "PATCH", placed.path, params=params, body=msgspec.json.encode(placed.manifest.obj),
        content_type=APPLY_CONTENT_TYPE,
    )
    for warning in response.warnings:
        print(f"Warning: {_warning_text(warning)}", file=sys.stderr)
    after = response.json()
    if args.server_side:
        verb = "serverside-applied"
    elif before is None:
        verb = "created"
    elif (before.get("metadata") or {}).get("resourceVersion") == (after.get("metadata") or {}).get(
        "resourceVersion"
    ):
        verb = "unchanged"
    else:
        verb = "configured"
    suffix = " (server dry run)" if args.dry_run == "server" else ""
    return f"{placed.ref} {verb}{suffix}"


def _warning_text(header: str) -> str:
    # `299 - "text"`: the warn-code, the agent and the quoted text of RFC 7234.
    parts = header.split(" ", 2)
    if len(parts) == 3 and parts[2].startswith('"') and parts[2].endswith('"'):
        return parts[2][1:-1]
    return header


async def run_apply(ctx: CliContext, *, args: argparse.Namespace) -> int:
    manifests = read_manifests(args.filename, recursive=args.recursive, verb="apply")
    failed = False
    for manifest in manifests:
        try:
            placed = await place(ctx, manifest)
            print(await _apply_one(ctx, placed, args=args), flush=True)
        except StatusError as e:
            print(_in_file(e, verb="applying patch", source=manifest.source), file=sys.stderr)
            failed = True
        except CliError as e:
            print(f"error: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def _in_file(error: StatusError, *, verb: str, source: str) -> str:
    """`Error from server (AlreadyExists): error when creating "app.yaml": ...` (kubectl's form)."""
    line = error_line(error)
    head, sep, message = line.partition(": ")
    return f'{head}: error when {verb} "{source}": {message}' if sep else line


async def create_objects(ctx: CliContext, *, args: argparse.Namespace) -> int:
    manifests = read_manifests(args.filename, recursive=args.recursive, verb="create")
    failed = False
    for manifest in manifests:
        try:
            placed = await place(ctx, manifest)
            params = [("fieldManager", "kyb-create")]
            if getattr(args, "dry_run", "none") == "server":
                params.append(("dryRun", "All"))
            path = collection_path(placed.info, namespace=placed.namespace)
            response = await ctx.client.request(
                "POST", path, params=params, body=msgspec.json.encode(placed.manifest.obj)
            )
            created = response.json()
            name = (created.get("metadata") or {}).get("name") or placed.name
            suffix = " (server dry run)" if getattr(args, "dry_run", "none") == "server" else ""
            print(f"{kind_prefix(placed.info)}/{name} created{suffix}", flush=True)
        except StatusError as e:
            print(_in_file(e, verb="creating", source=manifest.source), file=sys.stderr)
            failed = True
        except CliError as e:
            print(f"error: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def deleted_line(*, info: ResourceInfo, name: str, namespace: str | None) -> str:
    """kubectl's `configmap "c1" deleted from m1 namespace` (cluster-scoped: `namespace "m1" deleted`)."""
    kind = kind_prefix(info)
    return f'{kind} "{name}" deleted from {namespace} namespace' if namespace else f'{kind} "{name}" deleted'


async def delete_object(
    ctx: CliContext, *, info: ResourceInfo, name: str, namespace: str | None, grace_period: int | None = None,
    cascade: str = "background",
) -> dict[str, Any]:
    """DELETE one object (kubectl's default propagation: background); the server's answer."""
    options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions",
                               "propagationPolicy": cascade.capitalize()}
    if grace_period is not None and grace_period >= 0:
        options["gracePeriodSeconds"] = grace_period
    response = await ctx.client.request(
        "DELETE", object_path(info, name=name, namespace=namespace), body=msgspec.json.encode(options)
    )
    answer: dict[str, Any] = response.json()
    return answer


async def wait_deleted(ctx: CliContext, *, info: ResourceInfo, name: str, namespace: str | None, uid: str,
                       within: float) -> bool:
    """Poll until the object (that `uid`) is gone; False if it is still there after `within` seconds."""
    deadline = time.monotonic() + within
    path = object_path(info, name=name, namespace=namespace)
    delay = 0.05
    while time.monotonic() < deadline:
        try:
            current = (await ctx.client.request("GET", path)).json()
        except NotFoundError:
            return True
        if uid and (current.get("metadata") or {}).get("uid") != uid:
            return True  # a new object of the same name: ours is gone
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    return False
