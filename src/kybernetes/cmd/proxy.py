"""`kyb proxy`: the Service proxy of one node, as its own process (see `kybernetes.proxy`).

`kyb proxy [--kubeconfig FILE] --node-name N [--table-prefix kyb] [--cluster-cidr 10.244.0.0/16]
[--nodeport-addresses CIDR[,CIDR...]] [--masquerade-outgoing] [--sync-period 30s] [--min-sync-interval 1s]
[--netns NAME] [--cleanup]`: watches Services, EndpointSlices and its Node and keeps the nftables table
`ip <prefix>-proxy` in step with them. SIGTERM/SIGINT stop it and leave the table in place (connections
keep flowing across a restart); with `--cleanup` the table is deleted on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import re
import socket

from kybernetes.client import Client, SharedInformerFactory, load_config
from kybernetes.cmd.runner import run_until_signalled, setup_logging
from kybernetes.proxy import Nft, Proxier, ProxyOptions, RulesetConfig

log = logging.getLogger("kybernetes.proxy")

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def duration(text: str) -> float:
    """Seconds from a Go-style duration (`30s`, `1m30s`, `500ms`) or a plain number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 30s, 1m, 500ms)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def cidr_list(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if network.version == 4:  # the table is IPv4 for now
            out.append(str(network))
    return tuple(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--node-name", default=socket.gethostname(), help="this node's name (default: hostname)")
    parser.add_argument("--table-prefix", default="kyb", help="the nftables table is ip <prefix>-proxy")
    parser.add_argument("--cluster-cidr", default="10.244.0.0/16",
                        help="the pods' range: ClusterIP traffic from outside it is masqueraded ('' for none)")
    parser.add_argument("--nodeport-addresses", type=cidr_list, default=(), metavar="CIDR[,CIDR...]",
                        help="serve NodePorts on local addresses in these ranges (default: the Node's addresses)")
    parser.add_argument("--masquerade-outgoing", action="store_true",
                        help="also masquerade pods' traffic leaving the cluster CIDR")
    parser.add_argument("--sync-period", type=duration, default=30.0, help="full resync period (default 30s)")
    parser.add_argument("--min-sync-interval", type=duration, default=1.0,
                        help="least time between two syncs; changes meanwhile are coalesced (default 1s)")
    parser.add_argument("--netns", default=None,
                        help="program the table inside this named network namespace (tests, hosts as netns)")
    parser.add_argument("--cleanup", action="store_true", help="delete the table when stopping")


async def serve(args: argparse.Namespace) -> None:
    config = load_config(kubeconfig=args.kubeconfig, component="kube-proxy")
    options = ProxyOptions(
        node_name=args.node_name,
        ruleset=RulesetConfig(table=f"{args.table_prefix}-proxy", cluster_cidr=args.cluster_cidr,
                              nodeport_cidrs=args.nodeport_addresses,
                              masquerade_outgoing=args.masquerade_outgoing),
        sync_period=args.sync_period,
        min_sync_interval=args.min_sync_interval,
        cleanup_on_exit=args.cleanup,
    )
    async with Client(config) as client:
        factory = SharedInformerFactory(client=client)
        proxier = Proxier(informers=factory, applier=Nft(netns=args.netns), options=options)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(factory.run())
            log.info("kyb proxy starting for node %s", args.node_name)
            await proxier.run()


def run(args: argparse.Namespace) -> int:
    setup_logging()
    run_until_signalled(serve(args))
    log.info("kyb proxy stopped")
    return 0
