"""`kubectl port-forward` and `kubectl attach` against a real runc pod (the cluster is `realnode.real_cluster`):
busybox `httpd` in the pod's network namespace is fetched through the forwarded local port, a closed port
gives Kubernetes' "connection refused" error, and attach follows what a running container prints."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request

from realnode import REQUIREMENTS, RealCluster, real_cluster, running

pytestmark = REQUIREMENTS
__all__ = ["real_cluster"]


def _forward(c: RealCluster, ns: str, *args: str) -> tuple[subprocess.Popen[str], int]:
    proc = c.popen("-n", ns, "port-forward", "--address=127.0.0.1", *args)
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) ->", line)
    if m is None:
        proc.kill()
        raise AssertionError(f"kubectl port-forward: {line!r} {proc.stderr.read()}")
    return proc, int(m.group(1))


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_port_forward_and_attach_on_a_real_pod(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    c.k("-n", ns, "run", "web", "--image=busybox", "--", "sh", "-c",
        "mkdir -p /www && echo hello-pf > /www/index.html && exec httpd -f -p 8080 -h /www")
    c.k("-n", ns, "run", "ticker", "--image=busybox", "--", "sh", "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    c.wait_pod(ns, "web", running, what="pod web Running")

    proc, port = _forward(c, ns, "pod/web", "0:8080")
    try:
        deadline = time.monotonic() + 15
        while True:  # httpd may still be starting
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as r:
                    body = r.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        assert body == b"hello-pf\n"
        for _ in range(3):  # more connections over the same session
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as r:
                assert r.read() == b"hello-pf\n"
    finally:
        _stop(proc)

    proc, port = _forward(c, ns, "pod/web", "0:81")
    try:
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.settimeout(15)
            assert s.recv(100) == b""
        proc.wait(timeout=15)
    finally:
        err = _stop(proc)
    assert "error forwarding port 81 to pod" in err and "connect: connection refused" in err, err

    c.wait_pod(ns, "ticker", running, what="pod ticker Running")
    attach = c.popen("-n", ns, "attach", "ticker")
    try:
        assert attach.stdout is not None
        first = attach.stdout.readline()
        second = attach.stdout.readline()
        assert re.fullmatch(r"tick \d+\n", first) and re.fullmatch(r"tick \d+\n", second), (first, second)
        assert int(second.split()[1]) == int(first.split()[1]) + 1
    finally:
        _stop(attach)
