"""`kubectl logs` and `kubectl exec` (and the official client's exec stream) through a real `kyb server` to
an in-process agent with the fake runtime: the API server proxies pods/log and pods/exec to the agent's
kubelet server over HTTPS with its client certificate. The fake runtime writes no logs, so the tests write
CRI log lines at the container's log path, as conmon would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cluster import KUBECTL, ServerProcess
from kybernetes.api.models.core_v1 import Node
from kybernetes.client import Client, load_config
from kybernetes.kubelet.agent import Agent, AgentOptions, NodeOptions, WorkerOptions
from kybernetes.kubelet.runtime.fake import FakeImageService, FakeRuntime
from kybernetes.kubelet.runtime.protocol import ExecResult, ExecSession, State
from kybernetes.machinery.errors import BadRequestError, NotFoundError


class EchoSession:
    """`cat`: stdout is what stdin brought, until stdin closes."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def write_stdin(self, data: bytes) -> None:
        await self.queue.put(data)

    async def close_stdin(self) -> None:
        await self.queue.put(None)

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        while (data := await self.queue.get()) is not None:
            yield 1, data

    async def resize(self, *, width: int, height: int) -> None:
        return None

    async def wait(self) -> int:
        return 0


class Runtime(FakeRuntime):
    async def exec(self, *, container_id: str, command: Sequence[str], tty: bool, stdin: bool) -> ExecSession:
        if list(command) == ["cat"]:
            await self._running(container_id)
            return EchoSession()
        return await super().exec(container_id=container_id, command=command, tty=tty, stdin=stdin)


class Cluster:
    def __init__(self, server: ServerProcess, client: Client, namespace: str, data_dir: Path) -> None:
        self.server, self.client, self.namespace, self.data_dir = server, client, namespace, data_dir
        self.node = f"logs-{uuid.uuid4().hex[:8]}"
        self.runtime, self.images = Runtime(), FakeImageService()
        self.agent = Agent(client=client, node_name=self.node, runtime=self.runtime, images=self.images,
                           data_dir=data_dir, options=AgentOptions(
                               host_ip="127.0.0.1", kubelet_address="127.0.0.1", kubelet_port=0,
                               ca_pem=(server.data_dir / "pki" / "ca.crt").read_bytes(),
                               node=NodeOptions(lease_interval=1, status_interval=5),
                               workers=WorkerOptions(resync_seconds=0.1, crash_backoff=0.2, crash_backoff_cap=0.5)))

    async def kubectl(self, *args: str, input: bytes | None = None) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=self.env())
        out, err = await asyncio.wait_for(proc.communicate(input), 30)
        return proc.returncode or 0, out.decode(), err.decode()

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.server.kubeconfig), "HOME": str(self.server.data_dir)}

    async def run_pod(self, name: str = "p", containers: Sequence[str] = ("c",), restart: str = "Always") -> None:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"nodeName": self.node, "automountServiceAccountToken": False, "restartPolicy": restart,
                         "containers": [{"name": c, "image": "busybox"} for c in containers]}}
        await self.client.request("POST", f"/api/v1/namespaces/{self.namespace}/pods", body=json.dumps(body).encode())
        await self.wait(lambda p: p.get("status", {}).get("phase") == "Running", name=name)

    async def wait(self, check: Any, name: str = "p", within: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + within
        pod: dict[str, Any] = {}
        while time.monotonic() < deadline:
            pod = json.loads((await self.client.request(
                "GET", f"/api/v1/namespaces/{self.namespace}/pods/{name}")).body)
            if check(pod):
                return pod
            await asyncio.sleep(0.05)
        raise AssertionError(f"pod never matched: {pod.get('status')}")

    def container(self, name: str = "c", pod: str = "p", attempt: int | None = None) -> Any:
        for c in self.runtime.containers.values():
            sandbox = self.runtime.sandboxes.get(c.sandbox_id)
            if (c.config.name == name and sandbox is not None and sandbox.config.name == pod
                    and (attempt is None or c.config.attempt == attempt)):
                if attempt is not None or self.runtime._state(c) is State.RUNNING:
                    return c
        raise AssertionError(f"no container {name} of {pod}")

    def write_log(self, lines: Sequence[str], *, name: str = "c", pod: str = "p", attempt: int | None = None) -> None:
        path: Path = self.container(name, pod, attempt).config.log_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            for line in lines:
                f.write(line + "\n")


def cri(message: str, *, second: int = 0, stream: str = "stdout", tag: str = "F") -> str:
    return f"2026-11-25T10:00:{second:02d}.123456789Z {stream} {tag} {message}"


@pytest.fixture
async def cluster(server: ServerProcess, namespace: str, kubectl_available: None) -> AsyncIterator[Cluster]:
    data = Path(tempfile.mkdtemp(prefix="kyb-logs-"))
    async with Client(load_config(kubeconfig=str(server.kubeconfig))) as client:
        c = Cluster(server, client, namespace, data)
        task = asyncio.get_running_loop().create_task(c.agent.run())
        try:
            async with asyncio.timeout(20):
                await c.agent.ready.wait()
            while True:  # the kubelet port is published right after registration
                node = await client.resource(Node).get(name=c.node)
                if node.status is not None and node.status.daemon_endpoints is not None:
                    break
                await asyncio.sleep(0.05)
            yield c
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(NotFoundError):
                await client.resource(Node).delete(name=c.node)
            shutil.rmtree(data, ignore_errors=True)


async def test_node_publishes_kubelet_port(cluster: Cluster) -> None:
    node = await cluster.client.resource(Node).get(name=cluster.node)
    assert node.status is not None and node.status.daemon_endpoints is not None
    endpoint = node.status.daemon_endpoints.kubelet_endpoint
    assert endpoint is not None and endpoint.port and endpoint.port > 0


async def test_logs_tail_timestamps_and_partial_lines(cluster: Cluster) -> None:
    await cluster.run_pod()
    cluster.write_log([cri("one", second=1), cri("tw", second=2, tag="P"), cri("o", second=2),
                       cri("three", second=3, stream="stderr")])
    ns = cluster.namespace
    code, out, err = await cluster.kubectl("logs", "-n", ns, "p")
    assert (code, out) == (0, "one\ntwo\nthree\n"), err
    code, out, err = await cluster.kubectl("logs", "-n", ns, "p", "--tail=1")
    assert (code, out) == (0, "three\n"), err
    code, out, err = await cluster.kubectl("logs", "-n", ns, "p", "-c", "c", "--timestamps", "--tail=2")
    assert out == "2026-11-25T10:00:02.123456789Z two\n2026-11-25T10:00:03.123456789Z three\n", err
    code, out, err = await cluster.kubectl("logs", "-n", ns, "p", "--limit-bytes=6")
    assert out == "one\ntw", err


async def test_logs_follow_sees_appended_lines_and_ends_with_the_container(cluster: Cluster) -> None:
    await cluster.run_pod(restart="Never")
    cluster.write_log([cri("first")])
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "logs", "-f", "-n", cluster.namespace, "p", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=cluster.env())
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 15) == b"first\n"
        cluster.write_log([cri("later", second=5)])
        assert await asyncio.wait_for(proc.stdout.readline(), 15) == b"later\n"
        cluster.runtime.kill_container(container_id=cluster.container().id, exit_code=0)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_logs_previous_and_container_choice(cluster: Cluster) -> None:
    await cluster.run_pod(containers=("a", "b"))
    ns = cluster.namespace
    cluster.write_log([cri("from b")], name="b")
    code, out, err = await cluster.kubectl("logs", "-n", ns, "p", "-c", "b")
    assert (code, out) == (0, "from b\n"), err
    # The API itself asks for a choice when a pod has several containers (kubectl picks the first).
    with pytest.raises(BadRequestError, match=r"a container name must be specified for pod p, choose one of: \[a b\]"):
        await cluster.client.request("GET", f"/api/v1/namespaces/{ns}/pods/p/log")
    cluster.write_log([cri("first life")], name="a", attempt=0)
    cluster.runtime.kill_container(container_id=cluster.container("a").id, exit_code=1)
    await cluster.wait(lambda p: any(s["name"] == "a" and s["restartCount"] == 1 and "running" in s["state"]
                                     for s in p["status"].get("containerStatuses", [])))
    cluster.write_log([cri("second life")], name="a", attempt=1)
    code, out, err = await cluster.kubectl("logs", "-n", ns, "p", "-c", "a")
    assert out == "second life\n", err
    code, out, err = await cluster.kubectl("logs", "-n", ns, "p", "-c", "a", "--previous")
    assert out == "first life\n", err


async def test_exec_output_and_exit_codes(cluster: Cluster) -> None:
    await cluster.run_pod()
    cluster.runtime.set_exec_result(command=["echo", "hi"], result=ExecResult(exit_code=0, stdout=b"hi\n", stderr=b""))
    cluster.runtime.set_exec_result(command=["sh", "-c", "exit 3"],
                                    result=ExecResult(exit_code=3, stdout=b"out\n", stderr=b"oops\n"))
    ns = cluster.namespace
    code, out, err = await cluster.kubectl("exec", "-n", ns, "p", "--", "echo", "hi")
    assert (code, out) == (0, "hi\n"), err
    code, out, err = await cluster.kubectl("exec", "-n", ns, "p", "-c", "c", "--", "sh", "-c", "exit 3")
    assert code == 3 and out == "out\n" and "oops" in err, err
    assert "exec echo hi" in cluster.runtime.calls


async def test_exec_with_stdin(cluster: Cluster) -> None:
    await cluster.run_pod()
    payload = b"line one\nline two\n" + b"x" * 100_000 + b"\n"
    code, out, err = await cluster.kubectl("exec", "-i", "-n", cluster.namespace, "p", "--", "cat", input=payload)
    assert code == 0, err
    assert out.encode() == payload


async def test_exec_errors(cluster: Cluster) -> None:
    await cluster.run_pod()
    code, _, err = await cluster.kubectl("exec", "-n", cluster.namespace, "p", "-c", "nope", "--", "true")
    assert code != 0 and "container nope is not valid for pod p" in err


async def test_python_client_exec_stream(cluster: Cluster, api_client: Any) -> None:
    from kubernetes import client
    from kubernetes.stream import stream

    await cluster.run_pod()
    cluster.runtime.set_exec_result(command=["echo", "hi"], result=ExecResult(exit_code=0, stdout=b"hi\n", stderr=b""))
    cluster.runtime.set_exec_result(command=["false"], result=ExecResult(exit_code=1, stdout=b"", stderr=b"no\n"))
    core = client.CoreV1Api(api_client)

    def run() -> tuple[str, int | None, str]:
        out = stream(core.connect_get_namespaced_pod_exec, "p", cluster.namespace, command=["echo", "hi"],
                     stderr=True, stdin=False, stdout=True, tty=False)
        resp = stream(core.connect_get_namespaced_pod_exec, "p", cluster.namespace, command=["false"],
                      stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=10)
        return out, resp.returncode, resp.read_stderr()

    out, code, stderr = await asyncio.to_thread(run)
    assert out == "hi\n" and code == 1 and stderr == "no\n"


async def test_logs_since_time(cluster: Cluster) -> None:
    await cluster.run_pod()
    cluster.write_log([cri("one", second=1), cri("two", second=2), cri("three", second=3)])
    code, out, err = await cluster.kubectl("logs", "-n", cluster.namespace, "p", "--since-time=2026-11-25T10:00:02Z")
    assert (code, out) == (0, "two\nthree\n"), err


# ---- real containers (runc) -------------------------------------------------------------------------------

_RUNC_READY = os.geteuid() == 0 and all(
    os.path.exists(p) for p in ("/usr/sbin/runc", "/usr/bin/conmon", "/usr/bin/busybox"))


def _busybox_image(layer: Path) -> Any:
    import subprocess

    from kybernetes.kubelet.runtime.protocol import ImageConfig, ImageRef

    for d in ("bin", "etc", "tmp"):
        (layer / d).mkdir(parents=True)
    shutil.copy("/usr/bin/busybox", layer / "bin" / "busybox")
    applets = subprocess.run(["/usr/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout
    for applet in applets.split():
        if applet != "busybox":
            (layer / "bin" / applet).symlink_to("busybox")
    (layer / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return ImageRef(id="sha256:" + uuid.uuid4().hex * 2, repo_tags=("busybox:logs",),
                    repo_digest="docker.io/library/busybox@sha256:" + "3" * 64, size=1,
                    config=ImageConfig(cmd=("sh",), env=("PATH=/bin",)), layers=(layer,))


@pytest.mark.runtime
@pytest.mark.skipif(not _RUNC_READY, reason="needs root, runc, conmon and busybox-static")
async def test_runc_logs_and_exec(server: ServerProcess, namespace: str, kubectl_available: None,
                                  tmp_path: Path) -> None:
    from kybernetes.kubelet.agent.fakes import FakeImages
    from kybernetes.kubelet.network import PodNetwork
    from kybernetes.kubelet.runtime.protocol import ImageRef
    from kybernetes.kubelet.runtime.runc import RuncRuntime

    ref = _busybox_image(tmp_path / "layer")

    class Images(FakeImages):
        def _ref(self, image: str) -> ImageRef:
            return ref

    tag = uuid.uuid4().hex[:4]
    cidr = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:], 16)}.0/24"
    network = PodNetwork(bridge=f"kl{tag}br", pod_cidr=cidr, prefix=f"kl{tag}", state_dir=tmp_path / "net")
    runtime = RuncRuntime(state_dir=tmp_path / "runtime", network=network, cgroup_root=f"/kl{tag}")
    async with Client(load_config(kubeconfig=str(server.kubeconfig))) as client:
        c = Cluster(server, client, namespace, tmp_path / "agent")
        c.agent.runtime, c.agent.images = runtime, Images()
        task = asyncio.get_running_loop().create_task(c.agent.run())
        try:
            async with asyncio.timeout(20):
                await c.agent.ready.wait()
            body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace},
                    "spec": {"nodeName": c.node, "automountServiceAccountToken": False,
                             "terminationGracePeriodSeconds": 1, "containers": [{
                                 "name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                 "command": ["sh", "-c", "echo hello; echo oops >&2; exec sleep 3600"]}]}}
            await client.request("POST", f"/api/v1/namespaces/{namespace}/pods", body=json.dumps(body).encode())
            await c.wait(lambda p: p.get("status", {}).get("phase") == "Running", within=30)
            deadline = time.monotonic() + 10
            while True:
                code, out, err = await c.kubectl("logs", "-n", namespace, "p")
                if out == "hello\noops\n" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert (code, out) == (0, "hello\noops\n"), err
            code, out, err = await c.kubectl("exec", "-n", namespace, "p", "--", "sh", "-c", "echo hi; exit 3")
            assert (code, out) == (3, "hi\n"), err
            code, out, err = await c.kubectl("exec", "-i", "-n", namespace, "p", "--", "cat", input=b"piped\n")
            assert (code, out) == (0, "piped\n"), err
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for s in await runtime.list_pod_sandboxes():
                await runtime.remove_pod_sandbox(sandbox_id=s.id)
            with contextlib.suppress(Exception):
                await network.remove_bridge()
            with contextlib.suppress(NotFoundError):
                await client.resource(Node).delete(name=c.node)


async def test_kubelet_refuses_clients_without_a_cluster_certificate(cluster: Cluster) -> None:
    import ssl

    import aiohttp

    node = await cluster.client.resource(Node).get(name=cluster.node)
    assert node.status is not None and node.status.daemon_endpoints is not None
    assert node.status.daemon_endpoints.kubelet_endpoint is not None
    port = node.status.daemon_endpoints.kubelet_endpoint.port
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    async with aiohttp.ClientSession() as session:
        with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionResetError)):
            async with session.get(f"https://127.0.0.1:{port}/containerLogs/{cluster.namespace}/p/c",
                                   ssl=context) as r:
                await r.read()


async def test_unreachable_kubelet_is_an_error(cluster: Cluster) -> None:
    await cluster.run_pod()
    # Point the node at a port nobody serves.
    await cluster.client.resource(Node).patch(
        name=cluster.node, patch={"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 1}}}},
        type="strategic", subresource="status")
    code, _, err = await cluster.kubectl("logs", "-n", cluster.namespace, "p")
    assert code != 0 and "https://127.0.0.1:1/containerLogs" in err
    code, _, err = await cluster.kubectl("exec", "-n", cluster.namespace, "p", "--", "true")
    assert code != 0 and "https://127.0.0.1:1/exec" in err
