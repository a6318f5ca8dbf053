"""The first real end-to-end pod: `kyb server` (scheduler + controller-manager) and `kyb agent --runtime runc`
as separate processes, busybox pulled from a local registry acting as the docker.io mirror, and the real
kubectl.

`kubectl run web --image=busybox -- httpd -f -p 8080` must become Running with a pod IP from the range the
node-ipam controller gave the Node, the host must fetch http://<podIP>:8080, and `kubectl delete pod web`
must leave no process, network namespace, veth, mount or cgroup behind. Every name carries a random tag
(bridge, netns/veth prefix, cgroup root, node); the `finally` blocks clean up even when the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from e2e_support import KUBECTL_BIN

from cluster import ServerProcess
from imagebuild import REGISTRY_BINARY, LocalRegistry, build_busybox_image, push_layout

pytestmark = [
    pytest.mark.runtime,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(
        not all(os.path.exists(p) for p in ("/usr/sbin/runc", "/usr/bin/conmon", "/usr/bin/busybox", REGISTRY_BINARY)),
        reason="needs runc, conmon, busybox-static and docker-registry",
    ),
]

# The controller-manager's default cluster CIDR: the node's range comes from it.
CLUSTER_CIDR_PREFIX = "10.244."


def _routes_in_cluster_cidr() -> list[str]:
    out = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.startswith(CLUSTER_CIDR_PREFIX)]


class Node:
    """A `kyb agent --runtime runc` process with unique names, and what it may leave behind."""

    def __init__(self, *, server: ServerProcess, registry: LocalRegistry) -> None:
        tag = uuid.uuid4().hex[:4]
        self.name = f"e2e-real-{tag}"
        self.bridge, self.prefix, self.cgroup_root = f"ke{tag}br", f"ke{tag}", f"/ke{tag}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="kyb-e2e-agent-"))
        self.server, self.registry = server, registry
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.data_dir / "agent.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", "agent", "--kubeconfig", str(self.server.kubeconfig),
             "--node-name", self.name, "--data-dir", str(self.data_dir), "--runtime", "runc", "--kubelet-port", "0",
             "--registry-mirror", f"docker.io={self.registry.url}", "--insecure-registry", self.registry.host,
             "--bridge", self.bridge, "--netns-prefix", self.prefix, "--cgroup-root", self.cgroup_root],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def log(self) -> str:
        return (self.data_dir / "agent.log").read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def leftovers(self) -> dict[str, list[str]]:
        netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f if str(self.data_dir) in line]
        procs = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if str(self.data_dir / "runtime").encode() in cmdline:
                    procs.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:200])
        sandboxes = self.data_dir / "runtime" / "sandboxes"
        return {
            "processes": procs,
            "netns": [n for n in netns if n.startswith(self.prefix)],
            "veth": [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()
                     if f" {self.prefix}" in line and self.bridge not in line],
            "mounts": mounts,
            "cgroups": [str(p) for p in Path("/sys/fs/cgroup").glob(f"*{self.cgroup_root}/*/pod*") if p.is_dir()],
            "sandboxes": [p.name for p in sandboxes.iterdir()] if sandboxes.is_dir() else [],
        }

    def cleanup(self) -> None:
        """Last resort after a failure: remove every sandbox, the bridge and the cgroup root."""
        from kybernetes.kubelet.network import PodNetwork
        from kybernetes.kubelet.runtime.runc import RuncRuntime
        from kybernetes.kubelet.runtime.runc.cgroups import Cgroups

        async def remove_all() -> None:
            network = PodNetwork(bridge=self.bridge, pod_cidr="10.244.0.0/24", prefix=self.prefix,
                                 state_dir=self.data_dir / "network")
            rt = RuncRuntime(state_dir=self.data_dir / "runtime", network=network, cgroup_root=self.cgroup_root)
            for s in await rt.list_pod_sandboxes():
                with contextlib.suppress(Exception):
                    await rt.stop_pod_sandbox(sandbox_id=s.id)
                with contextlib.suppress(Exception):
                    await rt.remove_pod_sandbox(sandbox_id=s.id)
            await network.remove_bridge()

        with contextlib.suppress(Exception):
            asyncio.run(remove_all())
        cg = Cgroups()
        for qos in ("besteffort", "burstable", "guaranteed", ""):
            with contextlib.suppress(Exception):
                cg.remove(path=f"{self.cgroup_root}/{qos}".rstrip("/"))
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _wait(what: str, check: object, *, within: float, node: Node) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if node.proc is not None and node.proc.poll() is not None:
            raise AssertionError(f"kyb agent exited ({node.proc.returncode}) waiting for {what}:\n{node.log()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{node.log()}")
        time.sleep(0.1)


@pytest.mark.skipif(not os.path.exists(KUBECTL_BIN), reason="kubectl not installed")
def test_kubectl_run_real_pod_serves_http_and_deletes_cleanly(tmp_path: Path) -> None:
    if _routes_in_cluster_cidr():
        pytest.skip(f"the host already routes part of {CLUSTER_CIDR_PREFIX}0.0/16: {_routes_in_cluster_cidr()}")
    registry = LocalRegistry()
    server = ServerProcess(components=("scheduler", "controller-manager"))
    node: Node | None = None
    try:
        registry.start()
        push_layout(build_busybox_image(tmp_path / "busybox"), registry.url, "library/busybox", "latest")
        server.start()
        node = Node(server=server, registry=registry)
        node.start()

        def k(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
            return server.kubectl(*args, check=check)

        def node_ready() -> bool:
            out = k("get", "node", node.name, "-o", "json", check=False)  # type: ignore[union-attr]
            if out.returncode != 0:
                return False
            doc = json.loads(out.stdout)
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in doc["status"].get("conditions", []))
            return ready and bool(doc.get("spec", {}).get("podCIDR"))

        _wait("the node to be Ready with a podCIDR", node_ready, within=40, node=node)
        pod_cidr = json.loads(k("get", "node", node.name, "-o", "json").stdout)["spec"]["podCIDR"]
        _wait("the default service account",
              lambda: k("get", "serviceaccount", "default", check=False).returncode == 0, within=30, node=node)

        k("run", "web", "--image=busybox", "--", "httpd", "-f", "-p", "8080")
        _wait("pod web Running",
              lambda: k("get", "pod", "web", "-o", "jsonpath={.status.phase}", check=False).stdout == "Running",
              within=60, node=node)
        pod = json.loads(k("get", "pod", "web", "-o", "json").stdout)
        ip = pod["status"]["podIP"]
        assert pod["spec"]["nodeName"] == node.name
        assert ip.rsplit(".", 1)[0] == pod_cidr.rsplit(".", 1)[0], (ip, pod_cidr)
        status = pod["status"]["containerStatuses"][0]
        assert status["containerID"].startswith("runc://") and status["imageID"], status

        # busybox httpd answers / (no index.html) with an HTTP status of its own: any answer proves the path.
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://{ip}:8080/", timeout=3) as r:
                    answer = r.status
                break
            except urllib.error.HTTPError as e:
                answer = e.code
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert 200 <= answer < 500

        k("delete", "pod", "web", "--timeout=60s")
        assert k("get", "pod", "web", check=False).returncode != 0
        # Deletion is complete once the pod is gone from the API: the kubelet removed everything first.
        assert node.leftovers() == {"processes": [], "netns": [], "veth": [], "mounts": [], "cgroups": [],
                                    "sandboxes": []}, node.log()
    finally:
        if node is not None:
            node.stop()
            node.cleanup()
        server.stop()
        registry.stop()
