"""OCI runtime spec (config.json) for one container, built from a `ContainerConfig` — a pure function.

Defaults follow what Docker and containerd give a container: the capability set below, the masked and
read-only /proc and /sys paths of runc's own `runc spec`, a private /dev with a devpts and mqueue, a
read-only sysfs and cgroupfs, and a device cgroup that denies everything but runc's default devices.
`privileged` lifts all of that (every capability, read-write /sys, all devices allowed, no masking).

Namespaces: pid and mount are the container's own; network, ipc and uts join the pod's by path (the
pinned namespace files of the sandbox), so the spec carries no `hostname` (it would overwrite the pod's).
A host-network pod shares the node's network and UTS namespaces instead.

`oomScoreAdj` is clamped to ≥ 0: a lowered score needs CAP_SYS_RESOURCE, which root lacks on machines
where the node itself runs in a container, and runc then fails obscurely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.kubelet.runtime.protocol import ContainerConfig, Mount

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

ALL_CAPABILITIES = (
    *DEFAULT_CAPABILITIES,
    "CAP_DAC_READ_SEARCH",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_LEASE",
    "CAP_AUDIT_CONTROL",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class PodPaths:
    """What a container takes from its sandbox: namespace files, the per-pod /etc files and /dev/shm."""

    netns: str = ""  # empty: the host's network namespace
    uts: str = ""
    ipc: str = ""
    resolv_conf: str = ""
    hosts: str = ""
    hostname_file: str = ""
    shm: str = ""
    hostname: str = ""


def capability_name(name: str) -> str:
    name = name.strip().upper()
    return name if name.startswith("CAP_") else f"CAP_{name}"


def capabilities(*, add: Sequence[str], drop: Sequence[str], privileged: bool) -> list[str]:
    """The effective set: defaults (or all, when privileged), minus `drop`, plus `add`; "ALL" works in both."""
    if privileged:
        return list(ALL_CAPABILITIES)
    caps = list(DEFAULT_CAPABILITIES)
    dropped = {capability_name(c) for c in drop}
    if "CAP_ALL" in dropped:
        caps = []
    caps = [c for c in caps if c not in dropped]
    for c in add:
        if capability_name(c) == "CAP_ALL":
            caps.extend(x for x in ALL_CAPABILITIES if x not in caps)
        elif capability_name(c) not in caps:
            caps.append(capability_name(c))
    return caps


def merge_env(*, image_env: Sequence[str], env: Sequence[tuple[str, str]], hostname: str) -> list[str]:
    """Image env, overridden by the container's; PATH and HOSTNAME filled in when neither gives them."""
    merged: dict[str, str] = {}
    for item in image_env:
        key, _, value = item.partition("=")
        merged[key] = value
    for key, value in env:
        merged[key] = value
    merged.setdefault("PATH", DEFAULT_PATH)
    if hostname:
        merged.setdefault("HOSTNAME", hostname)
    return [f"{k}={v}" for k, v in merged.items()]


def resolve_user(*, user: str, rootfs_layers: Sequence[Path]) -> tuple[int, int]:
    """uid/gid from an image's `User` ("uid", "uid:gid", "name", "name:group"), names looked up in the
    image's /etc/passwd and /etc/group (top layer first); unknown names are an error."""
    if not user:
        return 0, 0
    name, _, group = user.partition(":")

    def lookup(file: str, key: str) -> list[str] | None:
        for layer in reversed(rootfs_layers):
            path = layer / "etc" / file
            if path.is_file():
                for line in path.read_text(errors="replace").splitlines():
                    fields = line.split(":")
                    if len(fields) >= 4 and fields[0] == key:
                        return fields
                return None
        return None

    gid = 0
    if name.isdigit():
        uid = int(name)
    else:
        entry = lookup("passwd", name)
        if entry is None:
            raise ValueError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(entry[2]), int(entry[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            gentry = lookup("group", group)
            if gentry is None:
                raise ValueError(f"unable to find group {group}: no matching entries in group file")
            gid = int(gentry[2])
    return uid, gid


def _bind(*, destination: str, source: str, readonly: bool, propagation: str = "rprivate") -> dict[str, Any]:
    options = ["rbind", propagation]
    if readonly:
        options.append("ro")
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def _propagation(mount: Mount) -> str:
    return {"rslave": "rslave", "rshared": "rshared", "private": "rprivate"}.get(mount.propagation, "rprivate")


def build_spec(
    *,
    config: ContainerConfig,
    rootfs: Path,
    pod: PodPaths,
    cgroups_path: str,
    memory_swap: bool = True,
    nofile: int = 1048576,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The config.json for `config`; `memory_swap` sets memory+swap = limit (v1 needs memsw accounting)."""
    sec = config.security
    image = config.image
    args = list(config.command) or [*image.config.entrypoint, *image.config.cmd]
    if not args:
        raise ValueError("no command specified: neither the container nor its image gives one")
    if sec.run_as_user is not None:
        uid, gid = sec.run_as_user, 0
        if sec.run_as_group is None:
            # The image's group for a numeric user, as Docker does, when it names one.
            _, _, group = image.config.user.partition(":")
            gid = int(group) if group.isdigit() else 0
    else:
        uid, gid = resolve_user(user=image.config.user, rootfs_layers=image.layers)
    if sec.run_as_group is not None:
        gid = sec.run_as_group
    caps = capabilities(add=sec.add_capabilities, drop=sec.drop_capabilities, privileged=sec.privileged)
    process: dict[str, Any] = {
        "terminal": config.tty,
        "user": {"uid": uid, "gid": gid, "additionalGids": list(sec.supplemental_groups)},
        "args": args,
        "env": merge_env(image_env=image.config.env, env=config.env, hostname=pod.hostname),
        "cwd": config.working_dir or image.config.working_dir or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
        "noNewPrivileges": sec.no_new_privileges and not sec.privileged,
        "oomScoreAdj": max(0, min(1000, config.resources.oom_score_adj)),
    }
    if not sec.supplemental_groups:
        del process["user"]["additionalGids"]
    sys_options = ["nosuid", "noexec", "nodev"] + ([] if sec.privileged else ["ro"])
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_options},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ]
    if pod.shm:
        mounts.append(_bind(destination="/dev/shm", source=pod.shm, readonly=False))
    else:
        mounts.append(
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            }
        )
    targets = {m.container_path for m in config.mounts}
    for dest, src in (("/etc/resolv.conf", pod.resolv_conf), ("/etc/hosts", pod.hosts), ("/etc/hostname", pod.hostname_file)):
        if src and dest not in targets:
            mounts.append(_bind(destination=dest, source=src, readonly=False))
    for m in config.mounts:
        mounts.append(
            _bind(destination=m.container_path, source=m.host_path, readonly=m.readonly, propagation=_propagation(m))
        )

    namespaces: list[dict[str, str]] = [{"type": "pid"}, {"type": "mount"}]
    for kind, path in (("network", pod.netns), ("ipc", pod.ipc), ("uts", pod.uts)):
        if path:
            namespaces.append({"type": kind, "path": path})
        elif kind == "ipc":
            namespaces.append({"type": "ipc"})

    res = config.resources
    resources: dict[str, Any] = {
        "devices": [{"allow": True, "access": "rwm"}] if sec.privileged else [{"allow": False, "access": "rwm"}],
        "cpu": {"shares": max(2, res.cpu_shares)},
    }
    if res.cpu_quota > 0:
        resources["cpu"]["quota"] = res.cpu_quota
        resources["cpu"]["period"] = res.cpu_period
    if res.memory_limit_bytes > 0:
        resources["memory"] = {"limit": res.memory_limit_bytes}
        if memory_swap:
            resources["memory"]["swap"] = res.memory_limit_bytes
    if res.pids_limit > 0:
        resources["pids"] = {"limit": res.pids_limit}

    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "cgroupsPath": cgroups_path,
        "resources": resources,
    }
    if not sec.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": str(rootfs), "readonly": sec.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
        "annotations": dict(annotations or {}),
    }
