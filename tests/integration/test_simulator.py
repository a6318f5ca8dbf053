"""The node simulator against a real `kyb server`: as a `kyb simulate` process driven with the real kubectl,
and in-process (to stop a node). A 200-node smoke run reports the simulator's CPU time and memory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster import ServerProcess
from kybernetes.api.models.coordination_v1 import Lease
from kybernetes.api.models.core_v1 import Container, Pod, PodSpec
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import Client, load_config
from kybernetes.kubelet.simulator import Simulator, SimulatorOptions, node_specs

pytestmark = pytest.mark.usefixtures("kubectl_available")

# `kyb simulate` through its entry module (independent of whether the `kyb` dispatcher lists it yet).
_ENTRY = (
    "import argparse, sys\n"
    "from kybernetes.cmd import simulate\n"
    "parser = argparse.ArgumentParser(prog='kyb simulate')\n"
    "simulate.add_arguments(parser)\n"
    "sys.exit(simulate.run(parser.parse_args(sys.argv[1:])))\n"
)


def wait_for(what: str, check: Callable[[], object], *, timeout: float = 20.0, interval: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class SimulateProcess:
    def __init__(self, server: ServerProcess, *args: str) -> None:
        self.log = server.data_dir / f"simulate-{uuid.uuid4().hex[:6]}.log"
        env = {**os.environ, "KUBECONFIG": str(server.kubeconfig)}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-c", _ENTRY, *args], stdout=out,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def prefix() -> str:
    return f"sim{uuid.uuid4().hex[:6]}"


@pytest.fixture
def simulate(server: ServerProcess) -> Iterator[Callable[..., SimulateProcess]]:
    started: list[SimulateProcess] = []

    def start(*args: str) -> SimulateProcess:
        started.append(SimulateProcess(server, *args))
        return started[-1]

    yield start
    for proc in started:
        proc.stop()


def pod_json(server: ServerProcess, namespace: str, name: str) -> dict[str, Any] | None:
    result = server.kubectl("get", "pod", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def nodes_ready(server: ServerProcess, prefix: str, count: int) -> bool:
    out = server.kubectl("get", "nodes", "-l", "kybernetes.io/simulated=true", "--no-headers").stdout
    rows = [line.split() for line in out.splitlines() if line.startswith(prefix)]
    return len(rows) == count and all(row[1] == "Ready" for row in rows)


def test_kyb_simulate_nodes_and_pods(server: ServerProcess, namespace: str, prefix: str,
                                     simulate: Callable[..., SimulateProcess]) -> None:
    sim = simulate("--nodes", "3", "--name-prefix", prefix, "--zones", "2", "--labels", "tier=sim",
                   "--delete-nodes-on-exit")
    wait_for("3 Ready nodes", lambda: nodes_ready(server, prefix, 3) or sim.proc.poll() is not None)
    assert sim.proc.poll() is None, sim.output()

    table = server.kubectl("get", "nodes", "-l", "tier=sim", "-o", "wide").stdout.splitlines()
    assert table[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert sorted(rows) == [f"{prefix}-0", f"{prefix}-1", f"{prefix}-2"]
    for row in rows.values():
        assert row[1] == "Ready" and row[2] == "<none>" and row[4] == "v1.36.0-kyb-sim"
    node = json.loads(server.kubectl("get", "node", f"{prefix}-1", "-o", "json").stdout)
    assert node["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-b"
    assert node["status"]["allocatable"]["pods"] == "110"
    lease = json.loads(server.kubectl("get", "lease", f"{prefix}-1", "-n", "kube-node-lease", "-o", "json").stdout)
    assert lease["spec"]["holderIdentity"] == f"{prefix}-1" and lease["spec"]["leaseDurationSeconds"] == 40

    manifest = {
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": namespace},
             "spec": {"nodeName": f"{prefix}-0", "containers": [{"name": "nginx", "image": "nginx"}]}},
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "once", "namespace": namespace,
                          "annotations": {"kybernetes.io/simulate-run-seconds": "1"}},
             "spec": {"nodeName": f"{prefix}-1", "restartPolicy": "Never",
                      "containers": [{"name": "c", "image": "busybox"}]}},
        ],
    }
    server.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def running(name: str) -> dict[str, Any] | None:
        pod = pod_json(server, namespace, name)
        return pod if pod and pod["status"].get("phase") == "Running" else None

    web = wait_for("web Running", lambda: running("web"))
    assert isinstance(web, dict)
    status = web["status"]
    assert status["podIP"].startswith("10.") and status["hostIP"].startswith("172.18.")
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert status["containerStatuses"][0]["containerID"].startswith("fake://")
    wait_for("once Succeeded", lambda: (pod_json(server, namespace, "once") or {}).get("status", {}).get("phase")
             == "Succeeded")
    listing = server.kubectl("get", "pods", "-n", namespace, "--no-headers").stdout
    assert any(line.split()[:3] == ["once", "0/1", "Completed"] for line in listing.splitlines()), listing

    # A pod bound the way a scheduler binds (pods/binding) runs too.
    server.kubectl("run", "bound", "-n", namespace, "--image=nginx")
    asyncio.run(_bind(server, namespace, "bound", f"{prefix}-2"))
    bound = wait_for("bound Running", lambda: running("bound"))
    assert isinstance(bound, dict) and bound["spec"]["nodeName"] == f"{prefix}-2"

    # A graceful delete is confirmed by the simulated kubelet (kubectl waits until the pod is gone).
    started = time.monotonic()
    server.kubectl("delete", "pod", "web", "-n", namespace, "--timeout=20s")
    assert time.monotonic() - started < 15
    assert pod_json(server, namespace, "web") is None

    assert sim.stop() == 0, sim.output()
    remaining = server.kubectl("get", "nodes", "-l", "tier=sim", "--no-headers", check=False).stdout
    assert prefix not in remaining  # --delete-nodes-on-exit


async def _bind(server: ServerProcess, namespace: str, name: str, node: str) -> None:
    async with Client(load_config(kubeconfig=str(server.kubeconfig))) as client:
        await client.resource(Pod).bind(name=name, namespace=namespace, node=node)


async def test_stopped_node_lease_goes_stale(server: ServerProcess, namespace: str, prefix: str) -> None:
    async with Client(load_config(kubeconfig=str(server.kubeconfig))) as client:
        sim = Simulator(client=client, nodes=node_specs(count=2, prefix=prefix),
                        options=SimulatorOptions(lease_interval=0.5, delete_nodes_on_exit=True))
        task = asyncio.create_task(sim.run())
        leases = client.resource(Lease)

        async def renew_time(name: str) -> str:
            lease = await leases.get(name=name, namespace="kube-node-lease")
            return lease.spec.renew_time if lease.spec and lease.spec.renew_time else ""

        try:
            await asyncio.wait_for(sim.wait_registered(), 20)
            # Pods on a live node run; the simulator also sees pods created later.
            await client.resource(Pod).create(Pod(
                metadata=ObjectMeta(name="p", namespace=namespace),
                spec=PodSpec(node_name=f"{prefix}-1", containers=[Container(name="c", image="nginx")]),
            ))
            async with asyncio.timeout(20):
                while True:
                    if sim.statistics().running >= 1 and await renew_time(f"{prefix}-0"):
                        break
                    await asyncio.sleep(0.1)
            sim.stop_node(f"{prefix}-0")
            await asyncio.sleep(0.2)  # a renewal already in flight may land
            dead, alive = await renew_time(f"{prefix}-0"), await renew_time(f"{prefix}-1")
            await asyncio.sleep(1.5)  # three renewal intervals
            assert await renew_time(f"{prefix}-0") == dead
            assert await renew_time(f"{prefix}-1") > alive
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        found = await client.resource(Pod).get(name="p", namespace=namespace)
        assert found.status is not None and found.status.phase == "Running"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_smoke_200_nodes(server: ServerProcess, namespace: str, prefix: str,
                         simulate: Callable[..., SimulateProcess]) -> None:
    """Not a timed assertion: registers 200 nodes, runs 400 pods, and reports CPU and RSS."""
    nodes, pods, steady = 200, 400, 20.0
    started = time.monotonic()
    sim = simulate("--nodes", str(nodes), "--name-prefix", prefix, "--delete-nodes-on-exit", "--stats-interval", "0")
    wait_for(f"{nodes} Ready nodes", lambda: nodes_ready(server, prefix, nodes) or sim.proc.poll() is not None,
             timeout=60, interval=0.5)
    assert sim.proc.poll() is None, sim.output()
    registered = time.monotonic() - started
    cpu_registered = _cpu_seconds(sim.proc.pid)

    items = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": namespace},
         "spec": {"nodeName": f"{prefix}-{i % nodes}", "containers": [{"name": "c", "image": "nginx"}]}}
        for i in range(pods)
    ]
    created = time.monotonic()
    server.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
                   timeout=120)

    def all_running() -> bool:
        out = server.kubectl("get", "pods", "-n", namespace, "--no-headers").stdout
        return sum(1 for line in out.splitlines() if " Running " in line) == pods

    wait_for(f"{pods} pods Running", all_running, timeout=60, interval=0.5)
    running = time.monotonic() - created
    cpu_before = _cpu_seconds(sim.proc.pid)
    time.sleep(steady)  # a measurement window, not a wait for a condition
    cpu_steady = (_cpu_seconds(sim.proc.pid) - cpu_before) / steady
    rss = _rss_mib(sim.proc.pid)
    print(f"\nsimulator smoke: {nodes} nodes Ready in {registered:.1f}s (CPU {cpu_registered:.2f}s); "
          f"{pods} pods created (kubectl apply) and Running in {running:.1f}s; steady state {cpu_steady * 100:.1f}% of a core "
          f"(leases every 10s, status every 60s); RSS {rss:.0f} MiB")
    assert sim.stop() == 0, sim.output()
