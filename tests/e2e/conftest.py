"""Fixtures for the end-to-end suite: the real kubectl (and helm) against real `kyb server` processes.

One SQLite-backed server serves the whole session; an etcd-backed server (with its own private etcd) is
started lazily, only when a test marked `both_stores` runs, and those tests run once per store
(ids `[sqlite]` / `[etcd]`). Every test gets a fresh namespace created with `kubectl create -f -` (JSON,
so it does not depend on protobuf request bodies) and a `Kubectl` runner bound to it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from e2e_support import KUBECTL_BIN, Kubectl, namespace_manifest

from cluster import ServerProcess
from etcd_server import EtcdServer, etcd_available


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_stores: run against the SQLite and the etcd-backed server")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster" in metafunc.fixturenames:
        stores = ["sqlite", "etcd"] if metafunc.definition.get_closest_marker("both_stores") else ["sqlite"]
        metafunc.parametrize("cluster", stores, indirect=True)


@pytest.fixture(scope="session")
def sqlite_server() -> Iterator[ServerProcess]:
    proc = ServerProcess().start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def etcd_backed_server() -> Iterator[ServerProcess]:
    if not etcd_available():
        pytest.skip("etcd binary not installed")
    with EtcdServer() as etcd:
        proc = ServerProcess(datastore=f"etcd://{etcd.endpoint}").start()
        try:
            yield proc
        finally:
            proc.stop()


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> ServerProcess:
    """The server a test talks to: SQLite unless parametrized to etcd (see `both_stores`)."""
    if not os.path.exists(KUBECTL_BIN):
        pytest.skip("kubectl not installed (scripts/setup.sh --test installs it)")
    store = getattr(request, "param", "sqlite")
    fixture = "etcd_backed_server" if store == "etcd" else "sqlite_server"
    server: ServerProcess = request.getfixturevalue(fixture)
    return server


@pytest.fixture
def namespace(cluster: ServerProcess) -> str:
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    Kubectl(server=cluster).ok("create", "-f", "-", input=namespace_manifest(name))
    return name


@pytest.fixture
def k(cluster: ServerProcess, namespace: str) -> Kubectl:
    """kubectl bound to the test's namespace (`k.ok`, `k.fail`, `k.run`, `k.popen`)."""
    return Kubectl(server=cluster, namespace=namespace)


@pytest.fixture
def k_cluster(cluster: ServerProcess) -> Kubectl:
    """kubectl without a namespace flag (cluster-scoped objects, `-A`, discovery)."""
    return Kubectl(server=cluster)
