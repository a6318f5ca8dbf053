"""`kyb server` passes `--dns-upstream` to the cluster DNS and `--controller-option` to the controller-manager."""

from __future__ import annotations

import argparse

from kybernetes.cmd.server import add_arguments, component_args


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--data-dir", "/tmp/x", *argv])


def test_dns_upstream_and_controller_options_pass_through() -> None:
    args = parse("--dns-upstream", "192.0.2.1:5353", "--controller-option", "node-monitor-grace-period=15s",
                 "--controller-option", "node-monitor-period=1s")
    dns = component_args("dns", args=args, advertise="10.0.0.1")
    assert dns[dns.index("--upstream") + 1] == "192.0.2.1:5353"
    assert dns[dns.index("--service-ip") + 1] == "10.96.0.10"
    assert component_args("controller-manager", args=args, advertise="10.0.0.1") == [
        "--option=node-monitor-grace-period=15s", "--option=node-monitor-period=1s"]
    assert component_args("scheduler", args=args, advertise="10.0.0.1") == []


def test_without_them_the_components_keep_their_defaults() -> None:
    args = parse()
    assert "--upstream" not in component_args("dns", args=args, advertise="10.0.0.1")
    assert component_args("controller-manager", args=args, advertise="10.0.0.1") == []
