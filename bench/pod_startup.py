"""Pod startup latency on one real node: N pods created at once, creationTimestamp → Running seen by watch.

    sudo .venv/bin/python bench/pod_startup.py [--pods 100] [--rounds 1]

Starts its own cluster the way the end-to-end tests do (tests/e2e/realnode.py: `kyb server` with the
scheduler and controller-manager, a local registry serving busybox as docker.io's mirror, one
`kyb agent --runtime runc`), pulls the image once with a warm-up pod (the benchmark measures startup with
the image present, as Kubernetes' SLO does), then creates `--pods` bare busybox pods concurrently and
records, through one watch, when each is bound and Running (the SIG Scalability definition; the subsecond
figure places the creation instant within its second). It prints JSON: latency percentiles, time until all
are Running, the deletion time, and CPU seconds / peak RSS of the agent and the control plane. Needs root,
runc, conmon, busybox-static and docker-registry. It reports; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Api, kyb_control_plane, machine, sample
from density import PodWatch
from realnode import RealCluster

from kybernetes.client import load_config

LABEL = "kyb-bench-startup"


def pod_body(*, name: str, run_id: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {LABEL: run_id}},
            "spec": {"terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False,
                     "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"],
                                     "resources": {"requests": {"cpu": "1m", "memory": "4Mi"}}}]}}


async def one_round(api: Api, *, namespace: str, pods: int, within: float) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    watch = PodWatch(api, selector=f"{LABEL}={run_id}")
    watcher = asyncio.create_task(watch.run())
    await watch.started.wait()
    t0 = time.time()
    await asyncio.gather(*(api.mutate("POST", f"/api/v1/namespaces/{namespace}/pods", resource="pods",
                                      body=pod_body(name=f"s-{run_id}-{i}", run_id=run_id))
                           for i in range(pods)))
    created = time.time() - t0
    deadline = time.monotonic() + within
    while watch.running + watch.failed < pods and time.monotonic() < deadline:
        await watch.wait_change(within=1.0)
    figures = watch.figures()
    result: dict[str, Any] = {
        "pods": pods, "running": watch.running, "failed": watch.failed, "create_phase_s": round(created, 2),
        "time_to_all_running_s": round(watch.last_running - t0, 2) if watch.running == pods else None,
        "pod_startup_latency_s": figures["pod_startup_latency_s"],
    }
    t1 = time.time()
    await api.mutate("DELETE", f"/api/v1/namespaces/{namespace}/pods?labelSelector={LABEL}%3D{run_id}",
                     resource="pods")
    while time.monotonic() < deadline + 120:
        listed = await api.get_json(f"/api/v1/namespaces/{namespace}/pods?labelSelector={LABEL}%3D{run_id}")
        if listed is not None and not listed["items"]:
            break
        await asyncio.sleep(0.5)
    result["time_to_all_deleted_s"] = round(time.time() - t1, 2)
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    return result


async def bench(cluster: RealCluster, *, pods: int, rounds: int, within: float,
                profile: str = "") -> dict[str, Any]:
    ns = cluster.namespace()
    # Warm-up: pull the image and start the first sandbox outside the measurement.
    cluster.k("-n", ns, "run", "warmup", "--image=busybox", "--restart=Never", "--", "true")
    cluster.wait_pod(ns, "warmup", lambda p: p["status"].get("phase") in ("Succeeded", "Failed"), within=120)
    cluster.k("-n", ns, "delete", "pod", "warmup", "--wait=true")
    assert cluster.server.proc is not None and cluster.node.proc is not None
    pids = {**kyb_control_plane(cluster.server.proc.pid), "agent": cluster.node.proc.pid}
    before = {name: sample(pid) for name, pid in pids.items()}
    config = load_config(kubeconfig=str(cluster.server.kubeconfig), component="startup-bench")
    spy = None
    if profile:  # where the agent's time goes during the rounds (py-spy's collapsed stacks)
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pids["agent"]), "-o", profile,
            "--format", "raw", "-r", "100", "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    async with Api(config) as api:
        results = [await one_round(api, namespace=ns, pods=pods, within=within) for _ in range(rounds)]
        latency = api.latency_figures()
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        await asyncio.wait_for(spy.wait(), 30)
    after = {name: sample(pid) for name, pid in pids.items()}
    processes = {}
    for name, a in after.items():
        b = before.get(name)
        if a is not None and b is not None:
            processes[name] = {"cpu_seconds": round(a.cpu_seconds - b.cpu_seconds, 2),
                               "peak_rss_mib": round(a.peak_rss_mib, 1)}
    sig = [r["pod_startup_latency_s"]["sig_scalability"] for r in results]
    return {"benchmark": "pod_startup", "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), "rounds": results, "api_latency_ms": latency, "processes": processes,
            "summary": {"p50_s": [s.get("p50") for s in sig], "p99_s": [s.get("p99") for s in sig]}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pods", type=int, default=100)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--profile-agent", default="", metavar="FILE",
                   help="record the agent with py-spy into FILE (collapsed stacks) during the rounds")
    args = p.parse_args()
    cluster = RealCluster(workdir=Path(tempfile.mkdtemp(prefix="kyb-bench-startup-")))
    try:
        cluster.start()
        report = asyncio.run(bench(cluster, pods=args.pods, rounds=args.rounds, within=args.timeout,
                                   profile=args.profile_agent))
    finally:
        leftovers = cluster.stop()
    report["leftovers"] = {k: v for k, v in leftovers.items() if v}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
