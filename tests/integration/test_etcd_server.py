"""`kyb server --datastore etcd://…` against a private etcd 3.4, driven by the official Python client:
CRUD, list paging, watch, two API servers sharing one etcd, and durability across restarts (etcd and
SQLite). A restarted server's watch cache starts at the store's current revision, so a watch from an
old resourceVersion is answered 410 Gone, as Kubernetes does after its watch cache restarts.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from cluster import ServerProcess
from etcd_server import EtcdServer, etcd_available

pytestmark = [pytest.mark.etcd, pytest.mark.skipif(not etcd_available(), reason="needs /usr/bin/etcd")]


# The client's typed signatures want model objects; these tests pass plain dicts and read attributes the
# server always fills, so API handles are Any.
Api = Any


def api_client_for(server: ServerProcess) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdServer]:
    with EtcdServer() as server:
        yield server


@pytest.fixture(scope="module")
def kyb(etcd: EtcdServer) -> Iterator[ServerProcess]:
    proc = ServerProcess(datastore=f"etcd://{etcd.endpoint}").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def core(kyb: ServerProcess) -> Iterator[Api]:
    with api_client_for(kyb) as api:
        yield client.CoreV1Api(api)


@pytest.fixture
def namespace(core: Api) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"set": "a"}},
            "data": data}


def test_crud_on_etcd(core: Api, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, configmap("c", v="1"))
    assert created.metadata.uid
    got = core.read_namespaced_config_map("c", namespace)
    assert got.data == {"v": "1"}
    got.data["v"] = "2"
    replaced = core.replace_namespaced_config_map("c", namespace, got)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    stale = got
    stale.metadata.resource_version = created.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("c", namespace, stale)
    assert exc.value.status == 409
    patched = core.patch_namespaced_config_map("c", namespace, {"data": {"w": "3"}})
    assert patched.data == {"v": "2", "w": "3"}
    core.delete_namespaced_config_map("c", namespace)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("c", namespace)
    assert exc.value.status == 404
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_config_map("c", namespace)
    assert exc.value.status == 404


def test_pods_and_selectors_on_etcd(core: Api, namespace: str) -> None:
    for name, app in (("a", "web"), ("b", "db")):
        core.create_namespaced_pod(namespace, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        })
    assert [p.metadata.name for p in core.list_namespaced_pod(namespace, label_selector="app=db").items] == ["b"]
    assert [p.metadata.name for p in core.list_namespaced_pod(
        namespace, field_selector="metadata.name=a").items] == ["a"]


def test_list_paging_on_etcd(core: Api, namespace: str) -> None:
    for i in range(25):
        core.create_namespaced_config_map(namespace, configmap(f"cm-{i:02}"))
    names: list[str] = []
    remaining: list[int | None] = []
    token = None
    rvs = set()
    while True:
        page = core.list_namespaced_config_map(namespace, limit=10, _continue=token)
        names += [c.metadata.name for c in page.items]
        remaining.append(page.metadata.remaining_item_count)
        rvs.add(page.metadata.resource_version)
        token = page.metadata._continue
        if not token:
            break
        if len(names) == 10:
            core.create_namespaced_config_map(namespace, configmap("cm-zz"))  # not seen by later pages
    assert names == [f"cm-{i:02}" for i in range(25)]
    assert remaining == [15, 5, None]
    assert len(rvs) == 1


def test_watch_on_etcd(core: Api, namespace: str) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, configmap("w", v="1"))
    core.patch_namespaced_config_map("w", namespace, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("w", namespace)
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].data.get("v")))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_two_api_servers_share_one_etcd(etcd: EtcdServer, core: Api, namespace: str) -> None:
    other = ServerProcess(datastore=f"etcd://{etcd.endpoint}").start()
    try:
        with api_client_for(other) as api:
            other_core: Api = client.CoreV1Api(api)
            rv = other_core.list_namespaced_config_map(namespace).metadata.resource_version
            core.create_namespaced_config_map(namespace, configmap("shared", v="1"))
            # A write through one server is read (consistently) and watched through the other.
            assert other_core.read_namespaced_config_map("shared", namespace).data == {"v": "1"}
            w = watch.Watch()
            events = []
            for event in w.stream(other_core.list_namespaced_config_map, namespace, resource_version=rv,
                                  timeout_seconds=5):
                events.append((event["type"], event["object"].metadata.name))
                w.stop()
            assert events == [("ADDED", "shared")]

            # Cluster IPs come from one pool in etcd: no two servers hand out the same one.
            def create(i: int) -> str:
                api_ = core if i % 2 else other_core
                svc = api_.create_namespaced_service(namespace, {
                    "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}"},
                    "spec": {"ports": [{"port": 80}]},
                })
                return str(svc.spec.cluster_ip)

            with ThreadPoolExecutor(max_workers=8) as pool:
                ips = list(pool.map(create, range(20)))
            assert len(set(ips)) == 20
    finally:
        other.stop()


def _raw_watch(server: ServerProcess, path: str) -> tuple[int, list[dict[str, Any]]]:
    """A watch request returning (HTTP status, decoded lines or the error body)."""
    import urllib.error
    import urllib.request

    from kybernetes.apiserver.auth.kubeconfig import load_kubeconfig

    kc = load_kubeconfig(server.kubeconfig)
    request = urllib.request.Request(kc.server + path)
    try:
        with urllib.request.urlopen(request, context=kc.ssl_context(), timeout=15) as response:
            lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
            return response.status, lines
    except urllib.error.HTTPError as e:
        return e.code, [json.loads(e.read())]


def assert_watch_too_old(server: ServerProcess, namespace: str, rv: str) -> None:
    status, payload = _raw_watch(
        server, f"/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=2")
    # Kubernetes answers 200 with one ERROR event carrying a 410 Status; a plain 410 Status is also handled
    # by clients (client-go's reflector and the Python client both relist on either).
    if status == 200:
        assert payload and payload[0]["type"] == "ERROR", payload
        error = payload[0]["object"]
    else:
        assert status == 410, payload
        error = payload[0]
    assert error["kind"] == "Status" and error["code"] == 410 and error["reason"] in ("Expired", "Gone"), error
    assert "too old resource version" in error["message"]


@pytest.mark.parametrize("backend", ["etcd", "sqlite"])
def test_objects_survive_api_server_restart(etcd: EtcdServer, backend: str) -> None:
    datastore = f"etcd://{etcd.endpoint}" if backend == "etcd" else "sqlite"
    data_dir = Path(tempfile.mkdtemp(prefix="kyb-restart-"))
    ns = f"t-{uuid.uuid4().hex[:10]}"
    try:
        first = ServerProcess(datastore=datastore, data_dir=data_dir).start()
        try:
            with api_client_for(first) as api:
                core: Api = client.CoreV1Api(api)
                core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
                before = core.create_namespaced_config_map(ns, configmap("kept", v="1"))
                svc = core.create_namespaced_service(ns, {"apiVersion": "v1", "kind": "Service",
                                                          "metadata": {"name": "svc"},
                                                          "spec": {"ports": [{"port": 80}]}})
                core.create_namespaced_config_map(ns, configmap("gone"))
                core.delete_namespaced_config_map("gone", ns)
                last_rv = core.list_namespaced_config_map(ns).metadata.resource_version
        finally:
            assert first.stop(remove=False) == 0, first.log()

        second = ServerProcess(datastore=datastore, data_dir=data_dir).start()
        try:
            with api_client_for(second) as api:
                core = client.CoreV1Api(api)
                after = core.read_namespaced_config_map("kept", ns)
                assert after.data == {"v": "1"}
                assert after.metadata.uid == before.metadata.uid
                assert after.metadata.resource_version == before.metadata.resource_version
                assert [c.metadata.name for c in core.list_namespaced_config_map(ns).items] == ["kept"]
                assert core.read_namespace(ns).status.phase == "Active"
                assert core.read_namespaced_service("svc", ns).spec.cluster_ip == svc.spec.cluster_ip
                # Revisions continue from where they were.
                newer = core.create_namespaced_config_map(ns, configmap("new"))
                assert int(newer.metadata.resource_version) > int(last_rv)
                # The IP of the surviving Service is still taken.
                with pytest.raises(ApiException) as exc:
                    core.create_namespaced_service(ns, {"apiVersion": "v1", "kind": "Service",
                                                        "metadata": {"name": "clash"},
                                                        "spec": {"clusterIP": svc.spec.cluster_ip,
                                                                 "ports": [{"port": 80}]}})
                assert exc.value.status == 422
            # The new watch cache holds no history from before the restart.
            assert_watch_too_old(second, ns, "1")
        finally:
            second.stop(remove=False)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
