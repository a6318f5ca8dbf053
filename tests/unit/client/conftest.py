"""Fixtures for the client unit tests: the fake API server (`client_fake_api.FakeApi`) on an aiohttp test
server, and a `Client` for it whose clock jumps on every sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from client_fake_api import FakeApi

from kybernetes.client import Client, ClientConfig, FakeClock


@pytest.fixture
async def fake_api() -> AsyncIterator[tuple[FakeApi, TestServer]]:
    api = FakeApi()
    server = TestServer(api.app())
    await server.start_server()
    try:
        yield api, server
    finally:
        api.expire_watches()
        await server.close()


@pytest.fixture
async def client(fake_api: tuple[FakeApi, TestServer]) -> AsyncIterator[Client]:
    _, server = fake_api
    config = ClientConfig(server=str(server.make_url("")).rstrip("/"), component="unit-test", max_retries=3)
    async with Client(config, clock=FakeClock(auto_advance=True)) as c:
        yield c
