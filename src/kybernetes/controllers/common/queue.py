"""Running a controller's work queue: `run_queue` runs `workers` sync loops (`kybernetes.client.run_workers`)
until the controller is cancelled, and then shuts the queue down, so delayed adds scheduled by the last syncs
are dropped instead of firing into a stopped controller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kybernetes.client import WorkQueue, run_workers


async def run_queue(*, queue: WorkQueue, sync: Callable[[str], Awaitable[None]], workers: int) -> None:
    try:
        await run_workers(queue=queue, sync=sync, workers=workers)
    finally:
        queue.shutdown()
