"""config.json generation for runc containers (pure: no runc needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.kubelet.runtime.protocol import (
    ContainerConfig,
    ImageConfig,
    ImageRef,
    Mount,
    Resources,
    SecurityConfig,
)
from kybernetes.kubelet.runtime.runc.spec import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    PodPaths,
    build_spec,
    capabilities,
    resolve_user,
)

POD = PodPaths(
    netns="/run/netns/kt-1",
    uts="/state/sb/ns/uts",
    ipc="/state/sb/ns/ipc",
    resolv_conf="/state/sb/resolv.conf",
    hosts="/state/sb/hosts",
    hostname_file="/state/sb/hostname",
    shm="/state/sb/shm",
    hostname="web-0",
)


def image(**config: object) -> ImageRef:
    return ImageRef(
        id="sha256:abc",
        repo_tags=("busybox:latest",),
        repo_digest="",
        size=1,
        config=ImageConfig(**config),  # type: ignore[arg-type]
        layers=(Path("/layers/a"),),
    )


def spec_for(config: ContainerConfig, **kw: object) -> dict:  # type: ignore[type-arg]
    return build_spec(config=config, rootfs=Path("/b/rootfs"), pod=POD, cgroups_path="/kubepods/pod1/c1", **kw)  # type: ignore[arg-type]


def test_process_from_image_and_container() -> None:
    cfg = ContainerConfig(
        name="web",
        image=image(entrypoint=("/bin/sh",), cmd=("-c", "true"), env=("PATH=/bin", "A=image"), working_dir="/srv"),
        env=(("A", "pod"), ("B", "x")),
    )
    s = spec_for(cfg)
    p = s["process"]
    assert p["args"] == ["/bin/sh", "-c", "true"]
    assert p["env"] == ["PATH=/bin", "A=pod", "B=x", "HOSTNAME=web-0"]
    assert p["cwd"] == "/srv"
    assert p["user"] == {"uid": 0, "gid": 0}
    assert p["capabilities"]["bounding"] == list(DEFAULT_CAPABILITIES)
    assert p["noNewPrivileges"] is False and p["terminal"] is False
    assert s["root"] == {"path": "/b/rootfs", "readonly": False}
    assert "hostname" not in s  # joins the pod's UTS namespace
    cmd = spec_for(ContainerConfig(name="w", image=image(cmd=("sh",)), command=("echo", "hi"), working_dir="/x"))
    assert cmd["process"]["args"] == ["echo", "hi"] and cmd["process"]["cwd"] == "/x"


def test_no_command_is_an_error() -> None:
    with pytest.raises(ValueError, match="no command"):
        spec_for(ContainerConfig(name="w", image=image()))


def test_namespaces_and_mounts() -> None:
    cfg = ContainerConfig(
        name="web",
        image=image(cmd=("sh",)),
        mounts=(
            Mount(container_path="/data", host_path="/vol/data", readonly=True),
            Mount(container_path="/shared", host_path="/vol/s", propagation="rslave"),
        ),
    )
    s = spec_for(cfg)
    assert s["linux"]["namespaces"] == [
        {"type": "pid"},
        {"type": "mount"},
        {"type": "network", "path": "/run/netns/kt-1"},
        {"type": "ipc", "path": "/state/sb/ns/ipc"},
        {"type": "uts", "path": "/state/sb/ns/uts"},
    ]
    by_dest = {m["destination"]: m for m in s["mounts"]}
    for dest in ("/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/dev/shm"):
        assert dest in by_dest
    assert "ro" in by_dest["/sys"]["options"]
    assert by_dest["/dev/shm"]["source"] == "/state/sb/shm"
    assert by_dest["/etc/resolv.conf"]["source"] == "/state/sb/resolv.conf"
    assert by_dest["/etc/hosts"]["source"] == "/state/sb/hosts"
    assert by_dest["/data"] == {"destination": "/data", "type": "bind", "source": "/vol/data", "options": ["rbind", "rprivate", "ro"]}
    assert by_dest["/shared"]["options"] == ["rbind", "rslave"]
    assert "/proc/kcore" in s["linux"]["maskedPaths"] and "/proc/sys" in s["linux"]["readonlyPaths"]
    # A mount given by the kubelet for /etc/hosts wins over the pod's file.
    own = spec_for(ContainerConfig(name="w", image=image(cmd=("sh",)), mounts=(Mount(container_path="/etc/hosts", host_path="/h"),)))
    assert [m["source"] for m in own["mounts"] if m["destination"] == "/etc/hosts"] == ["/h"]


def test_host_network_pod() -> None:
    s = build_spec(
        config=ContainerConfig(name="w", image=image(cmd=("sh",))),
        rootfs=Path("/r"),
        pod=PodPaths(),
        cgroups_path="/k/p/c",
    )
    assert s["linux"]["namespaces"] == [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}]


def test_resources() -> None:
    cfg = ContainerConfig(
        name="w",
        image=image(cmd=("sh",)),
        resources=Resources(
            cpu_shares=512, cpu_quota=50_000, cpu_period=100_000, memory_limit_bytes=20 << 20, pids_limit=64, oom_score_adj=-997
        ),
    )
    s = spec_for(cfg)
    r = s["linux"]["resources"]
    assert s["linux"]["cgroupsPath"] == "/kubepods/pod1/c1"
    assert r["cpu"] == {"shares": 512, "quota": 50_000, "period": 100_000}
    assert r["memory"] == {"limit": 20 << 20, "swap": 20 << 20}
    assert r["pids"] == {"limit": 64}
    assert r["devices"] == [{"allow": False, "access": "rwm"}]
    assert s["process"]["oomScoreAdj"] == 0  # clamped: a negative score makes runc fail without CAP_SYS_RESOURCE
    no_swap = spec_for(cfg, memory_swap=False)
    assert no_swap["linux"]["resources"]["memory"] == {"limit": 20 << 20}
    unlimited = spec_for(ContainerConfig(name="w", image=image(cmd=("sh",))))["linux"]["resources"]
    assert unlimited["cpu"] == {"shares": 2} and "memory" not in unlimited and "pids" not in unlimited
    assert spec_for(ContainerConfig(name="w", image=image(cmd=("sh",)), resources=Resources(oom_score_adj=999)))[
        "process"
    ]["oomScoreAdj"] == 999


def test_security_context() -> None:
    cfg = ContainerConfig(
        name="w",
        image=image(cmd=("sh",), user="1000:1000"),
        security=SecurityConfig(
            run_as_user=2000,
            supplemental_groups=(5, 6),
            readonly_rootfs=True,
            add_capabilities=("NET_ADMIN",),
            drop_capabilities=("NET_RAW", "CAP_KILL"),
            no_new_privileges=True,
        ),
    )
    s = spec_for(cfg)
    assert s["process"]["user"] == {"uid": 2000, "gid": 1000, "additionalGids": [5, 6]}
    assert s["root"]["readonly"] is True
    caps = s["process"]["capabilities"]["effective"]
    assert "CAP_NET_ADMIN" in caps and "CAP_NET_RAW" not in caps and "CAP_KILL" not in caps
    assert s["process"]["noNewPrivileges"] is True

    priv = spec_for(ContainerConfig(name="w", image=image(cmd=("sh",)), security=SecurityConfig(privileged=True)))
    assert priv["process"]["capabilities"]["bounding"] == list(ALL_CAPABILITIES)
    assert "maskedPaths" not in priv["linux"] and priv["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "ro" not in next(m for m in priv["mounts"] if m["destination"] == "/sys")["options"]


def test_capability_sets() -> None:
    assert capabilities(add=(), drop=("ALL",), privileged=False) == []
    assert capabilities(add=("net_bind_service",), drop=("all",), privileged=False) == ["CAP_NET_BIND_SERVICE"]
    assert capabilities(add=("ALL",), drop=(), privileged=False) == list(ALL_CAPABILITIES)


def test_user_names_from_the_image(tmp_path: Path) -> None:
    lower, upper = tmp_path / "l0", tmp_path / "l1"
    (lower / "etc").mkdir(parents=True)
    (upper / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1:1::/:/bin/sh\n")
    (upper / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1001:1002::/:/bin/sh\n")
    (upper / "etc" / "group").write_text("staff:x:50:\n")
    layers = (lower, upper)
    assert resolve_user(user="app", rootfs_layers=layers) == (1001, 1002)  # the top layer's passwd wins
    assert resolve_user(user="app:staff", rootfs_layers=layers) == (1001, 50)
    assert resolve_user(user="7:8", rootfs_layers=layers) == (7, 8)
    assert resolve_user(user="", rootfs_layers=layers) == (0, 0)
    with pytest.raises(ValueError, match="unable to find user nobody"):
        resolve_user(user="nobody", rootfs_layers=layers)
