"""`kyb` entry point: dispatches subcommands to their thin runners in `kybernetes.cmd`.

Only the chosen subcommand's module is imported, so `kyb simulate` does not load the API server and
`kyb server` does not load the controllers.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from kybernetes import KUBE_GIT_VERSION, __version__

# name → (module with add_arguments(parser) and run(args) -> int, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("kybernetes.cmd.up", "run a whole cluster on this machine: control plane and node, one supervisor"),
    "down": ("kybernetes.cmd.down", "stop kyb up and remove every trace of it (--keep-data keeps the cluster)"),
    "server": ("kybernetes.cmd.server", "run the control plane: API server, and the components beside it"),
    "scheduler": ("kybernetes.cmd.scheduler", "run the scheduler (binds pending pods to nodes)"),
    "controller-manager": ("kybernetes.cmd.controller_manager", "run the controllers against an API server"),
    "agent": ("kybernetes.cmd.agent", "run the node agent (kubelet): registers the node and runs its pods"),
    "image": ("kybernetes.cmd.image", "manage the node's image store: import, list, pull, rm"),
    "dns": ("kybernetes.cmd.dns", "run the cluster DNS (answers <svc>.<ns>.svc.cluster.local, forwards the rest)"),
    "simulate": ("kybernetes.cmd.simulate", "simulate nodes (kwok-style) on any Kubernetes-compatible cluster"),
    "proxy": ("kybernetes.cmd.proxy", "run the Service proxy of a node (Services → nftables rules)"),
    "token": ("kybernetes.cmd.token", "manage bootstrap tokens nodes join with: create, list, delete"),
    "node": ("kybernetes.cmd.node", "take a node out of service or back: cordon, uncordon, drain"),
    "get": ("kybernetes.cli.get", "list objects as kubectl does: tables, -o wide|yaml|json|name, -w"),
    "describe": ("kybernetes.cli.describe", "show an object in detail, with its events"),
    "apply": ("kybernetes.cli.apply", "server-side apply manifests from files, directories, URLs or stdin"),
    "create": ("kybernetes.cli.create", "create objects from manifests"),
    "delete": ("kybernetes.cli.delete", "delete objects by manifest or by TYPE NAME"),
    "logs": ("kybernetes.cli.logs", "print (or follow) a container's logs"),
    "exec": ("kybernetes.cli.exec", "run a command in a container (-i, -t)"),
    "port-forward": ("kybernetes.cli.portforward", "forward local ports to a pod or a service"),
    "scale": ("kybernetes.cli.scale", "set the replica count of a deployment, replicaset or statefulset"),
    "rollout": ("kybernetes.cli.rollout", "rollout status|history|undo|restart of a deployment"),
    "top": ("kybernetes.cli.top", "CPU and memory of pods or nodes (metrics.k8s.io)"),
    "events": ("kybernetes.cli.events", "list (or watch) events"),
}
# Commands left out of `kyb --help` (internal: what `kyb server` runs as its child).
HIDDEN_COMMANDS: dict[str, str] = {
    "components": "kybernetes.cmd.components",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kyb", description="Kybernetes: a Kubernetes-compatible orchestrator")
    parser.add_argument("--version", action="version", version=f"kyb {__version__} (Kubernetes API {KUBE_GIT_VERSION})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    entries: list[tuple[str, str, str | None]] = [(name, module, text) for name, (module, text) in COMMANDS.items()]
    entries += [(name, module, None) for name, module in HIDDEN_COMMANDS.items()]
    for name, module_name, help_text in entries:
        # A sub-parser added without `help` is not listed in the help (with help=SUPPRESS it would be).
        p = sub.add_parser(name, help=help_text) if help_text is not None else sub.add_parser(name)
        if only is None or name == only:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS or chosen in HIDDEN_COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
