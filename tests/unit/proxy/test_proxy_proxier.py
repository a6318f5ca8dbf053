"""The proxier's sync loop on a fake clock: coalescing, the minimum interval, periodic resync, skipping
unchanged tables, retry after a failed apply, affinity carried over, and cleanup only when asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from proxy_builders import NODE, endpoint, endpoint_slice, node, service

from kybernetes.client import Client, ClientConfig, FakeClock, SharedInformerFactory
from kybernetes.client.informer import Informer
from kybernetes.client.store import object_key
from kybernetes.proxy import NftError, Proxier, ProxyOptions, RulesetConfig
from kybernetes.proxy.ruleset import AffinityEntry, affinity_set_name
from kybernetes.proxy.servicemap import build_plans


class FakeApplier:
    def __init__(self) -> None:
        self.applied: list[str] = []
        self.fail = 0
        self.deleted: list[str] = []
        self.affinity: dict[str, list[AffinityEntry]] = {}

    async def apply(self, *, ruleset: str) -> None:
        if self.fail:
            self.fail -= 1
            raise NftError("nft -f - failed (1): boom")
        self.applied.append(ruleset)

    async def affinity_entries(self, *, table: str) -> dict[str, list[AffinityEntry]]:
        return self.affinity

    async def delete_table(self, *, table: str) -> None:
        self.deleted.append(table)


def put(informer: Informer[Any], obj: Any) -> None:
    """What a watch event does to an informer: store it, tell the handlers."""
    _, old = informer.store.upsert(obj)
    if old is None:
        informer._added(obj)
    else:
        informer._updated(old, obj)


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with Client(ClientConfig(server="http://127.0.0.1:9", component="unit-test")) as c:
        yield c


class Harness:
    def __init__(self, client: Client, *, cleanup: bool = False) -> None:
        self.clock = FakeClock()
        self.applier = FakeApplier()
        self.proxier = Proxier(
            informers=SharedInformerFactory(client=client), applier=self.applier, clock=self.clock,
            options=ProxyOptions(node_name=NODE, ruleset=RulesetConfig(table="t"), sync_period=30.0,
                                 min_sync_interval=1.0, cleanup_on_exit=cleanup),
        )
        for informer in (self.proxier.services, self.proxier.slices, self.proxier.nodes):
            informer._synced.set()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.proxier.run())
        await settle()

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await settle()

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_first_sync_then_bursts_are_coalesced_under_the_minimum_interval(client: Client) -> None:
    h = Harness(client)
    put(h.proxier.nodes, node())
    await h.start()
    assert len(h.applier.applied) == 1  # the initial sync, at once

    put(h.proxier.services, service("web"))
    for i in range(5):
        put(h.proxier.slices, endpoint_slice("web", [endpoint(f"10.244.0.{10 + j}") for j in range(i + 1)]))
    await settle()
    assert len(h.applier.applied) == 1  # waiting out the minimum interval
    await h.advance(1.0)
    assert len(h.applier.applied) == 2  # six changes, one sync
    assert "10.244.0.14" in h.applier.applied[-1]
    await h.stop()


async def test_unchanged_state_is_not_reapplied_until_the_periodic_resync(client: Client) -> None:
    h = Harness(client)
    await h.start()
    h.proxier.request_sync()
    await h.advance(1.0)
    stats = h.proxier.statistics()
    assert (len(h.applier.applied), stats.unchanged) == (1, 1)
    await h.advance(29.0)
    assert len(h.applier.applied) == 2  # the full resync re-applies, repairing any outside change
    await h.stop()


async def test_failed_apply_is_retried_with_backoff(client: Client) -> None:
    h = Harness(client)
    h.applier.fail = 2
    await h.start()
    assert h.applier.applied == [] and h.proxier.statistics().failures == 1
    await h.advance(0.5)
    await h.advance(0.5)  # the minimum interval after the retry's start
    assert h.proxier.statistics().failures == 2
    await h.advance(1.0)
    assert len(h.applier.applied) == 1
    assert h.proxier.statistics().last_error.endswith("boom")
    await h.stop()


async def test_affinity_entries_are_carried_into_the_new_table(client: Client) -> None:
    h = Harness(client)
    svc = service("web", affinity=True)
    slices = [endpoint_slice("web", [endpoint("10.244.0.11")])]
    put(h.proxier.services, svc)
    put(h.proxier.slices, slices[0])
    (plan,) = build_plans(services=[svc], slices=slices)
    name = affinity_set_name(plan, plan.endpoints[0])
    h.applier.affinity = {name: [AffinityEntry(client="10.0.0.7", expires=42)]}
    await h.start()
    assert "elements = { 10.0.0.7 expires 42s }" in h.applier.applied[0]
    await h.stop()


async def test_table_is_kept_on_exit_unless_cleanup(client: Client) -> None:
    h = Harness(client)
    await h.start()
    await h.stop()
    assert h.applier.deleted == []
    h = Harness(client, cleanup=True)
    await h.start()
    await h.stop()
    assert h.applier.deleted == ["t"]


async def test_deleted_service_disappears_from_the_table(client: Client) -> None:
    h = Harness(client)
    svc = service("web")
    put(h.proxier.services, svc)
    put(h.proxier.slices, endpoint_slice("web", [endpoint("10.244.0.11")]))
    await h.start()
    assert "10.96.0.10" in h.applier.applied[-1]
    h.proxier.services.store.remove(object_key(svc))
    h.proxier.services._deleted(svc)
    await h.advance(1.0)
    assert "10.96.0.10" not in h.applier.applied[-1]
    await h.stop()
