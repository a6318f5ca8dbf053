"""Job, CronJob, DaemonSet and StatefulSet controllers against a real `kyb server`, with the real kubectl.

The controllers run in-process (their `new(ctx)` over shared informers, exactly as the controller-manager
builds them). A tiny fake kubelet in the test stands in for the scheduler and the nodes: it binds each pod
of the test namespace through `pods/binding` (daemon pods to the node their affinity names, others to a
fake node), then reports it Running and Ready through `pods/status` — or, for Job pods, Succeeded (Failed
when the pod template carries the annotation `test/outcome: fail`) — and finishes graceful deletions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cluster import ServerProcess
from kybernetes.api.models.core_v1 import Pod
from kybernetes.client import Client, SharedInformerFactory, load_config
from kybernetes.controllers import cronjob, daemonset, job, statefulset
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import WallClock
from kybernetes.controllers.cronjob.controller import CronJobController
from kybernetes.controllers.daemonset.placement import target_node
from kybernetes.machinery.errors import ConflictError, NotFoundError, StatusError
from kybernetes.machinery.timefmt import format_rfc3339

pytestmark = pytest.mark.usefixtures("kubectl_available")
DEADLINE = 30.0


# ---- the fake kubelet ----------------------------------------------------------------------------------


def _now() -> str:
    return format_rfc3339(datetime.now(UTC))


def _running(pod: Pod) -> dict[str, Any]:
    now = _now()
    containers = [c.name for c in (pod.spec.containers if pod.spec else None) or []]
    return {"status": {
        "phase": "Running", "startTime": now, "podIP": "10.244.0.10", "hostIP": "10.0.0.1",
        "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                       for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        "containerStatuses": [{"name": n, "ready": True, "started": True, "restartCount": 0, "image": "img",
                               "imageID": "", "state": {"running": {"startedAt": now}}} for n in containers],
    }}


def _finished(pod: Pod, *, failed: bool) -> dict[str, Any]:
    now = _now()
    containers = [c.name for c in (pod.spec.containers if pod.spec else None) or []]
    code, reason = (1, "Error") if failed else (0, "Completed")
    return {"status": {
        "phase": "Failed" if failed else "Succeeded", "startTime": now,
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now}],
        "containerStatuses": [{"name": n, "ready": False, "restartCount": 0, "image": "img", "imageID": "",
                               "state": {"terminated": {"exitCode": code, "reason": reason, "startedAt": now,
                                                        "finishedAt": now}}} for n in containers],
    }}


async def fake_kubelet(*, client: Client, namespace: str) -> None:
    pods = client.resource(Pod)

    async def handle(pod: Pod) -> None:
        meta, spec = pod.metadata, pod.spec
        assert meta is not None and spec is not None
        name = meta.name or ""
        if meta.deletion_timestamp:
            if spec.node_name:
                await pods.delete(name=name, namespace=namespace, grace_period_seconds=0)
            return
        if not spec.node_name:
            await pods.bind(name=name, namespace=namespace, node=target_node(pod) or "fake-node-1")
            return
        phase = pod.status.phase if pod.status else None
        if phase not in (None, "Pending"):
            return
        labels = meta.labels or {}
        if "batch.kubernetes.io/job-name" in labels or "job-name" in labels:
            failed = (meta.annotations or {}).get("test/outcome") == "fail"
            body = _finished(pod, failed=failed)
        else:
            body = _running(pod)
        await pods.patch(name=name, namespace=namespace, subresource="status", type="merge", patch=body)

    while True:
        listed = await pods.list(namespace=namespace)
        for pod in listed.items:
            with contextlib.suppress(NotFoundError, ConflictError):
                await handle(pod)
        try:
            async for event in pods.watch(namespace=namespace, resource_version=listed.resource_version,
                                          timeout_seconds=60):
                if event.type in ("ADDED", "MODIFIED"):
                    try:
                        await handle(event.object)
                    except (NotFoundError, ConflictError):
                        pass
                    except StatusError as e:  # e.g. binding an already bound pod: the next event settles it
                        if e.code != 409:
                            raise
        except StatusError:
            continue


# ---- harness -------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def control_plane(server: ServerProcess, namespace: str, *,
                        cronjob_controller: Callable[[ControllerContext], Any] = cronjob.new) -> AsyncIterator[Client]:
    async with Client(load_config(kubeconfig=str(server.kubeconfig), component="test-controllers")) as client:
        ctx = ControllerContext(client=client, informers=SharedInformerFactory(client=client),
                                options={"job-pod-failure-backoff": "0"})
        controllers = [job.new(ctx), cronjob_controller(ctx), daemonset.new(ctx), statefulset.new(ctx)]
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(ctx.informers.run())]
            await asyncio.wait_for(ctx.informers.wait_synced(), DEADLINE)
            tasks += [tg.create_task(r.run()) for r in ctx.recorders.values()]
            tasks += [tg.create_task(c.run(workers=2)) for c in controllers]
            tasks.append(tg.create_task(fake_kubelet(client=client, namespace=namespace)))
            try:
                yield client
            finally:
                for task in tasks:
                    task.cancel()


async def kubectl(server: ServerProcess, *args: str, input: str | None = None) -> str:
    result = await asyncio.to_thread(server.kubectl, *args, input=input)
    return result.stdout


async def kubectl_json(server: ServerProcess, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(await kubectl(server, *args, "-o", "json"))
    return out


async def eventually(check: Callable[[], Awaitable[bool]], *, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _row(table: str, name: str) -> list[str]:
    for line in table.splitlines()[1:]:
        cells = line.split()
        if cells and cells[0] == name:
            return cells
    return []


JOB = """
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  completions: {completions}
  parallelism: {parallelism}
  backoffLimit: {backoff}
  template:
    metadata: {{annotations: {{test/outcome: "{outcome}"}}}}
    spec:
      restartPolicy: Never
      containers: [{{name: pi, image: busybox, command: ["true"]}}]
"""


# ---- Job ---------------------------------------------------------------------------------------------------


async def test_job_runs_to_completion(server: ServerProcess, namespace: str) -> None:
    async with control_plane(server, namespace):
        await kubectl(server, "-n", namespace, "create", "-f", "-",
                      input=JOB.format(name="pi", completions=3, parallelism=2, backoff=6, outcome="ok"))

        async def complete() -> bool:
            row = _row(await kubectl(server, "-n", namespace, "get", "job", "pi"), "pi")
            return row[1:3] == ["Complete", "3/3"]

        await eventually(complete, what="job pi Complete 3/3")
        got = await kubectl_json(server, "-n", namespace, "get", "job", "pi")
        types = [c["type"] for c in got["status"]["conditions"]]
        assert types == ["SuccessCriteriaMet", "Complete"]
        assert got["status"]["succeeded"] == 3 and got["status"].get("active", 0) == 0
        assert got["status"]["completionTime"] and got["status"]["startTime"]
        pods = (await kubectl_json(server, "-n", namespace, "get", "pods", "-l", "batch.kubernetes.io/job-name=pi"))
        assert len(pods["items"]) == 3
        assert all(not p["metadata"].get("finalizers") for p in pods["items"])
        events = await kubectl(server, "-n", namespace, "get", "events", "--field-selector",
                               "involvedObject.name=pi")
        assert "Created pod: pi-" in events


async def test_job_backoff_limit_fails(server: ServerProcess, namespace: str) -> None:
    async with control_plane(server, namespace):
        await kubectl(server, "-n", namespace, "create", "-f", "-",
                      input=JOB.format(name="boom", completions=1, parallelism=1, backoff=1, outcome="fail"))

        async def failed() -> bool:
            return _row(await kubectl(server, "-n", namespace, "get", "job", "boom"), "boom")[1:2] == ["Failed"]

        await eventually(failed, what="job boom Failed")
        got = await kubectl_json(server, "-n", namespace, "get", "job", "boom")
        last = got["status"]["conditions"][-1]
        assert (last["type"], last["reason"]) == ("Failed", "BackoffLimitExceeded")
        assert got["status"]["failed"] == 2


# ---- CronJob ----------------------------------------------------------------------------------------------


CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox, command: ["true"]}]
"""


async def test_cronjob_manual_trigger_and_due_schedule(server: ServerProcess, namespace: str) -> None:
    # The CronJob controller here runs on a wall clock 1 s past the next minute boundary after creation:
    # its "* * * * *" schedule is due at once, without waiting for a real minute to turn.
    created = datetime.now(UTC)
    boundary = created.replace(second=0, microsecond=0) + timedelta(minutes=1)

    def skewed(ctx: ControllerContext) -> CronJobController:
        return CronJobController(ctx=ctx, wall=WallClock(clock=ctx.clock, start=boundary + timedelta(seconds=1)))

    suspended = CRONJOB.replace("schedule:", "suspend: true\n  schedule:")
    await kubectl(server, "-n", namespace, "create", "-f", "-", input=suspended)
    async with control_plane(server, namespace):
        # The manual trigger kubectl offers works on a suspended CronJob too.
        await kubectl(server, "-n", namespace, "create", "job", "--from=cronjob/tick", "manual")

        async def manual_done() -> bool:
            return _row(await kubectl(server, "-n", namespace, "get", "job", "manual"), "manual")[1:3] == \
                ["Complete", "1/1"]

        await eventually(manual_done, what="manual job Complete")
    await kubectl(server, "-n", namespace, "patch", "cronjob", "tick", "-p", '{"spec":{"suspend":false}}')
    # Now with the skewed CronJob controller in place of the default one.
    async with control_plane(server, namespace, cronjob_controller=skewed):
        expected = f"tick-{int(boundary.timestamp()) // 60}"

        async def scheduled_done() -> bool:
            return _row(await kubectl(server, "-n", namespace, "get", "job", expected), expected)[1:3] == \
                ["Complete", "1/1"]

        await eventually(scheduled_done, what=f"scheduled job {expected} Complete")

        async def status_caught_up() -> bool:
            st = (await kubectl_json(server, "-n", namespace, "get", "cronjob", "tick")).get("status", {})
            return bool(st.get("lastSuccessfulTime")) and not st.get("active")

        await eventually(status_caught_up, what="cronjob status lastSuccessfulTime")
        st = (await kubectl_json(server, "-n", namespace, "get", "cronjob", "tick"))["status"]
        assert st["lastScheduleTime"] == format_rfc3339(boundary)


# ---- DaemonSet --------------------------------------------------------------------------------------------


def _node(name: str, run: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Node",
                       "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "test-run": run}}})


async def test_daemonset_covers_nodes_and_a_late_node(server: ServerProcess, namespace: str) -> None:
    names = [f"{namespace}-n{i}" for i in range(1, 5)]
    try:
        for name in names[:3]:
            await kubectl(server, "create", "-f", "-", input=_node(name, namespace))
        ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {
                "nodeSelector": {"test-run": namespace}, "containers": [{"name": "a", "image": "agent:1"}]}}}}
        async with control_plane(server, namespace):
            await kubectl(server, "-n", namespace, "create", "-f", "-", input=json.dumps(ds))

            async def covered(count: int) -> bool:
                pods = (await kubectl_json(server, "-n", namespace, "get", "pods"))["items"]
                nodes = sorted(p["spec"].get("nodeName") or "" for p in pods
                               if p.get("status", {}).get("phase") == "Running")
                st = (await kubectl_json(server, "-n", namespace, "get", "ds", "agent")).get("status", {})
                return nodes == sorted(names[:count]) and st.get("numberReady") == count

            await eventually(lambda: covered(3), what="3 nodes covered")
            await kubectl(server, "create", "-f", "-", input=_node(names[3], namespace))
            await eventually(lambda: covered(4), what="the late node covered")
            row = _row(await kubectl(server, "-n", namespace, "get", "ds", "agent"), "agent")
            assert row[1:6] == ["4", "4", "4", "4", "4"]  # DESIRED CURRENT READY UP-TO-DATE AVAILABLE
            revisions = await kubectl_json(server, "-n", namespace, "get", "controllerrevisions")
            assert len(revisions["items"]) == 1
    finally:
        for name in names:
            await asyncio.to_thread(server.kubectl, "delete", "node", name, "--ignore-not-found", check=False)


# ---- StatefulSet ------------------------------------------------------------------------------------------


STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 3
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx
        volumeMounts: [{name: www, mountPath: /usr/share/nginx/html}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""


async def test_statefulset_creates_pods_in_order(server: ServerProcess, namespace: str) -> None:
    async with control_plane(server, namespace) as client:
        seen: list[tuple[str, str, bool]] = []  # (event, pod, ready)
        pods = client.resource(Pod)
        start = await pods.list(namespace=namespace)

        async def watch() -> None:
            async for event in pods.watch(namespace=namespace, resource_version=start.resource_version):
                p = event.object
                ready = any(c.type == "Ready" and c.status == "True"
                            for c in ((p.status.conditions if p.status else None) or []))
                seen.append((event.type, p.metadata.name if p.metadata else "", ready))

        watcher = asyncio.create_task(watch())
        try:
            await kubectl(server, "-n", namespace, "create", "-f", "-", input=STATEFULSET)

            async def all_ready() -> bool:
                row = _row(await kubectl(server, "-n", namespace, "get", "sts", "web"), "web")
                return row[1:2] == ["3/3"]

            await eventually(all_ready, what="web 3/3 ready")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

        def first(kind: str, name: str, *, ready: bool | None = None) -> int:
            for i, (k, n, r) in enumerate(seen):
                if k == kind and n == name and (ready is None or r == ready):
                    return i
            raise AssertionError(f"no {kind} {name} in {seen}")

        assert first("MODIFIED", "web-0", ready=True) < first("ADDED", "web-1")
        assert first("MODIFIED", "web-1", ready=True) < first("ADDED", "web-2")
        claims = await kubectl_json(server, "-n", namespace, "get", "pvc")
        assert sorted(c["metadata"]["name"] for c in claims["items"]) == ["www-web-0", "www-web-1", "www-web-2"]
        pod = await kubectl_json(server, "-n", namespace, "get", "pod", "web-1")
        assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-1", "nginx")
        st = (await kubectl_json(server, "-n", namespace, "get", "sts", "web"))["status"]
        assert st["currentRevision"] == st["updateRevision"] and st["readyReplicas"] == 3
