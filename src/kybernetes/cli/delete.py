"""`kyb delete`: by manifest, by name, or by selector, waiting for the objects to be gone.

    kyb delete -f FILE|DIR|URL|- | TYPE NAME... | TYPE/NAME... | TYPE -l SEL | TYPE --all
               [--wait[=false]] [--timeout SECONDS] [--grace-period N] [--now] [--ignore-not-found]
               [--cascade background|foreground|orphan]

Every delete is sent first (background propagation unless `--cascade` says otherwise), each acknowledged with
kubectl's line (`pod "web" deleted from default namespace`); then, as kubectl does by default, the command
waits until each object is really gone (finalizers run, a pod's containers stopped). An object that is not
there is reported (`Error from server (NotFound): pods "x" not found`) unless `--ignore-not-found`.
"""

from __future__ import annotations

import argparse
import sys

from kybernetes.api.resources import ResourceInfo
from kybernetes.cli.apply import add_file_flags, delete_object, deleted_line, place, wait_deleted
from kybernetes.cli.context import CliContext, CliError, add_connection_flags, error_line
from kybernetes.cli.kinds import collection_path, parse_targets
from kybernetes.cli.manifests import read_manifests
from kybernetes.machinery.errors import NotFoundError, StatusError

__all__ = ["add_arguments", "parse_bool", "run", "run_delete"]


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "t"):
        return True
    if lowered in ("false", "0", "no", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("resources", nargs="*", metavar="TYPE[/NAME]", help="what to delete")
    add_file_flags(parser, required=False)
    parser.add_argument("-l", "--selector", default="", help="delete the objects this label selector matches")
    parser.add_argument("--all", action="store_true", help="delete every object of the type in the namespace")
    parser.add_argument("--wait", nargs="?", const=True, default=True, type=parse_bool,
                        help="wait until the objects are gone (default true; --wait=false to return at once)")
    parser.add_argument("--timeout", type=float, default=0, metavar="SECONDS",
                        help="how long to wait (0: a week, as kubectl)")
    parser.add_argument("--grace-period", type=int, default=-1, help="seconds a pod has to stop (-1: its own)")
    parser.add_argument("--now", action="store_true", help="--grace-period=1")
    parser.add_argument("--ignore-not-found", action="store_true", help="a missing object is not an error")
    parser.add_argument("--cascade", choices=("background", "foreground", "orphan"), default="background",
                        help="what happens to dependents (default background)")
    add_connection_flags(parser, all_namespaces=True)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_delete(ctx, args=args))


async def _targets(ctx: CliContext, args: argparse.Namespace) -> list[tuple[ResourceInfo, str, str | None, str]]:
    """(resource, name, namespace, source) of every object to delete; source is the file, if any."""
    if args.filename:
        if args.resources:
            raise CliError("when paths are provided, resources may not be specified as arguments")
        out = []
        for manifest in read_manifests(args.filename, recursive=args.recursive, verb="delete"):
            placed = await place(ctx, manifest)
            out.append((placed.info, placed.name, placed.namespace, manifest.source))
        return out
    if not args.resources:
        raise CliError("You must provide one or more resources by argument or filename.")
    found: list[tuple[ResourceInfo, str, str | None, str]] = []
    for target in parse_targets(args.resources):
        info = target.info
        if target.names:
            if args.selector or args.all:
                raise CliError("name cannot be provided when a selector is specified")
            namespace = ctx.namespace if info.namespaced else None
            found.extend((info, name, namespace, "") for name in target.names)
            continue
        if not (args.selector or args.all):
            raise CliError("resource(s) were provided, but no name was specified")
        params = [("labelSelector", args.selector)] if args.selector else []
        path = collection_path(info, namespace=ctx.list_namespace() if info.namespaced else None)
        listed = (await ctx.client.request("GET", path, params=params)).json()
        for item in listed.get("items") or []:
            meta = item.get("metadata") or {}
            found.append((info, str(meta.get("name", "")), meta.get("namespace") if info.namespaced else None, ""))
    if not found:
        print("No resources found", file=sys.stderr)
    return found


async def run_delete(ctx: CliContext, *, args: argparse.Namespace) -> int:
    grace = 1 if args.now else args.grace_period
    failed = False
    pending: list[tuple[ResourceInfo, str, str | None, str]] = []
    for info, name, namespace, source in await _targets(ctx, args):
        try:
            answer = await delete_object(ctx, info=info, name=name, namespace=namespace,
                                         grace_period=grace if grace >= 0 else None, cascade=args.cascade)
        except NotFoundError as e:
            if not args.ignore_not_found:
                print(_with_source(error_line(e), source), file=sys.stderr)
                failed = True
            continue
        except StatusError as e:
            print(_with_source(error_line(e), source), file=sys.stderr)
            failed = True
            continue
        print(deleted_line(info=info, name=name, namespace=namespace), flush=True)
        uid = str((answer.get("metadata") or {}).get("uid") or "") if answer.get("kind") != "Status" else ""
        pending.append((info, name, namespace, uid))
    if args.wait:
        timeout = args.timeout or 7 * 24 * 3600.0
        for info, name, namespace, uid in pending:
            if not await wait_deleted(ctx, info=info, name=name, namespace=namespace, uid=uid, within=timeout):
                print(f"error: timed out waiting for the condition on {info.plural}/{name}", file=sys.stderr)
                failed = True
    return 1 if failed else 0


def _with_source(line: str, source: str) -> str:
    if not source:
        return line
    head, sep, message = line.partition(": ")
    return f'{head}: error when deleting "{source}": {message}' if sep else line
