"""Host-local IP address management for one node's pod CIDR, persisted in a JSON file.

The file maps each allocated address to its owner (a sandbox id) and remembers the last address handed
out, so allocation continues round-robin after it instead of reusing a just-released address at once
(a stale connection to a dead pod should not reach the next one). Every change rewrites the file
atomically (write a temporary file, fsync, rename) under an exclusive `flock` on a sibling lock file, so
a crash leaves either the old or the new table and two processes never hand out one address twice.
Allocation is idempotent per owner: asking again for the same owner returns its address, which is how a
restarted kubelet re-adopts a sandbox.

The first host address of the CIDR is the gateway (the bridge's own address) and is never allocated.
The methods block on file I/O: async callers run them in a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
from collections.abc import Iterator
from pathlib import Path


class IPAMExhausted(Exception):
    """No free address is left in the pod CIDR."""


class IPAM:
    def __init__(self, *, path: Path, cidr: str) -> None:
        self.path = path
        self.network = ipaddress.ip_network(cidr, strict=False)
        hosts = self.network.hosts()
        self.gateway = next(hosts)
        self.prefixlen = self.network.prefixlen

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, object]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            table = self._read()
            before = json.dumps(table, sort_keys=True)
            yield table
            if json.dumps(table, sort_keys=True) != before:
                self._write(table)

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        data.setdefault("cidr", str(self.network))
        data.setdefault("allocations", {})
        data.setdefault("last", "")
        return data

    def _write(self, table: dict[str, object]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(table, f, sort_keys=True, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def allocate(self, *, owner: str) -> str:
        """The address of `owner`, allocating the next free one if it has none."""
        with self._locked() as table:
            allocations: dict[str, str] = table["allocations"]  # type: ignore[assignment]
            for ip, who in allocations.items():
                if who == owner:
                    return ip
            candidates = [h for h in self.network.hosts() if h != self.gateway]
            if not candidates:
                raise IPAMExhausted(f"no addresses in {self.network}")
            start = 0
            last = str(table.get("last") or "")
            if last:
                with contextlib.suppress(ValueError):
                    start = candidates.index(ipaddress.ip_address(last)) + 1
            for i in range(len(candidates)):
                ip = str(candidates[(start + i) % len(candidates)])
                if ip not in allocations:
                    allocations[ip] = owner
                    table["last"] = ip
                    return ip
            raise IPAMExhausted(f"all {len(candidates)} addresses of {self.network} are in use")

    def release(self, *, owner: str) -> None:
        with self._locked() as table:
            allocations: dict[str, str] = table["allocations"]  # type: ignore[assignment]
            for ip in [ip for ip, who in allocations.items() if who == owner]:
                del allocations[ip]

    def lookup(self, *, owner: str) -> str | None:
        with self._locked() as table:
            allocations: dict[str, str] = table["allocations"]  # type: ignore[assignment]
            return next((ip for ip, who in allocations.items() if who == owner), None)

    def allocations(self) -> dict[str, str]:
        """address → owner."""
        with self._locked() as table:
            return dict(table["allocations"])  # type: ignore[call-overload]
