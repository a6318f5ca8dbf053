"""`kyb dns` flags → options: upstreams without ourselves, the advertised address."""

from __future__ import annotations

import argparse
from pathlib import Path

from kybernetes.cmd import dns as dns_cmd


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    dns_cmd.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_options_from_flags(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\nnameserver 192.0.2.1\nnameserver 10.96.0.10\n")
    options = dns_cmd.options_from(parse("--listen", "0.0.0.0:53", "--upstream", f"{conf},192.0.2.2:5353",
                                         "--domain", "example.local.", "--advertise-address", "192.0.2.10"))
    # 127.0.0.1:53 would be ourselves (we listen on every address), 10.96.0.10 is our own Service
    assert options.upstreams == (("192.0.2.1", 53), ("192.0.2.2", 5353))
    assert options.domain == "example.local" and options.advertise_address == "192.0.2.10"
    assert (options.listen_host, options.listen_port, options.service_ip) == ("0.0.0.0", 53, "10.96.0.10")


def test_advertise_defaults_to_a_specific_listen_address() -> None:
    options = dns_cmd.options_from(parse("--listen", "127.0.0.1:5300", "--upstream", "192.0.2.1", "--no-publish"))
    assert options.advertise_address == "127.0.0.1" and options.listen_port == 5300 and not options.publish
