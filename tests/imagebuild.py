"""Test images built from this machine's own files, and a local registry to serve them.

Pure Python (tarfile, gzip, hashlib, json) — no docker, buildah or umoci:
- `LayerBuilder` collects entries (files, dirs, symlinks, hard links, whiteouts) and writes a deterministic
  layer (fixed mtimes, sorted order, gzip without a timestamp), so the same input gives the same digests;
- `build_image` writes an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`);
- `build_busybox_image`: Debian's static busybox at /bin/busybox, every applet a hard link to it, /etc files;
  `build_python_image`: the busybox layer plus a layer with the machine's python3, the libraries `ldd`
  lists for it and its extension modules, the loader and the stdlib (~74 MB; built once per Python
  version and cached under /tmp);
- `layout_to_tar` / `layout_to_docker_save` write an OCI layout tar / a `docker save` archive;
- `push_layout` pushes a layout over the distribution API (monolithic or chunked blob uploads), and
  `push_index` a multi-platform index of pushed manifests;
- `LocalRegistry` runs Debian's `docker-registry serve` on a free loopback port with a temporary storage
  directory, optionally with htpasswd basic auth.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MTIME = 1_700_000_000
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
BUSYBOX = Path("/usr/bin/busybox")
REGISTRY_BINARY = "/usr/bin/docker-registry"
CACHE_DIR = Path(tempfile.gettempdir()) / "kyb-test-images"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


@dataclass
class Layer:
    path: Path  # the blob file
    digest: str
    diff_id: str
    size: int
    media_type: str


@dataclass
class OciLayout:
    path: Path
    name: str  # full reference, e.g. docker.io/library/busybox:latest
    manifest_digest: str
    manifest: bytes
    config_digest: str
    config: bytes
    layers: list[Layer]

    def blob(self, digest: str) -> Path:
        return self.path / "blobs" / "sha256" / digest.split(":", 1)[1]


@dataclass
class _Entry:
    info: tarfile.TarInfo
    data: bytes | None = None
    source: Path | None = None


@dataclass
class LayerBuilder:
    """Entries of one layer, written in path order (a directory before its contents)."""

    entries: dict[str, _Entry] = field(default_factory=dict)

    def _info(self, path: str, kind: bytes, *, mode: int, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(path.strip("/"))
        info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, MTIME
        return info

    def _parents(self, path: str) -> None:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent not in self.entries:
                self.entries[parent] = _Entry(self._info(parent, tarfile.DIRTYPE, mode=0o755))

    def dir(self, path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0) -> LayerBuilder:
        self._parents(path)
        self.entries[path.strip("/")] = _Entry(self._info(path, tarfile.DIRTYPE, mode=mode, uid=uid, gid=gid))
        return self

    def file(self, path: str, data: bytes | None = None, *, source: Path | None = None, mode: int = 0o644,
             uid: int = 0, gid: int = 0, xattrs: dict[str, bytes] | None = None) -> LayerBuilder:
        self._parents(path)
        info = self._info(path, tarfile.REGTYPE, mode=mode, uid=uid, gid=gid)
        info.size = len(data) if data is not None else (source.stat().st_size if source else 0)
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()}
        self.entries[path.strip("/")] = _Entry(info, data=data, source=source)
        return self

    def symlink(self, path: str, target: str) -> LayerBuilder:
        self._parents(path)
        info = self._info(path, tarfile.SYMTYPE, mode=0o777)
        info.linkname = target
        self.entries[path.strip("/")] = _Entry(info)
        return self

    def hardlink(self, path: str, target: str) -> LayerBuilder:
        self._parents(path)
        info = self._info(path, tarfile.LNKTYPE, mode=0o755)
        info.linkname = target.strip("/")
        self.entries[path.strip("/")] = _Entry(info)
        return self

    def whiteout(self, path: str) -> LayerBuilder:
        head, _, name = path.strip("/").rpartition("/")
        return self.file(f"{head}/.wh.{name}" if head else f".wh.{name}", b"")

    def opaque(self, directory: str) -> LayerBuilder:
        self.dir(directory)
        return self.file(f"{directory.strip('/')}/.wh..wh..opq", b"")

    def raw(self, info: tarfile.TarInfo, data: bytes | None = None) -> LayerBuilder:
        """An entry as given (no parent directories, no name cleaning): for hostile-layer tests."""
        self.entries[f"\0raw{len(self.entries)}"] = _Entry(info, data=data)
        return self

    def write_tar(self, out: io.BufferedIOBase | Any) -> None:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            # Hard links after everything else: their targets must come first in the archive.
            order = sorted(self.entries, key=lambda k: (k.startswith("\0"), self.entries[k].info.islnk(), k))
            for key in order:
                entry = self.entries[key]
                if entry.source is not None:
                    with open(entry.source, "rb") as f:
                        tar.addfile(entry.info, f)
                elif entry.data is not None:
                    tar.addfile(entry.info, io.BytesIO(entry.data))
                else:
                    tar.addfile(entry.info)

    def build(self, directory: Path, *, compress: bool = True) -> Layer:
        """Write the layer blob into `directory` (a layout's blobs/sha256)."""
        directory.mkdir(parents=True, exist_ok=True)
        raw = directory / f".tmp-{os.getpid()}-raw"
        with open(raw, "wb") as f:
            self.write_tar(f)
        diff_id = _sha256_file(raw)
        if compress:
            packed = directory / f".tmp-{os.getpid()}-gz"
            with open(raw, "rb") as src, open(packed, "wb") as dst:
                with gzip.GzipFile(filename="", mode="wb", fileobj=dst, mtime=0, compresslevel=6) as gz:
                    shutil.copyfileobj(src, gz, 1 << 20)
            raw.unlink()
        else:
            packed = raw
        digest = _sha256_file(packed)
        final = directory / digest.split(":", 1)[1]
        os.replace(packed, final)
        return Layer(path=final, digest=digest, diff_id=diff_id, size=final.stat().st_size,
                     media_type=OCI_LAYER_GZIP if compress else OCI_LAYER)


def _write_blob(directory: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (directory / digest.split(":", 1)[1]).write_bytes(data)
    return digest


def build_image(directory: Path, layers: list[LayerBuilder | Layer], *, name: str, cmd: list[str] | None = None,
                entrypoint: list[str] | None = None, env: list[str] | None = None, working_dir: str = "",
                architecture: str = "amd64", compress: bool = True) -> OciLayout:
    """Write an OCI layout into `directory` with the given layers (lowest first)."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    built: list[Layer] = []
    for layer in layers:
        if isinstance(layer, Layer):
            if layer.path.parent != blobs:
                shutil.copyfile(layer.path, blobs / layer.path.name)
            built.append(Layer(path=blobs / layer.path.name, digest=layer.digest, diff_id=layer.diff_id,
                               size=layer.size, media_type=layer.media_type))
        else:
            built.append(layer.build(blobs, compress=compress))
    run: dict[str, Any] = {"Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    if cmd is not None:
        run["Cmd"] = cmd
    if entrypoint is not None:
        run["Entrypoint"] = entrypoint
    if working_dir:
        run["WorkingDir"] = working_dir
    config = json.dumps({
        "created": "2023-11-14T22:13:20Z", "architecture": architecture, "os": "linux", "config": run,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in built]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "kybernetes tests/imagebuild.py"}
                    for _ in built],
    }, sort_keys=True).encode()
    config_digest = _write_blob(blobs, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size} for layer in built],
    }, sort_keys=True).encode()
    manifest_digest = _write_blob(blobs, manifest)
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
    }]}
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return OciLayout(path=directory, name=name, manifest_digest=manifest_digest, manifest=manifest,
                     config_digest=config_digest, config=config, layers=built)


def busybox_layer() -> LayerBuilder:
    """Static busybox with every applet as a hard link, the /etc files and the usual empty directories."""
    if not BUSYBOX.exists():
        raise FileNotFoundError("/usr/bin/busybox (Debian busybox-static) is needed")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    layer = LayerBuilder()
    for d in ("bin", "dev", "etc", "home", "proc", "sys", "usr", "var", "var/run"):
        layer.dir(d)
    layer.dir("tmp", mode=0o1777).dir("root", mode=0o700)
    layer.file("bin/busybox", source=BUSYBOX, mode=0o755)
    for applet in sorted(set(applets)):
        if applet != "busybox" and re.fullmatch(r"[\w.\[-]+", applet):
            layer.hardlink(f"bin/{applet}", "bin/busybox")
    layer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    layer.file("etc/group", b"root:x:0:\nnobody:x:65534:\n")
    layer.file("etc/hosts", b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    return layer


def build_busybox_image(directory: Path, *, name: str = "docker.io/library/busybox:latest") -> OciLayout:
    return build_image(directory, [busybox_layer()], name=name, cmd=["sh"])


# ---- python -------------------------------------------------------------------------------------------


def _machine_python() -> Path:
    for candidate in ("/usr/bin/python3", shutil.which("python3") or "", sys.executable):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise FileNotFoundError("no python3")


def _ldd(path: Path) -> list[str]:
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            libs.append(m.group(1))
    return libs


_SKIP_STDLIB = {"test", "idlelib", "tkinter", "ensurepip", "turtledemo", "lib2to3", "site-packages",
                "dist-packages", "config-3.11-x86_64-linux-gnu"}


def python_layer(python: Path) -> tuple[LayerBuilder, str]:
    """(layer, version) with the interpreter at its own path, its libraries, loader and stdlib."""
    probe = subprocess.run([str(python), "-c", "import sys, sysconfig, json; print(json.dumps(["
                            "sysconfig.get_paths()['stdlib'], [p for p in sys.path if p.endswith('lib-dynload')],"
                            "'%d.%d.%d' % sys.version_info[:3]]))"],
                           capture_output=True, text=True, check=True)
    stdlib, dynload, version = json.loads(probe.stdout)
    real = python.resolve()
    layer = LayerBuilder()
    layer.file(str(real), source=real, mode=0o755)
    for alias in ("usr/bin/python3", "usr/bin/python"):
        if alias.strip("/") != str(real).strip("/"):
            layer.symlink(alias, real.name if str(real.parent) == "/usr/bin" else str(real))
    libraries = set(_ldd(real))
    for directory in dynload:
        for so in Path(directory).glob("*.so"):
            libraries.update(_ldd(so))
    for lib in sorted(libraries):
        source = Path(lib).resolve()
        if source.is_file():
            layer.file(lib, source=source, mode=0o755)
    root = Path(stdlib)
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_STDLIB]
        dirnames[:] = [d for d in dirnames if d not in ("test", "tests")]
        layer.dir(dirpath)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                layer.symlink(str(path), os.readlink(path))
            elif path.is_file():
                layer.file(str(path), source=path, mode=path.stat().st_mode & 0o777)
    return layer, version


def build_python_image(directory: Path | None = None, *,
                       name: str = "docker.io/library/python:3-kyb") -> OciLayout:
    """busybox + python layers. Cached under /tmp per Python version; `directory` gets a copy if given."""
    python = _machine_python()
    version = subprocess.run([str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cached = CACHE_DIR / f"python-{version}-v1"
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cached / "index.json").exists():
            work = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix="build-"))
            try:
                layer, _ = python_layer(python)
                build_image(work, [busybox_layer(), layer], name=name, cmd=["python3"])
                if cached.exists():
                    shutil.rmtree(cached)
                os.rename(work, cached)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    layout = load_layout(cached)
    if directory is None:
        return layout
    shutil.copytree(cached, directory, dirs_exist_ok=True)
    return load_layout(directory)


def load_layout(directory: Path) -> OciLayout:
    """Read back a layout written by `build_image` (the first manifest of its index)."""
    index = json.loads((directory / "index.json").read_text())
    entry = index["manifests"][0]
    blobs = directory / "blobs" / "sha256"
    manifest = (blobs / entry["digest"].split(":", 1)[1]).read_bytes()
    m = json.loads(manifest)
    config = (blobs / m["config"]["digest"].split(":", 1)[1]).read_bytes()
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    layers = [Layer(path=blobs / d["digest"].split(":", 1)[1], digest=d["digest"], diff_id=diff_id, size=d["size"],
                    media_type=d["mediaType"]) for d, diff_id in zip(m["layers"], diff_ids, strict=True)]
    return OciLayout(path=directory, name=entry.get("annotations", {}).get("io.containerd.image.name", ""),
                     manifest_digest=entry["digest"], manifest=manifest, config_digest=m["config"]["digest"],
                     config=config, layers=layers)


# ---- archives -----------------------------------------------------------------------------------------


def layout_to_tar(layout: OciLayout, path: Path) -> Path:
    """The layout as a tar (what `skopeo copy ... oci-archive:` writes)."""
    with tarfile.open(path, "w") as tar:
        for item in sorted(layout.path.rglob("*")):
            if item.is_file() and not item.name.startswith(".tmp-"):
                tar.add(item, arcname=str(item.relative_to(layout.path)), recursive=False)
    return path


def layout_to_docker_save(layout: OciLayout, path: Path, *, repo_tags: list[str]) -> Path:
    """A `docker save` archive: manifest.json, <config>.json, <id>/layer.tar (uncompressed layers)."""
    config_hex = layout.config_digest.split(":", 1)[1]
    with tarfile.open(path, "w") as tar:
        def add(name: str, data: bytes | Path) -> None:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            if isinstance(data, Path):
                info.size = data.stat().st_size
                with open(data, "rb") as f:
                    tar.addfile(info, f)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

        layer_paths = []
        with tempfile.TemporaryDirectory() as tmp:
            for layer in layout.layers:
                raw = Path(tmp) / layer.diff_id.split(":", 1)[1]
                opener = gzip.open if layer.media_type.endswith("gzip") else open
                with opener(layer.path, "rb") as src, open(raw, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                name = f"{layer.diff_id.split(':', 1)[1]}/layer.tar"
                dir_info = tarfile.TarInfo(name.split("/")[0])
                dir_info.type, dir_info.mode, dir_info.mtime = tarfile.DIRTYPE, 0o755, MTIME
                tar.addfile(dir_info)
                add(name, raw)
                layer_paths.append(name)
        add(f"{config_hex}.json", layout.config)
        add("manifest.json", json.dumps([{"Config": f"{config_hex}.json", "RepoTags": repo_tags,
                                          "Layers": layer_paths}]).encode())
    return path


# ---- registry -----------------------------------------------------------------------------------------


def _http(method: str, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
          auth: tuple[str, str] | None = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def push_blob(registry_url: str, repo: str, *, digest: str, path: Path | None = None, data: bytes | None = None,
              chunk_size: int = 0, auth: tuple[str, str] | None = None) -> None:
    status, _, _ = _http("HEAD", f"{registry_url}/v2/{repo}/blobs/{digest}", auth=auth)
    if status == 200:
        return
    body = data if data is not None else Path(path or "").read_bytes()
    status, headers, text = _http("POST", f"{registry_url}/v2/{repo}/blobs/uploads/", data=b"", auth=auth)
    if status != 202:
        raise RuntimeError(f"upload start: {status} {text!r}")
    location = urllib.parse.urljoin(registry_url, headers["Location"])
    if chunk_size:
        for start in range(0, len(body), chunk_size):
            chunk = body[start:start + chunk_size]
            status, headers, text = _http("PATCH", location, data=chunk, auth=auth, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(chunk) - 1}"})
            if status != 202:
                raise RuntimeError(f"upload chunk: {status} {text!r}")
            location = urllib.parse.urljoin(registry_url, headers["Location"])
        body = b""
    sep = "&" if "?" in location else "?"
    status, _, text = _http("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", data=body, auth=auth,
                            headers={"Content-Type": "application/octet-stream"})
    if status != 201:
        raise RuntimeError(f"upload finish: {status} {text!r}")


def push_manifest(registry_url: str, repo: str, reference: str, *, body: bytes, media_type: str,
                  auth: tuple[str, str] | None = None) -> str:
    status, _, text = _http("PUT", f"{registry_url}/v2/{repo}/manifests/{reference}", data=body, auth=auth,
                            headers={"Content-Type": media_type})
    if status != 201:
        raise RuntimeError(f"manifest push: {status} {text!r}")
    return "sha256:" + hashlib.sha256(body).hexdigest()


def push_layout(layout: OciLayout, registry_url: str, repo: str, tag: str, *, chunk_size: int = 0,
                auth: tuple[str, str] | None = None) -> str:
    """Push blobs then the manifest under `tag` (a tag or a digest); returns the manifest digest."""
    for layer in layout.layers:
        push_blob(registry_url, repo, digest=layer.digest, path=layer.path, chunk_size=chunk_size, auth=auth)
    push_blob(registry_url, repo, digest=layout.config_digest, data=layout.config, auth=auth)
    return push_manifest(registry_url, repo, tag, body=layout.manifest, media_type=OCI_MANIFEST, auth=auth)


def push_index(registry_url: str, repo: str, tag: str, entries: list[tuple[OciLayout, dict[str, str]]], *,
               auth: tuple[str, str] | None = None) -> str:
    """Push each layout by digest, then an OCI index of them with the given platforms under `tag`."""
    manifests = []
    for layout, plat in entries:
        push_layout(layout, registry_url, repo, layout.manifest_digest, auth=auth)
        manifests.append({"mediaType": OCI_MANIFEST, "digest": layout.manifest_digest, "size": len(layout.manifest),
                          "platform": plat})
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    return push_manifest(registry_url, repo, tag, body=body, media_type=OCI_INDEX, auth=auth)


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for htpasswd, from the C library's crypt (Debian's libxcrypt has bcrypt)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated, but present in Python 3.11 and the only bcrypt here without a package

    # The cheapest cost (2^4): the registry checks the hash on every request.
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRegistry:
    """`docker-registry serve` on 127.0.0.1:<free port> (or another local `address`) with storage in a
    temporary directory."""

    def __init__(self, *, htpasswd: dict[str, str] | None = None, address: str = "127.0.0.1") -> None:
        self.htpasswd = htpasswd
        self.address = address
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def host(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> LocalRegistry:
        if not os.path.exists(REGISTRY_BINARY):
            raise FileNotFoundError(f"{REGISTRY_BINARY} (Debian docker-registry) is needed")
        self.dir = Path(tempfile.mkdtemp(prefix="kyb-registry-"))
        try:
            for _ in range(3):
                self.port = _free_port()
                config = [
                    "version: 0.1",
                    "log:", "  level: warn", "  accesslog:", "    disabled: true",
                    "storage:", f"  filesystem:\n    rootdirectory: {self.dir / 'data'}", "  delete:\n    enabled: true",
                    "http:", f"  addr: {self.address}:{self.port}",
                ]
                if self.htpasswd is not None:
                    lines = "".join(f"{user}:{bcrypt_hash(pw)}\n" for user, pw in self.htpasswd.items())
                    (self.dir / "htpasswd").write_text(lines)
                    config += ["auth:", "  htpasswd:", "    realm: kyb-test", f"    path: {self.dir / 'htpasswd'}"]
                (self.dir / "config.yml").write_text("\n".join(config) + "\n")
                log = open(self.dir / "registry.log", "ab")
                try:
                    self.proc = subprocess.Popen([REGISTRY_BINARY, "serve", str(self.dir / "config.yml")],
                                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                finally:
                    log.close()
                if self._wait_ready():
                    return self
                self._kill()
            raise RuntimeError(f"docker-registry did not start: {(self.dir / 'registry.log').read_text()[-2000:]}")
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                status, _, _ = _http("GET", f"{self.url}/v2/")
                if status in (200, 401):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        self._kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_registry(**kwargs: Any) -> Iterator[LocalRegistry]:
    registry = LocalRegistry(**kwargs).start()
    try:
        yield registry
    finally:
        registry.stop()
