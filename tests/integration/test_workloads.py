"""Deployments, ReplicaSets and ReplicationControllers against a real `kyb server`, driven by the real kubectl.

The three controllers run in-process (against the server's HTTP API, like the controller-manager), and a
tiny fake kubelet in the test binds every new pod of the test namespace to a made-up node (`pods/binding`),
marks it Running and Ready (`pods/status`), and finishes graceful deletions (delete with grace 0), so the
workloads come up without a scheduler or a node. kubectl runs in a thread so the controllers keep running
on the event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from cluster import ServerProcess
from kybernetes.api.models.core_v1 import Pod
from kybernetes.client import Client, SharedInformerFactory, load_config, object_key
from kybernetes.controllers import deployment, replicaset
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import is_pod_ready
from kybernetes.controllers.replicaset import rc
from kybernetes.machinery.errors import NotFoundError, StatusError
from kybernetes.machinery.timefmt import now_rfc3339

pytestmark = pytest.mark.usefixtures("kubectl_available")

NODE = "fake-node-1"


class FakeKubelet:
    """Binds, starts and readies pods of one namespace; completes their graceful deletion."""

    def __init__(self, *, client: Client, factory: SharedInformerFactory, namespace: str) -> None:
        self.pods = client.resource(Pod)
        self.namespace = namespace
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self.informer = factory.informer(Pod, namespace=namespace)
        self.informer.add_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new))

    def _enqueue(self, pod: Pod) -> None:
        self.keys.put_nowait(object_key(pod))

    async def run(self) -> None:
        while True:
            key = await self.keys.get()
            pod = self.informer.get(key)
            if pod is None or pod.metadata is None:
                continue
            try:
                await self._handle(pod)
            except NotFoundError:
                pass
            except StatusError:
                self.keys.put_nowait(key)  # a conflict with our own previous write: look again
                await asyncio.sleep(0.05)

    async def _handle(self, pod: Pod) -> None:
        meta: Any = pod.metadata
        if meta.deletion_timestamp is not None:
            await self.pods.delete(name=meta.name, namespace=self.namespace, grace_period_seconds=0)
            return
        if not (pod.spec and pod.spec.node_name):
            await self.pods.bind(name=meta.name, namespace=self.namespace, node=NODE, uid=meta.uid)
            return
        if not is_pod_ready(pod):
            now = now_rfc3339()
            await self.pods.patch(name=meta.name, namespace=self.namespace, subresource="status", patch={
                "status": {
                    "phase": "Running", "startTime": now, "podIP": "10.0.0.1", "hostIP": "192.0.2.1",
                    "conditions": [
                        {"type": t, "status": "True", "lastTransitionTime": now}
                        for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
                    ],
                },
            })


@asynccontextmanager
async def control_plane(server: ServerProcess, namespace: str) -> AsyncIterator[SharedInformerFactory]:
    async with Client(load_config(kubeconfig=str(server.kubeconfig), component="controller-manager")) as client:
        factory = SharedInformerFactory(client=client)
        ctx = ControllerContext(client=client, informers=factory)
        controllers = [replicaset.new(ctx), rc.new(ctx), deployment.new(ctx)]
        kubelet = FakeKubelet(client=client, factory=factory, namespace=namespace)
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(factory.run())]
            await asyncio.wait_for(factory.wait_synced(), 20)
            tasks += [tg.create_task(r.run()) for r in ctx.recorders.values()]
            tasks += [tg.create_task(c.run(workers=4)) for c in controllers]
            tasks.append(tg.create_task(kubelet.run()))
            try:
                yield factory
            finally:
                for task in tasks:
                    task.cancel()


async def kubectl(server: ServerProcess, *args: str) -> str:
    result = await asyncio.to_thread(server.kubectl, *args, timeout=120)
    return result.stdout


async def wait_for(what: str, check: Callable[[], Awaitable[Any]], *, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def active_pods(factory: SharedInformerFactory, namespace: str, app: str) -> list[Pod]:
    return [
        p for p in factory.informer(Pod, namespace=namespace).list()
        if p.metadata and (p.metadata.labels or {}).get("app") == app and p.metadata.deletion_timestamp is None
    ]


def available(factory: SharedInformerFactory, namespace: str, app: str) -> int:
    return sum(1 for p in active_pods(factory, namespace, app) if is_pod_ready(p))


async def test_deployment_rollout_update_undo_scale_with_kubectl(server: ServerProcess, namespace: str) -> None:
    ns = ("-n", namespace)
    async with control_plane(server, namespace) as factory:
        await kubectl(server, "create", "deployment", "web", "--image=nginx", "--replicas=10", *ns)
        out = await kubectl(server, "rollout", "status", "deployment/web", "--timeout=90s", *ns)
        assert 'deployment "web" successfully rolled out' in out
        assert available(factory, namespace, "web") == 10

        # Watch availability through the update: never below 10 - maxUnavailable (25% of 10, rounded down).
        lowest = [10]
        pods_informer = factory.informer(Pod, namespace=namespace)

        def observe(*_: Any) -> None:
            lowest[0] = min(lowest[0], available(factory, namespace, "web"))

        pods_informer.add_handler(on_update=observe, on_delete=observe)
        await kubectl(server, "set", "image", "deployment/web", "nginx=nginx:2", *ns)
        out = await kubectl(server, "rollout", "status", "deployment/web", "--timeout=90s", *ns)
        assert 'deployment "web" successfully rolled out' in out
        assert 8 <= lowest[0] < 10, lowest  # pods were replaced, never below the budget
        await wait_for("only new pods", lambda: asyncio.sleep(0, {
            p.spec.containers[0].image for p in active_pods(factory, namespace, "web")} == {"nginx:2"}))  # type: ignore[union-attr]

        rs_list = json.loads(await kubectl(server, "get", "rs", "-o", "json", *ns))["items"]
        assert len(rs_list) == 2
        by_revision = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in rs_list}
        assert by_revision["2"]["spec"]["replicas"] == 10 and by_revision["1"]["spec"]["replicas"] == 0
        assert by_revision["2"]["metadata"]["labels"]["pod-template-hash"]
        history = await kubectl(server, "rollout", "history", "deployment/web", *ns)
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

        events = await kubectl(server, "get", "events", "--field-selector", "involvedObject.name=web", *ns)
        assert "ScalingReplicaSet" in events and "Scaled up replica set web-" in events

        # Undo: back to the first template, as revision 3.
        await kubectl(server, "rollout", "undo", "deployment/web", *ns)
        out = await kubectl(server, "rollout", "status", "deployment/web", "--timeout=90s", *ns)
        assert "successfully rolled out" in out
        await wait_for("only old-template pods", lambda: asyncio.sleep(0, {
            p.spec.containers[0].image for p in active_pods(factory, namespace, "web")} == {"nginx"}))  # type: ignore[union-attr]
        history = await kubectl(server, "rollout", "history", "deployment/web", *ns)
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]
        d = json.loads(await kubectl(server, "get", "deployment", "web", "-o", "json", *ns))
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        conditions = {c["type"]: c for c in d["status"]["conditions"]}
        assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
        assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"

        # Scale.
        await kubectl(server, "scale", "deployment/web", "--replicas=3", *ns)
        await wait_for("3 pods", lambda: asyncio.sleep(0, len(active_pods(factory, namespace, "web")) == 3))
        out = await kubectl(server, "rollout", "status", "deployment/web", "--timeout=60s", *ns)
        assert "successfully rolled out" in out

        # Pause, change the image while paused (nothing rolls), resume (it rolls out).
        await kubectl(server, "rollout", "pause", "deployment/web", *ns)
        await kubectl(server, "set", "image", "deployment/web", "nginx=nginx:3", *ns)

        async def paused_condition() -> bool:
            d = json.loads(await kubectl(server, "get", "deployment", "web", "-o", "json", *ns))
            return any(c["reason"] == "DeploymentPaused" for c in d["status"].get("conditions", []))

        await wait_for("paused condition", paused_condition)
        assert len(json.loads(await kubectl(server, "get", "rs", "-o", "json", *ns))["items"]) == 2
        await kubectl(server, "rollout", "resume", "deployment/web", *ns)
        out = await kubectl(server, "rollout", "status", "deployment/web", "--timeout=90s", *ns)
        assert "successfully rolled out" in out

        # Restart: a new ReplicaSet whose template carries restartedAt. revisionHistoryLimit keeps the rest.
        await kubectl(server, "rollout", "restart", "deployment/web", *ns)
        out = await kubectl(server, "rollout", "status", "deployment/web", "--timeout=90s", *ns)
        assert "successfully rolled out" in out
        rs_list = json.loads(await kubectl(server, "get", "rs", "-o", "json", *ns))["items"]
        assert len(rs_list) == 4
        newest = max(rs_list, key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
        assert "kubectl.kubernetes.io/restartedAt" in newest["spec"]["template"]["metadata"]["annotations"]
        assert newest["spec"]["replicas"] == 3
        assert newest["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "5"


async def test_replication_controller_scales_up_and_down(server: ServerProcess, namespace: str) -> None:
    ns = ("-n", namespace)
    manifest = {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "db"},
        "spec": {"replicas": 2, "selector": {"app": "db"}, "template": {
            "metadata": {"labels": {"app": "db"}},
            "spec": {"containers": [{"name": "db", "image": "postgres"}]}}},
    }
    async with control_plane(server, namespace) as factory:
        await asyncio.to_thread(server.kubectl, "apply", "-f", "-", *ns, input=json.dumps(manifest))

        async def ready(n: int) -> bool:
            rc_obj = json.loads(await kubectl(server, "get", "rc", "db", "-o", "json", *ns))
            status = rc_obj.get("status", {})
            return bool(status.get("replicas") == n and status.get("readyReplicas", 0) == n
                        and len(active_pods(factory, namespace, "db")) == n)

        await wait_for("2 ready replicas", lambda: ready(2))
        await kubectl(server, "scale", "rc/db", "--replicas=4", *ns)
        await wait_for("4 ready replicas", lambda: ready(4))
        await kubectl(server, "scale", "rc/db", "--replicas=1", *ns)
        await wait_for("1 ready replica", lambda: ready(1))
        for pod in active_pods(factory, namespace, "db"):
            (ref,) = pod.metadata.owner_references or []  # type: ignore[union-attr]
            assert (ref.kind, ref.name, ref.controller) == ("ReplicationController", "db", True)
        events = await kubectl(server, "get", "events", *ns)
        assert "SuccessfulCreate" in events and "Created pod: db-" in events
        assert "SuccessfulDelete" in events and "Deleted pod: db-" in events


async def test_replica_set_adopts_an_orphan_and_reports_failed_creates(server: ServerProcess, namespace: str) -> None:
    ns = ("-n", namespace)
    priority = f"gold-{namespace}"
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": {"app": "q"}},
              "spec": {"containers": [{"name": "c", "image": "x"}]}}
    # Pods naming a PriorityClass that does not exist are forbidden by admission.
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "q"},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "q"}}, "template": {
              "metadata": {"labels": {"app": "q"}},
              "spec": {"priorityClassName": priority, "containers": [{"name": "c", "image": "x"}]}}}}
    async with control_plane(server, namespace) as factory:
        await asyncio.to_thread(server.kubectl, "apply", "-f", "-", *ns, input=json.dumps(orphan))
        await asyncio.to_thread(server.kubectl, "apply", "-f", "-", *ns, input=json.dumps(rs))

        async def adopted() -> bool:
            pod = json.loads(await kubectl(server, "get", "pod", "orphan", "-o", "json", *ns))
            return [r["name"] for r in pod["metadata"].get("ownerReferences", [])] == ["q"]

        await wait_for("orphan adopted", adopted)

        async def failure() -> dict[str, Any] | None:
            obj = json.loads(await kubectl(server, "get", "rs", "q", "-o", "json", *ns))
            return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "ReplicaFailure"), None)

        condition = await wait_for("ReplicaFailure", failure)
        assert condition["reason"] == "FailedCreate" and "forbidden" in condition["message"]
        assert len(active_pods(factory, namespace, "q")) == 1
        events = await kubectl(server, "get", "events", *ns)
        assert "FailedCreate" in events and "Error creating: pods" in events

        # Once the PriorityClass exists the retries succeed and the condition goes away.
        await kubectl(server, "create", "priorityclass", priority, "--value=1000")
        try:
            await wait_for("3 pods", lambda: asyncio.sleep(0, len(active_pods(factory, namespace, "q")) == 3))

            async def no_failure() -> bool:
                return await failure() is None

            await wait_for("no ReplicaFailure", no_failure)
        finally:
            await kubectl(server, "delete", "priorityclass", priority)
