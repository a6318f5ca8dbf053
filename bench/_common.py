"""Helpers shared by the benchmarks: percentiles, the machine's description, the figures of a process
(CPU seconds, RSS and peak RSS from /proc) found by pid or by walking a process tree, and `Api`, a plain
aiohttp client that times every mutating request it makes.

Process figures read /proc directly (Linux only), so they work on any process the benchmark may see,
whether it started it or was given its pid. `Api` speaks only the Kubernetes REST API (JSON), so the
benchmarks using it run against any Kubernetes-compatible server.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from kybernetes.client import ClientConfig

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 1))))  # ceil(p * n), within [1, n]
    return ordered[rank - 1]


def summarize(values: list[float], *, scale: float = 1.0, digits: int = 3,
              points: tuple[float, ...] = (0.5, 0.9, 0.99)) -> dict[str, Any]:
    """count, pNN and max of `values` (each multiplied by `scale`, e.g. 1000 for ms)."""
    ordered = sorted(values)
    out: dict[str, Any] = {"count": len(ordered)}
    for p in points:
        out[f"p{round(p * 100)}"] = round(percentile(ordered, p) * scale, digits)
    out["max"] = round(ordered[-1] * scale, digits) if ordered else 0.0
    return out


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gib": mem_gib, "python": sys.version.split()[0]}


# ---- processes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcSample:
    pid: int
    cpu_seconds: float  # utime + stime since the process started
    rss_mib: float
    peak_rss_mib: float  # VmHWM: the high-water mark of the resident set


def cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime + stime


def sample(pid: int) -> ProcSample | None:
    """The process's CPU and memory figures, or None when it is gone (or not ours to read)."""
    cpu = cpu_seconds(pid)
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    if cpu is None:
        return None
    values = {k: v for k, _, v in (line.partition(":") for line in lines)}

    def mib(key: str) -> float:
        return round(int(values[key].split()[0]) / 1024, 1) if key in values else 0.0

    return ProcSample(pid=pid, cpu_seconds=cpu, rss_mib=mib("VmRSS"), peak_rss_mib=mib("VmHWM"))


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from each thread's /proc/<pid>/task/<tid>/children)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return []


def kyb_control_plane(server_pid: int) -> dict[str, int]:
    """The pids of a `kyb server` tree: the API server itself and the components it runs as children,
    each named by the subcommand on its command line (`... -m kybernetes.cli.main scheduler ...`)."""
    pids = {"apiserver": server_pid}
    for child in children(server_pid):
        args = cmdline(child)
        name = f"child-{child}"
        if "kybernetes.cli.main" in args and args.index("kybernetes.cli.main") + 1 < len(args):
            name = args[args.index("kybernetes.cli.main") + 1]
        elif args:
            name = Path(args[0]).name
        pids[name] = child
    return pids


# ---- a timed HTTP client -----------------------------------------------------------------------------


class _ListMeta(msgspec.Struct, rename="camel"):
    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")


class _RawList(msgspec.Struct):
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)
    items: list[msgspec.Raw] = msgspec.field(default_factory=list)


_list_decoder = msgspec.json.Decoder(_RawList)
_CONTENT_TYPES = {"PATCH": "application/merge-patch+json"}


class Api:
    """One aiohttp session on a cluster (any Kubernetes-compatible API server) that times the requests a
    benchmark makes: mutating latency per "VERB resource", errors with their first messages.

    429 answers (API priority and fairness) are retried after their Retry-After, as client-go does; the
    latency then includes the wait, and the retries are counted."""

    def __init__(self, config: ClientConfig, *, connections: int = 64) -> None:
        self.config = config
        self.connections = connections
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.failures: dict[str, int] = defaultdict(int)
        self.errors: list[str] = []
        self.retries_429 = 0
        self._session: aiohttp.ClientSession | None = None
        self._token = config.token
        if not self._token and config.token_file:
            self._token = Path(config.token_file).read_text().strip()

    async def __aenter__(self) -> Api:
        headers = {"Accept": "application/json", "User-Agent": "kyb-bench"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        connector = aiohttp.TCPConnector(ssl=self.config.ssl_context or False, limit=self.connections,
                                         keepalive_timeout=120)
        self._session = aiohttp.ClientSession(base_url=self.config.server.rstrip("/") + "/",
                                              connector=connector, headers=headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use `async with Api(...)`"
        return self._session

    def url(self, path: str) -> str:
        return path.lstrip("/")  # relative to base_url, which may carry a path prefix

    def error(self, message: str) -> None:
        self.errors.append(message[:2000])

    async def mutate(self, method: str, path: str, *, resource: str, body: Any = None,
                     params: dict[str, str] | None = None) -> dict[str, Any] | None:
        """One mutating request, timed under "METHOD resource"; the decoded answer, or None on failure."""
        key = f"{method} {resource}"
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": _CONTENT_TYPES.get(method, "application/json")} if data is not None else None
        started = time.perf_counter()
        try:
            for _attempt in range(10):
                async with self.session.request(method, self.url(path), data=data, headers=headers, params=params,
                                                timeout=aiohttp.ClientTimeout(total=120)) as response:
                    raw = await response.read()
                    if response.status == 429:
                        self.retries_429 += 1
                        await asyncio.sleep(min(float(response.headers.get("Retry-After", "1") or 1), 5.0))
                        continue
                    break
        except (aiohttp.ClientError, TimeoutError) as e:
            self.failures[key] += 1
            self.error(f"{method} {path}: {e!r}")
            return None
        if response.status >= 300:
            self.failures[key] += 1
            self.error(f"{method} {path}: {response.status} {raw[:300]!r}")
            return None
        self.latency[key].append(time.perf_counter() - started)
        decoded: dict[str, Any] = json.loads(raw) if raw else {}
        return decoded

    async def get_json(self, path: str, *, params: dict[str, str] | None = None,
                       quiet: bool = False) -> dict[str, Any] | None:
        """The decoded object, or None (an error unless `quiet`: a 404 may be what the caller waits out)."""
        try:
            async with self.session.get(self.url(path), params=params,
                                        timeout=aiohttp.ClientTimeout(total=120)) as response:
                if response.status != 200:
                    if quiet:
                        return None
                    self.error(f"GET {path}: {response.status} {(await response.read())[:300]!r}")
                    return None
                decoded: dict[str, Any] = await response.json(content_type=None)
                return decoded
        except (aiohttp.ClientError, TimeoutError) as e:
            self.error(f"GET {path}: {e!r}")
            return None

    async def timed_list(self, path: str, *, params: dict[str, str]) -> tuple[float, int, int]:
        """(seconds until the whole body is read, items, bytes) of one LIST; counting the items is not timed."""
        started = time.perf_counter()
        async with self.session.get(self.url(path), params=params,
                                    timeout=aiohttp.ClientTimeout(total=600)) as response:
            raw = await response.read()
        seconds = time.perf_counter() - started
        if response.status != 200:
            self.error(f"GET {path} {params}: {response.status} {raw[:300]!r}")
            return seconds, 0, len(raw)
        return seconds, len(_list_decoder.decode(raw).items), len(raw)

    async def paged_list(self, path: str, *, limit: int) -> tuple[float, int, int]:
        """(seconds for every page, items, pages) of a LIST in pages of `limit`, as kubectl reads."""
        started = time.perf_counter()
        items = pages = 0
        token = ""
        untimed = 0.0
        while True:
            params = {"limit": str(limit), **({"continue": token} if token else {})}
            async with self.session.get(self.url(path), params=params,
                                        timeout=aiohttp.ClientTimeout(total=600)) as response:
                raw = await response.read()
            if response.status != 200:
                self.error(f"GET {path} {params}: {response.status} {raw[:300]!r}")
                break
            t = time.perf_counter()
            page = _list_decoder.decode(raw)  # the continue token is needed; its decoding is not timed
            untimed += time.perf_counter() - t
            items += len(page.items)
            pages += 1
            token = page.metadata.continue_
            if not token:
                break
        return time.perf_counter() - started - untimed, items, pages

    def latency_figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in sorted(set(self.latency) | set(self.failures)):
            out[key] = {**summarize(self.latency.get(key, []), scale=1000, digits=1, points=(0.5, 0.99)),
                        "errors": self.failures.get(key, 0)}
        return out

    def error_figures(self) -> dict[str, Any]:
        return {"count": len(self.errors), "retries_after_429": self.retries_429, "first": self.errors[:10]}
