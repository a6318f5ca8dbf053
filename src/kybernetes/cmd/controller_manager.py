"""`kyb controller-manager`: the controllers, as a client of any Kubernetes-compatible API server."""

from __future__ import annotations

import argparse
import logging
import socket
import uuid

from kybernetes.client import Client, SharedInformerFactory, load_config
from kybernetes.cmd.runner import run_until_signalled, setup_logging
from kybernetes.controllers.manager import run_controller_manager
from kybernetes.controllers.registry import CONTROLLERS

log = logging.getLogger("kybernetes.controller-manager")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--controllers", default="", help="comma-separated controllers to run (default: all: "
                        + ", ".join(sorted(CONTROLLERS)) + ")")
    parser.add_argument("--leader-elect", default="true", choices=("true", "false"))
    parser.add_argument("--workers", type=int, default=5, help="concurrent syncs per controller")
    parser.add_argument("--cluster-cidr", default="10.244.0.0/16")
    parser.add_argument("--node-monitor-grace-period", default="40", help="seconds")
    parser.add_argument("--terminated-pod-gc-threshold", default="12500")
    parser.add_argument("--cluster-signing-cert-file", default="",
                        help="CA certificate (PEM) the csrsigning controller issues certificates with")
    parser.add_argument("--cluster-signing-key-file", default="", help="that CA's private key (PEM)")
    parser.add_argument("--cluster-signing-duration", default="8760h",
                        help="longest validity of a certificate the csrsigning controller issues")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="any controller option by name (e.g. node-monitor-period=5s); repeatable")


def options_from(args: argparse.Namespace) -> dict[str, str]:
    """The controllers' options by name: the named flags, then every `--option KEY=VALUE` over them."""
    options = {
        "cluster-cidr": args.cluster_cidr,
        "node-monitor-grace-period": args.node_monitor_grace_period,
        "terminated-pod-gc-threshold": args.terminated_pod_gc_threshold,
        "cluster-signing-cert-file": args.cluster_signing_cert_file,
        "cluster-signing-key-file": args.cluster_signing_key_file,
        "cluster-signing-duration": args.cluster_signing_duration,
    }
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --option wants KEY=VALUE, got {item!r}")
        options[key] = value
    return options


async def serve(args: argparse.Namespace) -> None:
    config = load_config(kubeconfig=args.kubeconfig, component="controller-manager")
    async with Client(config) as client:
        await run_component(args=args, client=client, informers=None)


async def run_component(*, args: argparse.Namespace, client: Client,
                        informers: SharedInformerFactory | None) -> None:
    """The controllers, writing with `client`, over `informers` when given (the caller runs them: `kyb
    components` shares them with the scheduler and the DNS) or over a factory of their own."""
    names = [n.strip() for n in args.controllers.split(",") if n.strip()] or None
    identity = f"{socket.gethostname()}_{uuid.uuid4()}"
    await run_controller_manager(client=client, identity=identity, names=names,
                                 leader_elect=args.leader_elect == "true", workers=args.workers,
                                 options=options_from(args), informers=informers)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    run_until_signalled(serve(args))
    return 0
