"""Joining machines: bootstrap tokens, a node's certificate through a CSR, node authorization, cordon/drain.

A real `kyb server` with its controller-manager (the CSR approver and signer) and scheduler; nodes are
`kyb agent --runtime fake` processes joining with `--server --token`, each with its own data dir. Results
are checked with the real kubectl.
"""

from __future__ import annotations

import base64
import datetime
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
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cluster import KUBECTL, ServerProcess
from kybernetes.api.certificates import encode_bytes_field

TOKEN_MESSAGE = "kyb agent: the bootstrap token is invalid or expired: create one with `kyb token create` on the server"


@pytest.fixture(scope="module")
def cluster() -> Iterator[ServerProcess]:
    if not os.path.exists(KUBECTL):
        pytest.skip("kubectl not installed (scripts/setup.sh --test installs it)")
    server = ServerProcess(components=("controller-manager", "scheduler")).start()
    try:
        yield server
    finally:
        server.stop()


def kyb(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "kybernetes.cli.main", *args], capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"kyb {' '.join(args)} failed ({result.returncode}):\n{result.stderr}\n{result.stdout}")
    return result


def wait_for(what: str, check: Callable[[], bool], *, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Agent:
    """A `kyb agent --runtime fake` process joining with a token."""

    def __init__(self, server: ServerProcess, *, token: str, extra: tuple[str, ...] = ()) -> None:
        self.server = server
        self.name = f"join-{uuid.uuid4().hex[:6]}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="kyb-join-agent-"))
        self.token = token
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.data_dir / "agent.log"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "kybernetes.cli.main", "agent", "--server", self.server.url,
                "--token", self.token, "--node-name", self.name, "--data-dir", str(self.data_dir),
                "--runtime", "fake", "--no-proxy", "--kubelet-port", "0", "--node-ip", "127.0.0.1", *self.extra]

    def start(self) -> Agent:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def run_to_exit(self, timeout: float = 30) -> tuple[int, str]:
        result = subprocess.run(self.argv(), capture_output=True, text=True, timeout=timeout)
        return result.returncode, result.stderr

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        self.server.kubectl("delete", "node", self.name, "--ignore-not-found", check=False)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def node(self) -> dict[str, Any]:
        out = self.server.kubectl("get", "node", self.name, "-o", "json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else {}

    def ready(self) -> bool:
        conditions = (self.node().get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def kubectl_as_node(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBECTL, "--kubeconfig", str(self.data_dir / "kubelet.kubeconfig"), *args],
                              capture_output=True, text=True, timeout=30)


def create_token(server: ServerProcess, *args: str) -> str:
    return kyb("token", "create", "--kubeconfig", str(server.kubeconfig), *args).stdout.strip()


@pytest.fixture
def joined(cluster: ServerProcess) -> Iterator[Agent]:
    join = kyb("token", "create", "--kubeconfig", str(cluster.kubeconfig), "--print-join-command").stdout.split()
    agent = Agent(cluster, token=join[join.index("--token") + 1],
                  extra=("--ca-cert-hash", join[join.index("--ca-cert-hash") + 1]))
    try:
        agent.start()
        wait_for(f"node {agent.name} Ready", agent.ready)
        yield agent
    finally:
        agent.cleanup()


def test_token_create_list_delete(cluster: ServerProcess) -> None:
    kubeconfig = str(cluster.kubeconfig)
    token = create_token(cluster, "--ttl", "2h", "--description", "for the test")
    token_id = token.split(".")[0]
    secret = json.loads(cluster.kubectl("get", "secret", "-n", "kube-system", f"bootstrap-token-{token_id}",
                                        "-o", "json").stdout)
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert set(secret["data"]) == {"token-id", "token-secret", "expiration", "usage-bootstrap-authentication",
                                   "usage-bootstrap-signing", "auth-extra-groups", "description"}
    listing = kyb("token", "list", "--kubeconfig", kubeconfig).stdout.splitlines()
    assert listing[0].split() == ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA", "GROUPS"]
    row = next(line for line in listing if line.startswith(token))
    assert row.split()[1] in ("1h", "2h") and "authentication,signing" in row and "for the test" in row
    assert kyb("token", "delete", "--kubeconfig", kubeconfig, token_id).stdout.strip() == (
        f'bootstrap token "{token_id}" deleted')
    assert token not in kyb("token", "list", "--kubeconfig", kubeconfig).stdout
    gone = kyb("token", "delete", "--kubeconfig", kubeconfig, token_id, check=False)
    assert gone.returncode == 1 and gone.stderr.strip() == f'error: bootstrap token "{token_id}" not found'


def test_join_gets_a_certificate_and_restarts_with_it(cluster: ServerProcess, joined: Agent) -> None:
    assert (joined.data_dir / "kubelet.kubeconfig").exists()
    csrs = json.loads(cluster.kubectl("get", "csr", "-o", "json").stdout)["items"]
    mine = [c for c in csrs if c["spec"]["username"] == f"system:bootstrap:{joined.token.split('.')[0]}"]
    assert len(mine) == 1
    conditions = {c["type"]: c for c in mine[0]["status"]["conditions"]}
    assert conditions["Approved"]["reason"] == "AutoApproved" and mine[0]["status"]["certificate"]
    table = cluster.kubectl("get", "csr", mine[0]["metadata"]["name"]).stdout
    assert "Approved,Issued" in table and "kube-apiserver-client-kubelet" in table
    whoami = joined.kubectl_as_node("auth", "whoami", "-o", "json")
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:node:{joined.name}" and "system:nodes" in user["groups"]

    # The token goes; the node restarts on its own certificate.
    kyb("token", "delete", "--kubeconfig", str(cluster.kubeconfig), joined.token.split(".")[0])
    joined.stop()
    before = joined.node()["metadata"]["resourceVersion"]
    joined.start()
    wait_for("the restarted agent's status update", lambda: joined.node()["metadata"]["resourceVersion"] != before)
    assert joined.ready() and joined.proc is not None and joined.proc.poll() is None
    assert "certificate signing request" not in joined.log.read_text().split("SIGTERM")[-1]
    assert len([c for c in json.loads(cluster.kubectl("get", "csr", "-o", "json").stdout)["items"]
                if c["spec"]["username"] == mine[0]["spec"]["username"]]) == 1


def test_node_certificate_acts_only_as_that_node(cluster: ServerProcess, joined: Agent) -> None:
    other = f"other-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node",
                                                            "metadata": {"name": other}}))
    try:
        refused = joined.kubectl_as_node("label", "node", other, "x=y")
        assert refused.returncode == 1
        assert refused.stderr.strip() == (f'Error from server (Forbidden): nodes "{other}" is forbidden: '
                                          f'node "{joined.name}" is not allowed to modify node "{other}"')
        assert joined.kubectl_as_node("label", "node", joined.name, "x=y").returncode == 0
        secrets = joined.kubectl_as_node("get", "secrets", "-A")
        assert secrets.returncode == 1 and "cannot list resource \"secrets\"" in secrets.stderr
        secret = joined.kubectl_as_node("get", "secret", "-n", "kube-system", "anything")
        assert f"no relationship found between node '{joined.name}' and this object" in secret.stderr
    finally:
        cluster.kubectl("delete", "node", other)


def test_expired_deleted_and_unknown_tokens_are_refused(cluster: ServerProcess) -> None:
    expired = create_token(cluster, "--ttl", "1s")
    deleted = create_token(cluster)
    kyb("token", "delete", "--kubeconfig", str(cluster.kubeconfig), deleted)
    time.sleep(1.5)  # let the first token expire (its expiry has second precision)
    for token in (expired, deleted, "abcdef.0123456789abcdef"):
        agent = Agent(cluster, token=token, extra=("--certificate-authority", str(cluster.data_dir / "pki/ca.crt")))
        try:
            code, stderr = agent.run_to_exit()
            assert code == 1
            assert stderr.strip().splitlines()[-1] == TOKEN_MESSAGE
            assert not (agent.data_dir / "kubelet.kubeconfig").exists()
        finally:
            agent.cleanup()
    pinned = Agent(cluster, token=create_token(cluster), extra=("--ca-cert-hash", "sha256:" + "0" * 64))
    try:
        code, stderr = pinned.run_to_exit()
        assert code == 1 and stderr.strip().splitlines()[-1].startswith(
            "kyb agent: the server's CA does not match --ca-cert-hash: it is sha256:")
    finally:
        pinned.cleanup()
    unreachable = Agent(cluster, token=expired, extra=("--certificate-authority", str(cluster.data_dir / "pki/ca.crt")))
    unreachable.server = ServerProcess(port=1, data_dir=cluster.data_dir)
    try:
        code, stderr = unreachable.run_to_exit()
        assert code == 1 and stderr.strip().splitlines()[-1].startswith(
            "kyb agent: cannot reach the API server at https://127.0.0.1:1: ")
    finally:
        shutil.rmtree(unreachable.data_dir, ignore_errors=True)


def test_cordon_and_drain_respecting_a_budget(cluster: ServerProcess, joined: Agent) -> None:
    kubeconfig = str(cluster.kubeconfig)
    name = joined.name
    ns = f"drain-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", ns)
    try:
        assert kyb("node", "cordon", name, "--kubeconfig", kubeconfig).stdout.strip() == f"node/{name} cordoned"
        assert "SchedulingDisabled" in cluster.kubectl("get", "node", name).stdout
        assert kyb("node", "cordon", name, "--kubeconfig", kubeconfig).stdout.strip() == f"node/{name} already cordoned"
        assert kyb("node", "uncordon", name, "--kubeconfig", kubeconfig).stdout.strip() == f"node/{name} uncordoned"
        assert "SchedulingDisabled" not in cluster.kubectl("get", "node", name).stdout

        cluster.kubectl("-n", ns, "create", "deployment", "web", "--image=busybox", "--replicas=1")
        cluster.kubectl("-n", ns, "create", "pdb", "web", "--selector=app=web", "--min-available=1")
        cluster.kubectl("-n", ns, "run", "bare", "--image=busybox")

        def ready_pods() -> int:
            pods = json.loads(cluster.kubectl("-n", ns, "get", "pods", "-o", "json").stdout)["items"]
            return sum(1 for p in pods if p["spec"].get("nodeName") == name and any(
                c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []))

        wait_for("two running pods", lambda: ready_pods() == 2)
        def pdb_ready() -> bool:
            pdb = json.loads(cluster.kubectl("-n", ns, "get", "pdb", "web", "-o", "json").stdout)
            return bool(pdb.get("status", {}).get("currentHealthy") == 1)

        wait_for("the budget to see the pod", pdb_ready)

        # A pod no controller owns stops the drain (kubectl's message) unless --force.
        refused = kyb("node", "drain", name, "--kubeconfig", kubeconfig, check=False)
        assert refused.returncode == 1 and refused.stdout.strip() == f"node/{name} cordoned"
        assert f"cannot delete Pods that declare no controller (use --force to override): {ns}/bare" in refused.stderr

        drain = subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", "node", "drain", name, "--kubeconfig", kubeconfig,
             "--force", "--retry-interval", "1s", "--timeout", "60s"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            blocked = ""
            assert drain.stderr is not None
            while "would violate the pod's disruption budget" not in blocked:
                line = drain.stderr.readline()
                assert line, f"drain ended without being blocked: {blocked}"
                blocked += line
            assert drain.poll() is None  # still waiting on the budget
            cluster.kubectl("-n", ns, "patch", "pdb", "web", "--type=merge", "-p", '{"spec":{"minAvailable":0}}')
            out, err = drain.communicate(timeout=60)
        finally:
            if drain.poll() is None:
                drain.kill()
                drain.wait()
        assert drain.returncode == 0, err
        lines = out.splitlines()
        # The refused drain above had cordoned the node already (kubectl cordons first too).
        assert lines[0] == f"node/{name} already cordoned" and lines[-1] == f"node/{name} drained"
        assert f"evicting pod {ns}/bare" in lines and "pod/bare evicted" in lines
        assert any(line.startswith(f"evicting pod {ns}/web-") for line in lines)
        assert any(line.startswith("pod/web-") and line.endswith(" evicted") for line in lines)
        assert f"Warning: deleting Pods that declare no controller: {ns}/bare" in blocked + err
        node = json.loads(cluster.kubectl("get", "node", name, "-o", "json").stdout)
        assert node["spec"]["unschedulable"] is True
        left = json.loads(cluster.kubectl("-n", ns, "get", "pods", "-o", "json").stdout)["items"]
        assert [p for p in left if p["spec"].get("nodeName") == name] == []
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_kubectl_certificate_approve_and_deny(cluster: ServerProcess) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")]))
               .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    names = [f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"]
    for name in names:
        cluster.kubectl("create", "-f", "-", input=json.dumps({
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": encode_bytes_field(request), "signerName": "kubernetes.io/kube-apiserver-client",
                     "usages": ["client auth"], "expirationSeconds": 3600}}))
    alice, bob = names
    assert "Pending" in cluster.kubectl("get", "csr", alice).stdout  # nobody approves a person's request
    cluster.kubectl("certificate", "approve", alice)
    cluster.kubectl("certificate", "deny", bob)
    wait_for("alice's certificate", lambda: "Approved,Issued" in cluster.kubectl("get", "csr", alice).stdout)
    assert "Denied" in cluster.kubectl("get", "csr", bob).stdout
    again = cluster.kubectl("certificate", "approve", bob, check=False)
    assert again.returncode != 0 and "already Denied" in again.stderr
    issued = json.loads(cluster.kubectl("get", "csr", alice, "-o", "json").stdout)
    cert = x509.load_pem_x509_certificate(base64.b64decode(issued["status"]["certificate"]))
    assert cert.subject.rfc4514_string() == "CN=alice" and cert.public_key() == key.public_key()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= datetime.timedelta(hours=1, minutes=5)
    cluster.kubectl("delete", "csr", alice, bob)
