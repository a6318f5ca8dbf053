"""The README's worked example, run as written: the guestbook on a `kyb up` cluster with real runc containers.

One `kyb up` for the module (unique `--name-prefix`, temp data dir and kubeconfig, free API and DNS ports; the
DNS on the machine's own address so pods reach it through the kube-dns Service), then the README's steps in
order, each a test: `examples/build-images.py` builds the images and imports them into the node (no
registry); `kubectl apply -f examples/guestbook/`; the front end answers through its NodePort, through
`kubectl port-forward svc/frontend` and, from inside a pod, through the Service's DNS name; an entry posted to
the front end is stored by the back end (read back from the back end itself); `kubectl scale` to three
replicas and the NodePort's requests spread over them; `kubectl set image` to v2 and `kubectl rollout undo`
back to v1, each seen in the page, with the entries kept. The teardown runs `kyb down` and the clean-up module
whatever happened. Run it under the runtime lock: `flock /tmp/kyb-runtime.lock .venv/bin/pytest ...`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import KUBECTL_BIN
from realnode import routes_in_cluster_cidr

from polling import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "guestbook"
KYB = [sys.executable, "-m", "kybernetes.cli.main"]
NODE_PORT = 30080  # as in examples/guestbook/frontend.yaml

pytestmark = [
    pytest.mark.runtime,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(
        not all(os.path.exists(p) for p in ("/usr/sbin/runc", "/usr/bin/conmon", "/usr/bin/busybox", KUBECTL_BIN)),
        reason="needs runc, conmon, busybox-static and kubectl"),
]


def http(url: str, *, data: bytes | None = None) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of one request on a fresh connection; redirects are not followed."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=data), timeout=5) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class Example:
    """A `kyb up` with unique names, and the kubectl the README uses pointed at it."""

    def __init__(self, *, workdir: Path) -> None:
        from kybernetes.cmd.up import primary_address

        self.workdir = workdir
        self.prefix = f"kx{uuid.uuid4().hex[:4]}"
        self.node = f"e2e-example-{self.prefix}"
        self.data_dir = workdir / "data"
        self.kubeconfig = workdir / "kubeconfig"
        self.address = primary_address()
        self.port = free_port()
        self.dns_port = free_port(socket.SOCK_DGRAM, self.address)
        self.out_path = workdir / "up.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.out_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [*KYB, "up", "--data-dir", str(self.data_dir), "--kubeconfig", str(self.kubeconfig),
                 "--node-name", self.node, "--listen", f"0.0.0.0:{self.port}",
                 "--dns-listen", f"{self.address}:{self.dns_port}", "--name-prefix", self.prefix,
                 "--kubelet-port", "0"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until("kyb up to print its next steps",
                   lambda: "Kybernetes is up" in self.output() or self.proc is None or self.proc.poll() is not None,
                   within=60, context=self.diagnostics)
        assert self.proc.poll() is None, self.diagnostics()

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def diagnostics(self) -> str:
        logs = ""
        for name in ("server", "agent"):
            path = self.data_dir / "logs" / f"{name}.log"
            if path.exists():
                logs += f"\n--- {name}.log\n" + path.read_text(errors="replace")[-3000:]
        pods = self.k("get", "pods", "-o", "wide", check=False, timeout=10).stdout if self.kubeconfig.exists() else ""
        return f"--- kyb up output\n{self.output()}\n--- pods\n{pods}{logs}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.workdir)}

    def k(self, *args: str, check: bool = True, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([KUBECTL_BIN, *args], capture_output=True, text=True, env=self.env(), timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}\n{self.diagnostics()}")
        return done

    def rollout(self, deployment: str) -> None:
        self.k("rollout", "status", f"deployment/{deployment}", "--timeout=60s")

    def pod_names(self, tier: str) -> list[str]:
        out = self.k("get", "pods", "-l", f"tier={tier}", "-o", "json").stdout
        return [p["metadata"]["name"] for p in json.loads(out)["items"]
                if p["metadata"].get("deletionTimestamp") is None]

    def node_port(self, path: str = "/", *, data: bytes | None = None) -> tuple[int, dict[str, str], str]:
        return http(f"http://{self.address}:{NODE_PORT}{path}", data=data)

    def versions(self, *, requests: int) -> set[str]:
        """The front-end versions that answer `requests` requests through the NodePort."""
        seen = set()
        for _ in range(requests):
            status, _, body = self.node_port()
            assert status == 200, body
            seen.update(re.findall(r"guestbook-frontend (v\d+) on", body))
        return seen


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    if routes_in_cluster_cidr():
        pytest.skip(f"the host already routes part of the pod range: {routes_in_cluster_cidr()}")
    cluster = Example(workdir=tmp_path_factory.mktemp("example"))
    try:
        cluster.start()
        yield cluster
    finally:
        if cluster.proc is not None and cluster.proc.poll() is None:
            cluster.proc.kill()
            cluster.proc.wait()
        subprocess.run([*KYB, "down", "--data-dir", str(cluster.data_dir)], capture_output=True, timeout=120)
        from kybernetes.cmd.up_state import UpSettings
        from kybernetes.kubelet.cleanup import clean_node

        clean_node(traces=UpSettings(name_prefix=cluster.prefix).traces(data_dir=cluster.data_dir))
        shutil.rmtree(cluster.data_dir, ignore_errors=True)


def test_build_images_imports_them_into_the_node(example: Example) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "build-images.py"), "--out",
                           str(example.workdir / "images"), "--data-dir", str(example.data_dir / "agent")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("imported example.local/guestbook-") == 3, done.stdout
    listed = subprocess.run([*KYB, "image", "list", "--data-dir", str(example.data_dir / "agent")],
                            capture_output=True, text=True, check=True).stdout
    for tag in ("guestbook-backend:v1", "guestbook-frontend:v1", "guestbook-frontend:v2"):
        assert f"example.local/{tag}" in listed, listed


def test_apply_runs_the_application(example: Example) -> None:
    wait_until("the default service account",
               lambda: example.k("get", "serviceaccount", "default", check=False).returncode == 0, within=30)
    out = example.k("apply", "-f", str(EXAMPLE)).stdout
    for obj in ("configmap/guestbook-config", "deployment.apps/backend", "service/backend",
                "deployment.apps/frontend", "service/frontend"):
        assert f"{obj} created" in out, out
    example.rollout("backend")
    example.rollout("frontend")
    pods = example.k("get", "pods", "-o", "wide", "--no-headers").stdout.splitlines()
    assert len(pods) == 2 and all(" Running " in line and example.node in line for line in pods), pods


def test_the_front_end_answers_through_its_services(example: Example) -> None:
    def answer() -> tuple[int, dict[str, str], str] | None:
        # Ready pods are reachable once the proxy has their endpoints: until then the NodePort refuses
        # connections, and the front end answers 502 while the back end's Service refuses its own.
        try:
            answer = example.node_port()
        except OSError:
            return None
        return answer if answer[0] != 502 else None

    status, headers, body = wait_until("the NodePort to answer", answer, within=20, context=example.diagnostics)
    assert status == 200, body
    assert "<h1>Welcome to the Kybernetes guestbook!</h1>" in body, body  # the greeting from the ConfigMap
    assert "guestbook-frontend v1 on frontend-" in body and "no entries yet" in body, body
    assert headers["X-Served-By"] in example.pod_names("frontend")

    # kubectl port-forward to the Service, as the README does
    local = free_port()
    forward = subprocess.Popen([KUBECTL_BIN, "port-forward", "svc/frontend", f"{local}:80"], env=example.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        if "Forwarding from 127.0.0.1:" not in line:
            forward.kill()
            raise AssertionError(f"kubectl port-forward: {line}{forward.communicate()[1]}")
        assert http(f"http://127.0.0.1:{local}/healthz")[2] == "ok\n"
    finally:
        forward.terminate()
        forward.wait(timeout=10)

    # from inside the cluster: the Service by its DNS name, as the front end reaches the back end
    [backend] = example.pod_names("backend")
    script = "import urllib.request as u; print(u.urlopen('http://frontend.default.svc.cluster.local/').read().decode())"
    inside = example.k("exec", backend, "--", "python3", "-c", script).stdout
    assert "guestbook-frontend v1" in inside, inside


def test_an_entry_round_trips_through_the_back_end(example: Example) -> None:
    status, headers, body = example.node_port("/entries", data=b"Hello from the test suite")
    assert status == 303 and headers["Location"] == "/", body
    assert example.node_port("/entries")[2] == '["Hello from the test suite"]\n'
    [backend] = example.pod_names("backend")
    stored = example.k("exec", backend, "--", "wget", "-qO-", "http://127.0.0.1:8080/keys").stdout
    assert list(json.loads(stored).values()) == ["Hello from the test suite"], stored
    assert "<li>Hello from the test suite</li>" in example.node_port()[2]


def test_scale_spreads_requests(example: Example) -> None:
    example.k("scale", "deployment", "frontend", "--replicas=3")
    example.rollout("frontend")
    wait_until("three ready front ends", lambda: example.k(
        "get", "deployment", "frontend", "-o", "jsonpath={.status.readyReplicas}").stdout == "3", within=30)
    names = example.pod_names("frontend")
    assert len(names) == 3, names
    served = {example.node_port()[1]["X-Served-By"] for _ in range(40)}
    assert len(served) >= 2 and served <= set(names), (served, names)


def test_update_to_v2_and_roll_back(example: Example) -> None:
    example.k("set", "image", "deployment/frontend", "frontend=example.local/guestbook-frontend:v2")
    example.rollout("frontend")
    wait_until("only v2 to answer", lambda: example.versions(requests=9) == {"v2"}, within=20,
               context=example.diagnostics)
    assert "<li>Hello from the test suite</li>" in example.node_port()[2]  # the back end kept the entry

    example.k("rollout", "undo", "deployment/frontend")
    example.rollout("frontend")
    wait_until("only v1 to answer", lambda: example.versions(requests=9) == {"v1"}, within=20,
               context=example.diagnostics)
    history = example.k("rollout", "history", "deployment/frontend").stdout
    assert re.search(r"^2\s", history, re.M) and re.search(r"^3\s", history, re.M), history


def test_old_pods_go_at_once_and_top_shows_the_live_ones(example: Example) -> None:
    # The programs exit on SIGTERM (as PID 1 they would otherwise wait out the 30 s grace period).
    wait_until("the replaced front ends to be gone", lambda: len(example.pod_names("frontend")) == 3
               and example.k("get", "pods", "--no-headers").stdout.count("\n") == 4, within=20,
               context=example.diagnostics)
    live = set(example.pod_names("frontend") + example.pod_names("backend"))

    def top() -> set[str] | None:
        done = subprocess.run([*KYB, "top", "pods", "--no-headers"], capture_output=True, text=True,
                              env=example.env(), timeout=30)
        names = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
        return names if done.returncode == 0 and names == live else None

    wait_until("kyb top pods to list the four pods", top, within=30, context=example.diagnostics)
