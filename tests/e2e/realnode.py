"""A real one-node cluster for end-to-end tests: `kyb server` (scheduler + controller-manager), a local
registry serving busybox as docker.io's mirror, one `kyb agent --runtime runc`, and the real kubectl.

    from realnode import RealCluster, real_cluster   # the module-scoped fixture (import it into the test module)

    def test_x(real_cluster: RealCluster) -> None:
        ns = real_cluster.namespace()                 # a fresh namespace with its default service account
        real_cluster.k("-n", ns, "run", "p", "--image=busybox", "--", "sleep", "3600")
        real_cluster.wait_pod(ns, "p", lambda pod: pod["status"].get("phase") == "Running")

One cluster per module keeps a suite fast: the server, registry and agent start once (about 10 s). Every
name the agent uses carries a random tag (node, bridge, netns/veth prefix, cgroup root, data dir), so two
clusters never share anything. Teardown deletes every pod, then *asserts* that the node kept nothing of
them (processes, netns, veths, mounts, cgroups, sandbox records) and removes whatever is left either way,
so a failing test leaves the machine clean. The agent can be killed with SIGKILL and started again over
the same data directory (`RealNode.kill`, `RealNode.start`), as a kubelet restart test needs.
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
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import KUBECTL_BIN

from cluster import ServerProcess
from imagebuild import REGISTRY_BINARY, LocalRegistry, build_busybox_image, push_layout

__all__ = ["CLUSTER_CIDR_PREFIX", "REQUIREMENTS", "RealCluster", "RealNode", "real_cluster", "wait_until"]

# The controller-manager's default cluster CIDR: the node's range comes from it.
CLUSTER_CIDR_PREFIX = "10.244."

REQUIREMENTS = [
    pytest.mark.runtime,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(
        not all(os.path.exists(p) for p in ("/usr/sbin/runc", "/usr/bin/conmon", "/usr/bin/busybox", REGISTRY_BINARY)),
        reason="needs runc, conmon, busybox-static and docker-registry",
    ),
    pytest.mark.skipif(not os.path.exists(KUBECTL_BIN), reason="kubectl not installed"),
]


def routes_in_cluster_cidr() -> list[str]:
    out = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.startswith(CLUSTER_CIDR_PREFIX)]


class RealNode:
    """A `kyb agent --runtime runc` process with unique names, and what it may leave behind."""

    def __init__(self, *, server: ServerProcess, registry: LocalRegistry, extra_args: tuple[str, ...] = ()) -> None:
        tag = uuid.uuid4().hex[:4]
        self.name = f"e2e-real-{tag}"
        self.bridge, self.prefix, self.cgroup_root = f"ke{tag}br", f"ke{tag}", f"/ke{tag}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="kyb-e2e-agent-"))
        self.server, self.registry, self.extra_args = server, registry, extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.data_dir / "agent.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", "agent", "--kubeconfig", str(self.server.kubeconfig),
             "--node-name", self.name, "--data-dir", str(self.data_dir), "--runtime", "runc", "--kubelet-port", "0",
             "--registry-mirror", f"docker.io={self.registry.url}", "--insecure-registry", self.registry.host,
             "--bridge", self.bridge, "--netns-prefix", self.prefix, "--cgroup-root", self.cgroup_root,
             *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def log(self) -> str:
        return (self.data_dir / "agent.log").read_text(errors="replace")[-6000:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crashed kubelet: no clean-up of its own runs. Only the agent's own process group
        dies; containers run under conmon in sessions of their own."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

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
        for table in (f"{self.prefix}-node", f"{self.prefix}-proxy"):  # the agent leaves its rules in place
            subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, check=False)
        cg = Cgroups()
        for qos in ("besteffort", "burstable", "guaranteed", ""):
            with contextlib.suppress(Exception):
                cg.remove(path=f"{self.cgroup_root}/{qos}".rstrip("/"))
        shutil.rmtree(self.data_dir, ignore_errors=True)


def wait_until(what: str, check: Callable[[], Any], *, within: float, node: RealNode | None = None,
               every: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy (returned); fail with the agent's log."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if node is not None and node.proc is not None and node.proc.poll() is not None:
            raise AssertionError(f"kyb agent exited ({node.proc.returncode}) waiting for {what}:\n{node.log()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{node.log() if node else ''}")
        time.sleep(every)


class RealCluster:
    """Registry + server + one real node; kubectl wrappers bound to the server."""

    def __init__(self, *, workdir: Path, agent_args: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.registry = LocalRegistry()
        self.server = ServerProcess(components=("scheduler", "controller-manager"))
        self.node = RealNode(server=self.server, registry=self.registry, extra_args=agent_args)
        self._namespaces: list[str] = []

    # ---- life cycle ---------------------------------------------------------------------------------------

    def start(self) -> RealCluster:
        self.registry.start()
        push_layout(build_busybox_image(self.workdir / "busybox"), self.registry.url, "library/busybox", "latest")
        self.server.start()
        self.node.start()
        self.wait_node_ready()
        wait_until("the default service account",
                   lambda: self.k("get", "serviceaccount", "default", check=False).returncode == 0,
                   within=30, node=self.node)
        return self

    def wait_node_ready(self, *, within: float = 40) -> None:
        def ready() -> bool:
            out = self.k("get", "node", self.node.name, "-o", "json", check=False)
            if out.returncode != 0:
                return False
            doc = json.loads(out.stdout)
            conditions = doc["status"].get("conditions", [])
            ok = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
            return ok and bool(doc.get("spec", {}).get("podCIDR"))

        wait_until("the node to be Ready with a podCIDR", ready, within=within, node=self.node)

    def delete_all_pods(self, *, within: float = 60) -> None:
        """Delete every pod of the cluster and wait until the API has none (the kubelet removes the pods
        from the API only once nothing of them is left on the node)."""
        self.k("delete", "pods", "--all", "-A", "--wait=false", check=False)
        wait_until("every pod deleted",
                   lambda: not json.loads(self.k("get", "pods", "-A", "-o", "json").stdout)["items"],
                   within=within, node=self.node)

    def stop(self) -> dict[str, list[str]]:
        """Tear down; returns the node's leftovers as seen after the pods were deleted (all empty lists
        when the kubelet cleaned up properly). Everything is removed either way."""
        leftovers: dict[str, list[str]] = {}
        try:
            if self.node.alive() and self.server.proc is not None and self.server.proc.poll() is None:
                with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                    self.delete_all_pods()
                leftovers = self.node.leftovers()
        finally:
            self.node.stop()
            self.node.cleanup()
            self.server.stop()
            self.registry.stop()
        return leftovers

    # ---- kubectl ------------------------------------------------------------------------------------------

    def k(self, *args: str, input: str | None = None, check: bool = True,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.server.kubectl(*args, input=input, check=check, timeout=timeout)

    def kubectl_env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.server.kubeconfig), "HOME": str(self.server.data_dir)}

    def popen(self, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([KUBECTL_BIN, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.kubectl_env(), start_new_session=True)

    def apply(self, *objs: dict[str, Any], namespace: str) -> None:
        self.k("-n", namespace, "create", "-f", "-", input="\n".join(json.dumps(o) for o in objs))

    def get(self, namespace: str, *args: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.k("-n", namespace, "get", *args, "-o", "json").stdout)
        return doc

    def namespace(self) -> str:
        name = f"rn-{uuid.uuid4().hex[:8]}"
        self.k("create", "namespace", name)
        self._namespaces.append(name)
        wait_until(f"the default service account of {name}",
                   lambda: self.k("-n", name, "get", "serviceaccount", "default", check=False).returncode == 0,
                   within=30, node=self.node)
        return name

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self.get(namespace, "pod", name)

    def wait_pod(self, namespace: str, name: str, check: Callable[[dict[str, Any]], Any], *, what: str = "",
                 within: float = 60) -> dict[str, Any]:
        """Wait until `check(pod)` is truthy; returns the pod."""
        seen: dict[str, Any] = {}

        def probe() -> Any:
            out = self.k("-n", namespace, "get", "pod", name, "-o", "json", check=False)
            if out.returncode != 0:
                return None
            seen.clear()
            seen.update(json.loads(out.stdout))
            return check(seen)

        try:
            wait_until(what or f"pod {namespace}/{name}", probe, within=within, node=self.node)
        except AssertionError as e:
            raise AssertionError(f"{e}\nlast pod status: {json.dumps(seen.get('status'), indent=1)}") from None
        return seen

    def events(self, namespace: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get(namespace, "events")["items"]
        return items


def container_status(pod: dict[str, Any], name: str, *, init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for s in pod.get("status", {}).get(key) or []:
        if s["name"] == name:
            return dict(s)
    return {}


def running(pod: dict[str, Any]) -> bool:
    return bool(pod.get("status", {}).get("phase") == "Running")


@pytest.fixture(scope="module")
def real_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    if routes_in_cluster_cidr():
        pytest.skip(f"the host already routes part of {CLUSTER_CIDR_PREFIX}0.0/16: {routes_in_cluster_cidr()}")
    # A test module may set AGENT_ARGS for its node (e.g. kubelet flags it exercises).
    agent_args = tuple(getattr(request.module, "AGENT_ARGS", ()))
    cluster = RealCluster(workdir=tmp_path_factory.mktemp("realnode"), agent_args=agent_args)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    try:
        yield cluster
    finally:
        log = cluster.node.log()
        leftovers = cluster.stop()
    assert leftovers and not any(leftovers.values()), f"the node kept {leftovers}\n{log}"
