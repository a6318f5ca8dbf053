"""`kyb simulate`: simulated nodes (kwok-style) for any Kubernetes-compatible API server.

One process plays the kubelet of `--nodes N` nodes named `<prefix>-<i>` (see `kybernetes.kubelet.simulator`).
The cluster comes from `--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`, as kubectl finds it. It
runs until SIGTERM or SIGINT; with `--delete-nodes-on-exit` it deletes its nodes on the way out. Progress
(nodes registered, pods running, writes) is logged every `--stats-interval` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import string
import sys
import time

from kybernetes.client import Client, KubeConfigError, load_config
from kybernetes.cmd.runner import run_until_signalled, setup_logging
from kybernetes.kubelet.simulator import Simulator, SimulatorOptions, node_specs, parse_labels, parse_taints

log = logging.getLogger("kybernetes.simulate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, required=True, help="how many nodes to simulate")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", default=None, help="kubeconfig context to use")
    parser.add_argument("--name-prefix", default="kyb-sim", help="nodes are named PREFIX-0, PREFIX-1, ...")
    parser.add_argument("--start-index", type=int, default=0, help="number of the first node")
    parser.add_argument("--cpu", default="32", help="cpu capacity of each node")
    parser.add_argument("--memory", default="256Gi", help="memory capacity of each node")
    parser.add_argument("--pods", type=int, default=110, help="pod capacity of each node")
    parser.add_argument("--ephemeral-storage", default="100Gi", help="ephemeral-storage capacity of each node")
    parser.add_argument("--zones", default="", help="zone names (a,b,c) or a count; dealt round-robin")
    parser.add_argument("--labels", default="", help="extra node labels: k=v,k2=v2")
    parser.add_argument("--taints", default="", help="node taints: key[=value]:Effect,...")
    parser.add_argument("--lease-interval", type=float, default=10.0, help="seconds between lease renewals")
    parser.add_argument("--status-interval", type=float, default=60.0, help="seconds between node status reports")
    parser.add_argument("--termination-seconds", type=float, default=1.0,
                        help="longest time a graceful pod deletion takes to be confirmed")
    parser.add_argument("--crash-backoff", type=float, default=10.0, help="first crash-loop back-off, seconds")
    parser.add_argument("--concurrency", type=int, default=32, help="API writes in flight at most")
    parser.add_argument("--qps", type=float, default=None, help="client-side request rate limit (default: none)")
    parser.add_argument("--delete-nodes-on-exit", action="store_true", help="delete the simulated nodes on exit")
    parser.add_argument("--stats-interval", type=float, default=60.0, help="seconds between progress lines (0: off)")


def zones_of(text: str) -> list[str]:
    """`3` → zone-a, zone-b, zone-c; `x,y` → x, y."""
    text = text.strip()
    if not text:
        return []
    if text.isdigit():
        count = int(text)
        letters = string.ascii_lowercase
        return [f"zone-{letters[i]}" if count <= len(letters) else f"zone-{i}" for i in range(count)]
    return [z.strip() for z in text.split(",") if z.strip()]


def build_simulator(args: argparse.Namespace, client: Client) -> Simulator:
    specs = node_specs(
        count=args.nodes, prefix=args.name_prefix, start=args.start_index, cpu=args.cpu, memory=args.memory,
        pods=args.pods, ephemeral_storage=args.ephemeral_storage, zones=zones_of(args.zones),
        labels=parse_labels(args.labels), taints=parse_taints(args.taints),
    )
    options = SimulatorOptions(
        lease_interval=args.lease_interval, status_interval=args.status_interval,
        termination_seconds=args.termination_seconds, crash_backoff=args.crash_backoff,
        concurrency=args.concurrency, delete_nodes_on_exit=args.delete_nodes_on_exit,
    )
    return Simulator(client=client, nodes=specs, options=options)


async def simulate(args: argparse.Namespace) -> None:
    config = load_config(kubeconfig=args.kubeconfig, context=args.context, component="simulator")
    # Room for every write in flight plus the two watches.
    config = dataclasses.replace(config, max_connections=args.concurrency + 8)
    if args.qps:
        config = dataclasses.replace(config, qps=args.qps, burst=max(1, int(args.qps * 2)))
    async with Client(config) as client:
        sim = build_simulator(args, client)
        started = time.monotonic()

        async def report() -> None:
            await sim.wait_registered()
            log.info("%d simulated nodes registered in %.1fs", args.nodes, time.monotonic() - started)
            while args.stats_interval > 0:
                await asyncio.sleep(args.stats_interval)
                s = sim.statistics()
                log.info("nodes %d live / %d; pods %d (running %d, succeeded %d, failed %d); writes: %d pod "
                         "status, %d leases, %d node status, %d deletions, %d errors",
                         s.live_nodes, s.nodes, s.pods, s.running, s.succeeded, s.failed, s.pod_status_writes,
                         s.lease_renewals, s.node_status_updates, s.pod_deletions, s.write_errors)

        async with asyncio.TaskGroup() as tg:
            tg.create_task(report())
            await sim.run()


def run(args: argparse.Namespace) -> int:
    setup_logging()
    if args.nodes < 0:
        print("error: --nodes must be >= 0", file=sys.stderr)
        return 2
    try:
        parse_labels(args.labels)
        parse_taints(args.taints)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        run_until_signalled(simulate(args))
    except KubeConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    log.info("kyb simulate stopped")
    return 0


