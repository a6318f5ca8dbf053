"""Helpers for the e2e suite: a kubectl/helm runner bound to a server (and optionally a namespace),
manifest builders that emit JSON (so `create -f -` never needs protobuf), a parser for kubectl's
column-aligned tables, and a line reader for long-running `kubectl get -w` processes.

Tables are parsed by header offsets rather than by splitting on whitespace, because kubectl leaves some
cells blank (e.g. SHORTNAMES in `api-resources`) and some headers contain spaces ("NOMINATED NODE").
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cluster import KUBECTL, ROOT, ServerProcess

# The project's pinned clients. `cluster.KUBECTL` prefers whatever kubectl is on PATH (an older one may
# be), so the e2e suite names the pinned 1.37 binary explicitly and only falls back to PATH.
KUBECTL_BIN = str(ROOT / ".tools/bin/kubectl") if (ROOT / ".tools/bin/kubectl").exists() else KUBECTL
HELM = str(ROOT / ".tools/bin/helm")


def _env(server: ServerProcess) -> dict[str, str]:
    # HOME inside the server's data dir keeps kubectl's discovery cache private to that server.
    return {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir)}


@dataclass
class Kubectl:
    server: ServerProcess
    namespace: str | None = None

    def argv(self, args: tuple[str, ...]) -> list[str]:
        return [KUBECTL_BIN, *(["-n", self.namespace] if self.namespace else []), *args]

    def run(self, *args: str, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(args), input=input, capture_output=True, text=True,
                              env=_env(self.server), timeout=timeout)

    def ok(self, *args: str, input: str | None = None) -> str:
        """Run, require exit 0, return stdout."""
        result = self.run(*args, input=input)
        assert result.returncode == 0, (
            f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}\n{result.stdout}"
        )
        return result.stdout

    def fail(self, *args: str, input: str | None = None) -> str:
        """Run, require a non-zero exit, return stderr."""
        result = self.run(*args, input=input)
        assert result.returncode != 0, f"kubectl {' '.join(args)} unexpectedly succeeded:\n{result.stdout}"
        return result.stderr

    def create(self, *objs: dict[str, Any]) -> str:
        return self.ok("create", "-f", "-", input=to_json_stream(objs))

    def get_json(self, *args: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ok("get", *args, "-o", "json"))
        return data

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_env(self.server), start_new_session=True)

    def helm(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        ns = ["--namespace", self.namespace] if self.namespace else []
        return subprocess.run([HELM, *args, *ns], capture_output=True, text=True, env=_env(self.server),
                              timeout=timeout)


# ---- manifests -------------------------------------------------------------------------------------------

def to_json_stream(objs: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> str:
    """Concatenated JSON objects: kubectl's -f decoder reads them as a stream, one object each."""
    return "\n".join(json.dumps(obj) for obj in objs)


def namespace_manifest(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def deployment(name: str, *, replicas: int = 2, image: str = "nginx:1.25", labels: dict[str, str] | None = None,
               container: str = "nginx") -> dict[str, Any]:
    selector = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {**selector, **(labels or {})}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{"name": container, "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    }  # fmt: skip


def pod(name: str, *, image: str = "busybox:1.36", labels: dict[str, str] | None = None,
        node_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": image, "command": ["sleep", "3600"]}]}
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": spec}


def service(name: str, *, port: int = 80, target_port: int = 8080, type_: str = "ClusterIP",
            node_port: int | None = None) -> dict[str, Any]:
    port_spec: dict[str, Any] = {"port": port, "targetPort": target_port}
    if node_port is not None:
        port_spec["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": type_, "selector": {"app": name}, "ports": [port_spec]}}


def configmap(name: str, *, data: dict[str, str] | None = None,
              labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"key": "value"}}


def write_manifest(path: Path, obj: dict[str, Any]) -> str:
    path.write_text(json.dumps(obj, indent=2))
    return str(path)


# ---- output parsing --------------------------------------------------------------------------------------

_HEADER_CELL = re.compile(r"\S+(?: \S+)*")


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of the first table in kubectl output, keyed by header, cells sliced at header offsets."""
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return []
    header = lines[0]
    cols = [(m.group(0), m.start()) for m in _HEADER_CELL.finditer(header)]
    rows = []
    for line in lines[1:]:
        if not line.strip():
            break
        row = {}
        for i, (name, start) in enumerate(cols):
            end = cols[i + 1][1] if i + 1 < len(cols) else None
            row[name] = line[start:end].strip()
        rows.append(row)
    return rows


def headers(text: str) -> list[str]:
    first = next(line for line in text.splitlines() if line.strip())
    return _HEADER_CELL.findall(first)


def tables(text: str) -> list[str]:
    """The blank-line separated tables of `kubectl get all`-style output."""
    return [block for block in re.split(r"\n\s*\n", text) if block.strip()]


def describe_fields(text: str) -> dict[str, str]:
    """Top-level `Key:  value` lines of `kubectl describe` (unindented keys only)."""
    fields = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Z][A-Za-z -]*):\s*(.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2).strip()
    return fields


# ---- background kubectl ----------------------------------------------------------------------------------

class LineReader:
    """Collects a process's stdout lines on a thread so a test can wait for a line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, *, timeout: float = 10) -> str:
        """The first collected line matching `pattern` (a regex), waiting up to `timeout` seconds."""
        regex = re.compile(pattern)
        for line in self.lines:
            if regex.search(line):
                return line
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:
                break
            self.lines.append(item)
            if regex.search(item):
                return item
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s; got:\n" + "\n".join(self.lines))
