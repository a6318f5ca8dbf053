"""`kyb components`: the command line `kyb server` builds for its one child parses back, segment by segment,
with each component's own parser; bad segments are refused; the command is hidden from `kyb --help`."""

from __future__ import annotations

import argparse
import sys

import pytest

from kybernetes.cli.main import build_parser
from kybernetes.cmd import server
from kybernetes.cmd.components import parse_spec
from kybernetes.cmd.supervisor import components_argv


def _server_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    return parser.parse_args(["--data-dir", "/tmp/x", *argv])


def test_the_servers_command_line_parses_back_per_component() -> None:
    args = _server_args("--controller-option", "node-monitor-grace-period=15s", "--dns-upstream", "192.0.2.1")
    running = {c: ["--kubeconfig", f"/d/{c}.kubeconfig", *server.component_args(c, args=args, advertise="10.0.0.1")]
               for c in ("scheduler", "controller-manager", "dns")}
    argv = components_argv(running)
    assert argv[:4] == [sys.executable, "-m", "kybernetes.cli.main", "components"]

    specs = parse_spec(argv[4:])
    assert list(specs) == ["controller-manager", "scheduler", "dns"]  # the controller-manager lends its client
    assert {name: ns.kubeconfig for name, ns in specs.items()} == {
        "controller-manager": "/d/controller-manager.kubeconfig", "scheduler": "/d/scheduler.kubeconfig",
        "dns": "/d/dns.kubeconfig"}
    assert specs["controller-manager"].option == ["node-monitor-grace-period=15s"]
    assert specs["controller-manager"].leader_elect == "true" and specs["scheduler"].leader_elect is True
    assert specs["dns"].listen == "10.0.0.1:53" and specs["dns"].upstream == "192.0.2.1"
    assert specs["dns"].service_ip == "10.96.0.10"


def test_a_subset_and_the_standalone_flags() -> None:
    specs = parse_spec(["scheduler", "--leader-elect=false", "--scheduler-name", "mine"])
    assert list(specs) == ["scheduler"]
    assert specs["scheduler"].leader_elect is False and specs["scheduler"].scheduler_name == "mine"
    assert list(parse_spec(["--", "dns", "--listen", "127.0.0.1:0", "--"])) == ["dns"]


@pytest.mark.parametrize("argv", [[], ["--"], ["bogus"], ["dns", "--", "dns"], ["scheduler", "--no-such-flag"]])
def test_bad_command_lines_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_spec(argv)


def test_hidden_from_help_but_dispatched(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    parser.print_help()
    listed = capsys.readouterr().out
    commands = [line.split()[0] for line in listed.splitlines() if line.startswith("    ") and line.split()]
    assert "server" in commands and "components" not in commands and "SUPPRESS" not in listed
    args = build_parser("components").parse_args(["components", "scheduler", "--kubeconfig", "k"])
    assert args.spec == ["scheduler", "--kubeconfig", "k"] and callable(args.run)


async def test_dns_port_taken_is_retried_in_place(monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """In `kyb components` a taken DNS port is retried (not fatal to the scheduler and controllers)."""
    import asyncio
    import socket

    from kybernetes.client import Client, ClientConfig, SharedInformerFactory
    from kybernetes.cmd import dns as dns_cmd
    from kybernetes.dns import DNSOptions

    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    real_sleep = asyncio.sleep
    delays: list[float] = []

    async def backoff(delay: float, *args: object) -> None:
        if delay > 0:  # the retry's back-off: free the port instead of waiting
            delays.append(delay)
            blocker.close()
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", backoff)
    options = DNSOptions(listen_host="127.0.0.1", listen_port=port, publish=False)
    async with Client(ClientConfig(server="https://127.0.0.1:1", component="t")) as client:
        task = asyncio.create_task(dns_cmd.run_component(
            client=client, informers=SharedInformerFactory(client=client), options=options, retry_bind=30.0))
        try:
            for _ in range(10_000):  # until the DNS, after its retry, holds the port
                if not delays:
                    assert not task.done(), task
                    await real_sleep(0)
                    continue
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    break
                finally:
                    probe.close()
                assert not task.done(), task
                await real_sleep(0)
            else:
                raise AssertionError("the DNS never bound its port")
            assert delays == [0.5] and "retrying in 0.5s" in caplog.text
        finally:
            task.cancel()
            blocker.close()
