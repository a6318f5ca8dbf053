"""`kyb scheduler` flags, as kube-scheduler spells them."""

from __future__ import annotations

import argparse

import pytest

from kybernetes.cmd import scheduler


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    scheduler.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_and_leader_elect_forms() -> None:
    args = _parse()
    assert args.leader_elect is True and args.kubeconfig is None and args.scheduler_name == "default-scheduler"
    assert _parse("--leader-elect=false").leader_elect is False
    assert _parse("--leader-elect").leader_elect is True
    assert _parse("--kubeconfig", "/tmp/k", "--leader-elect=true").kubeconfig == "/tmp/k"
    with pytest.raises(SystemExit):
        _parse("--leader-elect=maybe")
