"""Atomic volume writes and mounts."""

from __future__ import annotations

import os
from pathlib import Path

from kybernetes.api.models.core_v1 import Container, VolumeMount
from kybernetes.kubelet.agent.volumes import SA_MOUNT_PATH, SA_VOLUME, atomic_write_dir, container_mounts


def test_atomic_write_swaps_whole_set(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    atomic_write_dir(target, {"a": b"1", "dir/b": b"2"})
    assert (target / "a").read_text() == "1" and (target / "dir" / "b").read_text() == "2"
    first = os.readlink(target / "..data")
    atomic_write_dir(target, {"a": b"one", "c": b"3"})
    assert (target / "a").read_text() == "one" and (target / "c").read_text() == "3"
    assert not (target / "dir").exists() and not (target / first).exists()
    assert (target / "a").is_symlink() and os.readlink(target / "a") == "..data/a"


def test_mounts_with_subpath_and_token(tmp_path: Path) -> None:
    c = Container(name="c", volume_mounts=[VolumeMount(name="v", mount_path="/data", sub_path="x", read_only=True)])
    mounts = container_mounts(container=c, volumes={"v": tmp_path, SA_VOLUME: tmp_path / "sa"})
    assert mounts[0].host_path == str(tmp_path / "x") and mounts[0].readonly and (tmp_path / "x").is_dir()
    assert mounts[1].container_path == SA_MOUNT_PATH and mounts[1].readonly
