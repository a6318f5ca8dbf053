"""The data dir of `kyb up`: the version guard, recorded settings, one `kyb up` per dir, stray children, and
the start-up checks that must fail before anything runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kybernetes import __version__
from kybernetes.cmd.up import check_port, split_hostport
from kybernetes.cmd.up_state import (
    DATA_FORMAT,
    UpError,
    UpSettings,
    acquire_lock,
    check_version,
    kyb_up_pid,
    stop_processes,
    stray_processes,
    validate_prefix,
    write_version,
)


def test_version_file_round_trip_and_older_or_missing_accepted(tmp_path: Path) -> None:
    check_version(data_dir=tmp_path)  # nothing written yet: a fresh dir
    write_version(data_dir=tmp_path)
    assert json.loads((tmp_path / "version.json").read_text()) == {"kyb": __version__, "format": DATA_FORMAT}
    check_version(data_dir=tmp_path)
    (tmp_path / "version.json").write_text(json.dumps({"kyb": "0.0.1", "format": DATA_FORMAT}))
    check_version(data_dir=tmp_path)


@pytest.mark.parametrize("doc", [{"kyb": "99.0.0", "format": DATA_FORMAT}, {"kyb": __version__, "format": DATA_FORMAT + 1}])
def test_a_newer_data_dir_is_refused_with_what_to_do(tmp_path: Path, doc: dict[str, object]) -> None:
    (tmp_path / "version.json").write_text(json.dumps(doc))
    with pytest.raises(UpError, match=r"newer than this kyb .*upgrade kyb, or use another --data-dir"):
        check_version(data_dir=tmp_path)


def test_an_unreadable_version_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "version.json").write_text("{not json")
    with pytest.raises(UpError, match="unreadable"):
        check_version(data_dir=tmp_path)


def test_settings_round_trip_and_names_from_the_prefix(tmp_path: Path) -> None:
    assert UpSettings.load(data_dir=tmp_path) is None
    UpSettings(name_prefix="kt12", node_name="n1", kubeconfig="/k", boot_id="b").save(data_dir=tmp_path)
    loaded = UpSettings.load(data_dir=tmp_path)
    assert loaded == UpSettings(name_prefix="kt12", node_name="n1", kubeconfig="/k", boot_id="b")
    traces = loaded.traces(data_dir=tmp_path)
    assert (traces.data_dir, traces.netns_prefix, traces.bridge, traces.cgroup_root) == (
        tmp_path / "agent", "kt12", "kt120", "/kt12")
    assert traces.nft_tables == ("kt12-node", "kt12-proxy")


@pytest.mark.parametrize("bad", ["", "Kyb", "1kyb", "toolongname", "k-b"])
def test_prefix_validation(bad: str) -> None:
    with pytest.raises(UpError, match="--name-prefix"):
        validate_prefix(bad)
    assert validate_prefix("kyb") == "kyb"


def test_one_kyb_up_per_data_dir(tmp_path: Path) -> None:
    fd = acquire_lock(data_dir=tmp_path)
    try:
        assert (tmp_path / "kyb-up.pid").read_text().strip() == str(os.getpid())
        with pytest.raises(UpError, match=f"another kyb up .*on {tmp_path}"):
            acquire_lock(data_dir=tmp_path)
    finally:
        os.close(fd)
    os.close(acquire_lock(data_dir=tmp_path))  # released with its holder


def test_kyb_up_pid_only_names_a_live_kyb_up(tmp_path: Path) -> None:
    assert kyb_up_pid(data_dir=tmp_path) is None
    (tmp_path / "kyb-up.pid").write_text(f"{os.getpid()}\n")
    assert kyb_up_pid(data_dir=tmp_path) is None  # ourselves (pytest): not a kyb up


def test_stray_children_are_found_by_their_arguments_and_stopped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Command lines shaped like the children's: `python -m kybernetes.cli.main agent --data-dir DIR/agent`.
    sleeper = "import time; time.sleep(60)"
    ours = subprocess.Popen([sys.executable, "-c", sleeper, "kybernetes.cli.main", "agent", "--data-dir",
                             f"{data}/agent"])
    other = subprocess.Popen([sys.executable, "-c", sleeper, "kybernetes.cli.main", "agent", "--data-dir",
                              f"{data}2/agent"])
    up = subprocess.Popen([sys.executable, "-c", sleeper, "kybernetes.cli.main", "up", "--kubeconfig",
                           f"{data}/kubeconfig"])
    try:
        assert stray_processes(data_dir=data) == [ours.pid]
        stop_processes([ours.pid], grace=5)
        assert ours.wait(timeout=5) != 0
        assert stray_processes(data_dir=data) == []
    finally:
        for p in (ours, other, up):
            p.kill()
            p.wait()


def test_a_port_in_use_is_reported_with_what_to_do() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UpError, match=f"^port {port} is in use: .*choose another with --listen"):
            check_port("127.0.0.1", port)
        with pytest.raises(UpError, match=f"port {port} is in use"):
            check_port("0.0.0.0", port)
    check_port("127.0.0.1", port)  # free again
    check_port("127.0.0.1", 0)  # 0: any port, nothing to check


def test_split_hostport() -> None:
    assert split_hostport("0.0.0.0:6443", flag="--listen") == ("0.0.0.0", 6443)
    assert split_hostport("[::1]:6443", flag="--listen") == ("::1", 6443)
    with pytest.raises(UpError, match="--listen must be HOST:PORT"):
        split_hostport("6443", flag="--listen")
