"""persistentVolumeClaim volumes (claim → bound volume → host path, readOnly, clear errors) and memory-backed
emptyDir (tmpfs size rules; a real tmpfs mounted and unmounted when running as root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kybernetes.api.models.core_v1 import (
    Container,
    EmptyDirVolumeSource,
    HostPathVolumeSource,
    LocalVolumeSource,
    ObjectReference,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpec,
    PersistentVolumeClaimStatus,
    PersistentVolumeClaimVolumeSource,
    PersistentVolumeSpec,
    Pod,
    PodSpec,
    ResourceRequirements,
    Volume,
    VolumeMount,
)
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.kubelet.agent.volumes import (
    ClaimLookup,
    ReadOnlyVolume,
    VolumeError,
    VolumeFetcher,
    container_mounts,
    memory_volume_size,
    prepare_volumes,
    teardown_volumes,
)
from kybernetes.kubelet.runtime.runc import syscalls


def claim(name: str, *, volume: str = "", phase: str = "Pending", uid: str = "u1") -> PersistentVolumeClaim:
    return PersistentVolumeClaim(metadata=ObjectMeta(name=name, namespace="ns", uid=uid),
                                 spec=PersistentVolumeClaimSpec(volume_name=volume or None),
                                 status=PersistentVolumeClaimStatus(phase=phase))


def volume(name: str, *, claim_name: str, path: str, local: bool = False, uid: str = "u1") -> PersistentVolume:
    source = {"local": LocalVolumeSource(path=path)} if local else {"host_path": HostPathVolumeSource(
        path=path, type="DirectoryOrCreate")}
    return PersistentVolume(metadata=ObjectMeta(name=name), spec=PersistentVolumeSpec(
        claim_ref=ObjectReference(namespace="ns", name=claim_name, uid=uid), **source))  # type: ignore[arg-type]


def fetcher(claims: dict[str, PersistentVolumeClaim], volumes: dict[str, PersistentVolume],
            allocatable: dict[str, str] | None = None) -> VolumeFetcher:
    async def get_claim(name: str) -> PersistentVolumeClaim | None:
        return claims.get(name)

    async def get_volume(name: str) -> PersistentVolume | None:
        return volumes.get(name)

    async def none(_name: str) -> None:
        return None

    async def token(_audience: str, _seconds: int) -> str:
        return "t"

    async def ca() -> bytes:
        return b""

    return VolumeFetcher(config_map=none, secret=none, token=token, ca_pem=ca, allocatable=allocatable,
                         claims=ClaimLookup(claim=get_claim, volume=get_volume))


def pod_with(*volumes: Volume, containers: list[Container] | None = None) -> Pod:
    return Pod(metadata=ObjectMeta(name="p", namespace="ns", uid="pod-uid"),
               spec=PodSpec(containers=containers or [Container(name="c")], volumes=list(volumes)))


def pvc_volume(claim_name: str, *, read_only: bool = False) -> Volume:
    return Volume(name="data", persistent_volume_claim=PersistentVolumeClaimVolumeSource(
        claim_name=claim_name, read_only=read_only))


async def test_claim_errors_name_the_claim(tmp_path: Path) -> None:
    pod = pod_with(pvc_volume("missing"))
    with pytest.raises(VolumeError, match='persistentvolumeclaim "missing" not found'):
        await prepare_volumes(pod=pod, root=tmp_path, fetch=fetcher({}, {}), sa_token=False)
    pod = pod_with(pvc_volume("waiting"))
    with pytest.raises(VolumeError, match='persistentvolumeclaim "waiting" is not bound'):
        await prepare_volumes(pod=pod, root=tmp_path, fetch=fetcher({"waiting": claim("waiting")}, {}),
                              sa_token=False)
    stolen = volume("pv", claim_name="other", path=str(tmp_path / "x"))
    with pytest.raises(VolumeError, match="is not bound"):
        await prepare_volumes(pod=pod, root=tmp_path, sa_token=False, fetch=fetcher(
            {"waiting": claim("waiting", volume="pv", phase="Bound")}, {"pv": stolen}))


async def test_bound_claim_mounts_the_volume_path(tmp_path: Path) -> None:
    target = tmp_path / "exported"
    claims = {"c": claim("c", volume="pv", phase="Bound")}
    volumes = {"pv": volume("pv", claim_name="c", path=str(target))}
    pod = pod_with(pvc_volume("c"))
    paths = await prepare_volumes(pod=pod, root=tmp_path / "vol", fetch=fetcher(claims, volumes), sa_token=False)
    assert paths["data"] == target and target.is_dir()  # DirectoryOrCreate made it
    container = Container(name="c", volume_mounts=[VolumeMount(name="data", mount_path="/data")])
    (mount,) = container_mounts(container=container, volumes=paths)
    assert (mount.host_path, mount.readonly) == (str(target), False)
    # readOnly on the claim volume makes every mount of it read-only, sub paths included
    pod = pod_with(pvc_volume("c", read_only=True))
    paths = await prepare_volumes(pod=pod, root=tmp_path / "vol", fetch=fetcher(claims, volumes), sa_token=False)
    assert isinstance(paths["data"], ReadOnlyVolume)
    container = Container(name="c", volume_mounts=[VolumeMount(name="data", mount_path="/data", sub_path="sub")])
    (mount,) = container_mounts(container=container, volumes=paths)
    assert (mount.host_path, mount.readonly) == (str(target / "sub"), True)


async def test_local_volume_must_exist(tmp_path: Path) -> None:
    claims = {"c": claim("c", volume="pv", phase="Bound")}
    volumes = {"pv": volume("pv", claim_name="c", path=str(tmp_path / "disk"), local=True)}
    with pytest.raises(VolumeError, match="does not exist on this node"):
        await prepare_volumes(pod=pod_with(pvc_volume("c")), root=tmp_path, fetch=fetcher(claims, volumes),
                              sa_token=False)
    (tmp_path / "disk").mkdir()
    paths = await prepare_volumes(pod=pod_with(pvc_volume("c")), root=tmp_path, fetch=fetcher(claims, volumes),
                                  sa_token=False)
    assert paths["data"] == tmp_path / "disk"


def test_memory_volume_size_rules() -> None:
    def limited(name: str, memory: str | None) -> Container:
        return Container(name=name, resources=ResourceRequirements(limits={"memory": memory} if memory else None))

    memory = Volume(name="m", empty_dir=EmptyDirVolumeSource(medium="Memory"))
    sized = Volume(name="m", empty_dir=EmptyDirVolumeSource(medium="Memory", size_limit="64Mi"))
    node = {"memory": "2Gi"}
    pod = pod_with(memory, containers=[limited("a", "100Mi"), limited("b", "28Mi")])
    assert memory_volume_size(pod=pod, volume=sized, allocatable=node) == 64 << 20
    assert memory_volume_size(pod=pod, volume=memory, allocatable=node) == 128 << 20
    pod = pod_with(memory, containers=[limited("a", "100Mi"), limited("b", None)])
    assert memory_volume_size(pod=pod, volume=memory, allocatable=node) == 2 << 30
    assert memory_volume_size(pod=pod, volume=memory, allocatable=None) is None


def mounts_at(path: Path) -> int:
    real = str(path.resolve())
    return sum(1 for line in Path("/proc/self/mountinfo").read_text().splitlines() if line.split()[4] == real)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting tmpfs needs root")
async def test_memory_empty_dir_is_a_tmpfs_until_teardown(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    memory = Volume(name="m", empty_dir=EmptyDirVolumeSource(medium="Memory", size_limit="8Mi"))
    pod = pod_with(memory)
    try:
        paths = await prepare_volumes(pod=pod, root=root, fetch=fetcher({}, {}), sa_token=False)
        path = str(paths["m"])
        assert syscalls.is_mountpoint(path)
        stat = os.statvfs(path)
        assert stat.f_blocks * stat.f_frsize == 8 << 20
        # a refresh does not stack a second tmpfs on the first
        await prepare_volumes(pod=pod, root=root, fetch=fetcher({}, {}), sa_token=False)
        assert mounts_at(paths["m"]) == 1
    finally:
        teardown_volumes(root=root)
    assert not syscalls.is_mountpoint(path)
