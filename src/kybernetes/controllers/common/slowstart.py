"""Slow start: issue `count` writes in batches of 1, 2, 4, ... and stop at the first batch with a failure.

When many creates would all fail the same way (a quota, a webhook, a forbidden template), this sends a
handful instead of hundreds; when they succeed, the batches grow quickly to full parallelism.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

SLOW_START_INITIAL_BATCH = 1


async def slow_start_batch(
    *, count: int, action: Callable[[int], Awaitable[None]], initial: int = SLOW_START_INITIAL_BATCH
) -> tuple[int, Exception | None]:
    """Run `action(i)` for i in 0, 1, ..., count - 1 in growing batches; returns (successes, the first error
    or None).

    Calls within a batch run concurrently. The batch after a failing one is not started, so the callers
    can take back the expectations of everything not attempted (`count - successes`).
    """
    remaining = count
    successes = 0
    batch = min(remaining, max(initial, 1))
    while batch > 0:
        start = count - remaining
        results = await asyncio.gather(*(action(start + i) for i in range(batch)), return_exceptions=True)
        errors: list[Exception] = []
        for result in results:
            if isinstance(result, Exception):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result  # cancellation and the like are not failures to count
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None
