"""Unpack one layer tar into its own directory, in the form overlayfs reads as a lower layer.

Layers stay separate directories shared by every image that has them; a container's root is an overlay
mount of them. So, as containerd's overlay snapshotter does, a whiteout entry `.wh.NAME` becomes a
character device 0/0 named NAME, and an opaque-directory marker `.wh..wh..opq` becomes the
`trusted.overlay.opaque=y` xattr on its directory. Ownership, modes (setuid included), mtimes, xattrs,
symlinks, hard links, devices and FIFOs are kept (ownership and devices need root, which the kubelet is).

Safety: an entry name with a `..` component is refused; parent directories are resolved inside the layer
root (a symlink inside the layer pointing to `/etc` resolves to `<layer>/etc`, never the host's), and files
are created with O_NOFOLLOW, so nothing is written outside the layer directory. Hard-link targets must be
earlier entries of the same layer. Symlink *targets* are stored as they are: they are resolved in the
container's root at run time.

The layer is read as a stream (gzip, zstd when Python has a zstd module, or plain tar) and its uncompressed
sha256 is checked against the config's diff_id. This is blocking code: callers run it in a thread.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, cast

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20


class LayerError(ValueError):
    """A layer that cannot be unpacked safely (path escape, bad link, wrong diff_id, unknown compression)."""


class _HashingReader:
    """Counts and hashes what tarfile reads, so the diff_id is checked without a second pass."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def _decompressed(raw: IO[bytes]) -> IO[bytes]:
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if magic == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard
        except ImportError:
            raise LayerError("zstd-compressed layers need the zstandard module, which is not installed") from None
        reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(raw)
        return reader
    return raw


def clean_parts(name: str) -> tuple[str, ...]:
    """The components of an archive path relative to the layer root; refuses `..` anywhere."""
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise LayerError(f"path escapes the layer root: {name!r}")
    return parts


def resolve_dir(root: Path, parts: Sequence[str], *, create: bool) -> Path:
    """The directory `parts` inside `root`, following symlinks as if `root` were `/` (so never outside it).

    Missing directories are created (mode 0755) when `create`; a non-directory in the way is an error.
    """
    stack = list(reversed(parts))
    resolved: list[str] = []
    hops = 0
    while stack:
        part = stack.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        path = root.joinpath(*resolved, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not create:
                raise LayerError(f"{'/'.join(parts)}: no such directory in the layer") from None
            os.mkdir(path, 0o755)
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise LayerError(f"{'/'.join(parts)}: too many levels of symbolic links")
            link = os.readlink(path)
            if link.startswith("/"):
                resolved = []
            stack.extend(reversed(link.split("/")))
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise LayerError(f"{'/'.join(parts)}: {part} is not a directory")
        resolved.append(part)
    return root.joinpath(*resolved)


def _remove(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _xattrs(member: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    out = []
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr."):]
            # A layer must not forge overlay metadata (redirects, opaque dirs other than by marker).
            if name.startswith("trusted.overlay."):
                continue
            out.append((name, value.encode("utf-8", "surrogateescape")))
    return out


class _Unpacker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.as_root = os.geteuid() == 0
        self.dirs: list[tuple[Path, tarfile.TarInfo]] = []
        self.size = 0

    def whiteout(self, parent: Path, base: str) -> None:
        if base == OPAQUE_MARKER:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
            return
        target = parent / base[len(WHITEOUT_PREFIX):]
        _remove(target)
        try:
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        except PermissionError:
            raise LayerError("whiteouts need root (CAP_MKNOD) to become overlay character devices") from None

    def entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: Path, base: str) -> None:
        target = parent / base
        if member.isdir():
            try:
                st = os.lstat(target)
                if not stat.S_ISDIR(st.st_mode):
                    _remove(target)
                    os.mkdir(target, 0o700)
            except FileNotFoundError:
                os.mkdir(target, 0o700)
            self.dirs.append((target, member))
            return
        _remove(target)
        if member.islnk():
            link_parts = clean_parts(member.linkname)
            if not link_parts:
                raise LayerError(f"hard link {member.name!r} to the layer root")
            source = resolve_dir(self.root, link_parts[:-1], create=False) / link_parts[-1]
            if not os.path.lexists(source):
                raise LayerError(f"hard link {member.name!r} to {member.linkname!r}, which is not in the layer")
            os.link(source, target, follow_symlinks=False)
            return  # the link shares the source's inode and metadata
        if member.issym():
            os.symlink(member.linkname, target)
        elif member.isreg():
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                source_file = tar.extractfile(member)
                if source_file is not None:
                    shutil.copyfileobj(source_file, out, _CHUNK)
            self.size += member.size
        elif member.ischr() or member.isblk():
            if not self.as_root:
                return  # devices cannot be made without root; an unprivileged unpack skips them
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(target, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(target, member.mode & 0o7777)
        else:
            raise LayerError(f"unsupported tar entry type {member.type!r} for {member.name!r}")
        self.metadata(target, member)

    def metadata(self, target: Path, member: tarfile.TarInfo) -> None:
        if self.as_root:
            os.chown(target, member.uid, member.gid, follow_symlinks=False)
        for name, value in _xattrs(member):
            try:
                os.setxattr(target, name, value, follow_symlinks=False)
            except OSError:
                pass  # e.g. security.* on a filesystem without support: the file itself still works
        if not member.issym():
            # After chown: chown clears setuid/setgid bits.
            os.chmod(target, member.mode & 0o7777)
        mtime_ns = int(member.mtime * 1_000_000_000)
        os.utime(target, ns=(mtime_ns, mtime_ns), follow_symlinks=False)

    def finish(self) -> None:
        # Directories last and deepest first: creating entries changes their mtime, and a read-only mode
        # would have stopped an unprivileged unpack from filling them.
        for path, member in reversed(self.dirs):
            self.metadata(path, member)


def unpack_layer(*, blob: Path, dest: Path, diff_id: str | None = None) -> int:
    """Unpack the layer in `blob` into the empty directory `dest`; returns the bytes of regular files.

    Raises `LayerError` for unsafe or corrupt layers (`dest` is then left for the caller to remove).
    """
    with open(blob, "rb") as raw:
        reader = _HashingReader(_decompressed(raw))
        unpacker = _Unpacker(dest)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    _apply(tar, unpacker, member)
            unpacker.finish()
            reader.drain()
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise LayerError(f"corrupt layer: {e}") from None
    if diff_id is not None and "sha256:" + reader.hash.hexdigest() != diff_id:
        raise LayerError(f"layer diff_id mismatch: expected {diff_id}, got sha256:{reader.hash.hexdigest()}")
    return unpacker.size


def _apply(tar: tarfile.TarFile, unpacker: _Unpacker, member: tarfile.TarInfo) -> None:
    parts = clean_parts(member.name)
    if not parts:
        return  # the root entry ("./"): the layer directory keeps its own attributes
    parent = resolve_dir(unpacker.root, parts[:-1], create=True)
    base = parts[-1]
    if base.startswith(WHITEOUT_PREFIX):
        unpacker.whiteout(parent, base)
    else:
        unpacker.entry(tar, member, parent, base)


def layer_dir_size(path: Path) -> int:
    """Disk bytes of an unpacked layer (st_blocks), for usage accounting of layers unpacked earlier."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st: Any = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total
