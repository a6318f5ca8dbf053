"""`kyb proxy` flags: durations, CIDR lists, and the parser wired into `kyb`."""

from __future__ import annotations

import argparse

import pytest

from kybernetes.cli.main import build_parser
from kybernetes.cmd.proxy import cidr_list, duration


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30.0), ("1s", 1.0), ("500ms", 0.5), ("1m30s", 90.0),
                                               ("2", 2.0), ("0.25", 0.25), ("1h", 3600.0)])
def test_duration(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "10x", "1s junk"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_cidr_list_keeps_ipv4_ranges() -> None:
    assert cidr_list("192.0.2.7/24, fd00::/64,10.0.0.0/8") == ("192.0.2.0/24", "10.0.0.0/8")
    with pytest.raises(argparse.ArgumentTypeError):
        cidr_list("not-a-cidr")


def test_kyb_proxy_arguments() -> None:
    args = build_parser("proxy").parse_args(
        ["proxy", "--node-name", "n1", "--sync-period", "10s", "--min-sync-interval", "200ms",
         "--nodeport-addresses", "192.0.2.0/24", "--netns", "ns1", "--cleanup"]
    )
    assert (args.node_name, args.sync_period, args.min_sync_interval) == ("n1", 10.0, 0.2)
    assert args.nodeport_addresses == ("192.0.2.0/24",) and args.netns == "ns1" and args.cleanup
    assert args.table_prefix == "kyb" and args.cluster_cidr == "10.244.0.0/16" and not args.masquerade_outgoing
