"""`kybernetes.client` against a real `kyb server`: typed CRUD round trips of Pods and Deployments with the
msgspec Structs, subresources (status, scale, binding, eviction, token), server-side apply, watch, an
informer that follows adds / updates / deletes and re-lists when its position is gone, leader election with
two electors (renewal, release, takeover after expiry) and Event aggregation."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest

from cluster import ServerProcess
from kybernetes.api.models.apps_v1 import Deployment, DeploymentSpec
from kybernetes.api.models.coordination_v1 import Lease
from kybernetes.api.models.core_v1 import (
    Container,
    ContainerPort,
    Event,
    Namespace,
    Pod,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    ResourceRequirements,
    ServiceAccount,
)
from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta, Preconditions
from kybernetes.client import (
    INDEX_NODE_NAME,
    Client,
    EventRecorder,
    Informer,
    LeaderElector,
    LeadershipLost,
    ResourceClient,
    TypedResource,
    WatchEvent,
    load_config,
    node_name_index,
    object_key,
)
from kybernetes.machinery.errors import (
    AlreadyExistsError,
    ConflictError,
    GoneError,
    InvalidError,
    NotFoundError,
)


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    async with Client(load_config(kubeconfig=str(server.kubeconfig), component="it")) as c:
        yield c


@pytest.fixture
async def ns(client: Client) -> str:
    name = f"c-{uuid.uuid4().hex[:10]}"
    await client.resource(Namespace).create(Namespace(metadata=ObjectMeta(name=name)))
    return name


def make_pod(name: str, ns: str, **labels: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=ns, labels=labels or None, annotations={"note": "x"}),
        spec=PodSpec(containers=[Container(
            name="main", image="busybox:1.36", command=["sleep", "3600"],
            ports=[ContainerPort(container_port=8080, name="http", protocol="TCP")],
            resources=ResourceRequirements(requests={"cpu": "100m", "memory": "64Mi"}),
        )]),
    )


async def eventually(check: Callable[[], bool | Awaitable[bool]], *, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while True:
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)


async def test_pod_crud_round_trip(client: Client, ns: str) -> None:
    pods = client.resource(Pod)
    pod = make_pod("web", ns, app="web")
    created = await pods.create(pod)
    assert created.metadata and created.metadata.uid and created.metadata.resource_version
    assert created.spec and created.spec.containers and pod.spec and pod.spec.containers
    assert created.spec.containers[0].ports == pod.spec.containers[0].ports
    assert created.spec.containers[0].resources == pod.spec.containers[0].resources
    got = await pods.get(namespace=ns, name="web")
    assert got.metadata and got.metadata.uid == created.metadata.uid and got.spec == created.spec
    with pytest.raises(AlreadyExistsError):
        await pods.create(pod)

    listed = await pods.list(namespace=ns, label_selector="app=web")
    assert [p.metadata.name for p in listed.items if p.metadata] == ["web"] and listed.resource_version

    labelled = msgspec.structs.replace(got, metadata=msgspec.structs.replace(got.metadata, labels={"app": "web", "v": "2"}))
    updated = await pods.update(labelled)
    assert updated.metadata and updated.metadata.labels == {"app": "web", "v": "2"}
    with pytest.raises(ConflictError):
        await pods.update(labelled)  # the resourceVersion is stale now

    with_status = msgspec.structs.replace(updated, status=PodStatus(phase="Running", message="up"))
    status_updated = await pods.update_status(with_status)
    assert status_updated.status and status_updated.status.phase == "Running"

    patched = await pods.patch(namespace=ns, name="web", type="strategic",
                               patch={"metadata": {"annotations": {"extra": "y"}}})
    assert patched.metadata and patched.metadata.annotations == {"note": "x", "extra": "y"}

    with pytest.raises(ConflictError):
        await pods.delete(namespace=ns, name="web", preconditions=Preconditions(uid="not-the-uid"))
    deleted = await pods.delete(namespace=ns, name="web")
    assert isinstance(deleted, Pod)
    with pytest.raises(NotFoundError):
        await pods.get(namespace=ns, name="web")


async def test_deployment_apply_scale_and_validation(client: Client, ns: str) -> None:
    deployments = client.resource(Deployment)
    labels = {"app": "api"}
    deployment = Deployment(
        api_version="apps/v1", kind="Deployment",
        metadata=ObjectMeta(name="api", namespace=ns),
        spec=DeploymentSpec(
            replicas=2, selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=make_pod("x", ns).spec),
        ),
    )
    applied = await deployments.patch(namespace=ns, name="api", patch=deployment, type="apply", field_manager="it")
    assert applied.spec and applied.spec.replicas == 2 and applied.metadata and applied.metadata.generation == 1
    assert applied.spec.strategy and applied.spec.strategy.type == "RollingUpdate"  # defaulted by the server
    scale = await deployments.get_scale(namespace=ns, name="api")
    assert scale.spec and scale.spec.replicas == 2
    scaled = await deployments.update_scale(namespace=ns, name="api", replicas=5)
    assert scaled.spec and scaled.spec.replicas == 5
    again = await deployments.get(namespace=ns, name="api")
    assert again.spec and again.spec.replicas == 5
    page = await deployments.list_all(namespace=ns, page_size=1)
    assert [d.metadata.name for d in page.items if d.metadata] == ["api"]
    assert deployment.spec is not None
    bad = msgspec.structs.replace(deployment, metadata=ObjectMeta(name="bad", namespace=ns),
                                  spec=msgspec.structs.replace(deployment.spec, selector=LabelSelector()))
    with pytest.raises(InvalidError) as info:
        await deployments.create(bad)
    assert info.value.causes


async def test_pod_subresources_and_dynamic(client: Client, ns: str) -> None:
    pods = client.resource(Pod)
    await pods.create(make_pod("bind-me", ns))
    await pods.bind(namespace=ns, name="bind-me", node="node-a")
    bound = await pods.get(namespace=ns, name="bind-me")
    assert bound.spec and bound.spec.node_name == "node-a"
    await pods.create(make_pod("evict-me", ns))
    await pods.evict(namespace=ns, name="evict-me")
    with pytest.raises(NotFoundError):
        await pods.get(namespace=ns, name="evict-me")

    await client.resource(ServiceAccount).create(ServiceAccount(metadata=ObjectMeta(name="robot", namespace=ns)))
    token = await client.resource(ServiceAccount).create_token(namespace=ns, name="robot", expiration_seconds=3600)
    assert token.status and token.status.token and token.status.token.count(".") == 2

    dynamic = client.dynamic(group="", version="v1", plural="configmaps")
    created: dict[str, Any] = await dynamic.create({"metadata": {"name": "cm", "namespace": ns}, "data": {"a": "1"}})
    assert created["kind"] == "ConfigMap" and created["data"] == {"a": "1"}
    assert (await dynamic.get(namespace=ns, name="cm"))["data"] == {"a": "1"}
    await dynamic.delete_collection(namespace=ns)
    assert (await dynamic.list(namespace=ns)).items == []


async def test_watch_sees_changes_in_order(client: Client, ns: str) -> None:
    pods = client.resource(Pod)
    start = (await pods.list(namespace=ns)).resource_version
    seen: list[tuple[str, str]] = []

    async def follow() -> None:
        events = pods.watch(namespace=ns, resource_version=start)
        async with contextlib.aclosing(events):
            async for event in events:
                if event.type != "BOOKMARK" and event.object.metadata:
                    seen.append((event.type, event.object.metadata.name or ""))
                if len(seen) == 3:
                    return

    async with asyncio.TaskGroup() as tg:
        watcher = tg.create_task(follow())
        await pods.create(make_pod("w", ns))
        await pods.patch(namespace=ns, name="w", patch={"metadata": {"labels": {"x": "1"}}})
        await pods.delete(namespace=ns, name="w")
        async with asyncio.timeout(10):
            await watcher
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


class ForgetfulPods(TypedResource[Pod]):
    """The real pods resource, except that one chosen watch first runs `before` (changes the informer does
    not see) and then fails with the 410 the server sends for a compacted resourceVersion. (A fresh test
    server still holds its whole history, so a real 410 cannot be provoked on demand here; the unit tests
    cover the ERROR frame on the wire. What this checks is the re-list against the real server.)"""

    forget_next = False
    before: Callable[[], Awaitable[None]] | None = None

    async def watch(self, **kwargs: Any) -> AsyncGenerator[WatchEvent[Pod], None]:
        if self.forget_next:
            self.forget_next = False
            if self.before is not None:
                await self.before()
            raise GoneError(f"too old resource version: {kwargs.get('resource_version')}")
        async for event in super().watch(**kwargs):
            yield event


async def test_informer_follows_changes_and_relists_on_gone(client: Client, ns: str) -> None:
    pods = client.resource(Pod)
    await pods.create(make_pod("p1", ns))
    await pods.create(make_pod("p2", ns))
    resource = ForgetfulPods(client=client, model=Pod)
    informer: Informer[Pod] = Informer(resource=resource, namespace=ns, watch_timeout=(1, 1),
                                       indexers={INDEX_NODE_NAME: node_name_index}, page_size=1)
    events: list[tuple[str, str]] = []
    informer.add_handler(
        on_add=lambda p: events.append(("add", object_key(p))),
        on_update=lambda old, new: events.append(("update", object_key(new))),
        on_delete=lambda p: events.append(("delete", object_key(p))),
    )
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(informer.run())
        async with asyncio.timeout(10):
            await informer.wait_synced()
        assert sorted(events) == [("add", f"{ns}/p1"), ("add", f"{ns}/p2")]
        await pods.create(make_pod("p3", ns))
        await pods.bind(namespace=ns, name="p1", node="n1")
        await pods.delete(namespace=ns, name="p2")
        await eventually(lambda: len(events) == 5)
        assert events[2:] == [("add", f"{ns}/p3"), ("update", f"{ns}/p1"), ("delete", f"{ns}/p2")]
        assert [object_key(p) for p in informer.by_index(INDEX_NODE_NAME, "n1")] == [f"{ns}/p1"]

        async def missed() -> None:
            await pods.delete(namespace=ns, name="p3")
            await pods.create(make_pod("p4", ns))
            await pods.patch(namespace=ns, name="p1", patch={"metadata": {"labels": {"seen": "late"}}})

        resource.before = missed
        resource.forget_next = True  # the next watch (after the 1 s timeout) comes back 410
        await eventually(lambda: len(events) == 8)
        assert sorted(events[5:]) == [("add", f"{ns}/p4"), ("delete", f"{ns}/p3"), ("update", f"{ns}/p1")]
        assert sorted(informer.store.keys()) == [f"{ns}/p1", f"{ns}/p4"]
        p1 = informer.get(f"{ns}/p1")
        assert p1 and p1.metadata and p1.metadata.labels == {"seen": "late"}
        stats = informer.statistics()
        assert stats.relists_gone == 1 and stats.lists == 2
        await pods.create(make_pod("p5", ns))  # and it keeps following after the re-list
        await eventually(lambda: informer.get(f"{ns}/p5") is not None)
        task.cancel()


async def test_leader_election_two_electors(client: Client, ns: str, server: ServerProcess) -> None:
    timings: dict[str, Any] = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.2}
    async with Client(load_config(kubeconfig=str(server.kubeconfig), component="b")) as other:
        a = LeaderElector(client=client, namespace=ns, name="lock", identity="a", release_on_exit=False, **timings)
        b = LeaderElector(client=other, namespace=ns, name="lock", identity="b", **timings)
        a_done = asyncio.Event()
        b_leading = asyncio.Event()
        loop = asyncio.get_running_loop()
        a_stopped_at = 0.0

        async def run_a() -> None:
            nonlocal a_stopped_at
            async with a.leading():
                assert a.is_leader
                await a_done.wait()
            a_stopped_at = loop.time()

        async def run_b() -> None:
            async with b.leading():
                b_leading.set()
                await asyncio.Event().wait()

        async with asyncio.TaskGroup() as tg:
            ta = tg.create_task(run_a())
            await eventually(lambda: a.is_leader)
            tb = tg.create_task(run_b())
            await asyncio.sleep(3.0)  # longer than the lease: a keeps renewing, b never gets in
            assert not b_leading.is_set() and not b.is_leader
            lease = await client.resource(Lease).get(namespace=ns, name="lock")
            assert lease.spec and lease.spec.holder_identity == "a" and lease.spec.lease_duration_seconds == 2
            assert a.statistics().renewals >= 5
            a_done.set()  # a stops renewing without releasing: b must wait for expiry
            await ta
            async with asyncio.timeout(10):
                await b_leading.wait()
            waited = loop.time() - a_stopped_at
            assert waited >= 1.5, waited  # not before the lease (as b saw it) expired
            lease = await client.resource(Lease).get(namespace=ns, name="lock")
            assert lease.spec and lease.spec.holder_identity == "b" and lease.spec.lease_transitions == 1
            tb.cancel()
        # b released on the way out: a third candidate gets the lease at once.
        lease = await client.resource(Lease).get(namespace=ns, name="lock")
        assert lease.spec and not lease.spec.holder_identity
        c = LeaderElector(client=client, namespace=ns, name="lock", identity="c", **timings)
        async with asyncio.timeout(1.0):
            await c.acquire()
        await c.release()


async def test_leadership_lost_cancels_the_body(client: Client, ns: str) -> None:
    elector = LeaderElector(client=client, namespace=ns, name="stolen", identity="me",
                            lease_duration=2.0, renew_deadline=1.5, retry_period=0.2)
    leases = client.resource(Lease)
    body_cancelled = False
    with pytest.raises(LeadershipLost):
        async with elector.leading():
            lease = await leases.get(namespace=ns, name="stolen")
            assert lease.spec is not None
            await leases.update(msgspec.structs.replace(
                lease, spec=msgspec.structs.replace(lease.spec, holder_identity="thief")))
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                body_cancelled = True
                raise
    assert body_cancelled and not elector.is_leader


async def test_event_recorder_aggregates_repeats(client: Client, ns: str) -> None:
    pod = await client.resource(Pod).create(make_pod("noisy", ns))
    recorder = EventRecorder(client=client, component="kyb-test", host="node-1")
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(recorder.run())
        listed_pod = (await client.resource(Pod).list(namespace=ns)).items[0]  # no kind on list items
        recorder.event(listed_pod, type="Warning", reason="BackOff", message="restarting failed container")
        await recorder.wait_idle()
        events = (await client.resource(Event).list(namespace=ns)).items
        assert len(events) == 1 and events[0].count == 1
        recorder.event(pod, type="Warning", reason="BackOff", message="restarting failed container")
        recorder.event(pod, type="Normal", reason="Pulled", message="image present")
        await recorder.wait_idle()
        task.cancel()
    events = sorted((await client.resource(Event).list(namespace=ns)).items, key=lambda e: e.reason or "")
    assert [(e.reason, e.count) for e in events] == [("BackOff", 2), ("Pulled", 1)]
    backoff = events[0]
    assert backoff.metadata and backoff.metadata.name and backoff.metadata.name.startswith("noisy.")
    assert backoff.involved_object and backoff.involved_object.kind == "Pod"
    assert backoff.involved_object.uid == (pod.metadata.uid if pod.metadata else None)
    assert backoff.source and backoff.source.component == "kyb-test" and backoff.source.host == "node-1"
    assert backoff.type == "Warning" and backoff.first_timestamp and backoff.last_timestamp
    stats = recorder.statistics()
    assert stats.created == 2 and stats.aggregated == 1 and stats.failed == 0


async def test_watch_resource_client_generic_typing(client: Client) -> None:
    # A ResourceClient is what informers accept; typed and dynamic ones both qualify.
    resource: ResourceClient[Pod] = client.resource(Pod)
    assert resource.info.plural == "pods"
