"""Thin ctypes wrappers for the Linux calls the runtime makes itself: mount/umount, unshare, setns, statx.

Python 3.11 has none of these in `os`. They block only briefly but touch the calling thread's namespaces:
callers that change namespaces (`unshare`, `setns`) do it in a dedicated short-lived thread, never on the
event loop or a pooled executor thread, so no other code ever runs in a foreign namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(*, source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode(), target.encode(), fstype.encode() if fstype else None, flags, data.encode() if data else None
        ),
        f"mount {target}",
    )


def umount(*, target: str, detach: bool = False) -> None:
    _check(_libc.umount2(target.encode(), MNT_DETACH if detach else 0), f"umount {target}")


def unshare(*, flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(*, fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


# statx(2): the attribute STATX_ATTR_MOUNT_ROOT (Linux 5.8) says whether a path is the root of a mount —
# a bind-mounted file included, which comparing st_dev with the parent's misses.
_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_STATX_BASIC_STATS = 0x7FF
_STATX_ATTR_MOUNT_ROOT = 0x2000
_STATX_SIZE = 256  # struct statx, padding included
_statx = getattr(_libc, "statx", None)
if _statx is not None:
    _statx.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]


def _mount_root(path: str) -> bool | None:
    """statx's answer for an existing path, None when the kernel or libc cannot give it."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    if _statx(_AT_FDCWD, path.encode(), _AT_SYMLINK_NOFOLLOW, _STATX_BASIC_STATS, buf) != 0:
        return None if ctypes.get_errno() != 2 else False  # ENOENT: nothing is mounted there
    attributes = int.from_bytes(buf.raw[8:16], "little")
    supported = int.from_bytes(buf.raw[56:64], "little")  # stx_attributes_mask
    if not supported & _STATX_ATTR_MOUNT_ROOT:
        return None
    return bool(attributes & _STATX_ATTR_MOUNT_ROOT)


def is_mountpoint(path: str) -> bool:
    """Whether `path` is the mount point of something, bind mounts of files included: statx where the
    kernel has it (one call; scanning /proc/self/mountinfo costs a line per mount on the node, per query),
    else /proc/self/mountinfo."""
    real = os.path.realpath(path)
    answer = _mount_root(real)
    if answer is not None:
        return answer
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and _unescape(fields[4]) == real:
                    return True
    except OSError:
        return False
    return False


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return path.encode().decode("unicode_escape") if "\\" in path else path
