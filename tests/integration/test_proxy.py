"""`kyb proxy` against a real `kyb server`, programming nftables inside a fresh network namespace.

The namespace is a small "host": an interface (one end of a veth pair) holding the node address 10.123.0.1 and three endpoint
addresses (.11, .12, .13), each with a tiny HTTP server that answers with its own address. The test creates
selector-less Services and their EndpointSlices through the official Python client; the proxy runs on the
host side (where the API server is) with `--netns`, so every `nft` it runs happens inside the namespace and
the host's own ruleset is never touched. Clients are small Python scripts run with `ip netns exec`.

Checked: ClusterIP reaches all three endpoints; after the slice drops two of them no request reaches them
once the proxy has synced; NodePort on the namespace's address; ClientIP affinity sticks (also across a
table replacement); a Service without endpoints refuses at once; `--cleanup` deletes the table on exit.
Everything (processes, namespace, server) is removed at the end even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cluster import ServerProcess

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"), reason="needs root, nft and ip"
)

NODE_IP = "10.123.0.1"
BACKENDS = ("10.123.0.11", "10.123.0.12", "10.123.0.13")
BACKEND_PORT = 8080
NODE_NAME = "kybpx-node"
TABLE_PREFIX = "kybpx"

SERVER_SCRIPT = textwrap.dedent("""
    import http.server, socketserver, sys
    address, port = sys.argv[1], int(sys.argv[2])
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = address.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    class Server(http.server.ThreadingHTTPServer):
        def server_bind(self):  # without the reverse DNS lookup of the address (no resolver here)
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = address, port
    server = Server((address, port), Handler)
    print("ready", flush=True)
    server.serve_forever()
""")

# N requests, each on a new connection; prints {"answers": {...}, "errors": [...], "seconds": ...}.
CLIENT_SCRIPT = textwrap.dedent("""
    import http.client, json, sys, time
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    answers, errors = {}, []
    start = time.monotonic()
    for _ in range(count):
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", "/")
            body = conn.getresponse().read().decode()
            conn.close()
            answers[body] = answers.get(body, 0) + 1
        except OSError as e:
            errors.append(type(e).__name__)
    print(json.dumps({"answers": answers, "errors": errors, "seconds": time.monotonic() - start}))
""")


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


@dataclass
class Host:
    netns: str
    scripts: Path

    def exec(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.netns, *args, check=check)

    def requests(self, host: str, port: int, count: int) -> dict[str, Any]:
        out = self.exec(sys.executable, str(self.scripts / "client.py"), host, str(port), str(count)).stdout
        result: dict[str, Any] = json.loads(out)
        return result


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    name = f"kybpx-{uuid.uuid4().hex[:8]}"
    (tmp_path / "server.py").write_text(SERVER_SCRIPT)
    (tmp_path / "client.py").write_text(CLIENT_SCRIPT)
    sh("ip", "netns", "add", name)
    servers: list[subprocess.Popen[str]] = []
    try:
        h = Host(netns=name, scripts=tmp_path)
        h.exec("ip", "link", "set", "lo", "up")
        # A veth pair stands in for the host's NIC (this kernel has no dummy driver); kd1 only swallows packets.
        h.exec("ip", "link", "add", "kd0", "type", "veth", "peer", "name", "kd1")
        h.exec("ip", "link", "set", "kd1", "up")
        h.exec("ip", "addr", "add", f"{NODE_IP}/24", "dev", "kd0")
        for address in BACKENDS:
            h.exec("ip", "addr", "add", f"{address}/32", "dev", "kd0")
        h.exec("ip", "link", "set", "kd0", "up")
        # A default route so ClusterIPs are routable at all (as on a real host); the source is the node address.
        h.exec("ip", "route", "add", "default", "dev", "kd0", "src", NODE_IP)
        for address in BACKENDS:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", name, sys.executable, str(tmp_path / "server.py"), address, str(BACKEND_PORT)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
            )
            servers.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield h
    finally:
        for proc in servers:
            with_kill(proc)
        sh("ip", "netns", "del", name, check=False)


def with_kill(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    proc = ServerProcess().start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[Any]:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield api_client


def wait_for(what: str, check: Callable[[], bool], *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def make_service(core: Any, namespace: str, name: str, *, node_port: bool = False, affinity: bool = False) -> Any:
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {"type": "NodePort" if node_port else "ClusterIP",
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": BACKEND_PORT}]},
    }
    if affinity:
        body["spec"]["sessionAffinity"] = "ClientIP"
    return core.create_namespaced_service(namespace, body)


def slice_body(service: str, addresses: tuple[str, ...]) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{service}-manual", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": BACKEND_PORT, "protocol": "TCP"}],
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}, "nodeName": NODE_NAME} for a in addresses],
    }


def start_proxy(server: ServerProcess, host: Host) -> subprocess.Popen[bytes]:
    log = (server.data_dir / "proxy.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "kybernetes.cli.main", "proxy", "--kubeconfig", str(server.kubeconfig),
         "--node-name", NODE_NAME, "--table-prefix", TABLE_PREFIX, "--netns", host.netns,
         "--min-sync-interval", "200ms", "--sync-period", "10s", "--cleanup"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def test_proxy_programs_services_in_a_namespace(server: ServerProcess, host: Host, api: Any) -> None:
    from kubernetes import client

    core: Any = client.CoreV1Api(api)  # Any: the client's typed signatures do not take plain dict bodies
    discovery: Any = client.DiscoveryV1Api(api)
    namespace = f"px-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_node({"metadata": {"name": NODE_NAME}})
    node = core.read_node(NODE_NAME)
    node.status = client.V1NodeStatus(addresses=[client.V1NodeAddress(type="InternalIP", address=NODE_IP)])
    core.replace_node_status(NODE_NAME, node)

    web = make_service(core, namespace, "web", node_port=True)
    sticky = make_service(core, namespace, "sticky", affinity=True)
    empty = make_service(core, namespace, "empty")
    discovery.create_namespaced_endpoint_slice(namespace, slice_body("web", BACKENDS))
    discovery.create_namespaced_endpoint_slice(namespace, slice_body("sticky", BACKENDS))
    web_ip, sticky_ip, empty_ip = (s.spec.cluster_ip for s in (web, sticky, empty))
    node_port = web.spec.ports[0].node_port
    assert node_port

    proxy = start_proxy(server, host)
    try:
        wait_for("the ClusterIP to answer", lambda: not host.requests(web_ip, 80, 3)["errors"])

        # ClusterIP: every endpoint gets traffic, nothing fails.
        result = host.requests(web_ip, 80, 60)
        assert result["errors"] == []
        assert set(result["answers"]) == set(BACKENDS), result

        # NodePort on the node's address.
        result = host.requests(NODE_IP, node_port, 30)
        assert result["errors"] == [] and set(result["answers"]) <= set(BACKENDS)
        assert len(result["answers"]) >= 2, result

        # ClientIP affinity: one client, one endpoint.
        result = host.requests(sticky_ip, 80, 20)
        assert result["errors"] == [] and len(result["answers"]) == 1, result
        (chosen,) = result["answers"]

        # No endpoints: refused at once (a reset, not a timeout).
        result = host.requests(empty_ip, 80, 3)
        assert result["answers"] == {} and result["errors"] == ["ConnectionRefusedError"] * 3, result
        assert result["seconds"] < 1.0

        # Scale down: after the next sync no request reaches the removed endpoints.
        discovery.replace_namespaced_endpoint_slice("web-manual", namespace, slice_body("web", BACKENDS[:1]))
        wait_for("the removed endpoints to leave", lambda: set(host.requests(web_ip, 80, 10)["answers"]) == {BACKENDS[0]})
        result = host.requests(web_ip, 80, 60)
        assert result == {**result, "answers": {BACKENDS[0]: 60}, "errors": []}

        # The table was replaced meanwhile; the sticky client keeps its endpoint.
        result = host.requests(sticky_ip, 80, 10)
        assert result["answers"] == {chosen: 10}, result
    except BaseException:
        print((server.data_dir / "proxy.log").read_text(errors="replace")[-5000:])
        print(host.exec("nft", "list", "ruleset", check=False).stdout)
        raise
    finally:
        if proxy.poll() is None:
            proxy.send_signal(signal.SIGTERM)
        try:
            code = proxy.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proxy.pid, signal.SIGKILL)
            code = proxy.wait()
    assert code == 0
    # --cleanup: the table is gone with the proxy.
    assert host.exec("nft", "list", "table", "ip", f"{TABLE_PREFIX}-proxy", check=False).returncode != 0
