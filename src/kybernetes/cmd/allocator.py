"""Keep a long-running process's resident memory close to what it holds: glibc malloc tuning.

Two behaviours of glibc's allocator, not Python's, inflate the RSS of our processes:

- every thread that allocates gets an arena of its own (up to 8 per core); the SQLite read threads and the
  writer thread allocate the bytes of every row they return, so after a burst each of those arenas holds
  freed memory that the main thread never reuses. `M_ARENA_MAX = 2` shares them.
- freed memory inside an arena (not at its top) is only given back by `malloc_trim`. Objects larger than
  512 bytes (every stored object's JSON) bypass pymalloc and come from malloc, so after churn (each pod is
  written three times on its way to Running) the heap is full of holes.

Measured on the API server holding 30,000 pods: loading them from the store takes 309 MB RSS by default
and 258-260 MB with two arenas, 243 MB after the first trim (docs/performance.md has the density figures).
No library does this: the two calls are `mallopt` and `malloc_trim` through ctypes, skipped where libc is
not glibc.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h
TRIM_INTERVAL = 30.0


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def limit_arenas(count: int = 2) -> None:
    """Before any thread starts: at most `count` malloc arenas."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_ARENA_MAX, count)


def trim() -> None:
    """Give the memory malloc holds free back to the system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


async def trim_periodically(*, interval: float = TRIM_INTERVAL) -> None:
    """Trim every `interval` seconds, forever (a task of the process's main loop). A trim takes a few
    milliseconds on a heap of hundreds of MB."""
    if _LIBC is None:
        return
    while True:
        await asyncio.sleep(interval)
        trim()
