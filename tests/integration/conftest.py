"""Fixtures: one real `kyb server` per session (SQLite), a unique namespace per test, the kubectl runner
and the official Python client configured from the server's admin kubeconfig."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from cluster import KUBECTL, ServerProcess


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    proc = ServerProcess().start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def namespace(server: ServerProcess) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    server.kubectl("create", "namespace", name)
    yield name


@pytest.fixture(scope="session")
def kubectl_available() -> None:
    if not os.path.exists(KUBECTL):
        pytest.skip("kubectl not installed (scripts/setup.sh --test installs it)")


@pytest.fixture(scope="session")
def api_client(server: ServerProcess):  # type: ignore[no-untyped-def]
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        yield api
