"""`kyb scale TYPE/NAME... | TYPE NAME... --replicas N [--current-replicas M]` (`deployment.apps/web scaled`).

The replica count is set through the resource's `scale` subresource (a merge patch of `spec.replicas`), so
Deployments, ReplicaSets, StatefulSets and ReplicationControllers scale the same way. `--current-replicas`
makes it conditional, as in kubectl: nothing changes unless the count is that now.
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from kybernetes.cli.context import CliContext, CliError, add_connection_flags, error_line
from kybernetes.cli.kinds import kind_prefix, object_path, parse_targets
from kybernetes.machinery.errors import StatusError

__all__ = ["add_arguments", "run", "run_scale"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("resources", nargs="+", metavar="TYPE/NAME", help="what to scale: deploy/web, ...")
    parser.add_argument("--replicas", type=int, required=True, help="the new replica count")
    parser.add_argument("--current-replicas", type=int, default=-1,
                        help="only scale if the count is this now (-1: any)")
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_scale(ctx, args=args))


async def run_scale(ctx: CliContext, *, args: argparse.Namespace) -> int:
    if args.replicas < 0:
        raise CliError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    failed = False
    for target in parse_targets(args.resources):
        info = target.info
        if "scale" not in info.subresources:
            raise CliError(f"cannot scale {info.plural}: the resource has no scale subresource")
        if not target.names:
            raise CliError("resource(s) were provided, but no name was specified")
        for name in target.names:
            path = object_path(info, name=name, namespace=ctx.namespace if info.namespaced else None,
                               subresource="scale")
            try:
                if args.current_replicas >= 0:
                    scale = (await ctx.client.request("GET", path)).json()
                    current = (scale.get("spec") or {}).get("replicas", 0)
                    if current != args.current_replicas:
                        print(f"error: Expected replicas to be {args.current_replicas}, was {current}",
                              file=sys.stderr)
                        failed = True
                        continue
                await ctx.client.request(
                    "PATCH", path, body=msgspec.json.encode({"spec": {"replicas": args.replicas}}),
                    content_type="application/merge-patch+json",
                )
            except StatusError as e:
                print(error_line(e), file=sys.stderr)
                failed = True
                continue
            print(f"{kind_prefix(info)}/{name} scaled", flush=True)
    return 1 if failed else 0
