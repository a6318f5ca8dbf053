"""`kyb components`: the scheduler, the controller-manager and the cluster DNS in one process.

    kyb components controller-manager --kubeconfig CM.kubeconfig --option node-monitor-grace-period=15s \\
        -- scheduler --kubeconfig S.kubeconfig -- dns --kubeconfig D.kubeconfig --listen 10.0.0.1:53

Each `--`-separated segment names a component and carries the flags of its own command (`kyb scheduler`,
`kyb controller-manager`, `kyb dns`), parsed by that command's parser, so a component behaves the same here
as standalone: same flags, same log lines and ready messages, its own client (kubeconfig, identity) for
its writes, its own Lease. What they share is ONE `SharedInformerFactory`, built on the controller-manager's
client (the first component's when there is none): every pod, node, service... is watched and cached once
instead of once per process, and one interpreter with its imports is paid once instead of three times.

`kyb server` runs this as its single child (`--disable` leaves components out of the argument list); the
standalone commands remain for running components on other machines. A component that fails ends the
process (the TaskGroup cancels the others) and the supervisor restarts it whole; the components register
handlers on the shared informers, so one of them cannot be restarted alone. A lost controller-manager
Lease does the same, as kube-controller-manager exits when it loses its lease. The one failure that is
retried in place is the DNS port that cannot be bound (taken), so that it does not take the scheduler and
the controllers down with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence

from kybernetes.client import Client, SharedInformerFactory, load_config
from kybernetes.cmd import controller_manager, dns, scheduler
from kybernetes.cmd.runner import run_until_signalled, setup_logging
from kybernetes.cmd.supervisor import SEPARATOR
from kybernetes.dns import DNSOptions

log = logging.getLogger("kybernetes.components")

# In this order: the first one present lends its client to the shared informers.
COMPONENTS = ("controller-manager", "scheduler", "dns")

_MODULES = {"controller-manager": controller_manager, "scheduler": scheduler, "dns": dns}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Run the scheduler, the controller-manager and the DNS in one process over shared "
                          "informers (what `kyb server` runs beside the API server).")
    parser.add_argument("spec", nargs=argparse.REMAINDER, metavar="COMPONENT [FLAGS] [-- COMPONENT [FLAGS]] ...",
                        help=f"one of {', '.join(COMPONENTS)} followed by the flags of its own command")


def component_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"kyb components {name}")
    _MODULES[name].add_arguments(parser)
    return parser


def parse_spec(argv: Sequence[str]) -> dict[str, argparse.Namespace]:
    """Component name → its parsed flags, in `COMPONENTS` order; SystemExit on a bad segment."""
    segments: list[list[str]] = [[]]
    for arg in argv:
        if arg == SEPARATOR:
            segments.append([])
        else:
            segments[-1].append(arg)
    parsed: dict[str, argparse.Namespace] = {}
    for segment in segments:
        if not segment:
            continue
        name, flags = segment[0], segment[1:]
        if name not in _MODULES:
            raise SystemExit(f"error: kyb components: unknown component {name!r} (known: {', '.join(COMPONENTS)})")
        if name in parsed:
            raise SystemExit(f"error: kyb components: {name} given twice")
        parsed[name] = component_parser(name).parse_args(flags)
    if not parsed:
        raise SystemExit(f"error: kyb components: no component given (known: {', '.join(COMPONENTS)})")
    return {name: parsed[name] for name in COMPONENTS if name in parsed}


def _client_name(name: str, args: argparse.Namespace) -> str:
    # The names the standalone commands give their clients (user agent).
    if name == "scheduler":
        return str(args.scheduler_name)
    return "kyb-dns" if name == "dns" else name


async def serve(specs: Mapping[str, argparse.Namespace], *, dns_options: DNSOptions | None) -> None:
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, Client] = {}
        for name, args in specs.items():
            config = load_config(kubeconfig=args.kubeconfig, component=_client_name(name, args))
            clients[name] = await stack.enter_async_context(Client(config))
        factory = SharedInformerFactory(client=next(iter(clients.values())))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(factory.run(), name="informers")
            # Each component builds its informers (and handlers) synchronously as its task starts.
            for name, args in specs.items():
                client = clients[name]
                if name == "scheduler":
                    coro = scheduler.run_component(args=args, client=client, informers=factory)
                elif name == "controller-manager":
                    coro = controller_manager.run_component(args=args, client=client, informers=factory)
                else:
                    assert dns_options is not None
                    coro = dns.run_component(client=client, informers=factory, options=dns_options,
                                             retry_bind=30.0)
                tg.create_task(coro, name=name)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    specs = parse_spec(args.spec)
    dns_options = dns.options_from(specs["dns"]) if "dns" in specs else None
    if dns_options is not None:
        dns.announce(dns_options)
    log.info("kyb components: %s in one process, sharing informers", ", ".join(specs))
    run_until_signalled(serve(specs, dns_options=dns_options))
    for name in specs:
        logging.getLogger(f"kybernetes.{name}").info("kyb %s stopped", name)
    return 0
