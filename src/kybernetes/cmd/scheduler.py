"""`kyb scheduler`: the scheduler as its own process, a client of any Kubernetes-compatible API server.

`kyb scheduler [--kubeconfig FILE] [--leader-elect=true|false]`: finds the cluster like kubectl does
(`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`, in-cluster), starts its informers, and schedules while it
holds the Lease `kube-system/kube-scheduler` (unless `--leader-elect=false`). Stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import uuid

from kybernetes.client import Client, LeaderElector, SharedInformerFactory, load_config
from kybernetes.cmd.runner import run_until_signalled, setup_logging
from kybernetes.scheduler import Scheduler, SchedulerConfig

log = logging.getLogger("kybernetes.scheduler")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-scheduler"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "t"):
        return True
    if lowered in ("false", "0", "no", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--leader-elect", type=_bool, default=True, nargs="?", const=True, metavar="BOOL",
                        help="hold the kube-system/kube-scheduler Lease before scheduling (default true)")
    parser.add_argument("--scheduler-name", default="default-scheduler", help="pods' spec.schedulerName to serve")
    parser.add_argument("--percentage-of-nodes-to-score", type=int, default=0,
                        help="0 (default) for Kubernetes' adaptive percentage")
    parser.add_argument("--bind-concurrency", type=int, default=64, help="bindings in flight at once")


async def serve(args: argparse.Namespace) -> None:
    config = load_config(kubeconfig=args.kubeconfig, component=args.scheduler_name)
    async with Client(config) as client:
        factory = SharedInformerFactory(client=client)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(factory.run())
            await run_component(args=args, client=client, informers=factory)


async def run_component(*, args: argparse.Namespace, client: Client, informers: SharedInformerFactory) -> None:
    """Schedule with `client` (binding, events, the Lease) over `informers`, which the caller runs (shared
    with other components in `kyb components`), until cancelled."""
    scheduler = Scheduler(
        client=client, informers=informers,
        config=SchedulerConfig(scheduler_name=args.scheduler_name,
                               percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
                               bind_concurrency=args.bind_concurrency),
    )
    if not args.leader_elect:
        log.info("kyb scheduler running (leader election off)")
        await scheduler.run()
        return
    identity = f"{socket.gethostname()}_{uuid.uuid4()}"
    elector = LeaderElector(client=client, namespace=LEASE_NAMESPACE, name=LEASE_NAME, identity=identity)
    while True:  # leadership lost: stop scheduling, campaign again
        await elector.run(on_started_leading=scheduler.run)
        log.warning("leadership of %s/%s lost; campaigning again", LEASE_NAMESPACE, LEASE_NAME)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    run_until_signalled(serve(args))
    log.info("kyb scheduler stopped")
    return 0
