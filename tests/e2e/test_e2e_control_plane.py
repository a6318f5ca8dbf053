"""The control plane as a user meets it: `kyb server` (API server + scheduler), a controller-manager and
simulated nodes (`kyb simulate`), all separate processes talking HTTPS, driven with the real kubectl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cluster import ServerProcess


def _kyb(server: ServerProcess, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig)}
    log = (server.data_dir / f"{args[0]}-{len(list(server.data_dir.glob('*.log')))}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "kybernetes.cli.main", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class ControlPlane:
    def __init__(self) -> None:
        self.server = ServerProcess(components=("scheduler",)).start()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        self.procs[name] = _kyb(self.server, *args)

    def stop(self, name: str) -> None:
        _stop(self.procs.pop(name))

    def close(self) -> None:
        for proc in self.procs.values():
            _stop(proc)
        self.server.stop()

    def k(self, *args: str, check: bool = True) -> str:
        return self.server.kubectl(*args, check=check).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.k(*args, "-o", "json"))


@pytest.fixture(scope="module")
def cp() -> Iterator[ControlPlane]:
    plane = ControlPlane()
    try:
        plane.start("controller-manager", "controller-manager", "--leader-elect", "false",
                    "--option", "node-monitor-grace-period=3", "--option", "node-monitor-period=1")
        plane.start("nodes", "simulate", "--nodes", "2", "--name-prefix", "a", "--lease-interval", "1")
        plane.start("spare", "simulate", "--nodes", "1", "--name-prefix", "b", "--lease-interval", "1")
        wait_for("3 Ready nodes", lambda: plane.k("get", "nodes").count(" Ready ") == 3)
        yield plane
    finally:
        plane.close()


def test_deployment_rollout_set_image_undo_scale(cp: ControlPlane) -> None:
    ns = "rollout"
    cp.k("create", "namespace", ns)
    cp.k("-n", ns, "create", "deployment", "web", "--image=nginx:1", "--replicas=10")
    assert 'deployment "web" successfully rolled out' in cp.k("-n", ns, "rollout", "status", "deployment/web",
                                                              "--timeout=60s")
    cp.k("-n", ns, "set", "image", "deployment/web", "nginx=nginx:2")
    cp.k("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
    history = cp.k("-n", ns, "rollout", "history", "deployment/web")
    assert "1 " in history and "2 " in history
    cp.k("-n", ns, "rollout", "undo", "deployment/web")
    cp.k("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
    image = cp.k("-n", ns, "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    assert image == "nginx:1"
    cp.k("-n", ns, "scale", "deployment/web", "--replicas=3")
    wait_for("3 running pods", lambda: cp.k("-n", ns, "get", "pods", "--no-headers").count("Running") == 3)
    cp.k("delete", "namespace", ns, "--timeout=60s")
    assert "NotFound" in cp.server.kubectl("get", "namespace", ns, check=False).stderr


def test_job_runs_to_completion(cp: ControlPlane) -> None:
    cp.k("create", "namespace", "batch")
    cp.k("-n", "batch", "create", "job", "once", "--image=busybox", "--", "true")
    wait_for("job complete", lambda: "Complete" in cp.k("-n", "batch", "get", "job", "once"))


def test_daemonset_covers_a_node_added_later(cp: ControlPlane) -> None:
    cp.k("create", "namespace", "ds")
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "ds"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": [{"name": "a", "image": "busybox"}]}}}}
    cp.server.kubectl("apply", "-f", "-", input=json.dumps(ds))
    wait_for("3 daemon pods", lambda: cp.json("-n", "ds", "get", "ds", "agent")["status"].get("numberReady") == 3)
    cp.start("late", "simulate", "--nodes", "1", "--name-prefix", "c", "--lease-interval", "1")
    wait_for("4 daemon pods", lambda: cp.json("-n", "ds", "get", "ds", "agent")["status"].get("numberReady") == 4)
    cp.stop("late")
    cp.k("delete", "node", "c-0")


def test_statefulset_creates_pods_in_order(cp: ControlPlane) -> None:
    cp.k("create", "namespace", "sts")
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "sts"},
           "spec": {"serviceName": "web", "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "w", "image": "nginx"}]}}}}
    cp.server.kubectl("apply", "-f", "-", input=json.dumps(sts))
    wait_for("3 ready", lambda: cp.json("-n", "sts", "get", "sts", "web")["status"].get("readyReplicas") == 3)
    pods = cp.json("-n", "sts", "get", "pods")["items"]
    created = sorted((p["metadata"]["creationTimestamp"], p["metadata"]["name"]) for p in pods)
    assert [name for _, name in created] == ["web-0", "web-1", "web-2"]


def test_foreground_deletion_removes_dependents_first(cp: ControlPlane) -> None:
    cp.k("create", "namespace", "fg")
    cp.k("-n", "fg", "create", "deployment", "d", "--image=nginx", "--replicas=2")
    cp.k("-n", "fg", "rollout", "status", "deployment/d", "--timeout=60s")
    cp.k("-n", "fg", "delete", "deployment", "d", "--cascade=foreground", "--timeout=60s")
    wait_for("replica sets and pods gone", lambda: not cp.json("-n", "fg", "get", "rs,pods")["items"])


def test_lost_node_has_its_pods_replaced(cp: ControlPlane) -> None:
    ns = "lost"
    cp.k("create", "namespace", ns)
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
              "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                           "containers": [{"name": "w", "image": "nginx"}],
                           "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                            "effect": "NoExecute", "tolerationSeconds": 2}]}}}}
    cp.server.kubectl("apply", "-f", "-", input=json.dumps(deploy))
    cp.k("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
    on_b = [p for p in cp.json("-n", ns, "get", "pods")["items"] if p["spec"].get("nodeName") == "b-0"]
    assert on_b, "the spread put no pod on b-0"
    cp.stop("spare")  # b-0 stops renewing its lease: the node is lost
    wait_for("b-0 NotReady", lambda: "NotReady" in cp.k("get", "node", "b-0"), timeout=30)

    def replaced() -> bool:
        pods = cp.json("-n", ns, "get", "pods")["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"
                   and p["spec"].get("nodeName") != "b-0" and not p["metadata"].get("deletionTimestamp")]
        return len(running) == 6

    wait_for("6 running pods on the remaining nodes", replaced, timeout=60)
