"""`kyb` CLI verbs against a real `kyb server`, compared with the real kubectl on the same objects.

One cluster per module: `kyb server` with the scheduler and controller-manager, and a node whose agent runs
in this process on a thread of its own (own event loop) with the fake runtime, so that pods run, the test can
write container logs where the kubelet reads them, choose what an exec answers, and port-forwards reach the
fake runtime's echo server. Every `kyb` and kubectl command is a real subprocess with the server's kubeconfig.

Tables are compared row by row with the AGE column left out (ages tick between the two commands); other
outputs are compared exactly, or as parsed YAML.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import KUBECTL_BIN, Kubectl, LineReader, deployment, describe_fields, parse_table, service

from cluster import ServerProcess, free_port
from kybernetes.kubelet.runtime.fake import FakeImageService, FakeRuntime
from kybernetes.kubelet.runtime.protocol import ExecResult

pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL_BIN), reason="kubectl not installed")


class FakeNode:
    """An agent on the fake runtime, on its own thread and event loop."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.name = f"cli-{uuid.uuid4().hex[:6]}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="kyb-cli-agent-"))
        self.runtime = FakeRuntime()
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> FakeNode:
        self.thread.start()
        if not self.ready.wait(30) or self.failed is not None:
            raise RuntimeError(f"agent did not start: {self.failed!r}")
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as e:  # reported to the test thread through `failed`
            self.failed = e
            self.ready.set()

    async def _run(self) -> None:
        from kybernetes.api.models.core_v1 import Node
        from kybernetes.client import Client, load_config
        from kybernetes.kubelet.agent import Agent, AgentOptions, NodeOptions, WorkerOptions

        self.loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        async with Client(load_config(kubeconfig=str(self.server.kubeconfig))) as client:
            agent = Agent(
                client=client, node_name=self.name, runtime=self.runtime, images=FakeImageService(),
                data_dir=self.data_dir, options=AgentOptions(
                    host_ip="127.0.0.1", kubelet_address="127.0.0.1", kubelet_port=0,
                    ca_pem=(self.server.data_dir / "pki" / "ca.crt").read_bytes(),
                    node=NodeOptions(lease_interval=1, status_interval=5),
                    workers=WorkerOptions(resync_seconds=0.2, crash_backoff=0.2, crash_backoff_cap=0.5)))
            task = asyncio.create_task(agent.run())
            try:
                async with asyncio.timeout(20):
                    await agent.ready.wait()
                    while True:  # the kubelet port is published right after registration
                        node = await client.resource(Node).get(name=self.name)
                        if node.status is not None and node.status.daemon_endpoints is not None:
                            break
                        await asyncio.sleep(0.05)
                self.ready.set()
                await self.stop_event.wait()
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def call(self, fn: Any, *args: Any) -> None:
        """Run `fn(*args)` on the agent's loop (the runtime is not thread-safe)."""
        assert self.loop is not None
        done = threading.Event()
        self.loop.call_soon_threadsafe(lambda: (fn(*args), done.set()))
        assert done.wait(5)

    def log_path(self, pod: str, container: str) -> Path:
        for c in list(self.runtime.containers.values()):
            sandbox = self.runtime.sandboxes.get(c.sandbox_id)
            if sandbox is not None and sandbox.config.name == pod and c.config.name == container:
                return Path(c.config.log_path)
        raise AssertionError(f"no container {container} in pod {pod}")

    def stop(self) -> None:
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(15)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cli_cluster() -> Iterator[tuple[ServerProcess, FakeNode]]:
    server = ServerProcess(components=("scheduler", "controller-manager")).start()
    node = None
    try:
        node = FakeNode(server).start()
        yield server, node
    finally:
        if node is not None:
            node.stop()
            server.kubectl("delete", "node", node.name, "--ignore-not-found", "--wait=false", check=False)
        server.stop()


class Kyb:
    """`kyb` as a subprocess with the server's kubeconfig, bound to a namespace."""

    def __init__(self, server: ServerProcess, namespace: str | None) -> None:
        self.server, self.namespace = server, namespace

    def argv(self, args: tuple[str, ...]) -> list[str]:
        # Flags right after the verb: after `--` (exec) they would belong to the command.
        ns = ["-n", self.namespace] if self.namespace else []
        return [sys.executable, "-m", "kybernetes.cli.main", args[0], *ns, *args[1:]]

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.server.kubeconfig), "HOME": str(self.server.data_dir)}

    def run(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(args), input=input, capture_output=True, text=True, env=self.env(),
                              timeout=timeout)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.returncode == 0, f"kyb {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        return result.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(), start_new_session=True)


@pytest.fixture
def ns(cli_cluster: tuple[ServerProcess, FakeNode]) -> str:
    server, _ = cli_cluster
    name = f"cli-{uuid.uuid4().hex[:8]}"
    Kubectl(server=server).ok("create", "namespace", name)
    deadline = time.monotonic() + 20  # pods need the namespace's default service account
    while Kubectl(server=server, namespace=name).run("get", "serviceaccount", "default").returncode != 0:
        assert time.monotonic() < deadline, "no default service account"
        time.sleep(0.1)
    return name


@pytest.fixture
def k(cli_cluster: tuple[ServerProcess, FakeNode], ns: str) -> Kubectl:
    return Kubectl(server=cli_cluster[0], namespace=ns)


@pytest.fixture
def kyb(cli_cluster: tuple[ServerProcess, FakeNode], ns: str) -> Kyb:
    return Kyb(cli_cluster[0], ns)


def without_age(text: str) -> list[dict[str, str]]:
    return [{key: value for key, value in row.items() if key != "AGE"} for row in parse_table(text)]


def same_table(k: Kubectl, kyb: Kyb, *args: str) -> str:
    expected, got = k.ok(*args), kyb.ok(*args)
    assert got.splitlines()[0].split() == expected.splitlines()[0].split()
    assert without_age(got) == without_age(expected), f"kubectl:\n{expected}\nkyb:\n{got}"
    return got


def web_app(k: Kubectl, *, replicas: int = 2) -> None:
    k.create(deployment("web", replicas=replicas, image="nginx:1.25"), service("web", port=80, target_port=80))
    k.ok("rollout", "status", "deployment/web", "--timeout=30s")


# ---- get ---------------------------------------------------------------------------------------------


def test_get_tables_match_kubectl(k: Kubectl, kyb: Kyb, cli_cluster: tuple[ServerProcess, FakeNode]) -> None:
    web_app(k)
    for args in (("get", "pods"), ("get", "pods", "-o", "wide"), ("get", "deploy"), ("get", "deployments.apps",
                 "-o", "wide"), ("get", "svc"), ("get", "po,deploy,svc"), ("get", "all"), ("get", "deploy/web"),
                 ("get", "pods", "--show-labels"), ("get", "pods", "-l", "app=web")):
        same_table(k, kyb, *args)
    everywhere = Kyb(cli_cluster[0], None)
    all_pods = everywhere.ok("get", "pods", "-A")
    assert all_pods.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert without_age(all_pods) == without_age(Kubectl(server=cli_cluster[0]).ok("get", "pods", "-A"))
    assert without_age(everywhere.ok("get", "nodes")) == without_age(Kubectl(server=cli_cluster[0]).ok("get", "nodes"))


def test_get_names_yaml_json_and_errors(k: Kubectl, kyb: Kyb) -> None:
    web_app(k, replicas=1)
    assert kyb.ok("get", "deploy,svc,cm", "-o", "name") == k.ok("get", "deploy,svc,cm", "-o", "name")
    for kind in ("deploy/web", "svc/web", "configmaps"):
        assert yaml.safe_load(kyb.ok("get", kind, "-o", "yaml")) == yaml.safe_load(k.ok("get", kind, "-o", "yaml"))
    assert json.loads(kyb.ok("get", "svc", "web", "-o", "json")) == json.loads(k.ok("get", "svc", "web", "-o", "json"))
    missing, expected = kyb.run("get", "pod", "nope"), k.run("get", "pod", "nope")
    assert (missing.returncode, missing.stderr) == (1, expected.stderr) == (1, 'Error from server (NotFound): pods "nope" not found\n')
    empty = kyb.run("get", "secrets", "-l", "none=here")
    assert empty.stderr == k.run("get", "secrets", "-l", "none=here").stderr == f"No resources found in {kyb.namespace} namespace.\n"
    unknown = kyb.run("get", "widgets")
    assert unknown.returncode == 1 and unknown.stderr == 'error: the server doesn\'t have a resource type "widgets"\n'


def test_get_watch_streams_changes(k: Kubectl, kyb: Kyb) -> None:
    web_app(k, replicas=1)
    proc = kyb.popen("get", "deploy", "-w")
    try:
        lines = LineReader(proc.stdout)  # type: ignore[arg-type]
        lines.wait_for(r"^NAME\s+READY")
        lines.wait_for(r"^web\s+1/1")
        k.ok("scale", "deploy/web", "--replicas=3")
        lines.wait_for(r"^web\s+3/3\s+3\s+3", timeout=30)
    finally:
        proc.terminate()
        proc.wait(10)


# ---- describe --------------------------------------------------------------------------------------


def test_describe_has_kubectls_sections(k: Kubectl, kyb: Kyb, cli_cluster: tuple[ServerProcess, FakeNode]) -> None:
    web_app(k, replicas=1)
    pod = k.ok("get", "pods", "-o", "name").split()[0]
    for args in (("describe", pod), ("describe", "deploy", "web"), ("describe", "svc/web"), ("describe", "cm")):
        got, expected = kyb.ok(*args), k.ok(*args)
        assert describe_fields(got).keys() == describe_fields(expected).keys(), f"{expected}\n---\n{got}"
    pod_text = kyb.ok("describe", pod)
    for section in ("Containers:", "Conditions:", "QoS Class:", "Events:", "Started container"):
        assert section in pod_text
    assert "Scaled up replica set" in kyb.ok("describe", "deploy", "web")
    node = cli_cluster[1].name
    everywhere, kubectl = Kyb(cli_cluster[0], None), Kubectl(server=cli_cluster[0])
    got = everywhere.ok("describe", "node", node)
    assert describe_fields(got).keys() == describe_fields(kubectl.ok("describe", "node", node)).keys()
    assert "Non-terminated Pods:" in got and "Allocated resources:" in got


# ---- apply / create / delete -------------------------------------------------------------------------


def test_apply_create_delete_messages(k: Kubectl, kyb: Kyb, tmp_path: Path) -> None:
    ns = kyb.namespace
    manifest = tmp_path / "app.yaml"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}
    manifest.write_text(yaml.safe_dump(cm) + "---\n" + yaml.safe_dump(deployment("api", replicas=1)))
    assert kyb.ok("apply", "-f", str(manifest)) == "configmap/settings created\ndeployment.apps/api created\n"
    assert kyb.ok("apply", "-f", f"file://{manifest}") == (
        "configmap/settings unchanged\ndeployment.apps/api unchanged\n")
    cm["data"] = {"a": "2"}
    assert kyb.ok("apply", "-f", "-", input=json.dumps(cm)) == "configmap/settings configured\n"
    assert k.get_json("cm", "settings")["data"] == {"a": "2"}
    assert kyb.ok("apply", "--server-side", "-f", str(manifest)) == (
        "configmap/settings serverside-applied\ndeployment.apps/api serverside-applied\n")
    again, expected = kyb.run("create", "-f", str(manifest)), k.run("create", "-f", str(manifest))
    assert again.returncode == expected.returncode == 1 and again.stderr == expected.stderr
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**cm, "metadata": {"name": "extra"}}))
    assert kyb.ok("create", "-f", str(other)) == "configmap/extra created\n"
    assert kyb.ok("delete", "-f", str(other)) == f'configmap "extra" deleted from {ns} namespace\n'
    k.ok("create", "-f", str(other))
    assert k.ok("delete", "-f", str(other)) == f'configmap "extra" deleted from {ns} namespace\n'
    gone = kyb.run("delete", "cm", "extra")
    assert (gone.returncode, gone.stderr) == (1, 'Error from server (NotFound): configmaps "extra" not found\n')
    assert kyb.run("delete", "cm", "extra", "--ignore-not-found").returncode == 0
    k.ok("rollout", "status", "deploy/api", "--timeout=30s")
    pod = k.ok("get", "pods", "-l", "app=api", "-o", "jsonpath={.items[0].metadata.name}")
    assert kyb.ok("delete", "pod", pod) == f'pod "{pod}" deleted from {ns} namespace\n'
    assert k.run("get", "pod", pod).returncode != 0  # --wait is the default: it is gone


# ---- scale and rollout -------------------------------------------------------------------------------


def test_scale_rollout_status_history_undo(k: Kubectl, kyb: Kyb) -> None:
    web_app(k, replicas=1)
    assert kyb.ok("scale", "deploy/web", "--replicas", "3") == "deployment.apps/web scaled\n"
    status = kyb.ok("rollout", "status", "deployment/web", "--timeout", "30")
    assert status.splitlines()[-1] == 'deployment "web" successfully rolled out'
    assert all(line.startswith('Waiting for deployment "web" rollout to finish') for line in status.splitlines()[:-1])
    k.ok("set", "image", "deploy/web", "nginx=nginx:1.26")
    assert kyb.ok("rollout", "status", "deploy/web").endswith('deployment "web" successfully rolled out\n')
    assert kyb.ok("rollout", "history", "deploy/web") == k.ok("rollout", "history", "deploy/web")
    assert kyb.ok("rollout", "history", "deploy/web", "--revision", "1") == k.ok(
        "rollout", "history", "deploy/web", "--revision=1")
    assert kyb.ok("rollout", "undo", "deploy/web") == "deployment.apps/web rolled back\n"
    kyb.ok("rollout", "status", "deploy/web")
    assert k.get_json("deploy", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert kyb.ok("rollout", "restart", "deploy/web") == "deployment.apps/web restarted\n"
    kyb.ok("rollout", "status", "deploy/web")
    annotations = k.get_json("deploy", "web")["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    missing = kyb.run("rollout", "undo", "deploy/web", "--to-revision", "99")
    assert missing.returncode == 1 and missing.stderr == "error: unable to find specified revision 99 in history\n"


# ---- logs, exec, port-forward, top, events -------------------------------------------------------------


def running_pod(k: Kubectl) -> str:
    web_app(k, replicas=1)
    return k.ok("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}")


def test_logs_match_kubectl(k: Kubectl, kyb: Kyb, cli_cluster: tuple[ServerProcess, FakeNode]) -> None:
    pod = running_pod(k)
    path = cli_cluster[1].log_path(pod, "nginx")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for second, message in enumerate(("first", "", "third")):
            f.write(f"2026-11-25T10:00:0{second}.123456789Z stdout F {message}\n")
    for args in ((), ("--tail", "1"), ("--timestamps",), ("-c", "nginx")):
        assert kyb.ok("logs", pod, *args) == k.ok("logs", pod, *args)
    assert kyb.ok("logs", pod) == "first\n\nthird\n"
    assert kyb.ok("logs", "deploy/web", "--tail", "2") == "\nthird\n"


def test_exec_exit_code_and_streams(k: Kubectl, kyb: Kyb, cli_cluster: tuple[ServerProcess, FakeNode]) -> None:
    pod = running_pod(k)
    node = cli_cluster[1]
    node.call(lambda: node.runtime.set_exec_result(
        command=["sh", "-c", "exit 3"], result=ExecResult(exit_code=3, stdout=b"out\n", stderr=b"err\n")))
    got = kyb.run("exec", pod, "--", "sh", "-c", "exit 3")
    expected = k.run("exec", pod, "--", "sh", "-c", "exit 3")
    assert got.returncode == expected.returncode == 3
    assert got.stdout == expected.stdout == "out\n"
    assert got.stderr == "err\ncommand terminated with exit code 3\n"
    ok = kyb.run("exec", "-i", pod, "-c", "nginx", "--", "cat", input="hello")
    assert (ok.returncode, ok.stderr) == (0, "")
    missing = kyb.run("exec", "nope", "--", "ls")
    assert (missing.returncode, missing.stderr) == (1, 'Error from server (NotFound): pods "nope" not found\n')


def test_port_forward_to_a_service(k: Kubectl, kyb: Kyb) -> None:
    running_pod(k)
    port = free_port()
    proc = kyb.popen("port-forward", "svc/web", f"{port}:80")
    try:
        lines = LineReader(proc.stdout)  # type: ignore[arg-type]
        assert lines.wait_for(r"^Forwarding from 127\.0\.0\.1") == f"Forwarding from 127.0.0.1:{port} -> 80"
        for attempt in range(2):  # two connections, each its own stream
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(f"ping {attempt}".encode())
                assert conn.recv(100) == f"ping {attempt}".encode()
        lines.wait_for(f"^Handling connection for {port}$")
    finally:
        proc.terminate()
        proc.wait(10)


def test_top_and_events(k: Kubectl, kyb: Kyb) -> None:
    pod = running_pod(k)
    deadline = time.monotonic() + 30
    while (result := kyb.run("top", "pods")).returncode != 0 or pod not in result.stdout:
        assert time.monotonic() < deadline, result.stderr
        time.sleep(0.5)
    assert result.stdout == k.ok("top", "pods")
    events = kyb.ok("events")
    assert events.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert f"Pod/{pod}" in events and "Scheduled" in events
    assert [r["OBJECT"] for r in parse_table(events)] == [r["OBJECT"] for r in parse_table(k.ok("events"))]
