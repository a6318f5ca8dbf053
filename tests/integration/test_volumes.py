"""Persistent volumes against a real `kyb server` running the scheduler and the controller-manager, with an
in-process `kyb agent` on the fake runtime: a claim binds, a pod using it gets the volume's path as its mount
source (read-only when asked), the claim is protected while the pod lives, reclaim on delete; a pod whose
claim is missing waits with a FailedMount event and starts once the claim is bound; the scheduler follows a
local volume's node affinity, and a WaitForFirstConsumer claim binds on the node its pod was placed on."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cluster import ServerProcess
from kybernetes.api.models.core_v1 import Event, Node, PersistentVolume, PersistentVolumeClaim, Pod
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.api.models.storage_v1 import StorageClass
from kybernetes.client import Client, load_config
from kybernetes.kubelet.agent import Agent, AgentOptions, NodeOptions, WorkerOptions
from kybernetes.kubelet.agent.fakes import FakeImages, FakeRuntime
from kybernetes.machinery.errors import NotFoundError


@pytest.fixture(scope="module")
def cluster() -> Iterator[ServerProcess]:
    proc = ServerProcess(components=("scheduler", "controller-manager")).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def ns(cluster: ServerProcess) -> str:
    name = f"vol-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    return name


@pytest.fixture
def tmp_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kyb-vol-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Node_:
    """A `kyb agent` in-process on the fake runtime (its containers' configs are inspectable)."""

    def __init__(self, client: Client, data_dir: Path) -> None:
        self.client, self.name = client, f"vol-node-{uuid.uuid4().hex[:8]}"
        self.runtime, self.data_dir = FakeRuntime(), data_dir
        self.agent = Agent(client=client, node_name=self.name, runtime=self.runtime, images=FakeImages(),
                           data_dir=data_dir, options=AgentOptions(
                               host_ip="192.0.2.20", node=NodeOptions(lease_interval=1, status_interval=5),
                               workers=WorkerOptions(resync_seconds=0.2)))

    def mounts(self, pod_uid: str) -> dict[str, tuple[str, bool]]:
        configs = [c.config for c in self.runtime.containers.values()
                   if c.config.labels.get("io.kubernetes.pod.uid") == pod_uid]
        assert configs, "no container of the pod was created"
        return {m.container_path: (m.host_path, m.readonly) for m in configs[0].mounts}


@pytest.fixture
async def node(cluster: ServerProcess) -> AsyncIterator[Node_]:
    data = Path(tempfile.mkdtemp(prefix="kyb-vol-agent-"))
    async with Client(load_config(kubeconfig=str(cluster.kubeconfig))) as client:
        n = Node_(client, data)
        task = asyncio.get_running_loop().create_task(n.agent.run())
        try:
            async with asyncio.timeout(20):
                await n.agent.ready.wait()
            yield n
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(NotFoundError):
                await client.resource(Node).delete(name=n.name)
            shutil.rmtree(data, ignore_errors=True)


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + within
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = await check()
            if result:
                return result
        except (AssertionError, NotFoundError) as e:
            last = e
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last}")


def hostpath_pv(name: str, path: Path, *, size: str = "1Gi", policy: str = "Retain", klass: str = "",
                local_on: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                            "persistentVolumeReclaimPolicy": policy, "storageClassName": klass}
    if local_on:
        spec["local"] = {"path": str(path)}
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [local_on]}]}]}}
    else:
        spec["hostPath"] = {"path": str(path), "type": "DirectoryOrCreate"}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def claim(name: str, ns: str, *, size: str = "500Mi", klass: str = "") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": klass,
                     "resources": {"requests": {"storage": size}}}}


def pod_using(name: str, ns: str, claim_name: str, *, node: str = "", read_only: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 0,
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [
            {"name": "data", "mountPath": "/data", "readOnly": read_only}]}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec}


MODELS: dict[str, type[Any]] = {"PersistentVolume": PersistentVolume, "PersistentVolumeClaim": PersistentVolumeClaim,
                                 "Pod": Pod, "StorageClass": StorageClass}


async def create(client: Client, body: dict[str, Any]) -> None:
    model = MODELS[body["kind"]]
    await client.resource(model).create(msgspec.convert(body, model))


async def get_claim(client: Client, ns: str, name: str) -> PersistentVolumeClaim:
    return await client.resource(PersistentVolumeClaim).get(name=name, namespace=ns)


async def get_pod(client: Client, ns: str, name: str) -> Pod:
    return await client.resource(Pod).get(name=name, namespace=ns)


async def test_claim_binds_pod_mounts_protection_and_reclaim(node: Node_, ns: str, tmp_dir: Path) -> None:
    client = node.client
    pv_name = f"pv-{uuid.uuid4().hex[:8]}"
    await create(client, hostpath_pv(pv_name, tmp_dir / "export", policy="Delete"))
    await create(client, claim("data", ns))

    async def bound() -> PersistentVolumeClaim | None:
        c = await get_claim(client, ns, "data")
        return c if c.status is not None and c.status.phase == "Bound" else None

    pvc = await eventually(bound, what="the claim to bind")
    assert pvc.spec.volume_name == pv_name and pvc.status.capacity == {"storage": "1Gi"}
    assert pvc.metadata.annotations["pv.kubernetes.io/bind-completed"] == "yes"
    assert "kubernetes.io/pvc-protection" in pvc.metadata.finalizers
    pv = await client.resource(PersistentVolume).get(name=pv_name)
    assert pv.status.phase == "Bound" and pv.spec.claim_ref.uid == pvc.metadata.uid
    assert "kubernetes.io/pv-protection" in pv.metadata.finalizers

    # scheduled by the scheduler onto the agent's node; the mount source is the volume's path, read-only
    await create(client, pod_using("user", ns, "data", read_only=True))

    async def running() -> Pod | None:
        p = await get_pod(client, ns, "user")
        return p if p.status is not None and p.status.phase == "Running" else None

    p = await eventually(running, what="the pod to run")
    assert p.spec.node_name == node.name
    assert node.mounts(p.metadata.uid)["/data"] == (str(tmp_dir / "export"), True)
    assert (tmp_dir / "export").is_dir()

    # the claim outlives its delete while the pod uses it
    await client.resource(PersistentVolumeClaim).delete(name="data", namespace=ns)
    await asyncio.sleep(1.0)
    held = await get_claim(client, ns, "data")
    assert held.metadata.deletion_timestamp and held.metadata.finalizers == ["kubernetes.io/pvc-protection"]
    await client.resource(Pod).delete(name="user", namespace=ns)

    async def claim_gone() -> bool:
        try:
            await get_claim(client, ns, "data")
        except NotFoundError:
            return True
        return False

    await eventually(claim_gone, what="the claim to go once its pod is gone")

    async def volume_gone() -> bool:
        try:
            await client.resource(PersistentVolume).get(name=pv_name)
        except NotFoundError:
            return True
        return False

    await eventually(volume_gone, what="the Delete reclaim policy to remove the volume")
    assert (tmp_dir / "export").is_dir()  # the controller may not remove hostPath data unless told to


async def test_pod_waits_for_its_claim_with_an_event(node: Node_, ns: str, tmp_dir: Path) -> None:
    client = node.client
    await create(client, pod_using("early", ns, "later", node=node.name))

    async def waiting() -> str:
        p = await get_pod(client, ns, "early")
        for s in (p.status.container_statuses if p.status else None) or []:
            if s.state is not None and s.state.waiting is not None:
                return s.state.waiting.message or ""
        return ""

    message = await eventually(waiting, what="the container to wait")
    assert message == 'persistentvolumeclaim "later" not found'

    async def failed_mount() -> bool:
        events = await client.resource(Event).list(namespace=ns)
        return any(e.reason == "FailedMount" and 'persistentvolumeclaim "later" not found' in (e.message or "")
                   for e in events.items)

    await eventually(failed_mount, what="a FailedMount event")
    pv_name = f"pv-{uuid.uuid4().hex[:8]}"
    await create(client, hostpath_pv(pv_name, tmp_dir / "late"))
    await create(client, claim("later", ns))

    async def running() -> Pod | None:
        p = await get_pod(client, ns, "early")
        return p if p.status is not None and p.status.phase == "Running" else None

    p = await eventually(running, what="the pod to start once its claim is bound")
    assert node.mounts(p.metadata.uid)["/data"] == (str(tmp_dir / "late"), False)
    await client.resource(Pod).delete(name="early", namespace=ns)


async def test_local_volumes_steer_the_scheduler(node: Node_, ns: str, tmp_dir: Path) -> None:
    client = node.client
    other = f"elsewhere-{uuid.uuid4().hex[:6]}"
    await client.resource(Node).create(Node(metadata=ObjectMeta(name=other, labels={
        "kubernetes.io/hostname": other})))
    try:
        # a claim bound to a local volume on another node: this node is rejected for volume affinity
        far = f"pv-{uuid.uuid4().hex[:8]}"
        (tmp_dir / "far").mkdir()
        await create(client, hostpath_pv(far, tmp_dir / "far", klass="", local_on=other))
        await create(client, claim("far", ns))
        await eventually(lambda: _phase_is(client, ns, "far", "Bound"), what="far claim bound")
        await create(client, pod_using("stuck", ns, "far"))

        async def unschedulable() -> str:
            p = await get_pod(client, ns, "stuck")
            return next((c.message or "" for c in (p.status.conditions if p.status else None) or []
                         if c.type == "PodScheduled" and c.status == "False"), "")

        message = await eventually(unschedulable, what="the pod to be unschedulable")
        assert "volume node affinity conflict" in message

        # WaitForFirstConsumer: the claim waits for its pod, then binds on the pod's node
        klass = f"local-{uuid.uuid4().hex[:6]}"
        await create(client, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                              "metadata": {"name": klass}, "provisioner": "kubernetes.io/no-provisioner",
                              "volumeBindingMode": "WaitForFirstConsumer"})
        (tmp_dir / "near").mkdir()
        (tmp_dir / "away").mkdir()
        near, away = f"pv-{uuid.uuid4().hex[:8]}", f"pv-{uuid.uuid4().hex[:8]}"
        await create(client, hostpath_pv(near, tmp_dir / "near", klass=klass, local_on=node.name, size="2Gi"))
        await create(client, hostpath_pv(away, tmp_dir / "away", klass=klass, local_on=other))
        await create(client, claim("delayed", ns, klass=klass))
        await asyncio.sleep(1.0)
        pending = await get_claim(client, ns, "delayed")
        assert pending.status.phase == "Pending" and not pending.spec.volume_name
        await create(client, pod_using("consumer", ns, "delayed"))

        async def consumer_running() -> Pod | None:
            p = await get_pod(client, ns, "consumer")
            return p if p.status is not None and p.status.phase == "Running" else None

        p = await eventually(consumer_running, what="the consumer to run")
        assert p.spec.node_name == node.name
        bound = await get_claim(client, ns, "delayed")
        assert bound.spec.volume_name == near
        assert bound.metadata.annotations["volume.kubernetes.io/selected-node"] == node.name
        assert node.mounts(p.metadata.uid)["/data"] == (str(tmp_dir / "near"), False)
    finally:
        with contextlib.suppress(NotFoundError):
            await client.resource(Node).delete(name=other)


async def _phase_is(client: Client, ns: str, name: str, phase: str) -> bool:
    c = await get_claim(client, ns, name)
    return c.status is not None and c.status.phase == phase
