"""metrics.k8s.io and `kubectl top` through a real `kyb server` (with scheduler and controller-manager) and an
in-process agent on the fake runtime, whose containers use what the test sets (`FakeRuntime.set_usage`):
the API server scrapes the agent's kubelet `/stats/summary` over HTTPS with its client certificate, serves
NodeMetrics / PodMetrics, the real kubectl prints them, and the HPA controller scales a Deployment on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cluster import KUBECTL, ServerProcess
from kybernetes.api.models.core_v1 import Node
from kybernetes.client import Client, load_config
from kybernetes.kubelet.agent import Agent, AgentOptions, NodeOptions, WorkerOptions
from kybernetes.kubelet.runtime.fake import FakeImageService, FakeRuntime
from kybernetes.machinery.errors import NotFoundError, StatusError
from kybernetes.machinery.quantity import Quantity

METRICS = "/apis/metrics.k8s.io/v1beta1"
MiB = 1 << 20


@pytest.fixture(scope="module")
def control_plane() -> Iterator[ServerProcess]:
    if not os.path.exists(KUBECTL):
        pytest.skip("kubectl not installed (scripts/setup.sh --test installs it)")
    proc = ServerProcess(components=("scheduler", "controller-manager")).start()
    try:
        yield proc
    finally:
        proc.stop()


class Cluster:
    def __init__(self, server: ServerProcess, client: Client, data_dir: Path) -> None:
        self.server, self.client, self.data_dir = server, client, data_dir
        self.namespace = f"m-{uuid.uuid4().hex[:8]}"
        self.node = f"metrics-{uuid.uuid4().hex[:8]}"
        self.runtime, self.images = FakeRuntime(), FakeImageService()
        self.agent = Agent(client=client, node_name=self.node, runtime=self.runtime, images=self.images,
                           data_dir=data_dir, options=AgentOptions(
                               host_ip="127.0.0.1", kubelet_address="127.0.0.1", kubelet_port=0,
                               ca_pem=(server.data_dir / "pki" / "ca.crt").read_bytes(),
                               node=NodeOptions(lease_interval=1, status_interval=5),
                               workers=WorkerOptions(resync_seconds=0.1)))

    async def kubectl(self, *args: str, input: bytes | None = None) -> tuple[int, str, str]:
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig), "HOME": str(self.server.data_dir)}
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await asyncio.wait_for(proc.communicate(input), 30)
        return proc.returncode or 0, out.decode(), err.decode()

    async def get(self, path: str) -> dict[str, Any]:
        return json.loads((await self.client.request("GET", path)).body)

    async def post(self, path: str, body: dict[str, Any]) -> None:
        await self.client.request("POST", path, body=json.dumps(body).encode())

    async def run_pod(self, name: str, containers: Sequence[str] = ("c",), *, namespace: str = "",
                      node: str = "", labels: dict[str, str] | None = None, wait: bool = True) -> None:
        ns = namespace or self.namespace
        await self.post(f"/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"nodeName": node or self.node, "automountServiceAccountToken": False,
                     "containers": [{"name": c, "image": "busybox"} for c in containers]}})
        if wait:
            await until(lambda: self.get(f"/api/v1/namespaces/{ns}/pods/{name}"),
                        lambda p: p.get("status", {}).get("phase") == "Running")


async def until(fetch: Callable[[], Any], check: Callable[[Any], Any], *, within: float = 30) -> Any:
    """Poll `fetch()` (a coroutine factory) until `check` holds for its result; errors count as not yet."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await fetch()
            if check(last):
                return last
        except StatusError as e:
            last = e
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met within {within}s; last: {last}")


@pytest.fixture
async def cluster(control_plane: ServerProcess) -> AsyncIterator[Cluster]:
    data = Path(tempfile.mkdtemp(prefix="kyb-metrics-"))
    async with Client(load_config(kubeconfig=str(control_plane.kubeconfig))) as client:
        c = Cluster(control_plane, client, data)
        await c.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": c.namespace}})
        task = asyncio.get_running_loop().create_task(c.agent.run())
        try:
            async with asyncio.timeout(20):
                await c.agent.ready.wait()
            await until(lambda: client.resource(Node).get(name=c.node),
                        lambda n: n.status is not None and n.status.daemon_endpoints is not None)
            yield c
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(NotFoundError):
                await client.resource(Node).delete(name=c.node)
            with contextlib.suppress(StatusError):
                await client.request("DELETE", f"/api/v1/namespaces/{c.namespace}")
            shutil.rmtree(data, ignore_errors=True)


def cpu_nanos(text: str) -> int:
    return int(Quantity.parse(text).value * 1_000_000_000)


# ---- the API -----------------------------------------------------------------------------------------------


async def test_discovery_lists_the_metrics_group(cluster: Cluster) -> None:
    groups = await cluster.get("/apis")
    group = next(g for g in groups["groups"] if g["name"] == "metrics.k8s.io")
    assert group["preferredVersion"] == {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
    resources = {r["name"]: r for r in (await cluster.get(METRICS))["resources"]}
    assert resources["pods"]["kind"] == "PodMetrics" and resources["pods"]["namespaced"] is True
    assert resources["nodes"]["kind"] == "NodeMetrics" and resources["nodes"]["verbs"] == ["get", "list"]
    response = await cluster.client.request("GET", "/apis", headers={
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
    aggregated = json.loads(response.body)
    assert aggregated["items"][-1]["metadata"]["name"] == "metrics.k8s.io"
    # `pods` still means core/v1 pods to kubectl.
    code, out, err = await cluster.kubectl("api-resources", "--api-group=metrics.k8s.io", "--no-headers")
    assert code == 0 and {line.split()[0] for line in out.splitlines()} == {"nodes", "pods"}, err


async def test_pod_and_node_metrics(cluster: Cluster) -> None:
    cluster.runtime.set_usage(key="web", cpu_millis=250, memory_bytes=64 * MiB)
    cluster.runtime.set_usage(key="sidecar", cpu_millis=50, memory_bytes=16 * MiB)
    await cluster.run_pod("p", ("web", "sidecar"), labels={"app": "web"})
    await cluster.run_pod("q", ("web",), labels={"app": "other"})
    ns = cluster.namespace

    pod = await until(lambda: cluster.get(f"{METRICS}/namespaces/{ns}/pods/p"), lambda m: m.get("containers"))
    assert pod["kind"] == "PodMetrics" and pod["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert pod["metadata"]["name"] == "p" and pod["metadata"]["namespace"] == ns
    assert pod["metadata"]["labels"] == {"app": "web"} and pod["window"] == "10s"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", pod["timestamp"])
    usage = {c["name"]: c["usage"] for c in pod["containers"]}
    assert set(usage) == {"web", "sidecar"}
    assert cpu_nanos(usage["web"]["cpu"]) == pytest.approx(250_000_000, rel=0.01)
    assert cpu_nanos(usage["sidecar"]["cpu"]) == pytest.approx(50_000_000, rel=0.01)
    assert usage["web"]["memory"] == "64Mi" and usage["sidecar"]["memory"] == "16Mi"

    listed = await cluster.get(f"{METRICS}/namespaces/{ns}/pods?labelSelector=app%3Dweb")
    assert listed["kind"] == "PodMetricsList" and [m["metadata"]["name"] for m in listed["items"]] == ["p"]
    everywhere = await cluster.get(f"{METRICS}/pods")
    assert {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in everywhere["items"]} >= {(ns, "p"), (ns, "q")}

    node = await cluster.get(f"{METRICS}/nodes/{cluster.node}")
    assert node["kind"] == "NodeMetrics" and node["metadata"]["name"] == cluster.node
    assert cpu_nanos(node["usage"]["cpu"]) >= 0 and Quantity.parse(node["usage"]["memory"]).to_int() > 0
    nodes = await cluster.get(f"{METRICS}/nodes")
    assert cluster.node in [n["metadata"]["name"] for n in nodes["items"]]

    with pytest.raises(NotFoundError, match=re.escape(f'podmetrics.metrics.k8s.io "{ns}/nope" not found')):
        await cluster.get(f"{METRICS}/namespaces/{ns}/pods/nope")
    with pytest.raises(NotFoundError, match=re.escape('nodemetrics.metrics.k8s.io "nope" not found')):
        await cluster.get(f"{METRICS}/nodes/nope")
    with pytest.raises(StatusError) as e:
        await cluster.client.request("DELETE", f"{METRICS}/namespaces/{ns}/pods/p")
    assert e.value.code == 405

    # `kubectl get` on the metrics resources: the server's table.
    code, out, err = await cluster.kubectl("get", "pods.metrics.k8s.io", "-n", ns)
    assert code == 0, err
    rows = table(out)
    assert rows[0] == ["NAME", "CPU", "MEMORY", "WINDOW"] and [r[0] for r in rows[1:]] == ["p", "q"]
    assert rows[1][2:] == ["80Mi", "10s"] and cpu_nanos(rows[1][1]) == pytest.approx(300_000_000, rel=0.01)

    # Our client library's view (a dynamic resource).
    found = await cluster.client.dynamic(group="metrics.k8s.io", version="v1beta1", plural="pods").list(
        namespace=ns, label_selector="app=other")
    assert [m["metadata"]["name"] for m in found.items] == ["q"]


# ---- kubectl top -------------------------------------------------------------------------------------------


def table(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


async def test_kubectl_top_pods_and_nodes(cluster: Cluster) -> None:
    cluster.runtime.set_usage(key="web", cpu_millis=250, memory_bytes=64 * MiB)
    cluster.runtime.set_usage(key="sidecar", cpu_millis=50, memory_bytes=16 * MiB)
    await cluster.run_pod("p", ("web", "sidecar"))
    ns = cluster.namespace
    await until(lambda: cluster.get(f"{METRICS}/namespaces/{ns}/pods/p"), lambda m: m.get("containers"))

    code, out, err = await cluster.kubectl("top", "pods", "-n", ns)
    assert code == 0, err
    assert table(out) == [["NAME", "CPU(cores)", "MEMORY(bytes)"], ["p", "300m", "80Mi"]]

    code, out, err = await cluster.kubectl("top", "pod", "p", "-n", ns, "--containers")
    assert code == 0, err
    rows = table(out)
    assert rows[0] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert sorted(rows[1:]) == [["p", "sidecar", "50m", "16Mi"], ["p", "web", "250m", "64Mi"]]

    code, out, err = await cluster.kubectl("top", "pods", "-A")
    assert code == 0, err
    rows = table(out)
    assert rows[0] == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"] and [ns, "p", "300m", "80Mi"] in rows

    code, out, err = await cluster.kubectl("top", "nodes")
    assert code == 0, err
    rows = table(out)
    assert rows[0] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    row = next(r for r in rows if r[0] == cluster.node)
    assert re.fullmatch(r"\d+m", row[1]) and re.fullmatch(r"\d+%", row[2]), row
    assert re.fullmatch(r"\d+Mi", row[3]) and re.fullmatch(r"\d+%", row[4]), row

    code, out, err = await cluster.kubectl("top", "pod", "nope", "-n", ns)
    assert code != 0 and f'podmetrics.metrics.k8s.io "{ns}/nope" not found' in err


async def test_unreachable_kubelet_is_left_out(cluster: Cluster) -> None:
    # A Ready node whose kubelet port answers nothing: no NodeMetrics, and its pods have no PodMetrics.
    ghost = f"ghost-{uuid.uuid4().hex[:6]}"
    await cluster.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": ghost}})
    try:
        await cluster.client.request("PATCH", f"/api/v1/nodes/{ghost}/status", headers={
            "Content-Type": "application/merge-patch+json"}, body=json.dumps({"status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 9}},
                "allocatable": {"cpu": "2", "memory": "4Gi"},
                "conditions": [{"type": "Ready", "status": "True"}]}}).encode())
        other = f"{cluster.namespace}-x"
        await cluster.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": other}})
        await cluster.run_pod("lost", namespace=other, node=ghost, wait=False)

        nodes = await cluster.get(f"{METRICS}/nodes")
        assert ghost not in [n["metadata"]["name"] for n in nodes["items"]]
        assert (await cluster.get(f"{METRICS}/namespaces/{other}/pods"))["items"] == []

        code, out, err = await cluster.kubectl("top", "pods", "-n", other)
        assert code != 0 and "metrics not available yet" in err
        code, out, err = await cluster.kubectl("top", "nodes")
        assert code == 0, err
        assert [ghost, "<unknown>", "<unknown>", "<unknown>", "<unknown>"] in table(out)
        await cluster.client.request("DELETE", f"/api/v1/namespaces/{other}")
    finally:
        await cluster.client.request("DELETE", f"/api/v1/nodes/{ghost}")


# ---- the autoscaler ------------------------------------------------------------------------------------------


async def test_hpa_scales_a_deployment_on_reported_cpu(cluster: Cluster) -> None:
    ns = cluster.namespace
    cluster.runtime.set_usage(key="app", cpu_millis=300, memory_bytes=32 * MiB)
    await cluster.post(f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "automountServiceAccountToken": False,
                     "containers": [{"name": "app", "image": "busybox",
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}})
    pods = await until(lambda: cluster.get(f"{METRICS}/namespaces/{ns}/pods?labelSelector=app%3Dweb"),
                       lambda m: len(m["items"]) == 1)
    assert cpu_nanos(pods["items"][0]["containers"][0]["usage"]["cpu"]) == pytest.approx(300_000_000, rel=0.01)

    # 300m used of 100m requested is 300 %; the target is 100 %: three replicas.
    await cluster.post(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": ns},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 5,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 100}}}]}})
    deployment = await until(lambda: cluster.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web"),
                             lambda d: d["spec"]["replicas"] == 3, within=40)
    assert deployment["spec"]["replicas"] == 3
    hpa = await until(lambda: cluster.get(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/web"),
                      lambda h: (h.get("status") or {}).get("currentMetrics"))
    current = hpa["status"]["currentMetrics"][0]["resource"]["current"]
    assert current["averageUtilization"] == pytest.approx(300, abs=3)
    code, out, err = await cluster.kubectl("get", "hpa", "web", "-n", ns, "--no-headers")
    assert code == 0 and re.search(r"cpu: \d+%/100%", out), (out, err)
