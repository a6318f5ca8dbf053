"""`kyb up` / `kyb down` end to end, with real runc containers and the real kubectl.

One cluster for the module, driven through its life in order: `kyb up` on a fresh data dir (times to a Ready
node and a Running pod are printed, not asserted) with a kubeconfig that already has another context;
restarts of `kyb up` after SIGTERM and after SIGKILL (the objects are there and the pod is Running in the
same container); a restart after a simulated reboot (a new boot id: the pod is recreated); `kyb down
--keep-data` and `kyb up` again (same CA and objects, the pod recreated); then `kyb down`,
after which the host's network namespaces, links, mounts, cgroups, nft tables, routes and processes are
exactly as before, checked with the system's own tools (`ip`, `nft`, /proc). Bad input is checked first,
each case a one-line error, a non-zero exit, and nothing started or created.

Every name is unique (`--name-prefix ku<random>`, temp data dir and kubeconfig, free ports), and the module's
teardown runs `kyb down` (and the clean-up module) whatever happened.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import KUBECTL_BIN
from realnode import REQUIREMENTS, routes_in_cluster_cidr

from imagebuild import LocalRegistry, build_busybox_image, push_layout
from polling import free_port, wait_until

pytestmark = REQUIREMENTS

KYB = [sys.executable, "-m", "kybernetes.cli.main"]


def host_state(*, prefix: str, data_dir: Path) -> dict[str, list[str]]:
    """What the host has under our names, seen with the system's tools (not the code under test)."""
    run = lambda *argv: subprocess.run(argv, capture_output=True, text=True, check=False).stdout  # noqa: E731
    links = [line.split(":")[1].strip().split("@")[0] for line in run("ip", "-o", "link").splitlines()]
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if str(data_dir) in line or f"/run/netns/{prefix}-" in line]
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(data_dir) in cmdline and int(pid) != os.getpid():
                procs.append(f"{pid} {cmdline[:160]}")
    return {
        "netns": [n.split()[0] for n in run("ip", "netns", "list").splitlines() if n.startswith(prefix)],
        "links": [n for n in links if n.startswith(prefix)],
        "mounts": mounts,
        "cgroups": [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{prefix}")] + (
            [f"/sys/fs/cgroup/{prefix}"] if Path(f"/sys/fs/cgroup/{prefix}").is_dir() else []),
        "nft_tables": [t for t in run("nft", "list", "tables").split() if t.startswith(f"{prefix}-")],
        "routes": run("ip", "route", "show", "proto", "75").splitlines(),
        "processes": procs,
    }


class UpCluster:
    """One `kyb up` with unique names over a temp dir; start/stop it as a user would."""

    def __init__(self, *, workdir: Path, registry: LocalRegistry) -> None:
        self.workdir, self.registry = workdir, registry
        self.prefix = f"ku{uuid.uuid4().hex[:4]}"
        self.node = f"e2e-up-{self.prefix}"
        self.data_dir = workdir / "data"
        self.kubeconfig = workdir / "home" / ".kube" / "config"
        self.port, self.dns_port = free_port(), free_port(socket.SOCK_DGRAM)
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.times: dict[str, float] = {}

    @property
    def out_path(self) -> Path:
        return self.workdir / f"up-{self.runs}.out"

    def start(self) -> float:
        """Run `kyb up`; returns the seconds until it printed its next steps (the node is Ready)."""
        self.runs += 1
        started = time.monotonic()
        with self.out_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [*KYB, "up", "--data-dir", str(self.data_dir), "--kubeconfig", str(self.kubeconfig),
                 "--node-name", self.node, "--listen", f"0.0.0.0:{self.port}", "--dns-listen",
                 f"127.0.0.1:{self.dns_port}", "--name-prefix", self.prefix, "--kubelet-port", "0",
                 "--registry-mirror", f"docker.io={self.registry.url}", "--insecure-registry", self.registry.host],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until("kyb up to print its next steps", lambda: "Kybernetes is up" in self.output() or self.exited(),
                   within=60, context=self.diagnostics)
        assert not self.exited(), self.diagnostics()
        return time.monotonic() - started

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def diagnostics(self) -> str:
        logs = ""
        for name in ("server", "agent"):
            path = self.data_dir / "logs" / f"{name}.log"
            if path.exists():
                logs += f"\n--- {name}.log\n" + path.read_text(errors="replace")[-3000:]
        return f"--- kyb up output\n{self.output()}{logs}"

    def stop(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def k(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.workdir / "home")}
        done = subprocess.run([KUBECTL_BIN, *args], capture_output=True, text=True, env=env, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}\n{self.diagnostics()}")
        return done

    def pod(self, name: str) -> dict[str, Any]:
        out = self.k("get", "pod", name, "-o", "json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else {}

    def wait_running(self, name: str, *, within: float = 60, not_container: str = "") -> dict[str, Any]:
        """Wait until the pod is Running and ready (in another container than `not_container`, if given)."""
        def running() -> dict[str, Any] | None:
            pod = self.pod(name)
            statuses = pod.get("status", {}).get("containerStatuses") or []
            ok = pod.get("status", {}).get("phase") == "Running" and statuses and statuses[0].get("ready")
            return pod if ok and statuses[0].get("containerID") != not_container else None

        pod: dict[str, Any] = wait_until(f"pod {name} Running", running, within=within, context=self.diagnostics)
        return pod

    def down(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*KYB, "down", "--data-dir", str(self.data_dir), *args], capture_output=True, text=True,
                              timeout=120)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpCluster]:
    if routes_in_cluster_cidr():
        pytest.skip(f"the host already routes part of the pod range: {routes_in_cluster_cidr()}")
    workdir = tmp_path_factory.mktemp("up")
    registry = LocalRegistry().start()
    cluster = UpCluster(workdir=workdir, registry=registry)
    try:
        push_layout(build_busybox_image(workdir / "busybox"), registry.url, "library/busybox", "latest")
        yield cluster
    finally:
        if cluster.proc is not None and cluster.proc.poll() is None:
            cluster.proc.kill()
            cluster.proc.wait()
        cluster.down()
        from kybernetes.cmd.up_state import UpSettings
        from kybernetes.kubelet.cleanup import clean_node

        clean_node(traces=UpSettings(name_prefix=cluster.prefix).traces(data_dir=cluster.data_dir))
        shutil.rmtree(cluster.data_dir, ignore_errors=True)
        registry.stop()


# ---- bad input ----------------------------------------------------------------------------------------


def _refused(argv: list[str], *, data_dir: Path, expect: str, prefix: list[str] | None = None) -> str:
    done = subprocess.run([*(prefix or []), *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], done.stderr
    assert not host_state(prefix="kb", data_dir=data_dir)["processes"]
    return lines[0]


def test_bad_input_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    base = [*KYB, "up", "--data-dir", str(data), "--kubeconfig", str(tmp_path / "config"), "--name-prefix", "kbad",
            "--kubelet-port", "0", "--dns-listen", f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"]
    listen = ["--listen", f"127.0.0.1:{free_port()}"]

    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    _refused([*base, *listen], data_dir=data, expect="must run as root", prefix=nobody)
    _refused([*KYB, "down", "--data-dir", str(data)], data_dir=data, expect="must run as root", prefix=nobody)
    # runc "missing": /usr/sbin/runc hidden under /dev/null in a private mount namespace
    script = 'mount --bind /dev/null /usr/sbin/runc && exec "$@"'
    _refused(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *base, *listen],
             data_dir=data, expect="install runc (apt-get install runc)")
    assert not data.exists()

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = _refused([*base, "--listen", f"127.0.0.1:{port}"], data_dir=data, expect=f"port {port} is in use")
        assert "--listen" in line
    assert not data.exists()  # a fresh data dir is not left half-made

    data.mkdir()
    (data / "version.json").write_text(json.dumps({"kyb": "99.0.0", "format": 99}))
    _refused([*base, *listen], data_dir=data, expect="newer than this kyb")
    assert sorted(os.listdir(data)) == ["version.json"]

    (data / "version.json").unlink()
    with open(data / "kyb-up.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _refused([*base, *listen], data_dir=data, expect="another kyb up")


# ---- a cluster's life ---------------------------------------------------------------------------------


def test_up_gives_a_ready_node_and_a_running_pod(up: UpCluster) -> None:
    up.before = host_state(prefix=up.prefix, data_dir=up.data_dir)  # type: ignore[attr-defined]
    assert not any(v for k, v in up.before.items() if k != "routes"), up.before  # type: ignore[attr-defined]
    up.kubeconfig.parent.mkdir(parents=True)
    up.kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "other", "cluster": {"server": "https://other.example:6443"}}],
        "users": [{"name": "other-user", "user": {"token": "abc"}}],
        "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other-user"}}]}))

    up.times["ready_node_s"] = up.start()
    out = up.output()
    assert "control plane ready (" in out and f"node {up.node} Ready (" in out, out
    assert "kubectl get nodes" in out and "kyb down" in out

    doc = yaml.safe_load(up.kubeconfig.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["other", "kybernetes"]
    assert doc["current-context"] == "kybernetes"
    assert stat.S_IMODE(up.kubeconfig.stat().st_mode) == 0o600
    nodes = up.k("get", "nodes", "--no-headers").stdout.split()
    assert nodes[:2] == [up.node, "Ready"], nodes

    wait_until("the default service account",
               lambda: up.k("get", "serviceaccount", "default", check=False).returncode == 0, within=30)
    up.k("create", "configmap", "kept", "--from-literal=answer=42")
    started = time.monotonic()
    up.k("run", "sleeper", "--image=busybox", "--", "sleep", "3600")
    pod = up.wait_running("sleeper")
    up.times["pod_running_after_ready_s"] = time.monotonic() - started
    up.container_id = pod["status"]["containerStatuses"][0]["containerID"]  # type: ignore[attr-defined]
    print(f"kyb up timings: {json.dumps(up.times)}")


def _same_cluster_and_pod(up: UpCluster, *, same_container: bool) -> None:
    assert up.k("get", "configmap", "kept", "-o", "jsonpath={.data.answer}").stdout == "42"
    previous: str = up.container_id  # type: ignore[attr-defined]
    pod = up.wait_running("sleeper", not_container="" if same_container else previous)
    status = pod["status"]["containerStatuses"][0]
    if same_container:
        assert status["containerID"] == previous, status
        assert status["restartCount"] == 0, status
    else:
        up.container_id = status["containerID"]  # type: ignore[attr-defined]


def _kyb_components(up: UpCluster) -> list[str]:
    from kybernetes.cmd.up_state import stray_processes

    return [str(p) for p in stray_processes(data_dir=up.data_dir)]


def test_restart_after_sigterm_keeps_objects_and_the_running_container(up: UpCluster) -> None:
    assert up.stop(signal.SIGTERM) == 0, up.diagnostics()
    assert "stopped; containers keep running" in up.output()
    assert not _kyb_components(up)  # server, agent and the server's children all stopped
    assert any("conmon" in p for p in host_state(prefix=up.prefix, data_dir=up.data_dir)["processes"])
    up.times["restart_after_sigterm_s"] = up.start()
    _same_cluster_and_pod(up, same_container=True)


def test_restart_after_sigkill_keeps_objects_and_the_running_container(up: UpCluster) -> None:
    up.stop(signal.SIGKILL)
    up.times["restart_after_sigkill_s"] = up.start()
    _same_cluster_and_pod(up, same_container=True)
    # server, components (scheduler, controller-manager and dns in one process), agent: once each, nothing
    # left over from the killed one
    assert len(_kyb_components(up)) == 3, _kyb_components(up)


def test_restart_after_a_reboot_recreates_the_pod(up: UpCluster) -> None:
    assert up.stop(signal.SIGTERM) == 0
    settings = json.loads((up.data_dir / "up.json").read_text())
    settings["boot_id"] = "an-earlier-boot"  # what kyb up sees after the machine restarted
    (up.data_dir / "up.json").write_text(json.dumps(settings))
    up.times["restart_after_reboot_s"] = up.start()
    _same_cluster_and_pod(up, same_container=False)


def test_down_keep_data_leaves_no_trace_and_up_brings_the_cluster_back(up: UpCluster) -> None:
    done = up.down("--keep-data")
    assert done.returncode == 0 and "data kept" in done.stdout, f"{done.stdout}\n{done.stderr}"
    assert up.proc is not None and up.proc.wait(timeout=10) == 0
    assert host_state(prefix=up.prefix, data_dir=up.data_dir) == up.before  # type: ignore[attr-defined]
    assert (up.data_dir / "server" / "pki" / "ca.crt").exists()
    ca = (up.data_dir / "server" / "pki" / "ca.crt").read_bytes()
    assert "kybernetes" in up.kubeconfig.read_text()
    up.times["up_after_down_keep_data_s"] = up.start()
    _same_cluster_and_pod(up, same_container=False)  # the same objects; the pod in a new container
    assert (up.data_dir / "server" / "pki" / "ca.crt").read_bytes() == ca


def test_down_leaves_nothing_and_is_idempotent(up: UpCluster) -> None:
    done = up.down()
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert up.proc is not None and up.proc.wait(timeout=10) == 0
    after = host_state(prefix=up.prefix, data_dir=up.data_dir)
    assert after == up.before, after  # type: ignore[attr-defined]
    assert not up.data_dir.exists()
    doc = yaml.safe_load(up.kubeconfig.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["other"]
    assert [c["name"] for c in doc["clusters"]] == ["other"]

    print(f"kyb up timings: {json.dumps(up.times)}")
    again = up.down()
    assert again.returncode == 0 and "nothing to do" in again.stdout, again
