"""The data dir of `kyb up` and what it records: version, settings, the lock and pid file, and the processes
a previous `kyb up` may have left running.

Layout of DIR (default /var/lib/kybernetes):

    version.json   {"kyb": "0.1.0", "format": 1}: a newer format is refused (`check_version`)
    up.json        the settings `kyb down` needs to find everything by name (`UpSettings`), and the boot id
                   of the machine at the last start (a new one means a reboot: the node's runtime state is stale)
    kyb-up.lock    flock held by the running `kyb up`: a second one on the same dir is refused
    kyb-up.pid     its pid, for `kyb down`
    logs/          server.log, agent.log (the children's output)
    server/        `kyb server --data-dir` (store, PKI, kubeconfigs)
    agent/         `kyb agent --data-dir` (images, pods, runtime state)

Children are found again by their command lines (`stray_processes`): every `kyb server|agent|...` whose
arguments point into DIR. A `kyb up` killed with SIGKILL may leave them (its children get SIGTERM through
the parent-death signal, but a grandchild can outlive that); the next `kyb up` and `kyb down` stop them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kybernetes import __version__

if TYPE_CHECKING:  # the kubelet's modules are heavy; `kyb up` itself stays small (imported when needed)
    from kybernetes.kubelet.cleanup import NodeTraces

__all__ = [
    "DATA_FORMAT",
    "UpError",
    "UpSettings",
    "acquire_lock",
    "boot_id",
    "check_version",
    "kyb_up_pid",
    "stop_processes",
    "stray_processes",
    "write_version",
]

# The layout version of the data dir; raise it when a newer kyb lays DIR out in a way an older one misreads.
DATA_FORMAT = 1
CHILD_COMMANDS = frozenset({"server", "agent", "components", "scheduler", "controller-manager", "dns", "proxy"})
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")


class UpError(Exception):
    """A one-line error for the user (what is wrong and what to do); the command exits non-zero."""


@dataclass
class UpSettings:
    """What `kyb up` was started with, as `kyb down` needs it."""

    name_prefix: str = "kyb"
    node_name: str = ""
    kubeconfig: str = ""
    context: str = "kybernetes"
    cluster_cidr: str = "10.244.0.0/16"
    boot_id: str = ""

    # The node's names on the host, all derived from the prefix.
    @property
    def bridge(self) -> str:
        return f"{self.name_prefix}0"

    @property
    def cgroup_root(self) -> str:
        return f"/{self.name_prefix}"

    def traces(self, *, data_dir: Path) -> NodeTraces:
        """What `kybernetes.kubelet.cleanup` needs to find the node's traces."""
        from kybernetes.kubelet.cleanup import NodeTraces

        return NodeTraces(data_dir=data_dir / "agent", netns_prefix=self.name_prefix, bridge=self.bridge,
                          cgroup_root=self.cgroup_root, cluster_cidr=self.cluster_cidr)

    @staticmethod
    def load(*, data_dir: Path) -> UpSettings | None:
        try:
            doc = json.loads((data_dir / "up.json").read_text())
        except (OSError, ValueError):
            return None
        known = set(UpSettings.__dataclass_fields__)
        return UpSettings(**{k: str(v) for k, v in doc.items() if k in known})

    def save(self, *, data_dir: Path) -> None:
        _write_atomic(data_dir / "up.json", json.dumps(asdict(self), indent=1) + "\n")


def validate_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise UpError(f"--name-prefix {prefix!r}: use 1-8 lowercase letters and digits, starting with a letter")
    return prefix


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def check_version(*, data_dir: Path) -> None:
    """Refuse a data dir written by a newer kyb (newer data format, or a newer release)."""
    try:
        doc = json.loads((data_dir / "version.json").read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise UpError(f"{data_dir}/version.json is unreadable ({e}): fix or remove it") from None
    theirs, fmt = str(doc.get("kyb", "")), int(doc.get("format", 0) or 0)
    if fmt > DATA_FORMAT or _version_tuple(theirs) > _version_tuple(__version__):
        raise UpError(f"{data_dir} was written by kyb {theirs} (data format {fmt}), newer than this kyb "
                      f"{__version__} (format {DATA_FORMAT}): upgrade kyb, or use another --data-dir")


def write_version(*, data_dir: Path) -> None:
    _write_atomic(data_dir / "version.json", json.dumps({"kyb": __version__, "format": DATA_FORMAT}) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


# ---- one kyb up per data dir --------------------------------------------------------------------------


def acquire_lock(*, data_dir: Path) -> int:
    """Take the data dir's lock (held until the process exits) and write the pid file; the fd is returned."""
    fd = os.open(data_dir / "kyb-up.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid = kyb_up_pid(data_dir=data_dir)
        who = f" (pid {pid})" if pid else ""
        raise UpError(f"another kyb up{who} is running on {data_dir}: stop it (Ctrl-C, or "
                      f"kyb down --keep-data --data-dir {data_dir}) or use another --data-dir") from None
    _write_atomic(data_dir / "kyb-up.pid", f"{os.getpid()}\n")
    return fd


def kyb_up_pid(*, data_dir: Path) -> int | None:
    """The pid of the `kyb up` running on the data dir, if its pid file names a live `kyb up`."""
    try:
        pid = int((data_dir / "kyb-up.pid").read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() and b"up" in argv else None


# ---- processes ----------------------------------------------------------------------------------------


def stray_processes(*, data_dir: Path) -> list[int]:
    """`kyb` component processes (server, agent, scheduler, ...) whose arguments point into the data dir."""
    inside = str(data_dir.resolve()).rstrip("/") + "/"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "kybernetes.cli.main" not in argv:
            continue
        rest = argv[argv.index("kybernetes.cli.main") + 1:]
        if rest and rest[0] in CHILD_COMMANDS and any(inside in arg for arg in rest):
            found.append(int(entry))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop_processes(pids: list[int], *, grace: float) -> None:
    """SIGTERM, wait up to `grace` seconds for them to exit, then SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
