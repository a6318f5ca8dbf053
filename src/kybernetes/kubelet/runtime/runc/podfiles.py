"""Per-pod host-side resources of a sandbox: the files bind-mounted into every container
(/etc/resolv.conf, /etc/hosts, /etc/hostname), the pod's shared /dev/shm (a tmpfs), and its pinned UTS and
IPC namespaces.

Why pinned namespaces and no pause process: Kubernetes keeps a pod's namespaces alive with a "pause"
container. Here the network namespace is already pinned by a bind mount (`/run/netns/...`, as `ip netns`
does), and UTS and IPC are pinned the same way: a short-lived thread unshares new UTS and IPC namespaces,
sets the pod's hostname in its UTS namespace, and bind-mounts `/proc/thread-self/ns/{uts,ipc}` onto files
in the sandbox directory. Containers join them by path (`linux.namespaces[].path`). Nothing has to run, be
monitored, be restarted or be OOM-killed to keep a pod's namespaces; the sandbox needs no image; a
restarted runtime finds the namespaces as files; and teardown is an unmount. What is lost is a shared PID
namespace (`shareProcessNamespace`), which would need a process to anchor it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
from pathlib import Path

from kybernetes.kubelet.network import nsutil
from kybernetes.kubelet.runtime.protocol import DNSConfig
from kybernetes.kubelet.runtime.runc import syscalls


def resolv_conf(*, dns: DNSConfig | None, host_resolv: Path = Path("/etc/resolv.conf")) -> str:
    """The pod's resolv.conf: from `dns` when given, else the node's own (dnsPolicy Default)."""
    if dns is None or not (dns.servers or dns.searches or dns.options):
        try:
            return host_resolv.read_text()
        except OSError:
            return ""
    lines = [f"nameserver {s}" for s in dns.servers]
    if dns.searches:
        lines.append("search " + " ".join(dns.searches))
    if dns.options:
        lines.append("options " + " ".join(dns.options))
    return "\n".join(lines) + "\n"


def hosts_file(*, ip: str, hostname: str) -> str:
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    if ip:
        lines.append(f"{ip}\t{hostname}")
    return "\n".join(lines) + "\n"


def write_pod_files(*, directory: Path, dns: DNSConfig | None, ip: str, hostname: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "resolv.conf").write_text(resolv_conf(dns=dns))
    (directory / "hosts").write_text(hosts_file(ip=ip, hostname=hostname))
    (directory / "hostname").write_text(hostname + "\n")


def pin_namespaces(*, directory: Path, hostname: str) -> tuple[str, str]:
    """New UTS (with `hostname`) and IPC namespaces bound to `directory/ns/{uts,ipc}`; idempotent.
    Runs its work in a dedicated thread that ends afterwards (namespaces are per thread)."""
    ns_dir = directory / "ns"
    uts, ipc = ns_dir / "uts", ns_dir / "ipc"
    if syscalls.is_mountpoint(str(uts)) and syscalls.is_mountpoint(str(ipc)):
        return str(uts), str(ipc)
    ns_dir.mkdir(parents=True, exist_ok=True)
    for f in (uts, ipc):
        if syscalls.is_mountpoint(str(f)):
            syscalls.umount(target=str(f), detach=True)
        f.touch()
    def work() -> None:
        syscalls.unshare(flags=syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWIPC)
        socket.sethostname(hostname[:64])
        syscalls.mount(source="/proc/thread-self/ns/uts", target=str(uts), fstype=None, flags=syscalls.MS_BIND)
        syscalls.mount(source="/proc/thread-self/ns/ipc", target=str(ipc), fstype=None, flags=syscalls.MS_BIND)

    nsutil.in_own_thread(work)
    return str(uts), str(ipc)


def mount_shm(*, directory: Path, size_bytes: int = 64 * 1024 * 1024) -> str:
    shm = directory / "shm"
    shm.mkdir(parents=True, exist_ok=True)
    if not syscalls.is_mountpoint(str(shm)):
        syscalls.mount(
            source="shm",
            target=str(shm),
            fstype="tmpfs",
            flags=syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC,
            data=f"mode=1777,size={size_bytes}",
        )
    return str(shm)


def release(*, directory: Path) -> None:
    """Unmount the pinned namespaces and /dev/shm and delete the sandbox directory."""
    for target in (directory / "ns" / "uts", directory / "ns" / "ipc", directory / "shm"):
        if syscalls.is_mountpoint(str(target)):
            try:
                syscalls.umount(target=str(target))
            except OSError:
                syscalls.umount(target=str(target), detach=True)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(directory)


def open_socket_in_netns(*, netns_path: str, family: int = socket.AF_INET) -> socket.socket:
    """A TCP socket created inside the network namespace at `netns_path` (it stays bound to that namespace
    for its whole life); made in a dedicated thread that enters the namespace and ends afterwards."""
    return nsutil.run_at(Path(netns_path), lambda: socket.socket(family, socket.SOCK_STREAM))
