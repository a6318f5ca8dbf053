"""A private etcd for tests: `/usr/bin/etcd` on 127.0.0.1 with free ports and a temporary data directory.

Usage (sync, so it works from session-scoped fixtures and from scripts)::

    with EtcdServer() as etcd:
        store = EtcdStore(endpoints=[etcd.endpoint])

`start()` picks two free ports (client and peer), starts etcd with a unique member name, and polls the
gRPC-gateway `/v3/kv/range` until it answers; if etcd exits early (e.g. a port was taken between our probe
and its bind) it retries with fresh ports. `stop()` terminates the process (killing it if it lingers) and
removes the data directory; it runs even when start failed halfway, and the context manager calls it on
any exit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType

ETCD_BINARY = "/usr/bin/etcd"


def etcd_available() -> bool:
    return os.access(ETCD_BINARY, os.X_OK)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EtcdServer:
    def __init__(self, *, binary: str = ETCD_BINARY, startup_timeout: float = 20.0) -> None:
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.name = f"kyb-test-{uuid.uuid4().hex[:12]}"
        self.data_dir: Path | None = None
        self.client_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def endpoint(self) -> str:
        """`HOST:PORT` of the client URL (what `etcd://` datastore strings list)."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def start(self) -> EtcdServer:
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self._log = self.data_dir / "etcd.log"
        try:
            for _attempt in range(3):
                if self._start_once():
                    return self
            raise RuntimeError(f"etcd did not start; log:\n{self._read_log()}")
        except BaseException:
            self.stop()
            raise

    def _start_once(self) -> bool:
        assert self.data_dir is not None and self._log is not None
        self.client_port, peer_port = _free_port(), _free_port()
        member_dir = self.data_dir / "member-data"
        shutil.rmtree(member_dir, ignore_errors=True)
        peer_url = f"http://127.0.0.1:{peer_port}"
        args = [
            self.binary,
            "--name", self.name,
            "--data-dir", str(member_dir),
            "--listen-client-urls", self.url,
            "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"{self.name}={peer_url}",
            "--initial-cluster-token", self.name,
            "--log-level", "warn",
            # What kubeadm gives Kubernetes' etcd (and etcd 3.6's default): 3.4 keeps 100,000 raft entries in
            # memory before a snapshot, ~1 GB once they are pod writes.
            "--snapshot-count", "10000",
        ]  # fmt: skip
        with open(self._log, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            if self._answers():
                return True
            time.sleep(0.05)
        self._terminate()
        return False

    def _answers(self) -> bool:
        request = urllib.request.Request(
            f"{self.url}/v3/kv/range",
            data=b'{"key":"AA=="}',
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=1.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _read_log(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-4000:] if self._log else ""
        except OSError:
            return ""

    def _terminate(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self._terminate()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def __enter__(self) -> EtcdServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
