"""`kyb up` to a Ready node and to a Running pod, and the idle memory of the whole one-machine cluster.

    flock /tmp/kyb-runtime.lock sudo .venv/bin/python bench/up_bench.py [--idle 30] [--rounds 3]

Each round starts `kyb up` on a fresh data dir (unique --name-prefix, free ports, busybox from a local
registry as docker.io's mirror, as the e2e tests do) and measures, from the moment the process is spawned:
the API server answering /readyz, the Node Ready (polled every 20 ms over HTTPS with the admin
certificate), and a busybox pod, created as soon as the node is Ready, Running (its image pulled from
the local registry: the first pull of a fresh node). The first round also times a restart (SIGTERM, then
`kyb up` again on the same data dir, to a Ready node) and, after `--idle` seconds with the one pod running,
the resident memory of every kyb process (kyb up, the API server, scheduler, controller-manager, DNS, the
agent), summed (RSS, and PSS, which counts shared pages once), with conmon's (one per container) and the container's own reported apart. `kyb down` is
timed at the end of each round. Prints JSON; never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import children, cmdline, machine, sample

from imagebuild import LocalRegistry, build_busybox_image, push_layout

KYB = [sys.executable, "-m", "kybernetes.cli.main"]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Run:
    def __init__(self, *, workdir: Path, registry: LocalRegistry) -> None:
        self.prefix = f"kb{uuid.uuid4().hex[:4]}"
        self.node = f"bench-{self.prefix}"
        self.workdir, self.data_dir = workdir, workdir / "data"
        self.kubeconfig = workdir / "kubeconfig"
        self.port, self.dns = free_port(), free_port(socket.SOCK_DGRAM)
        self.registry = registry
        self.proc: subprocess.Popen[bytes] | None = None
        self._ctx: ssl.SSLContext | None = None

    def start(self) -> float:
        out = (self.workdir / "up.out").open("ab")
        self.proc = subprocess.Popen(
            [*KYB, "up", "--data-dir", str(self.data_dir), "--kubeconfig", str(self.kubeconfig), "--node-name",
             self.node, "--listen", f"0.0.0.0:{self.port}", "--dns-listen", f"127.0.0.1:{self.dns}",
             "--name-prefix", self.prefix, "--kubelet-port", "0", "--registry-mirror",
             f"docker.io={self.registry.url}", "--insecure-registry", self.registry.host],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        return time.monotonic()

    def _context(self) -> ssl.SSLContext | None:
        pki = self.data_dir / "server" / "pki"
        if self._ctx is None and (pki.parent / "admin.kubeconfig").exists():  # written once the PKI is complete
            try:
                ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
                ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
            except (OSError, ssl.SSLError):
                return None
            self._ctx = ctx
        return self._ctx

    def request(self, path: str, *, body: dict[str, Any] | None = None) -> Any:
        ctx = self._context()
        if ctx is None:
            return None
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=2) as r:
                raw = r.read()
        except OSError:
            return None
        return json.loads(raw) if raw.startswith(b"{") else raw.decode()

    def wait(self, what: str, check: Any, *, within: float = 120) -> float:
        deadline = time.monotonic() + within
        while not check():
            assert self.proc is not None
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"no {what}: {(self.workdir / 'up.out').read_text()[-3000:]}")
            time.sleep(0.02)
        return time.monotonic()

    def node_ready(self) -> bool:
        node = self.request(f"/api/v1/nodes/{self.node}")
        conditions = (node or {}).get("status", {}).get("conditions") or [] if isinstance(node, dict) else []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def create_pod(self) -> bool:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
               "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}
        return isinstance(self.request("/api/v1/namespaces/default/pods", body=pod), dict)

    def pod_running(self) -> bool:
        pod = self.request("/api/v1/namespaces/default/pods/sleeper")
        return isinstance(pod, dict) and pod.get("status", {}).get("phase") == "Running"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)

    def down(self) -> float:
        started = time.monotonic()
        subprocess.run([*KYB, "down", "--data-dir", str(self.data_dir)], capture_output=True, check=False)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        return time.monotonic() - started

    def memory(self) -> dict[str, Any]:
        """RSS (MiB) of every kyb process in kyb up's tree by role; conmon and containers apart."""
        assert self.proc is not None
        kyb: dict[str, float] = {}
        pss = 0.0
        stack = [self.proc.pid]
        while stack:
            pid = stack.pop()
            stack.extend(children(pid))
            args = cmdline(pid)
            s = sample(pid)
            if s is None or "kybernetes.cli.main" not in args:
                continue
            at = args.index("kybernetes.cli.main") + 1
            role = args[at] if at < len(args) else "?"
            kyb[role] = round(kyb.get(role, 0.0) + s.rss_mib, 1)
            pss += _pss_mib(pid)
        conmon = containers = 0.0
        for entry in filter(str.isdigit, os.listdir("/proc")):
            args = cmdline(int(entry))
            s = sample(int(entry))
            if s is None or not args:
                continue
            if Path(args[0]).name == "conmon" and any(str(self.data_dir) in a for a in args):
                conmon += s.rss_mib
        cgroup = Path("/sys/fs/cgroup/memory") / self.prefix / "memory.usage_in_bytes"
        if cgroup.exists():
            containers = int(cgroup.read_text()) / 1024 / 1024
        return {"kyb_processes_mib": kyb, "kyb_total_mib": round(sum(kyb.values()), 1),
                "kyb_total_pss_mib": round(pss, 1),
                "conmon_mib": round(conmon, 1), "containers_cgroup_mib": round(containers, 1)}


def _pss_mib(pid: int) -> float:
    """Proportional set size: shared pages (the interpreter, libraries) split between their users, so the
    sum over processes is the memory they really take together (RSS counts shared pages once per process)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def one_round(*, registry: LocalRegistry, idle: float, detail: bool) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="kyb-up-bench-"))
    run = Run(workdir=workdir, registry=registry)
    result: dict[str, Any] = {}
    try:
        t0 = run.start()
        result["api_ready_s"] = round(run.wait("API server", lambda: run.request("/readyz") == "ok") - t0, 3)
        result["node_ready_s"] = round(run.wait("Ready node", run.node_ready) - t0, 3)
        run.wait("pod created", run.create_pod, within=30)
        result["pod_running_s"] = round(run.wait("Running pod", run.pod_running) - t0, 3)
        if detail:
            run.stop()
            t1 = run.start()
            result["restart_node_ready_s"] = round(run.wait("Ready node", run.node_ready) - t1, 3)
            run.wait("Running pod", run.pod_running)
            time.sleep(idle)
            result[f"idle_memory_after_{idle:.0f}s"] = run.memory()
    finally:
        result["down_s"] = round(run.down(), 3)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (real containers)")
    images = Path(tempfile.mkdtemp(prefix="kyb-up-bench-img-"))
    registry = LocalRegistry().start()
    try:
        push_layout(build_busybox_image(images / "busybox"), registry.url, "library/busybox", "latest")
        rounds = [one_round(registry=registry, idle=args.idle, detail=i == 0) for i in range(args.rounds)]
    finally:
        registry.stop()
        shutil.rmtree(images, ignore_errors=True)
    summary = {key: sorted(r[key] for r in rounds) for key in ("api_ready_s", "node_ready_s", "pod_running_s", "down_s")}
    print(json.dumps({"benchmark": "kyb up", "machine": machine(), "rounds": rounds, "sorted": summary}, indent=1))


if __name__ == "__main__":
    main()
