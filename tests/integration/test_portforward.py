"""`kubectl port-forward`, the official client's portforward and `kubectl attach` through a real `kyb server`
to an in-process agent with the fake runtime. The runtime's `port_forward` dials local TCP servers standing in
for the pod's ports (an HTTP server on 80, a sha256-of-everything-sent server on 9000); other ports are
refused, as a closed port in the pod's network namespace is."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cluster import KUBECTL, ServerProcess
from kybernetes.api.models.core_v1 import Node
from kybernetes.client import Client, load_config
from kybernetes.kubelet.agent import Agent, AgentOptions, NodeOptions, WorkerOptions
from kybernetes.kubelet.runtime.fake import FakeImageService, FakeRuntime
from kybernetes.kubelet.runtime.protocol import State
from kybernetes.machinery.errors import NotFoundError, StatusError


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await reader.readuntil(b"\r\n\r\n")
    path = request.split(b" ")[1]
    body = b"hello from " + path
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


async def _digest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    digest, size = hashlib.sha256(), 0
    while data := await reader.read(65536):
        digest.update(data)
        size += len(data)
    writer.write(f"{size} {digest.hexdigest()}".encode())
    await writer.drain()
    writer.close()


class Runtime(FakeRuntime):
    """`port_forward` connects to local servers: pod port → 127.0.0.1 port."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[int, int] = {}

    async def port_forward(self, *, sandbox_id: str, port: int) -> tuple[object, object]:
        self._sandbox(sandbox_id)
        if port not in self.targets:
            raise ConnectionRefusedError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED))
        return await asyncio.open_connection("127.0.0.1", self.targets[port])


class Cluster:
    def __init__(self, server: ServerProcess, client: Client, namespace: str, data_dir: Path) -> None:
        self.server, self.client, self.namespace = server, client, namespace
        self.node = f"pf-{uuid.uuid4().hex[:8]}"
        self.runtime = Runtime()
        self.agent = Agent(client=client, node_name=self.node, runtime=self.runtime, images=FakeImageService(),
                           data_dir=data_dir, options=AgentOptions(
                               host_ip="127.0.0.1", kubelet_address="127.0.0.1", kubelet_port=0,
                               ca_pem=(server.data_dir / "pki" / "ca.crt").read_bytes(),
                               node=NodeOptions(lease_interval=1, status_interval=5),
                               workers=WorkerOptions(resync_seconds=0.1, crash_backoff=0.2, crash_backoff_cap=0.5)))

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.server.kubeconfig), "HOME": str(self.server.data_dir)}

    async def spawn(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            KUBECTL, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env())

    async def run_pod(self, name: str = "p", restart: str = "Always") -> None:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"nodeName": self.node, "automountServiceAccountToken": False, "restartPolicy": restart,
                         "containers": [{"name": "c", "image": "busybox"}]}}
        await self.client.request("POST", f"/api/v1/namespaces/{self.namespace}/pods", body=json.dumps(body).encode())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pod = json.loads((await self.client.request(
                "GET", f"/api/v1/namespaces/{self.namespace}/pods/{name}")).body)
            if pod.get("status", {}).get("phase") == "Running":
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"pod {name} never ran")

    def container(self, pod: str = "p") -> Any:
        for c in self.runtime.containers.values():
            sandbox = self.runtime.sandboxes.get(c.sandbox_id)
            if sandbox is not None and sandbox.config.name == pod and self.runtime._state(c) is State.RUNNING:
                return c
        raise AssertionError(f"no running container of {pod}")


@pytest.fixture
async def cluster(server: ServerProcess, namespace: str, kubectl_available: None) -> AsyncIterator[Cluster]:
    data = Path(tempfile.mkdtemp(prefix="kyb-pf-"))
    servers = [await asyncio.start_server(handler, "127.0.0.1", 0) for handler in (_http, _digest)]
    async with Client(load_config(kubeconfig=str(server.kubeconfig))) as client:
        c = Cluster(server, client, namespace, data)
        c.runtime.targets = {80: servers[0].sockets[0].getsockname()[1], 9000: servers[1].sockets[0].getsockname()[1]}
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
            for s in servers:
                s.close()
            shutil.rmtree(data, ignore_errors=True)


@contextlib.asynccontextmanager
async def port_forward(cluster: Cluster, *args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[int, int]]]:
    """`kubectl port-forward ARGS`; yields the process and {remote port: local port} once it listens."""
    proc = await cluster.spawn("port-forward", "-n", cluster.namespace, "--address=127.0.0.1", *args)
    try:
        assert proc.stdout is not None
        ports: dict[int, int] = {}
        wanted = sum(1 for a in args if ":" in a)
        while len(ports) < wanted:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            if not line:
                assert proc.stderr is not None
                raise AssertionError(f"kubectl port-forward ended: {(await proc.stderr.read()).decode()}")
            m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
            if m:
                ports[int(m.group(2))] = int(m.group(1))
        yield proc, ports
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def http_get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    return data


async def test_kubectl_port_forward_relays_connections(cluster: Cluster) -> None:
    await cluster.run_pod()
    async with port_forward(cluster, "pod/p", "0:80", "0:9000") as (proc, ports):
        for i in range(3):  # one SPDY session, a stream pair per connection
            reply = await http_get(ports[80], f"/one{i}")
            assert reply.endswith(f"hello from /one{i}".encode()), reply
        replies = await asyncio.gather(*(http_get(ports[80], f"/many{i}") for i in range(5)))
        assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in replies] == [f"hello from /many{i}".encode() for i in range(5)]
        # A large upload, half-closed: the FIN reaches the pod's port, its answer and FIN come back.
        payload = os.urandom(3 * 1024 * 1024 + 17)
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[9000])
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        assert answer.decode() == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"
        assert proc.returncode is None


async def test_kubectl_port_forward_to_a_closed_port(cluster: Cluster) -> None:
    await cluster.run_pod()
    async with port_forward(cluster, "pod/p", "0:81") as (proc, ports):
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[81])
        assert await asyncio.wait_for(reader.read(), 15) == b""
        writer.close()
        # kubectl reports the error stream's text and gives up the session, as against Kubernetes.
        assert proc.stderr is not None
        await asyncio.wait_for(proc.wait(), 15)
        err = (await proc.stderr.read()).decode()
    err = err.replace('\\"', '"')  # klog quotes the message
    assert re.search(r"error forwarding port 81 to pod \S+, uid : failed to execute portforward in network "
                     r'namespace "[^"]*": failed to connect to localhost:81 inside namespace "\S+", IPv4: dial tcp4 '
                     r"127\.0\.0\.1:81: connect: connection refused", err), err
    assert "lost connection to pod" in err


async def test_kubectl_port_forward_errors(cluster: Cluster) -> None:
    proc = await cluster.spawn("port-forward", "-n", cluster.namespace, "pod/nope", "0:80")
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0 and 'pods "nope" not found' in err.decode()
    # A pod that is not on a node: the API refuses, whatever the client (kubectl itself checks the phase first).
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending", "namespace": cluster.namespace},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await cluster.client.request("POST", f"/api/v1/namespaces/{cluster.namespace}/pods", body=json.dumps(body).encode())
    with pytest.raises(StatusError, match="pod pending does not have a host assigned"):
        await cluster.client.request("GET", f"/api/v1/namespaces/{cluster.namespace}/pods/pending/portforward")
    proc = await cluster.spawn("port-forward", "-n", cluster.namespace, "pod/pending", "0:80")
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0 and "unable to forward port because pod is not running" in err.decode()


async def test_port_forward_to_a_pod_without_sandbox_is_not_found(cluster: Cluster) -> None:
    await cluster.run_pod()
    for s in list(cluster.runtime.sandboxes.values()):
        s.ready = False  # the pod's sandbox is gone, the API object still says Running
    with pytest.raises(NotFoundError, match=r'pod not found \("p_'):
        await cluster.client.request("GET", f"/api/v1/namespaces/{cluster.namespace}/pods/p/portforward")
    proc = await cluster.spawn("port-forward", "-n", cluster.namespace, "pod/p", "0:80")
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    # kubectl's WebSocket is refused, it falls back to SPDY, and shows the kubelet's reason.
    assert proc.returncode != 0, err
    assert f'error upgrading connection: unable to upgrade connection: pod not found ("p_{cluster.namespace}")' \
        in err.decode(), err


async def test_python_client_portforward(cluster: Cluster, api_client: Any) -> None:
    from kubernetes import client
    from kubernetes.stream import portforward

    await cluster.run_pod()
    core = client.CoreV1Api(api_client)

    def run() -> tuple[bytes, bytes, str | None]:
        pf = portforward(core.connect_get_namespaced_pod_portforward, "p", cluster.namespace, ports="80,9000,81")
        try:
            web = pf.socket(80)
            web.sendall(b"GET /py HTTP/1.0\r\n\r\n")
            web.settimeout(15)
            reply = b""
            while b"hello from /py" not in reply and (chunk := web.recv(65536)):
                reply += chunk
            digest = pf.socket(9000)
            digest.sendall(b"x" * 100_000)
            digest.settimeout(15)
            deadline = time.monotonic() + 15
            while pf.error(81) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            return reply, b"", pf.error(81)
        finally:
            pf.close()

    reply, _, error = await asyncio.to_thread(run)
    assert reply.startswith(b"HTTP/1.0 200 OK") and reply.endswith(b"hello from /py")
    assert error is not None and "error forwarding port 81" in error and "connection refused" in error


def _cri(message: str, *, stream: str = "stdout", tag: str = "F") -> str:
    return f"2026-11-25T10:00:00.000000000Z {stream} {tag} {message}\n"


async def test_kubectl_attach_follows_output_until_the_container_stops(cluster: Cluster) -> None:
    await cluster.run_pod(restart="Never")
    container = cluster.container()
    path: Path = container.config.log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write(_cri("before attaching"))
    proc = await cluster.spawn("attach", "-n", cluster.namespace, "p")
    try:
        assert proc.stdout is not None and proc.stderr is not None
        # Attach shows what the container writes from now on: tick until the stream is seen to be live.
        for i in range(100):
            with path.open("a") as f:
                f.write(_cri(f"tick {i}"))
            with contextlib.suppress(TimeoutError):
                line = await asyncio.wait_for(proc.stdout.readline(), 0.3)
                assert line.startswith(b"tick "), line
                break
        with path.open("a") as f:
            f.write(_cri("par", tag="P") + _cri("tial") + _cri("to stderr", stream="stderr") + _cri("last"))
        out = b""
        while not out.endswith(b"last\n"):
            out += await asyncio.wait_for(proc.stdout.readline(), 15)
        assert out.split(b"\n")[-3:] == [b"partial", b"last", b""], out
        cluster.runtime.kill_container(container_id=container.id, exit_code=0)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        err = (await proc.stderr.read()).decode()
        assert "to stderr" in err and "before attaching" not in out.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_attach_errors(cluster: Cluster) -> None:
    await cluster.run_pod()
    proc = await cluster.spawn("attach", "-n", cluster.namespace, "p", "-c", "nope")
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0 and "nope" in err.decode()
    with pytest.raises(StatusError, match="container nope is not valid for pod p"):
        await cluster.client.request("GET", f"/api/v1/namespaces/{cluster.namespace}/pods/p/attach?container=nope")
