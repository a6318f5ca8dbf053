"""How every `kyb` long-running command runs: logging set up once, a uvloop event loop, SIGTERM / SIGINT
cancelling the main task so that every TaskGroup below it unwinds and cleans up, and the allocator kept
from holding freed memory (`allocator`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from kybernetes.cmd import allocator


def setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("KYB_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def run_until_signalled(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` until it returns or SIGTERM/SIGINT cancels it; its exceptions propagate."""
    import uvloop

    allocator.limit_arenas()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        loop = runner.get_loop()
        task = loop.create_task(main)
        trimmer = loop.create_task(allocator.trim_periodically())
        task.add_done_callback(lambda _: trimmer.cancel())
        def stop(sig: signal.Signals) -> None:
            logging.getLogger("kybernetes").info("%s received: stopping", sig.name)
            task.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop, sig)
        try:
            runner.run(_wait(task))
        except asyncio.CancelledError:
            pass


async def _wait(task: asyncio.Task[None]) -> None:
    await task
