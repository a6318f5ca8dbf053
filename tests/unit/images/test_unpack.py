"""Layer unpacking: overlay whiteouts, metadata, links, and refusal of paths leaving the layer."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from imagebuild import LayerBuilder
from kybernetes.kubelet.images.unpack import OPAQUE_XATTR, LayerError, clean_parts, unpack_layer

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and ownership need root")


def unpack(tmp_path: Path, layer: LayerBuilder, *, compress: bool = True, check_diff_id: bool = True) -> Path:
    built = layer.build(tmp_path / "blobs", compress=compress)
    dest = tmp_path / "out"
    dest.mkdir()
    unpack_layer(blob=built.path, dest=dest, diff_id=built.diff_id if check_diff_id else None)
    return dest


def info(name: str, kind: bytes = tarfile.REGTYPE, *, linkname: str = "", size: int = 0) -> tarfile.TarInfo:
    i = tarfile.TarInfo(name)
    i.type, i.linkname, i.size, i.mode = kind, linkname, size, 0o644
    return i


@needs_root
def test_whiteouts_become_overlay_devices_and_opaque_xattrs(tmp_path: Path) -> None:
    layer = (LayerBuilder().file("etc/keep", b"k").whiteout("etc/gone").whiteout("toplevel")
             .opaque("var/cache").file("var/cache/new", b"n"))
    out = unpack(tmp_path, layer)
    for path in (out / "etc/gone", out / "toplevel"):
        st = os.lstat(path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert not (out / "etc/.wh.gone").exists()
    assert os.getxattr(out / "var/cache", OPAQUE_XATTR) == b"y"
    assert not (out / "var/cache/.wh..wh..opq").exists()
    assert (out / "var/cache/new").read_bytes() == b"n"
    assert (out / "etc/keep").read_bytes() == b"k"


@needs_root
def test_metadata_links_and_special_files(tmp_path: Path) -> None:
    fifo = info("run/fifo", tarfile.FIFOTYPE)
    null = info("dev/null", tarfile.CHRTYPE)
    null.devmajor, null.devminor, null.mode = 1, 3, 0o666
    layer = (LayerBuilder()
             .dir("home/user", mode=0o750, uid=1000, gid=1000)
             .file("home/user/f", b"data", mode=0o600, uid=1000, gid=100)
             .file("bin/su", b"#!", mode=0o4755)
             .file("bin/ping", b"elf", mode=0o755, xattrs={"user.kyb": b"\x01\x02v"})
             .symlink("bin/sh", "/bin/busybox").symlink("lib", "usr/lib")
             .file("bin/busybox", b"bb", mode=0o755).hardlink("bin/ls", "bin/busybox")
             .dir("run").dir("dev").raw(fifo).raw(null))
    out = unpack(tmp_path, layer, compress=False)
    st = os.lstat(out / "home/user")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 1000, 1000)
    st = os.lstat(out / "home/user/f")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 1000, 100)
    assert st.st_mtime == 1_700_000_000
    assert stat.S_IMODE(os.lstat(out / "bin/su").st_mode) == 0o4755  # setuid survives chown
    assert os.getxattr(out / "bin/ping", "user.kyb") == b"\x01\x02v"
    assert os.readlink(out / "bin/sh") == "/bin/busybox"  # absolute targets are kept for the container
    assert os.readlink(out / "lib") == "usr/lib"
    assert os.lstat(out / "bin/ls").st_ino == os.lstat(out / "bin/busybox").st_ino
    assert stat.S_ISFIFO(os.lstat(out / "run/fifo").st_mode)
    st = os.lstat(out / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def test_later_entries_replace_earlier_ones(tmp_path: Path) -> None:
    layer = LayerBuilder().raw(info("a", size=1), b"1").raw(info("a", size=2), b"22")
    layer.raw(info("d/x", size=1), b"x").raw(info("d", tarfile.SYMTYPE, linkname="elsewhere"))
    out = unpack(tmp_path, layer)
    assert (out / "a").read_bytes() == b"22"
    assert os.readlink(out / "d") == "elsewhere"


@pytest.mark.parametrize("hostile", [
    info("../escape", size=1),
    info("a/../../escape", size=1),
    info("/../escape", size=1),
    info("link", tarfile.LNKTYPE, linkname="../../etc/passwd"),
    info("link", tarfile.LNKTYPE, linkname="/etc/passwd"),  # not in the layer: refused, never the host's
])
def test_path_escapes_are_refused(tmp_path: Path, hostile: tarfile.TarInfo) -> None:
    layer = LayerBuilder().raw(hostile, b"x" if hostile.size else None)
    with pytest.raises(LayerError):
        unpack(tmp_path, layer)
    assert not (tmp_path / "escape").exists()


def test_symlinked_parents_resolve_inside_the_layer(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    layer = (LayerBuilder().raw(info("evil", tarfile.SYMTYPE, linkname=str(victim)))
             .raw(info("evil/pwned", size=1), b"x")
             .raw(info("rel", tarfile.SYMTYPE, linkname="../../../../victim"))
             .raw(info("rel/pwned2", size=1), b"y"))
    out = unpack(tmp_path, layer)
    assert list(victim.iterdir()) == []
    # Resolved as if the layer were /: both land inside it.
    assert (out / str(victim).lstrip("/") / "pwned").read_bytes() == b"x"
    assert (out / "victim/pwned2").read_bytes() == b"y"


def test_diff_id_and_corruption_are_checked(tmp_path: Path) -> None:
    built = LayerBuilder().file("a", b"1").build(tmp_path / "blobs")
    dest = tmp_path / "d1"
    dest.mkdir()
    with pytest.raises(LayerError, match="diff_id mismatch"):
        unpack_layer(blob=built.path, dest=dest, diff_id="sha256:" + "0" * 64)
    broken = tmp_path / "broken"
    broken.write_bytes(built.path.read_bytes()[:40])
    dest = tmp_path / "d2"
    dest.mkdir()
    with pytest.raises(LayerError):
        unpack_layer(blob=broken, dest=dest)
    zstd = tmp_path / "zstd"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)
    dest = tmp_path / "d3"
    dest.mkdir()
    with pytest.raises(LayerError):
        unpack_layer(blob=zstd, dest=dest)


def test_clean_parts() -> None:
    assert clean_parts("./a//b/./c/") == ("a", "b", "c")
    assert clean_parts("/abs/x") == ("abs", "x")
    assert clean_parts("./") == ()
    with pytest.raises(LayerError):
        clean_parts("a/../b")


def test_unprivileged_style_entries_in_memory() -> None:
    # The builder writes what tarfile reads back: a sanity check of the test helper itself.
    buf = io.BytesIO()
    LayerBuilder().file("x/y", b"z").write_tar(buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        assert tar.getnames() == ["x", "x/y"]
