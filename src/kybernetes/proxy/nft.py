"""Talking to the kernel's nftables through the `nft` command: apply a ruleset, check one, read affinity sets.

`Nft.apply(ruleset=...)` pipes the text to `nft -f -`: nft sends the whole file as one netlink batch, so the
kernel commits all of it or none. `check` is the same with `-c` (the kernel validates the batch and
discards it: nothing changes). `affinity_entries` reads the live client addresses of the proxy's `aff-`
sets (`nft -j list table`) so the next ruleset can carry them over. `delete_table` removes the table,
tolerating its absence.

With `netns`, every command runs inside that named network namespace (`ip netns exec NAME nft ...`): the
proxy itself stays where the API server is reachable while programming another "host" (tests, several
nodes on one machine). Each call is a short subprocess run with asyncio, so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kybernetes.proxy.ruleset import AffinityEntry

__all__ = ["Nft", "NftError", "parse_affinity"]

AFFINITY_PREFIX = "aff-"


class NftError(RuntimeError):
    """`nft` failed; the message holds its stderr."""


class Nft:
    def __init__(self, *, netns: str | None = None, binary: str = "nft", timeout: float = 30.0) -> None:
        self.netns = netns
        self.binary = binary
        self.timeout = timeout

    def command(self, *args: str) -> list[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return [*prefix, self.binary, *args]

    async def run(self, *args: str, stdin: str | None = None) -> str:
        proc = await asyncio.create_subprocess_exec(
            *self.command(*args),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin is not None else None), self.timeout
            )
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        if proc.returncode != 0:
            raise NftError(f"nft {' '.join(args)} failed ({proc.returncode}): {err.decode(errors='replace').strip()}")
        return out.decode(errors="replace")

    async def apply(self, *, ruleset: str) -> None:
        await self.run("-f", "-", stdin=ruleset)

    async def check(self, *, ruleset: str) -> None:
        await self.run("-c", "-f", "-", stdin=ruleset)

    async def affinity_entries(self, *, table: str) -> dict[str, list[AffinityEntry]]:
        try:
            text = await self.run("-j", "list", "table", "ip", table)
        except NftError:
            return {}  # no table yet: nothing to carry over
        return parse_affinity(text)

    async def delete_table(self, *, table: str) -> None:
        await self.run("-f", "-", stdin=f"add table ip {table}\ndelete table ip {table}\n")


def parse_affinity(text: str) -> dict[str, list[AffinityEntry]]:
    """The `aff-` sets' live elements from `nft -j list table` output: set name → (client, seconds left)."""
    document: dict[str, Any] = json.loads(text)
    found: dict[str, list[AffinityEntry]] = {}
    for item in document.get("nftables", []):
        nft_set = item.get("set") if isinstance(item, dict) else None
        if not isinstance(nft_set, dict) or not str(nft_set.get("name", "")).startswith(AFFINITY_PREFIX):
            continue
        default_timeout = int(nft_set.get("timeout", 0))
        entries: list[AffinityEntry] = []
        for elem in nft_set.get("elem", []):
            if isinstance(elem, dict) and isinstance(elem.get("elem"), dict):
                inner = elem["elem"]
                value, expires = inner.get("val"), int(inner.get("expires", default_timeout))
            else:
                value, expires = elem, default_timeout
            if isinstance(value, str) and expires > 0:
                entries.append(AffinityEntry(client=value, expires=expires))
        found[str(nft_set["name"])] = entries
    return found
