"""cgroup v1 and v2 for pod cgroups and container stats.

runc creates and removes each container's own cgroup (`linux.cgroupsPath`, absolute, under the pod's);
this module manages the pod level: `ensure` creates the pod cgroup in every v1 hierarchy (copying cpuset
cpus/mems down, which a new cpuset cgroup starts without) or in the v2 unified tree (enabling the
controllers in each ancestor's `cgroup.subtree_control`), applies the pod-wide cpu and memory limits, and
`remove` deletes it bottom-up. `usage` reads what `kubectl top` shows: cpu time (v1 `cpuacct.usage`, v2
`cpu.stat` usage_usec) and the memory working set (usage minus inactive file cache, as the kubelet's
cAdvisor computes it). `oom_kills` reads the kernel's OOM-kill counter (v1 `memory.oom_control`, v2
`memory.events`).

All methods do file I/O: async callers run them in a thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# "unified": the cgroup2 tree of a hybrid setup, where runc also creates each container's cgroup.
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb", "systemd", "unified")


@dataclass(frozen=True)
class Usage:
    cpu_ns: int
    memory_working_set: int
    memory_rss: int
    memory_usage: int


class Cgroups:
    def __init__(self, *, root: Path = CGROUP_ROOT) -> None:
        self.root = root
        self.v2 = (root / "cgroup.controllers").exists()
        self.hierarchies: dict[str, Path] = {}
        if not self.v2:
            for name in V1_CONTROLLERS:
                path = root / name
                if path.is_dir() and (path / "cgroup.procs").exists():
                    self.hierarchies[name] = path

    # ---- paths ----------------------------------------------------------------------------------------

    def _dir(self, controller: str, path: str) -> Path:
        base = self.root if self.v2 else self.hierarchies[controller]
        return base / path.lstrip("/")

    def exists(self, *, path: str) -> bool:
        return self._dir("memory", path).is_dir()

    @property
    def memsw(self) -> bool:
        """Whether memory+swap limits can be set (v1 needs swap accounting; v2 always has memory.swap.max
        when swap is enabled, and runc accepts swap == limit either way)."""
        return self.v2 or (self.hierarchies.get("memory", Path("/nonexistent")) / "memory.memsw.limit_in_bytes").exists()

    # ---- pod cgroups ----------------------------------------------------------------------------------

    def ensure(self, *, path: str, cpu_quota_us: int = 0, cpu_period_us: int = 100_000, memory_limit: int = 0) -> None:
        if self.v2:
            self._ensure_v2(path)
        else:
            for name in self.hierarchies:
                d = self._dir(name, path)
                d.mkdir(parents=True, exist_ok=True)
                if name == "cpuset":
                    self._fill_cpuset(d)
        if memory_limit > 0:
            if self.v2:
                (self._dir("memory", path) / "memory.max").write_text(str(memory_limit))
            else:
                (self._dir("memory", path) / "memory.limit_in_bytes").write_text(str(memory_limit))
        if cpu_quota_us > 0:
            if self.v2:
                (self._dir("cpu", path) / "cpu.max").write_text(f"{cpu_quota_us} {cpu_period_us}")
            else:
                d = self._dir("cpu", path)
                (d / "cpu.cfs_period_us").write_text(str(cpu_period_us))
                (d / "cpu.cfs_quota_us").write_text(str(cpu_quota_us))

    def _fill_cpuset(self, d: Path) -> None:
        base = self.hierarchies["cpuset"]
        chain = [d]
        while chain[-1] != base:
            chain.append(chain[-1].parent)
        for parent, child in zip(reversed(chain[1:]), reversed(chain[:-1]), strict=True):
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if not (child / knob).read_text().strip():
                    (child / knob).write_text((parent / knob).read_text().strip())

    def _ensure_v2(self, path: str) -> None:
        available = set((self.root / "cgroup.controllers").read_text().split())
        wanted = [c for c in ("cpu", "cpuset", "io", "memory", "pids", "hugetlb") if c in available]
        current = self.root
        for part in [p for p in path.split("/") if p]:
            with contextlib.suppress(OSError):
                (current / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
            current = current / part
            current.mkdir(exist_ok=True)

    def remove(self, *, path: str, timeout: float = 5.0) -> None:
        """Delete the pod cgroup and anything left below it (deepest first); waits out EBUSY while the
        kernel finishes reaping the last tasks."""
        dirs = [self._dir("", path)] if self.v2 else [self._dir(name, path) for name in self.hierarchies]
        deadline = time.monotonic() + timeout
        for top in dirs:
            if not top.is_dir():
                continue
            for sub in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                self._rmdir(sub, deadline)
            self._rmdir(top, deadline)

    @staticmethod
    def _rmdir(d: Path, deadline: float) -> None:
        while True:
            try:
                os.rmdir(d)
                return
            except FileNotFoundError:
                return
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    # ---- stats ----------------------------------------------------------------------------------------

    def usage(self, *, path: str) -> Usage:
        if self.v2:
            d = self._dir("", path)
            cpu = _keyed(d / "cpu.stat").get("usage_usec", 0) * 1000
            current = _int(d / "memory.current")
            stat = _keyed(d / "memory.stat")
            inactive = stat.get("inactive_file", 0)
            rss = stat.get("anon", 0)
        else:
            cpu = _int(self._dir("cpuacct", path) / "cpuacct.usage")
            m = self._dir("memory", path)
            current = _int(m / "memory.usage_in_bytes")
            stat = _keyed(m / "memory.stat")
            inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
            rss = stat.get("total_rss", stat.get("rss", 0))
        return Usage(cpu_ns=cpu, memory_working_set=max(0, current - inactive), memory_rss=rss, memory_usage=current)

    def oom_kills(self, *, path: str) -> int:
        if self.v2:
            return _keyed(self._dir("", path) / "memory.events").get("oom_kill", 0)
        return _keyed(self._dir("memory", path) / "memory.oom_control").get("oom_kill", 0)


def _int(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _keyed(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value.strip())
    return out
