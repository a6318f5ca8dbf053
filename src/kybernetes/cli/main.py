"""`kyb` entry point: dispatches subcommands to their thin runners in `kybernetes.cmd`."""

from __future__ import annotations

import argparse
import sys

from kybernetes import KUBE_GIT_VERSION, __version__


def build_parser() -> argparse.ArgumentParser:
    from kybernetes.cmd import server

    parser = argparse.ArgumentParser(prog="kyb", description="Kybernetes: a Kubernetes-compatible orchestrator")
    parser.add_argument("--version", action="version", version=f"kyb {__version__} (Kubernetes API {KUBE_GIT_VERSION})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_server = sub.add_parser("server", help="run the API server (control plane)")
    server.add_arguments(p_server)
    p_server.set_defaults(run=server.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
