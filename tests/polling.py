"""Waiting helpers the integration and end-to-end tests share: a free local port, and polling until a check
holds (synchronously for subprocess-driven tests, asynchronously for client-driven ones), failing with what
was awaited."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until(what: str, check: Callable[[], Any], *, within: float, context: Callable[[], str] = str,
               interval: float = 0.1) -> Any:
    """`check()`'s first truthy result; AssertionError naming `what` (and `context()`) after `within` s."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{context()}")
        time.sleep(interval)


async def wait_for(what: str, probe: Callable[[], Awaitable[T | None]], within: float = 30.0,
                   interval: float = 0.1) -> T:
    """`await probe()`'s first truthy result; AssertionError naming `what` after `within` s."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)
