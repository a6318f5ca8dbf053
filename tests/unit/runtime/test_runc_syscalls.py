"""`is_mountpoint`: statx's mount-root attribute agrees with /proc/self/mountinfo, bind-mounted files included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kybernetes.kubelet.runtime.runc import syscalls


def _in_mountinfo(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_bind_mounted_file_and_directory_are_mount_points(tmp_path: Path) -> None:
    source, target, directory = tmp_path / "source", tmp_path / "target", tmp_path / "dir"
    source.write_text("x")
    target.write_text("")
    directory.mkdir()
    assert not syscalls.is_mountpoint(str(target)) and not syscalls.is_mountpoint(str(directory))
    syscalls.mount(source=str(source), target=str(target), fstype=None, flags=syscalls.MS_BIND)
    syscalls.mount(source=str(tmp_path / "dir"), target=str(directory), fstype=None, flags=syscalls.MS_BIND)
    try:
        assert syscalls.is_mountpoint(str(target)) and _in_mountinfo(target)
        assert syscalls.is_mountpoint(str(directory)) and _in_mountinfo(directory)
        assert not syscalls.is_mountpoint(str(source))
    finally:
        syscalls.umount(target=str(target))
        syscalls.umount(target=str(directory))
    assert not syscalls.is_mountpoint(str(target)) and not syscalls.is_mountpoint(str(directory))
    assert not syscalls.is_mountpoint(str(tmp_path / "missing"))
    assert syscalls.is_mountpoint("/proc")
