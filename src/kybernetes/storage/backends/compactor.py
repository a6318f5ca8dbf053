"""Periodic compaction for any Store, as the API server runs it in the background.

Every `interval` seconds it compacts at the revision that was current one interval earlier, but never
closer than `keep` revisions to the current one: history always covers at least the last interval and
the last `keep` revisions (Kubernetes keeps five minutes; watchers and paged lists older than that get
410 Gone and re-list). `sleep` is injectable so tests need not wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kybernetes.storage.protocol import StorageError, Store

log = logging.getLogger(__name__)


async def compact_once(*, store: Store, target: int, keep: int) -> int | None:
    """Compact at min(target, current - keep) if that is past the compacted revision; returns the
    revision compacted at, or None."""
    current = await store.current_revision()
    revision = min(target, current - keep)
    if revision <= await store.compacted_revision():
        return None
    await store.compact(revision=revision)
    return revision


async def run_compactor(
    *,
    store: Store,
    interval: float = 300.0,
    keep: int = 10_000,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run until cancelled."""
    previous = await store.current_revision()
    while True:
        await sleep(interval)
        try:
            await compact_once(store=store, target=previous, keep=keep)
            previous = await store.current_revision()
        except StorageError as error:  # keep compacting later; a transient store error must not end the loop
            log.warning("compaction failed: %s", error)
