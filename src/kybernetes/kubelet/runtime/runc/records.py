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
"""

from __future__ import annotations

import os
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

    def load_container(self, container_id: str) -> ContainerRecord | None:
        try:
            return decode((self.container_dir(container_id) / "container.json").read_bytes(), kind=ContainerRecord)
        except (FileNotFoundError, NotADirectoryError, msgspec.DecodeError):
            return None

    def sandbox_ids(self) -> list[str]:
        return sorted(p.name for p in self.sandboxes.iterdir() if (p / "sandbox.json").exists())

    def container_ids(self) -> list[str]:
        return sorted(p.name for p in self.containers.iterdir() if (p / "container.json").exists())
