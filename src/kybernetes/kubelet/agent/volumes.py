"""Pod volumes on the node: one directory per volume under DATA/pods/<uid>/volumes/<plugin>/<name>.

Supported: emptyDir (a plain directory; with `medium: Memory` a tmpfs mounted on it, sized by `sizeLimit`,
else by the sum of the pod's memory limits when every container has one, else by the node's allocatable
memory; a `sizeLimit` on disk is only reported, in the log, when exceeded), hostPath (the host path
itself, created for DirectoryOrCreate/FileOrCreate), persistentVolumeClaim (claim → bound PersistentVolume
→ its hostPath or local path; `readOnly` makes every mount of it read-only; a missing or unbound claim is a
`VolumeError` the pod worker retries), configMap, secret, downwardAPI and projected (configMap, secret,
downwardAPI, serviceAccountToken sources). `teardown_volumes` unmounts the tmpfs volumes of a pod before
its directory is removed. File-backed volumes are
written the way Kubernetes' atomic writer does: the payload goes to a fresh hidden directory `..<stamp>`,
a symlink `..data` is switched to it with one rename, and each visible name is a symlink through `..data`,
so a reader never sees a half-updated set of files.

The service-account token volume Kubernetes' admission would inject (`kube-api-access-*`) is synthesised
here: `token` (a TokenRequest bound to the pod), `ca.crt`, `namespace`, mounted at
/var/run/secrets/kubernetes.io/serviceaccount in every container unless automount is off.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PosixPath
from typing import Any, Protocol, TypeVar

from kybernetes.api.models.core_v1 import (
    ConfigMap,
    Container,
    HostPathVolumeSource,
    KeyToPath,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Secret,
    Volume,
)
from kybernetes.client import Client
from kybernetes.kubelet.agent.podspec import EnvError, field_value, resource_value
from kybernetes.kubelet.runtime.protocol import Mount
from kybernetes.kubelet.runtime.runc import syscalls
from kybernetes.machinery.errors import NotFoundError
from kybernetes.machinery.quantity import to_int

__all__ = ["EMPTY_DIR", "SA_MOUNT_PATH", "SA_VOLUME", "ClaimLookup", "ReadOnlyVolume", "VolumeError",
           "VolumeFetcher", "atomic_write_dir", "container_mounts", "memory_volume_size", "prepare_volumes",
           "teardown_volumes"]

log = logging.getLogger(__name__)

SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SA_VOLUME = "kube-api-access"
EMPTY_DIR = "kubernetes.io~empty-dir"

M = TypeVar("M", PersistentVolumeClaim, PersistentVolume)


class VolumeError(Exception):
    """A volume that cannot be set up; the container waits with reason `CreateContainerConfigError`."""


class _HasClient(Protocol):
    client: Client


class ReadOnlyVolume(PosixPath):
    """The host path of a volume every mount of which is read-only (a claim mounted with `readOnly`)."""


@dataclass(frozen=True, kw_only=True)
class ClaimLookup:
    """How persistentVolumeClaim volumes read the cluster: a claim of the pod's namespace, a volume."""

    claim: Callable[[str], Awaitable[PersistentVolumeClaim | None]]
    volume: Callable[[str], Awaitable[PersistentVolume | None]]

    @classmethod
    def over(cls, *, api: _HasClient, namespace: str) -> ClaimLookup:
        """Plain GETs through `api.client` (read only when a pod with a claim has its volumes set up)."""

        def getter(model: type[M], ns: str | None) -> Callable[[str], Awaitable[M | None]]:
            async def get(name: str) -> M | None:
                try:
                    found: M = await api.client.resource(model).get(name=name, namespace=ns)
                except NotFoundError:
                    return None
                return found

            return get

        return cls(claim=getter(PersistentVolumeClaim, namespace), volume=getter(PersistentVolume, None))


@dataclass(frozen=True, kw_only=True)
class VolumeFetcher:
    """How volumes read the cluster: by name in the pod's namespace; None when not found."""

    config_map: Callable[[str], Awaitable[ConfigMap | None]]
    secret: Callable[[str], Awaitable[Secret | None]]
    token: Callable[[str, int], Awaitable[str]]  # (audience or "", expiration seconds) → token
    ca_pem: Callable[[], Awaitable[bytes]]
    host_ip: str = ""
    pod_ip: str = ""
    allocatable: Mapping[str, str] | None = None
    claims: ClaimLookup | None = None


def atomic_write_dir(target: Path, files: Mapping[str, bytes], *, mode: int = 0o644) -> None:
    """Make `target` show exactly `files` (relative paths), switched over in one rename."""
    target.mkdir(parents=True, exist_ok=True)
    stamp = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    stamp.mkdir()
    for rel, data in files.items():
        path = stamp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    data_link = target / "..data"
    old = os.readlink(data_link) if data_link.is_symlink() else None
    tmp_link = target / "..data_tmp"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    tmp_link.symlink_to(stamp.name)
    tmp_link.rename(data_link)
    top = {rel.split("/", 1)[0] for rel in files}
    for name in top:
        link = target / name
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link) if link.is_dir() else link.unlink()
            link.symlink_to(f"..data/{name}")
    for entry in target.iterdir():
        if not entry.name.startswith("..") and entry.is_symlink() and entry.name not in top:
            entry.unlink()
    if old and old != stamp.name:
        shutil.rmtree(target / old, ignore_errors=True)


def _project(items: list[KeyToPath] | None, data: Mapping[str, bytes]) -> dict[str, bytes]:
    if not items:
        return dict(data)
    out: dict[str, bytes] = {}
    for item in items:
        key, path = item.key or "", item.path or ""
        if key not in data:
            raise VolumeError(f"configmap/secret references non-existent key {key!r}")
        out[path] = data[key]
    return out


def _cm_bytes(cm: ConfigMap) -> dict[str, bytes]:
    import base64

    out = {k: v.encode() for k, v in (cm.data or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (cm.binary_data or {}).items()})
    return out


def _secret_bytes(secret: Secret) -> dict[str, bytes]:
    import base64

    out = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
    out.update({k: v.encode() for k, v in (secret.string_data or {}).items()})
    return out


async def _config_map_files(fetch: VolumeFetcher, name: str, items: list[KeyToPath] | None,
                            optional: bool | None) -> dict[str, bytes]:
    cm = await fetch.config_map(name)
    if cm is None:
        if optional:
            return {}
        raise VolumeError(f'configmap "{name}" not found')
    return _project(items, _cm_bytes(cm))


async def _secret_files(fetch: VolumeFetcher, name: str, items: list[KeyToPath] | None,
                        optional: bool | None) -> dict[str, bytes]:
    secret = await fetch.secret(name)
    if secret is None:
        if optional:
            return {}
        raise VolumeError(f'secret "{name}" not found')
    return _project(items, _secret_bytes(secret))


def _downward_files(pod: Pod, items: list[object] | None, fetch: VolumeFetcher) -> dict[str, bytes]:
    from kybernetes.api.models.core_v1 import DownwardAPIVolumeFile

    out: dict[str, bytes] = {}
    for item in items or []:
        assert isinstance(item, DownwardAPIVolumeFile)
        try:
            if item.field_ref is not None:
                value = field_value(pod, item.field_ref.field_path or "", host_ip=fetch.host_ip, pod_ip=fetch.pod_ip)
            elif item.resource_field_ref is not None:
                ref = item.resource_field_ref
                value = resource_value(pod, container_name=ref.container_name or "", resource=ref.resource or "",
                                       divisor=str(ref.divisor) if ref.divisor is not None else None,
                                       allocatable=fetch.allocatable or {})
            else:
                continue
        except EnvError as e:
            raise VolumeError(str(e)) from e
        out[item.path or ""] = value.encode()
    return out


async def _volume_files(pod: Pod, volume: Volume, fetch: VolumeFetcher) -> dict[str, bytes] | None:
    if volume.config_map is not None:
        src = volume.config_map
        return await _config_map_files(fetch, src.name or "", src.items, src.optional)
    if volume.secret is not None:
        ssrc = volume.secret
        return await _secret_files(fetch, ssrc.secret_name or "", ssrc.items, ssrc.optional)
    if volume.downward_api is not None:
        return _downward_files(pod, list(volume.downward_api.items or []), fetch)
    if volume.projected is not None:
        files: dict[str, bytes] = {}
        for proj in volume.projected.sources or []:
            if proj.config_map is not None:
                files.update(await _config_map_files(fetch, proj.config_map.name or "", proj.config_map.items,
                                                     proj.config_map.optional))
            elif proj.secret is not None:
                files.update(await _secret_files(fetch, proj.secret.name or "", proj.secret.items,
                                                 proj.secret.optional))
            elif proj.downward_api is not None:
                files.update(_downward_files(pod, list(proj.downward_api.items or []), fetch))
            elif proj.service_account_token is not None:
                sat = proj.service_account_token
                token = await fetch.token(sat.audience or "", sat.expiration_seconds or 3600)
                files[sat.path or "token"] = token.encode()
        return files
    return None


def wants_sa_token(pod: Pod, *, sa_automount: bool | None) -> bool:
    assert pod.spec is not None
    if pod.spec.automount_service_account_token is not None:
        return pod.spec.automount_service_account_token
    return sa_automount is not False


def _host_path(source: HostPathVolumeSource) -> Path:
    path = Path(source.path or "/")
    kind = source.type or ""
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    elif kind in ("Directory", "File", "Socket") and not path.exists():
        raise VolumeError(f"hostPath type check failed: {path} does not exist")
    return path


async def _claim_path(volume: Volume, fetch: VolumeFetcher) -> Path:
    """The host path behind a persistentVolumeClaim volume (see the module docstring)."""
    source = volume.persistent_volume_claim
    assert source is not None
    name = source.claim_name or ""
    if fetch.claims is None:
        raise VolumeError(f"volume {volume.name!r}: persistentVolumeClaim volumes are not available here")
    claim = await fetch.claims.claim(name)
    if claim is None or claim.metadata is None:
        raise VolumeError(f'persistentvolumeclaim "{name}" not found')
    if claim.metadata.deletion_timestamp:
        raise VolumeError(f'persistentvolumeclaim "{name}" is being deleted')
    volume_name = claim.spec.volume_name if claim.spec else None
    if not volume_name or (claim.status.phase if claim.status else None) != "Bound":
        raise VolumeError(f'persistentvolumeclaim "{name}" is not bound')
    pv = await fetch.claims.volume(volume_name)
    if pv is None or pv.spec is None:
        raise VolumeError(f'persistentvolume "{volume_name}" (of persistentvolumeclaim "{name}") not found')
    ref = pv.spec.claim_ref
    if ref is None or ref.name != name or (ref.uid and ref.uid != claim.metadata.uid):
        raise VolumeError(f'persistentvolumeclaim "{name}" is not bound: persistentvolume "{volume_name}" '
                          "is bound to another claim")
    if pv.spec.host_path is not None:
        path = _host_path(pv.spec.host_path)
    elif pv.spec.local is not None:
        path = Path(pv.spec.local.path or "/")
        if not path.exists():
            raise VolumeError(f'local volume "{volume_name}": path {path} does not exist on this node')
    else:
        raise VolumeError(f'persistentvolume "{volume_name}": only hostPath and local volumes can be mounted '
                          "on this node")
    return ReadOnlyVolume(path) if source.read_only else path


def _quantity_bytes(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return to_int(value)
    except (ValueError, TypeError):
        return None


def memory_volume_size(*, pod: Pod, volume: Volume, allocatable: Mapping[str, str] | None) -> int | None:
    """Bytes for a `medium: Memory` emptyDir: sizeLimit, else the pod's memory limit (every container
    limited: the sum of app containers, at least the largest init container), else node allocatable."""
    assert pod.spec is not None and volume.empty_dir is not None
    limit = _quantity_bytes(volume.empty_dir.size_limit)
    if limit:
        return limit

    def limit_of(c: Container) -> int | None:
        return _quantity_bytes(((c.resources.limits if c.resources else None) or {}).get("memory"))

    apps = [limit_of(c) for c in pod.spec.containers or []]
    inits = [limit_of(c) for c in pod.spec.init_containers or []]
    if apps and all(v for v in apps) and all(v for v in inits):
        return max(sum(v or 0 for v in apps), max((v or 0 for v in inits), default=0))
    return _quantity_bytes((allocatable or {}).get("memory"))


def _mount_tmpfs(path: Path, size: int | None) -> None:
    if syscalls.is_mountpoint(str(path)):
        return
    options = "mode=0777" + (f",size={size}" if size else "")
    try:
        syscalls.mount(source="tmpfs", target=str(path), fstype="tmpfs",
                       flags=syscalls.MS_NOSUID | syscalls.MS_NODEV, data=options)
    except OSError as e:
        raise VolumeError(f"mounting tmpfs on {path}: {e.strerror or e}") from e


def _disk_usage(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                continue
    return total


async def _report_size(pod: Pod, volume: Volume, path: Path) -> None:
    """A disk emptyDir over its sizeLimit is reported, not enforced (no eviction here)."""
    assert volume.empty_dir is not None and pod.metadata is not None
    limit = _quantity_bytes(volume.empty_dir.size_limit)
    if not limit:
        return
    used = await asyncio.to_thread(_disk_usage, path)
    if used > limit:
        log.warning("pod %s/%s: emptyDir volume %r uses %d bytes, over its sizeLimit of %d (not enforced)",
                    pod.metadata.namespace, pod.metadata.name, volume.name, used, limit)


async def prepare_volumes(*, pod: Pod, root: Path, fetch: VolumeFetcher,
                          sa_token: bool) -> dict[str, Path]:
    """Create or refresh every volume of `pod` under `root`; returns volume name → host path."""
    assert pod.spec is not None and pod.metadata is not None
    paths: dict[str, Path] = {}
    for volume in pod.spec.volumes or []:
        vname = volume.name or ""
        path: Path
        if volume.empty_dir is not None:
            path = root / EMPTY_DIR / vname
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)
            if volume.empty_dir.medium == "Memory":
                size = memory_volume_size(pod=pod, volume=volume, allocatable=fetch.allocatable)
                await asyncio.to_thread(_mount_tmpfs, path, size)
            else:
                await _report_size(pod, volume, path)
        elif volume.host_path is not None:
            path = _host_path(volume.host_path)
        elif volume.persistent_volume_claim is not None:
            path = await _claim_path(volume, fetch)
        else:
            files = await _volume_files(pod, volume, fetch)
            if files is None:
                raise VolumeError(f"volume {vname!r}: unsupported volume type")
            plugin = "kubernetes.io~projected" if volume.projected is not None else "kubernetes.io~files"
            path = root / plugin / vname
            atomic_write_dir(path, files)
        paths[vname] = path
    if sa_token:
        token = await fetch.token("", 3607)
        files = {"token": token.encode(), "ca.crt": await fetch.ca_pem(),
                 "namespace": (pod.metadata.namespace or "default").encode()}
        path = root / "kubernetes.io~projected" / SA_VOLUME
        atomic_write_dir(path, files)
        paths[SA_VOLUME] = path
    return paths


def teardown_volumes(*, root: Path) -> None:
    """Unmount what `prepare_volumes` mounted under `root` (tmpfs emptyDirs), so the pod's directory can
    be removed; a busy mount is detached (lazily unmounted) rather than left behind."""
    empty = root / EMPTY_DIR
    if not empty.is_dir():
        return
    for entry in empty.iterdir():
        while syscalls.is_mountpoint(str(entry)):  # mounted twice (a raced refresh): unmount each
            try:
                syscalls.umount(target=str(entry))
            except OSError:
                syscalls.umount(target=str(entry), detach=True)


def container_mounts(*, container: Container, volumes: Mapping[str, Path]) -> tuple[Mount, ...]:
    mounts: list[Mount] = []
    for vm in container.volume_mounts or []:
        base = volumes.get(vm.name or "")
        if base is None:
            raise VolumeError(f"volume {vm.name!r} not found")
        host = base / vm.sub_path if vm.sub_path else base
        if vm.sub_path and not host.exists():
            host.mkdir(parents=True, exist_ok=True)
        readonly = bool(vm.read_only) or isinstance(base, ReadOnlyVolume)
        mounts.append(Mount(container_path=vm.mount_path or "", host_path=str(host), readonly=readonly))
    if SA_VOLUME in volumes and not any(m.container_path == SA_MOUNT_PATH for m in mounts):
        mounts.append(Mount(container_path=SA_MOUNT_PATH, host_path=str(volumes[SA_VOLUME]), readonly=True))
    return tuple(mounts)
