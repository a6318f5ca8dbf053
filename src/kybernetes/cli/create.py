"""`kyb create -f`: create every object of the manifests (`deployment.apps/web created`).

Objects that exist already are reported as kubectl reports them (`Error from server (AlreadyExists): error
when creating "app.yaml": deployments.apps "web" already exists`), the others are still created, and the exit
status is 1. Reading and placing objects is shared with `kyb apply` (see `cli.apply`).
"""

from __future__ import annotations

import argparse

from kybernetes.cli.apply import add_file_flags, create_objects
from kybernetes.cli.context import add_connection_flags

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_file_flags(parser, required=True)
    parser.add_argument("--dry-run", choices=("none", "server"), default="none",
                        help="server: the server checks and answers but stores nothing")
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: create_objects(ctx, args=args))
