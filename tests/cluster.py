"""A real `kyb server` process for tests: own data dir, free port, waits until ready, stops on exit.

Used by the integration and e2e suites (which drive it with the real kubectl and the official Python
client). `datastore` is "sqlite" or an `etcd://` URL from `tests/etcd_server.py`.
"""

from __future__ import annotations

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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The kubectl the test set-up installs (a current release) comes first; any other is a fallback.
KUBECTL = str(ROOT / ".tools/bin/kubectl") if (ROOT / ".tools/bin/kubectl").exists() else (shutil.which("kubectl") or "kubectl")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    datastore: str = "sqlite"
    # Components beside the API server (scheduler, controller-manager): none unless a test asks, so that
    # API-server tests see the API server's behaviour alone.
    components: tuple[str, ...] = ()
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kyb-test-")))
    port: int = field(default_factory=free_port)
    listen_host: str = "127.0.0.1"  # 0.0.0.0 for clusters whose nodes live in other network namespaces
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "admin.kubeconfig"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.log_path = self.data_dir / "server.log"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", "server", "--data-dir", str(self.data_dir),
             "--listen", f"{self.listen_host}:{self.port}", "--datastore", self.datastore,
             *self._disable_flags(), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kyb server exited with {self.proc.returncode}:\n{self.log()}")
            if self.kubeconfig.exists() and self._ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"kyb server not ready after {timeout}s:\n{self.log()}")

    def _disable_flags(self) -> list[str]:
        from kybernetes.cmd.server import COMPONENTS

        off = [c for c in COMPONENTS if c not in self.components]
        return ["--disable", ",".join(off)] if off else []

    def _ready(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.data_dir / "pki" / "ca.crt"))
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", context=ctx, timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""

    def stop(self, *, remove: bool = True) -> int | None:
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                code = self.proc.wait()
        elif self.proc is not None:
            code = self.proc.returncode
        if remove:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.data_dir)}
        result = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, env=env,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}\n{result.stdout}"
            )
        return result
