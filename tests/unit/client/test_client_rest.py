"""The REST client against an in-process fake API server: typed decoding, paging, errors rebuilt from Status
bodies, retries (429 / 5xx with Retry-After, connection failures with backoff), the client-side rate limit and
the watch stream. Time is a FakeClock that jumps on every sleep, so the retry waits are asserted, not slept."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from client_fake_api import Canned, FakeApi, status_body

from kybernetes import __version__
from kybernetes.api.models.apps_v1 import Deployment
from kybernetes.api.models.core_v1 import Container, Pod, PodSpec
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import APIConnectionError, Client, ClientConfig, FakeClock
from kybernetes.client.resource import info_for_model
from kybernetes.machinery.errors import (
    AlreadyExistsError,
    ConflictError,
    GoneError,
    InternalError,
    InvalidError,
    NotFoundError,
    StatusError,
    TooManyRequestsError,
)

Api = tuple[FakeApi, TestServer]


def clock_of(client: Client) -> FakeClock:
    assert isinstance(client.clock, FakeClock)
    return client.clock


def test_model_to_resource() -> None:
    assert info_for_model(Pod).plural == "pods"
    assert info_for_model(Deployment).qualified == "deployments.apps"
    with pytest.raises(ValueError):
        info_for_model(ObjectMeta)


async def test_typed_get_list_and_user_agent(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("ns1", "a", labels={"app": "x"})
    api.put("ns1", "b")
    api.put("ns2", "c", labels={"app": "x"})
    pods = client.resource(Pod)
    pod = await pods.get(namespace="ns1", name="a")
    assert isinstance(pod, Pod) and pod.metadata is not None and pod.metadata.name == "a"
    assert pod.spec is not None and pod.spec.containers and isinstance(pod.spec.containers[0], Container)
    assert api.requests[-1].headers["User-Agent"] == f"kybernetes/{__version__} (unit-test)"
    everything = await pods.list()
    assert [p.metadata.name for p in everything.items if p.metadata] == ["a", "b", "c"]
    assert everything.resource_version == str(api.rv)
    in_ns = await pods.list(namespace="ns1")
    assert len(in_ns.items) == 2
    selected = await pods.list(label_selector="app=x")
    assert {p.metadata.name for p in selected.items if p.metadata} == {"a", "c"}
    assert api.requests[-1].query["labelSelector"] == "app=x"


async def test_paging(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    for i in range(7):
        api.put("ns", f"p{i}")
    pods = client.resource(Pod)
    first = await pods.list(limit=3)
    assert len(first.items) == 3 and first.continue_ == "3" and first.remaining_item_count == 4
    everything = await pods.list_all(page_size=3)
    assert [p.metadata.name for p in everything.items if p.metadata] == [f"p{i}" for i in range(7)]
    assert api.list_count == 4  # one plus three pages


async def test_create_update_patch_delete(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    pods = client.resource(Pod)
    pod = Pod(metadata=ObjectMeta(name="new", namespace="ns"),
              spec=PodSpec(containers=[Container(name="c", image="busybox")]))
    created = await pods.create(pod, field_manager="me")
    assert created.metadata is not None and created.metadata.resource_version == str(api.rv)
    sent = api.requests[-1]
    assert sent.query["fieldManager"] == "me"
    with pytest.raises(AlreadyExistsError):
        await pods.create(pod)
    # PUT with a stale resourceVersion conflicts.
    stale = Pod(metadata=ObjectMeta(name="new", namespace="ns", resource_version="1"), spec=pod.spec)
    with pytest.raises(ConflictError):
        await pods.update(stale)
    updated = await pods.update(created)
    assert updated.metadata and updated.metadata.resource_version == str(api.rv)
    patched = await pods.patch(namespace="ns", name="new", patch={"metadata": {"labels": {"x": "1"}}})
    assert patched.metadata and patched.metadata.labels == {"x": "1"}
    assert api.requests[-1].content_type == "application/merge-patch+json"
    await pods.patch(namespace="ns", name="new", patch=[{"op": "test", "path": "/a", "value": 1}], type="json")
    assert api.requests[-1].content_type == "application/json-patch+json"
    deleted = await pods.delete(namespace="ns", name="new", grace_period_seconds=0)
    assert isinstance(deleted, Pod)
    with pytest.raises(NotFoundError) as info:
        await pods.get(namespace="ns", name="new")
    assert info.value.code == 404 and 'pods "new" not found' in info.value.message


async def test_namespace_required_for_namespaced_single_object_verbs(client: Client) -> None:
    with pytest.raises(ValueError, match="namespaced"):
        await client.resource(Pod).get(name="x")
    with pytest.raises(ValueError, match="field_manager"):
        await client.resource(Pod).patch(namespace="n", name="x", patch={}, type="apply")
    with pytest.raises(ValueError, match="scale"):
        await client.resource(Pod).get_scale(namespace="n", name="x")


async def test_retry_after_429_and_5xx(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("ns", "a")
    api.inject(
        Canned(429, status_body(429, "TooManyRequests", "slow down"), {"Retry-After": "2"}),
        Canned(503, status_body(503, "ServiceUnavailable", "busy"), {"Retry-After": "1"}),
    )
    pod = await client.resource(Pod).get(namespace="ns", name="a")
    assert pod.metadata and pod.metadata.name == "a"
    assert clock_of(client).slept == [2.0, 1.0]
    assert client.retries == 2


async def test_5xx_without_retry_after_is_not_retried(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.inject(Canned(500, status_body(500, "InternalError", "db down")))
    with pytest.raises(InternalError, match="db down"):
        await client.resource(Pod).get(namespace="ns", name="a")
    assert clock_of(client).slept == []


async def test_retries_are_bounded(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.inject(*[Canned(429, status_body(429, "TooManyRequests", "no"), {"Retry-After": "100"})] * 5)
    with pytest.raises(TooManyRequestsError):
        await client.resource(Pod).list()
    # max_retries=3; the wait is capped at 30 s whatever the server asks.
    assert clock_of(client).slept == [30.0, 30.0, 30.0]


async def test_errors_from_status_and_plain_bodies(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    invalid = status_body(422, "Invalid", 'Pod "x" is invalid: spec.containers: Required value')
    invalid["details"] = {"name": "x", "kind": "Pod", "causes": [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}]}
    api.inject(Canned(422, invalid), Canned(502, "bad gateway"), Canned(410, status_body(410, "Expired", "old")))
    with pytest.raises(InvalidError) as info:
        await client.resource(Pod).get(namespace="ns", name="x")
    assert info.value.causes[0].path == "spec.containers" and info.value.name == "x"
    with pytest.raises(StatusError) as plain:
        await client.resource(Pod).get(namespace="ns", name="x")
    assert plain.value.code == 502 and "bad gateway" in plain.value.message
    with pytest.raises(GoneError):
        await client.resource(Pod).list()


async def test_connection_failures_back_off_then_raise() -> None:
    from cluster import free_port

    config = ClientConfig(server=f"http://127.0.0.1:{free_port()}", max_retries=4)
    clock = FakeClock(auto_advance=True)
    async with Client(config, clock=clock) as client:
        with pytest.raises(APIConnectionError):
            await client.resource(Pod).list()
        with pytest.raises(APIConnectionError):
            await client.request("POST", "/api/v1/namespaces/x/pods", body=b"{}")
    assert clock.slept == [0.1, 0.2, 0.4, 0.8] * 2  # POST too: nothing was sent


async def test_client_side_rate_limit(fake_api: Api) -> None:
    _, server = fake_api
    clock = FakeClock(auto_advance=True)
    config = ClientConfig(server=str(server.make_url("")).rstrip("/"), qps=10, burst=2)
    async with Client(config, clock=clock) as client:
        for _ in range(4):
            await client.resource(Pod).list()
    assert clock.slept == pytest.approx([0.1, 0.1])


async def test_watch_stream_and_error_frame(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("ns", "a")
    start = str(api.rv)
    api.put("ns", "b")
    api.put("ns", "a")
    api.remove("ns", "b")
    seen: list[tuple[str, str]] = []
    events = client.resource(Pod).watch(namespace="ns", resource_version=start)
    async with contextlib.aclosing(events):
        async for event in events:
            assert isinstance(event.object, Pod) and event.object.metadata
            seen.append((event.type, event.object.metadata.name or ""))
            if len(seen) == 3:
                break
    assert seen == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    query = api.requests[-1].query
    assert query["watch"] == "1" and query["allowWatchBookmarks"] == "true" and query["resourceVersion"] == start
    api.compact()
    with pytest.raises(GoneError):
        async for _ in client.resource(Pod).watch(resource_version=start):
            pass


async def test_dynamic_resource_uses_dicts(fake_api: Api, client: Client) -> None:
    api, _ = fake_api
    api.put("ns", "a", labels={"k": "v"})
    pods = client.dynamic(group="", version="v1", plural="pods")
    pod: dict[str, Any] = await pods.get(namespace="ns", name="a")
    assert pod["metadata"]["labels"] == {"k": "v"}
    listed = await pods.list(namespace="ns")
    assert listed.items[0]["metadata"]["name"] == "a"
    created = await pods.create({"metadata": {"name": "d", "namespace": "ns"}})
    assert created["metadata"]["name"] == "d"
    raw = await client.request("GET", "/api/v1/namespaces/ns/pods/d")
    assert raw.status == 200 and raw.json()["metadata"]["name"] == "d"
