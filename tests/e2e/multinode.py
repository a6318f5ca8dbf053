"""A cluster of several real nodes on one machine: each node a network namespace acting as a host.

    root namespace:  bridge km<tag> 172.31.X.1/24 ── API server (0.0.0.0:port, advertised on .1), registry (.1),
                     cluster DNS on .1:<port> (published as the kube-dns Service 10.96.0.10:53)
    km<tag>h0 .. hN: 172.31.X.11.. on eth0, default route via .1, each running `kyb agent --runtime runc`
                     (under `nsenter --net`, not `ip netns exec`, which remounts /sys and breaks runc's cgroups)
                     with its own pod bridge, pod range from the node-ipam controller, routes to the others,
                     and its Service proxy (an nftables table inside that namespace)
    km<tag>c:        172.31.X.100, a client outside the cluster (no agent)

The cluster DNS forwards names outside the cluster to `UpstreamDNS` (a test resolver on .1, in this
process, answering `UPSTREAM_RECORDS`), and the controller-manager runs with a short node-monitor grace
period (`NODE_GRACE`), so that a node stopped with `fail_node` (agent killed, host cut off the bridge) goes
NotReady in seconds; `revive_node` brings it back.

Every name carries a random tag; `stop()` deletes every pod, stops the processes and removes the hosts, the
bridge, every pod namespace, cgroup and data directory, whatever happened before.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from realnode import RealNode, routes_in_cluster_cidr, wait_until

from cluster import ServerProcess, free_port
from imagebuild import LocalRegistry, build_busybox_image, push_layout

__all__ = [
    "NODE_GRACE",
    "SIMPLE_HTTPD",
    "UPSTREAM_RECORDS",
    "Host",
    "MultiNodeCluster",
    "UpstreamDNS",
    "all_running",
    "multinode_cluster",
    "requirements_met",
    "spread_deployment",
]

# What the test upstream resolver knows (names outside the cluster), A records.
UPSTREAM_RECORDS = {"upstream.example.test.": "192.0.2.7", "www.example.test.": "192.0.2.8"}
# The controller-manager's node-monitor-grace-period: above the agent's 10 s lease renewal, short enough
# for a node failure test.
NODE_GRACE = 15
CONTROLLER_OPTIONS = (f"node-monitor-grace-period={NODE_GRACE}s", "node-monitor-period=1s")


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=30)


class Host:
    """A network namespace on the shared bridge, with one address and a default route via the bridge."""

    def __init__(self, *, name: str, bridge: str, address: str, gateway: str) -> None:
        self.name, self.bridge, self.address, self.gateway = name, bridge, address, gateway
        self.veth = f"{name}v"[:15]

    def create(self) -> None:
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", f"{self.veth}p", "netns", self.name)
        _run("ip", "link", "set", self.veth, "master", self.bridge, "up")
        for cmd in (("ip", "link", "set", f"{self.veth}p", "name", "eth0"),
                    ("ip", "addr", "add", f"{self.address}/24", "dev", "eth0"),
                    ("ip", "link", "set", "eth0", "up"), ("ip", "link", "set", "lo", "up"),
                    ("ip", "route", "add", "default", "via", self.gateway)):
            self.run(*cmd)

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True,
                              check=check, timeout=timeout)

    def fetch(self, url: str, *, timeout: float = 3) -> str | None:
        """GET url from inside this host (busybox wget, as the node has no curl of its own); None on failure."""
        done = self.run("timeout", str(timeout), "busybox", "wget", "-qO-", url, check=False, timeout=timeout + 5)
        return done.stdout if done.returncode == 0 else None

    def remove(self) -> None:
        _run("ip", "netns", "del", self.name, check=False)
        _run("ip", "link", "del", self.veth, check=False)


class UpstreamDNS:
    """A UDP resolver on one address answering `records` (A) and NXDOMAIN otherwise; it counts queries."""

    def __init__(self, *, address: str, records: dict[str, str]) -> None:
        self.records = {k.lower(): v for k, v in records.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.address, self.port = address, int(self.sock.getsockname()[1])
        self.queries: list[str] = []
        self._thread = threading.Thread(target=self._serve, name="upstream-dns", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return  # closed
            try:
                query = dns.message.from_wire(wire)
            except Exception:
                continue
            reply = dns.message.make_response(query)
            question = query.question[0] if query.question else None
            if question is not None:
                name = question.name.to_text().lower()
                self.queries.append(name)
                ip = self.records.get(name)
                if ip is None:
                    reply.set_rcode(dns.rcode.NXDOMAIN)
                elif question.rdtype == dns.rdatatype.A:
                    reply.answer.append(dns.rrset.from_text(question.name, 30, "IN", "A", ip))
            with contextlib.suppress(OSError):
                self.sock.sendto(reply.to_wire(), peer)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class NetnsNode(RealNode):
    """`kyb agent --runtime runc` inside a host namespace."""

    def __init__(self, *, server: ServerProcess, registry: LocalRegistry, host: Host, tag: str) -> None:
        super().__init__(server=server, registry=registry)
        self.host = host
        self.name = f"{host.name}"
        self.bridge, self.prefix, self.cgroup_root = f"{tag}b", tag, f"/{tag}"

    def start(self, *, credentials: tuple[str, ...] = ()) -> None:
        """Start the agent; `credentials` replace the admin kubeconfig (e.g. --server URL --token T ...)."""
        log = (self.data_dir / "agent.log").open("ab")
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.host.name}", "--",
             sys.executable, "-m", "kybernetes.cli.main", "agent",
             *(credentials or ("--kubeconfig", str(self.server.kubeconfig))),
             "--node-name", self.name, "--data-dir", str(self.data_dir), "--runtime", "runc",
             "--registry-mirror", f"docker.io={self.registry.url}", "--insecure-registry", self.registry.host,
             "--bridge", self.bridge, "--netns-prefix", self.prefix, "--cgroup-root", self.cgroup_root],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()


class MultiNodeCluster:
    def __init__(self, *, workdir: Path, nodes: int = 3) -> None:
        self.workdir = workdir
        self.tag = f"km{uuid.uuid4().hex[:4]}"
        net = f"172.31.{random.randint(16, 250)}"
        self.bridge, self.gateway = self.tag, f"{net}.1"
        self.hosts = [Host(name=f"{self.tag}h{i}", bridge=self.bridge, address=f"{net}.{11 + i}",
                           gateway=self.gateway) for i in range(nodes)]
        self.client = Host(name=f"{self.tag}c", bridge=self.bridge, address=f"{net}.100", gateway=self.gateway)
        self.registry = LocalRegistry(address=self.gateway)
        self.dns_port = free_port()
        self.upstream: UpstreamDNS | None = None
        self.server = ServerProcess(components=("scheduler", "controller-manager", "dns"), listen_host="0.0.0.0",
                                    extra_args=("--advertise-address", self.gateway,
                                                "--dns-listen", f"{self.gateway}:{self.dns_port}",
                                                *(f"--controller-option={o}" for o in CONTROLLER_OPTIONS)))
        self.nodes = [NetnsNode(server=self.server, registry=self.registry, host=h, tag=f"{self.tag}{i}")
                      for i, h in enumerate(self.hosts)]
        self.extra: list[subprocess.Popen[bytes]] = []

    # ---- life cycle ---------------------------------------------------------------------------------------

    def start(self) -> MultiNodeCluster:
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for host in [*self.hosts, self.client]:
            host.create()
        self.upstream = UpstreamDNS(address=self.gateway, records=UPSTREAM_RECORDS)
        self.upstream.start()
        self.server.extra_args += ("--dns-upstream", f"{self.gateway}:{self.upstream.port}")
        self.registry.start()
        push_layout(build_busybox_image(self.workdir / "busybox"), self.registry.url, "library/busybox", "latest")
        self.server.start()
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            self.wait_node_ready(node)
        wait_until("the default service account",
                   lambda: self.k("get", "serviceaccount", "default", check=False).returncode == 0, within=30)
        return self

    def wait_node_ready(self, node: RealNode, *, within: float = 60) -> None:
        def ready() -> bool:
            out = self.k("get", "node", node.name, "-o", "json", check=False)
            if out.returncode != 0:
                return False
            doc = json.loads(out.stdout)
            ok = any(c["type"] == "Ready" and c["status"] == "True" for c in doc["status"].get("conditions", []))
            return ok and bool(doc.get("spec", {}).get("podCIDR"))

        wait_until(f"node {node.name} Ready with a podCIDR", ready, within=within, node=node)

    def fail_node(self, node: NetnsNode) -> None:
        """The node dies: its agent (kubelet and proxy) is killed and its host is cut off the bridge, so its
        pods (still running) are unreachable, as on a machine that lost power or network."""
        if node.proc is not None and node.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait()
        _run("ip", "link", "set", node.host.veth, "down")

    def revive_node(self, node: NetnsNode) -> None:
        """Reconnect the host and start its agent again over the same data directory."""
        _run("ip", "link", "set", node.host.veth, "up")
        if node.proc is None or node.proc.poll() is not None:
            node.start()
        self.wait_node_ready(node, within=60)

    def stop(self) -> None:
        try:
            for node in self.nodes:  # a node a failed test left down still has pods to clean up
                if node.proc is not None and node.proc.poll() is not None:
                    with contextlib.suppress(Exception):
                        _run("ip", "link", "set", node.host.veth, "up")
                        node.start()
            if self.server.proc is not None and self.server.proc.poll() is None:
                # Workloads first, or their controllers would replace the pods deleted below.
                self.k("delete", "deployments,statefulsets,replicasets,daemonsets,jobs", "--all", "-A",
                       "--wait=false", check=False)
                self.k("delete", "pods", "--all", "-A", "--wait=false", check=False)
                with contextlib.suppress(AssertionError):
                    wait_until("every pod deleted",
                               lambda: not json.loads(self.k("get", "pods", "-A", "-o", "json").stdout)["items"],
                               within=60)
        finally:
            for proc in self.extra:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                proc.wait()
            for node in self.nodes:
                node.stop()
                node.cleanup()
            self.server.stop()
            self.registry.stop()
            if self.upstream is not None:
                self.upstream.stop()
            for host in [*self.hosts, self.client]:
                host.remove()
            _run("ip", "link", "del", self.bridge, check=False)
            for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
                if name.startswith(self.tag):
                    _run("ip", "netns", "del", name, check=False)
            shutil.rmtree(self.workdir, ignore_errors=True)

    def spawn(self, *argv: str, netns: str | None = None, log_name: str) -> subprocess.Popen[bytes]:
        """Start a process of the cluster's (DNS, proxy), killed at stop; in a host namespace if given."""
        prefix = ["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []
        log = (self.workdir / f"{log_name}.log").open("ab")
        proc = subprocess.Popen([*prefix, *argv], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.extra.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # ---- kubectl ------------------------------------------------------------------------------------------

    def k(self, *args: str, input: str | None = None, check: bool = True,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.server.kubectl(*args, input=input, check=check, timeout=timeout)

    def apply(self, *objs: dict[str, Any], namespace: str) -> None:
        self.k("-n", namespace, "apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objs))

    def get(self, namespace: str, *args: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.k("-n", namespace, "get", *args, "-o", "json").stdout)
        return doc

    def namespace(self) -> str:
        name = f"mn-{uuid.uuid4().hex[:8]}"
        self.k("create", "namespace", name)
        wait_until(f"the default service account of {name}",
                   lambda: self.k("-n", name, "get", "serviceaccount", "default", check=False).returncode == 0,
                   within=30)
        return name

    def wait_pods(self, namespace: str, selector: str, check: Callable[[list[dict[str, Any]]], bool], *,
                  within: float = 90) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []

        def probe() -> bool:
            seen[:] = self.get(namespace, "pods", "-l", selector)["items"]
            return check(seen)

        try:
            wait_until(f"pods {selector} in {namespace}", probe, within=within)
        except AssertionError as e:
            logs = "\n".join(f"--- {n.name}\n{n.log()[-1500:]}" for n in self.nodes)
            raise AssertionError(f"{e}\n{json.dumps([p.get('status') for p in seen], indent=1)[:3000]}\n{logs}") \
                from None
        return seen

    def exec(self, namespace: str, pod: str, *cmd: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.k("-n", namespace, "exec", pod, "--", *cmd, check=check)


def all_running(n: int) -> Callable[[list[dict[str, Any]]], bool]:
    def check(pods: list[dict[str, Any]]) -> bool:
        return len(pods) == n and all(p.get("status", {}).get("phase") == "Running" and p["status"].get("podIP")
                                      for p in pods)
    return check


def requirements_met() -> bool:
    return os.path.exists("/usr/bin/nsenter") and not routes_in_cluster_cidr()


@pytest.fixture(scope="module")
def multinode_cluster() -> Iterator[MultiNodeCluster]:
    if not requirements_met():
        pytest.skip(f"needs nsenter and no host routes in 10.244.0.0/16: {routes_in_cluster_cidr()}")
    cluster = MultiNodeCluster(workdir=Path(tempfile.mkdtemp(prefix="kyb-multinode-")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


SIMPLE_HTTPD = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"


def spread_deployment(name: str, replicas: int, *, httpd: str = SIMPLE_HTTPD) -> dict[str, Any]:
    """busybox httpd (`httpd`: the shell command; by default it answers its pod name) on port 8080 named
    http, one replica per node (required anti-affinity by hostname), ready once the port listens."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}},
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "web", "image": "busybox", "command": ["sh", "-c", httpd],
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}},
    }
