"""`kyb dns`: the cluster DNS as its own process, a client of any Kubernetes-compatible API server.

`kyb dns [--kubeconfig FILE] [--listen 0.0.0.0:53] [--domain cluster.local] [--upstream /etc/resolv.conf]
[--service-ip 10.96.0.10] [--advertise-address IP]`: serves the cluster zone on UDP and TCP from its
informers, forwards other names to the upstream resolvers (minus any that would be itself), and publishes
itself as the `kube-system/kube-dns` Service at `--service-ip` with an endpoint at `--advertise-address` and
the listen port (default: the listen address, or this host's address when listening on all of them).
Stops cleanly on SIGTERM/SIGINT, withdrawing its endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import socket

from kybernetes.client import Client, SharedInformerFactory, load_config
from kybernetes.cmd.runner import run_until_signalled, setup_logging
from kybernetes.dns import ClusterDNS, DNSOptions, parse_listen, upstreams_from, without_self
from kybernetes.dns.forward import SYSTEMD_RESOLV_CONF

log = logging.getLogger("kybernetes.dns")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--listen", default="0.0.0.0:53", help="address:port to serve on, UDP and TCP (default "
                        "0.0.0.0:53; port 0 picks a free one)")
    parser.add_argument("--domain", default="cluster.local", help="the cluster domain (default cluster.local)")
    parser.add_argument("--upstream", default="/etc/resolv.conf",
                        help="resolvers for other names: addresses (ip[:port]) and/or resolv.conf files, "
                             "comma-separated (default /etc/resolv.conf)")
    parser.add_argument("--service-ip", default="10.96.0.10", help="ClusterIP of kube-system/kube-dns")
    parser.add_argument("--advertise-address", default=None,
                        help="address published as the kube-dns endpoint (default: the listen address, or "
                             "this host's address)")
    parser.add_argument("--ttl", type=int, default=5, help="TTL of the cluster's records, seconds (default 5)")
    parser.add_argument("--no-publish", dest="publish", action="store_false",
                        help="do not create or update the kube-dns Service and endpoints")


def _host_address() -> str:
    """This host's address as others reach it: the first non-loopback address its name resolves to."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        infos = []
    for info in infos:
        address = str(info[4][0])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return "127.0.0.1"


def options_from(args: argparse.Namespace) -> DNSOptions:
    host, port = parse_listen(args.listen)
    wildcard = host in ("0.0.0.0", "::", "")
    upstreams = without_self(upstreams_from(args.upstream), listen_host=host, listen_port=port,
                             service_ip=args.service_ip)
    if not upstreams:
        # A host whose resolv.conf names only a local stub (systemd-resolved): its real upstreams.
        upstreams = without_self(upstreams_from(SYSTEMD_RESOLV_CONF), listen_host=host, listen_port=port,
                                 service_ip=args.service_ip)
    if not upstreams:
        log.warning("no upstream resolvers (from %s): names outside %s will get SERVFAIL", args.upstream,
                    args.domain)
    advertise = args.advertise_address or (_host_address() if wildcard else host)
    return DNSOptions(listen_host=host, listen_port=port, domain=args.domain.strip("."),
                      upstreams=tuple(upstreams), service_ip=args.service_ip, advertise_address=advertise,
                      ttl=args.ttl, publish=args.publish)


def announce(options: DNSOptions) -> None:
    log.info("kyb dns: zone %s, upstreams %s, kube-dns %s → %s", options.domain,
             ", ".join(f"{h}:{p}" for h, p in options.upstreams) or "none", options.service_ip,
             options.advertise_address)


async def serve(args: argparse.Namespace, options: DNSOptions) -> None:
    config = load_config(kubeconfig=args.kubeconfig, component="kyb-dns")
    async with Client(config) as client:
        factory = SharedInformerFactory(client=client)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(factory.run())
            await run_component(client=client, informers=factory, options=options)


async def run_component(*, client: Client, informers: SharedInformerFactory, options: DNSOptions,
                        retry_bind: float = 0.0) -> None:
    """Serve and publish the cluster DNS, writing with `client`, over `informers` (which the caller runs:
    `kyb components` shares them with the scheduler and the controllers). With `retry_bind` (seconds, the
    longest back-off) a port that cannot be bound is retried here instead of ending the process, so that a
    taken port 53 does not restart the scheduler and the controllers along with the DNS."""
    dns = ClusterDNS(client=client, informers=informers, options=options)
    delay = 0.5
    while True:
        failed: BaseException | None = None
        try:
            await dns.run()
            return
        except* OSError as group:
            if not retry_bind or dns.server.bound.is_set():
                raise
            failed = group.exceptions[0]
        log.error("cannot serve on %s:%d: %s; retrying in %.1fs", options.listen_host, options.listen_port,
                  failed, delay)
        dns.server.port = options.listen_port  # port 0: pick again
        await asyncio.sleep(delay)
        delay = min(delay * 2, retry_bind)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    options = options_from(args)
    announce(options)
    run_until_signalled(serve(args, options))
    log.info("kyb dns stopped")
    return 0
