"""Pod volumes on the node: one directory per volume under DATA/pods/<uid>/volumes/<plugin>/<name>.

Supported: emptyDir (a plain directory; `medium: Memory` is a directory too until the runtime mounts tmpfs),
hostPath (the host path itself, created for DirectoryOrCreate/FileOrCreate), configMap, secret, downwardAPI
and projected (configMap, secret, downwardAPI, serviceAccountToken sources). File-backed volumes are
written the way Kubernetes' atomic writer does: the payload goes to a fresh hidden directory `..<stamp>`,
a symlink `..data` is switched to it with one rename, and each visible name is a symlink through `..data`,
so a reader never sees a half-updated set of files.

The service-account token volume Kubernetes' admission would inject (`kube-api-access-*`) is synthesised
here: `token` (a TokenRequest bound to the pod), `ca.crt`, `namespace`, mounted at
/var/run/secrets/kubernetes.io/serviceaccount in every container unless automount is off.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kybernetes.api.models.core_v1 import ConfigMap, Container, KeyToPath, Pod, Secret, Volume
from kybernetes.kubelet.agent.podspec import EnvError, field_value, resource_value
from kybernetes.kubelet.runtime.protocol import Mount

__all__ = ["SA_MOUNT_PATH", "SA_VOLUME", "VolumeError", "VolumeFetcher", "atomic_write_dir", "container_mounts",
           "prepare_volumes"]

SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SA_VOLUME = "kube-api-access"


class VolumeError(Exception):
    """A volume that cannot be set up; the container waits with reason `CreateContainerConfigError`."""


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


async def prepare_volumes(*, pod: Pod, root: Path, fetch: VolumeFetcher,
                          sa_token: bool) -> dict[str, Path]:
    """Create or refresh every volume of `pod` under `root`; returns volume name → host path."""
    assert pod.spec is not None and pod.metadata is not None
    paths: dict[str, Path] = {}
    for volume in pod.spec.volumes or []:
        vname = volume.name or ""
        if volume.empty_dir is not None:
            path = root / "kubernetes.io~empty-dir" / vname
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)
        elif volume.host_path is not None:
            path = Path(volume.host_path.path or "/")
            kind = volume.host_path.type or ""
            if kind == "DirectoryOrCreate":
                path.mkdir(parents=True, exist_ok=True)
            elif kind == "FileOrCreate" and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            elif kind in ("Directory", "File", "Socket") and not path.exists():
                raise VolumeError(f"hostPath type check failed: {path} does not exist")
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


def container_mounts(*, container: Container, volumes: Mapping[str, Path]) -> tuple[Mount, ...]:
    mounts: list[Mount] = []
    for vm in container.volume_mounts or []:
        base = volumes.get(vm.name or "")
        if base is None:
            raise VolumeError(f"volume {vm.name!r} not found")
        host = base / vm.sub_path if vm.sub_path else base
        if vm.sub_path and not host.exists():
            host.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(container_path=vm.mount_path or "", host_path=str(host), readonly=bool(vm.read_only)))
    if SA_VOLUME in volumes and not any(m.container_path == SA_MOUNT_PATH for m in mounts):
        mounts.append(Mount(container_path=SA_MOUNT_PATH, host_path=str(volumes[SA_VOLUME]), readonly=True))
    return tuple(mounts)
