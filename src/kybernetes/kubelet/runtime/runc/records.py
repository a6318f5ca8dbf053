"""The runtime's on-disk records: one JSON file per sandbox and per container under the state directory.

These files are the runtime's only memory. A restarted kubelet builds a new `RuncRuntime` over the same
directory and finds every sandbox and container again from them (plus runc's own state and conmon's exit
files), without touching the running processes. Writes are atomic (temporary file + rename), so a crash
leaves the previous or the next version of a record, never half of one.

Layout (`StateDir`):
    runc/                        runc's --root (container state)
    sandboxes/<id>/sandbox.json  + resolv.conf, hosts, hostname, ns/uts, ns/ipc (pinned), shm/ (tmpfs)
    containers/<id>/container.json + config.json (OCI bundle), rootfs/ (overlay), upper/, work/,
                                 exit/<id> (exit code), persist/ (conmon: exit, oom), conmon.pid, pidfile
    sockets/                     conmon's attach sockets (short paths: unix socket paths are limited)

Container records are also kept in memory once read (this process is their only writer): listing a
node's containers is then a dictionary walk, not a directory scan and a JSON decode per container —
with 100 pods the scan was a fifth of the kubelet's CPU time while they started. Callers get copies, so
a record changed and not saved never shows.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from kybernetes.kubelet.runtime.protocol import ContainerConfig, PodSandboxConfig

T = TypeVar("T")


@dataclass
class SandboxRecord:
    id: str
    config: PodSandboxConfig
    created_at_ns: int
    ready: bool = False
    ip: str = ""
    netns_path: str = ""
    cgroup_parent: str = ""
    hostname: str = ""


@dataclass
class ContainerRecord:
    id: str
    sandbox_id: str
    config: ContainerConfig
    created_at_ns: int
    log_path: str
    cgroups_path: str
    started_at_ns: int = 0
    finished_at_ns: int = 0
    annotations: dict[str, str] = field(default_factory=dict)


def _enc(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    raise NotImplementedError(type(obj))


def _dec(kind: type, obj: Any) -> Any:
    if kind is Path:
        return Path(obj)
    raise NotImplementedError(kind)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def encode(obj: object) -> bytes:
    return msgspec.json.encode(obj, enc_hook=_enc)


def decode(data: bytes, *, kind: type[T]) -> T:
    return msgspec.json.decode(data, type=kind, dec_hook=_dec)


class StateDir:
    def __init__(self, *, root: Path) -> None:
        self.root = root
        self.runc_root = root / "runc"
        self.sandboxes = root / "sandboxes"
        self.containers = root / "containers"
        self.sockets = root / "sockets"
        self._containers: dict[str, ContainerRecord] | None = None  # read from disk on first use
        self._lock = threading.Lock()  # the methods run in worker threads

    def create(self) -> None:
        for d in (self.runc_root, self.sandboxes, self.containers, self.sockets):
            d.mkdir(parents=True, exist_ok=True)

    def sandbox_dir(self, sandbox_id: str) -> Path:
        return self.sandboxes / sandbox_id

    def container_dir(self, container_id: str) -> Path:
        return self.containers / container_id

    def save_sandbox(self, record: SandboxRecord) -> None:
        d = self.sandbox_dir(record.id)
        d.mkdir(parents=True, exist_ok=True)
        write_atomic(d / "sandbox.json", encode(record))

    def load_sandbox(self, sandbox_id: str) -> SandboxRecord | None:
        try:
            return decode((self.sandbox_dir(sandbox_id) / "sandbox.json").read_bytes(), kind=SandboxRecord)
        except (FileNotFoundError, NotADirectoryError, msgspec.DecodeError):
            return None

    def save_container(self, record: ContainerRecord) -> None:
        d = self.container_dir(record.id)
        d.mkdir(parents=True, exist_ok=True)
        write_atomic(d / "container.json", encode(record))
        with self._lock:
            if self._containers is not None:
                self._containers[record.id] = dataclasses.replace(record)

    def forget_container(self, container_id: str) -> None:
        """The container's directory is gone (or going): drop its record from memory."""
        with self._lock:
            if self._containers is not None:
                self._containers.pop(container_id, None)

    def load_container(self, container_id: str) -> ContainerRecord | None:
        record = self._container_records().get(container_id)
        return dataclasses.replace(record) if record is not None else None

    def load_containers(self) -> list[ContainerRecord]:
        return [dataclasses.replace(r) for _, r in sorted(self._container_records().items())]

    def _container_records(self) -> dict[str, ContainerRecord]:
        with self._lock:
            if self._containers is None:
                self._containers = {}
                for p in self.containers.iterdir() if self.containers.is_dir() else ():
                    try:
                        self._containers[p.name] = decode((p / "container.json").read_bytes(), kind=ContainerRecord)
                    except (FileNotFoundError, NotADirectoryError, msgspec.DecodeError):
                        continue
            return self._containers

    def sandbox_ids(self) -> list[str]:
        return sorted(p.name for p in self.sandboxes.iterdir() if (p / "sandbox.json").exists())

    def container_ids(self) -> list[str]:
        return sorted(self._container_records())
