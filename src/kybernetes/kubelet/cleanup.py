"""Everything a node agent leaves on its host, found by name and removed (`kyb down`, tests, a rebooted node).

A `kyb agent --runtime runc` names all it makes after a few settings (`NodeTraces`): its data dir (runtime
state, runc's state, container root filesystems, pinned namespaces, /dev/shm mounts, images, logs), the netns
and host-veth prefix, the bridge, the cgroup root, the nft tables `<prefix>-node` and `<prefix>-proxy`, and the
routes to other nodes' pods (route protocol `ROUTE_PROTOCOL`, inside the cluster range). `find_leftovers`
lists what of that exists; `clean_node` removes it, working from what is on the host rather than from the
agent's records, so it also clears what a crashed agent or a half-finished pod start left behind:

1. every runc container under the data dir: SIGKILL, then `runc delete --force`;
2. every process whose command line names the data dir (conmon, exec sessions, a stray agent) and every
   process still in a cgroup under the cgroup root: SIGKILL, then wait until they are gone;
3. every mount under the data dir, deepest first (overlay roots, /dev/shm, pinned namespaces, volumes), and
   the pod network namespaces `/run/netns/<prefix>-*`;
4. the host veths `<prefix>*` and the bridge, our routes, the two nft tables, the cgroups (bottom-up);
5. with `keep_data`, only the runtime and network state in the data dir (they describe containers and
   addresses that no longer exist; images, logs and volumes stay); without, the whole data dir.

Each step tolerates what is already gone, so it is idempotent. Blocking: call it from a thread in async code.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kybernetes.kubelet.network.routes import ROUTE_PROTOCOL
from kybernetes.kubelet.runtime.runc import syscalls
from kybernetes.kubelet.runtime.runc.cgroups import CGROUP_ROOT, Cgroups

__all__ = ["NodeTraces", "clean_node", "find_leftovers"]

NETNS_DIR = Path("/run/netns")
RUNC = "/usr/sbin/runc"


@dataclass(frozen=True)
class NodeTraces:
    """The names under which one node agent leaves things on the host."""

    data_dir: Path
    netns_prefix: str
    bridge: str
    cgroup_root: str
    cluster_cidr: str = "10.244.0.0/16"

    @property
    def runtime_dir(self) -> Path:
        return self.data_dir / "runtime"

    @property
    def nft_tables(self) -> tuple[str, str]:
        return f"{self.netns_prefix}-node", f"{self.netns_prefix}-proxy"


# ---- what is there ------------------------------------------------------------------------------------


def _under(path: str, directory: Path) -> bool:
    d = str(directory).rstrip("/")
    return path == d or path.startswith(d + "/")


def _processes() -> list[tuple[int, list[str]]]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
            if argv and argv[-1] == "":
                argv.pop()
            if argv:  # kernel threads have none
                found.append((int(entry), argv))
    return found


def _data_dir_processes(traces: NodeTraces) -> dict[int, str]:
    data = str(traces.data_dir.resolve()).rstrip("/")
    return {pid: " ".join(argv)[:200] for pid, argv in _processes()
            if any(arg == data or f"{data}/" in arg for arg in argv)}


def _cgroup_dirs(traces: NodeTraces) -> list[Path]:
    cg = Cgroups()
    bases = [CGROUP_ROOT] if cg.v2 else list(cg.hierarchies.values())
    dirs: list[Path] = []
    for base in bases:
        top = base / traces.cgroup_root.strip("/")
        if traces.cgroup_root.strip("/") and top.is_dir():
            dirs.append(top)
            dirs.extend(p for p in top.rglob("*") if p.is_dir())
    return dirs


def _cgroup_pids(traces: NodeTraces) -> set[int]:
    pids: set[int] = set()
    for d in _cgroup_dirs(traces):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(line) for line in (d / "cgroup.procs").read_text().split())
    return pids


def _mounts(traces: NodeTraces) -> list[str]:
    """Mount points under the data dir and the pod network namespaces, deepest first."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = _unescape(line.split()[4])
            if _under(point, traces.data_dir.resolve()) or _is_pod_netns(point, traces):
                points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def _unescape(path: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, char)
    return path


def _is_pod_netns(path: str, traces: NodeTraces) -> bool:
    p = Path(path)
    return p.parent == NETNS_DIR and p.name.startswith(f"{traces.netns_prefix}-")


def _netns(traces: NodeTraces) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(f"{traces.netns_prefix}-"))


def _links(traces: NodeTraces) -> list[str]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        names = [link.get_attr("IFLA_IFNAME") or "" for link in ipr.get_links()]
    return sorted(n for n in names if n == traces.bridge or n.startswith(traces.netns_prefix))


def _routes(traces: NodeTraces) -> list[str]:
    from pyroute2 import IPRoute

    cluster = ipaddress.ip_network(traces.cluster_cidr, strict=False)
    found = []
    with IPRoute() as ipr:
        for r in ipr.get_routes(family=2, proto=ROUTE_PROTOCOL):
            dst = f"{r.get_attr('RTA_DST')}/{r['dst_len']}"
            with contextlib.suppress(ValueError, TypeError):
                network = ipaddress.ip_network(dst, strict=False)
                if network.version == cluster.version and network.subnet_of(cluster):  # type: ignore[arg-type]
                    found.append(dst)
    return sorted(found)


def _nft_tables(traces: NodeTraces) -> list[str]:
    try:
        done = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return []
    present = {line.split()[-1] for line in done.stdout.splitlines() if line.startswith("table ")}
    return sorted(t for t in traces.nft_tables if t in present)


def _runc_containers(traces: NodeTraces) -> list[str]:
    root = traces.runtime_dir / "runc"
    if not root.is_dir() or not os.path.exists(RUNC):
        return []
    done = subprocess.run([RUNC, "--root", str(root), "list", "--format", "json"], capture_output=True, text=True,
                          check=False)
    try:
        return sorted(c["id"] for c in json.loads(done.stdout or "null") or [])
    except (ValueError, KeyError, TypeError):
        return []


def find_leftovers(*, traces: NodeTraces) -> dict[str, list[str]]:
    """What of the node is on the host now, by kind (every list empty: nothing left)."""
    return {
        "containers": _runc_containers(traces),
        "processes": [f"{pid} {cmd}" for pid, cmd in sorted(_data_dir_processes(traces).items())]
        + [str(pid) for pid in sorted(_cgroup_pids(traces))],
        "mounts": _mounts(traces),
        "netns": _netns(traces),
        "links": _links(traces),
        "routes": _routes(traces),
        "nft_tables": _nft_tables(traces),
        "cgroups": [str(d) for d in _cgroup_dirs(traces)],
    }


# ---- removing it --------------------------------------------------------------------------------------


def _remove_containers(traces: NodeTraces) -> None:
    root = str(traces.runtime_dir / "runc")
    for cid in _runc_containers(traces):
        subprocess.run([RUNC, "--root", root, "kill", cid, "KILL"], capture_output=True, check=False)
        subprocess.run([RUNC, "--root", root, "delete", "--force", cid], capture_output=True, check=False)


def _kill_processes(traces: NodeTraces, *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while True:
        pids = set(_data_dir_processes(traces)) | _cgroup_pids(traces)
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)  # the kernel reaps asynchronously; look again


def _unmount_all(traces: NodeTraces) -> None:
    for _ in range(3):  # stacked mounts need one pass per layer
        points = _mounts(traces)
        if not points:
            break
        for point in points:
            with contextlib.suppress(OSError):
                syscalls.umount(target=point, detach=True)
    for name in _netns(traces):
        with contextlib.suppress(OSError):
            (NETNS_DIR / name).unlink()


def _remove_links(traces: NodeTraces) -> None:
    from pyroute2 import IPRoute, NetlinkError

    with IPRoute() as ipr:
        # veths first: deleting the host end deletes its peer; the bridge last.
        for name in sorted(_links(traces), key=lambda n: n == traces.bridge):
            with contextlib.suppress(NetlinkError, IndexError):
                index = ipr.link_lookup(ifname=name)
                if index:
                    ipr.link("del", index=index[0])


def _remove_routes(traces: NodeTraces) -> None:
    from pyroute2 import IPRoute, NetlinkError

    with IPRoute() as ipr:
        for dst in _routes(traces):
            with contextlib.suppress(NetlinkError):
                ipr.route("del", dst=dst, proto=ROUTE_PROTOCOL)


def _remove_nft_tables(traces: NodeTraces) -> None:
    for table in _nft_tables(traces):
        subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, check=False)


def _remove_cgroups(traces: NodeTraces) -> None:
    if traces.cgroup_root.strip("/"):
        with contextlib.suppress(OSError):
            Cgroups().remove(path=traces.cgroup_root)


def clean_node(*, traces: NodeTraces, keep_data: bool = False) -> dict[str, list[str]]:
    """Remove everything of the node from the host (see the module docstring); returns what is still left
    afterwards (every list empty when the host is clean)."""
    _remove_containers(traces)
    _kill_processes(traces)
    _unmount_all(traces)
    _remove_links(traces)
    _remove_routes(traces)
    _remove_nft_tables(traces)
    _remove_cgroups(traces)
    if keep_data:
        for stale in ("runtime", "network"):
            shutil.rmtree(traces.data_dir / stale, ignore_errors=True)
    else:
        shutil.rmtree(traces.data_dir, ignore_errors=True)
    return find_leftovers(traces=traces)
