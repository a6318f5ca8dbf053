"""Store throughput: creates, updates, gets and lists per second on each backend; prints JSON.

    .venv/bin/python bench/store_bench.py [--keys 5000] [--writers 16] [--backends memory,sqlite,...]

Each phase runs `--writers` concurrent tasks on one event loop: create N keys (~1 KiB values, the size
of a small pod), update each once with CAS, get each once, then list the whole prefix `--lists` times.
Backends: memory, sqlite (synchronous=NORMAL), sqlite-full (synchronous=FULL), etcd (a private etcd from
tests/etcd_server.py, when /usr/bin/etcd exists). Never passes or fails on time; it only reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from etcd_server import EtcdServer, etcd_available
from kybernetes.storage.backends import EtcdStore, MemoryStore, SQLiteStore

VALUE = b"x" * 1024


async def _timed(*, total: int, writers: int, op: Callable[[int], Awaitable[Any]]) -> float:
    async def worker(offset: int) -> None:
        for i in range(offset, total, writers):
            await op(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(writers)))
    return total / (time.perf_counter() - started)


async def bench_store(store: Any, *, keys: int, writers: int, lists: int) -> dict[str, float]:
    await store.start()
    try:
        prefix = f"/registry/bench-{os.getpid()}-{time.monotonic_ns()}/"
        revisions: dict[int, int] = {}

        async def create(i: int) -> None:
            revisions[i] = (await store.create(key=f"{prefix}{i:08}", value=VALUE)).mod_revision

        async def update(i: int) -> None:
            await store.update(key=f"{prefix}{i:08}", value=VALUE, expected_revision=revisions[i])

        async def get(i: int) -> None:
            await store.get(key=f"{prefix}{i:08}")

        async def list_all(_: int) -> None:
            result = await store.list(prefix=prefix)
            assert len(result.items) == keys

        results = {
            "create_per_s": await _timed(total=keys, writers=writers, op=create),
            "update_per_s": await _timed(total=keys, writers=writers, op=update),
            "get_per_s": await _timed(total=keys, writers=writers, op=get),
        }
        list_rate = await _timed(total=lists, writers=1, op=list_all)
        results["list_per_s"] = list_rate
        results["list_keys_per_s"] = list_rate * keys
        return {name: round(value, 1) for name, value in results.items()}
    finally:
        await store.close()


@contextmanager
def _stores(backend: str) -> Iterator[Any]:
    if backend == "memory":
        yield MemoryStore()
    elif backend in ("sqlite", "sqlite-full"):
        with tempfile.TemporaryDirectory(prefix="kyb-bench-") as directory:
            path = Path(directory) / "state.db"
            yield SQLiteStore(path=path, synchronous="FULL" if backend == "sqlite-full" else "NORMAL")
    elif backend == "etcd":
        with EtcdServer() as server:
            yield EtcdStore(endpoints=[server.endpoint])
    else:
        raise SystemExit(f"unknown backend {backend}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--lists", type=int, default=5)
    parser.add_argument("--backends", default="memory,sqlite,sqlite-full,etcd")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (as the servers do)")
    args = parser.parse_args()
    report: dict[str, Any] = {"keys": args.keys, "writers": args.writers, "cpus": os.cpu_count(),
                              "loop": "uvloop" if args.uvloop else "asyncio", "backends": {}}  # fmt: skip
    for backend in args.backends.split(","):
        if backend == "etcd" and not etcd_available():
            report["backends"][backend] = "skipped: no /usr/bin/etcd"
            continue
        with _stores(backend) as store:
            coroutine = bench_store(store, keys=args.keys, writers=args.writers, lists=args.lists)
            if args.uvloop:
                import uvloop

                report["backends"][backend] = uvloop.run(coroutine)
            else:
                report["backends"][backend] = asyncio.run(coroutine)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
