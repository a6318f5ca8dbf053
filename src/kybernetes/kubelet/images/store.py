"""The on-disk image store: content-addressed blobs, unpacked layers, and an index of images.

Layout under `DATA/images/`:
- `blobs/sha256/<hex>`: manifests, configs and layer blobs exactly as the registry sent them;
- `layers/<hex of diff_id>/`: each layer unpacked once (overlay form, see `unpack`), shared by all images;
- `index.json`: images by id (the config digest) with their tags, repo digests, manifest, blobs and layers;
  tags (`docker.io/library/busybox:latest`) map to image ids;
- `tmp/<pid>/`: downloads and unpacks in progress of one process, renamed into place when complete (so a
  crash leaves nothing half-done in `blobs/` or `layers/`); directories of dead processes are removed when
  a store is opened.

The index is rewritten whole (write to a temporary file, fsync, rename) under an flock, so `kyb image
import` can add images while a kubelet runs. Reads take no lock and are cached by mtime.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kybernetes.kubelet.images.manifest import digest_hex
from kybernetes.kubelet.images.unpack import unpack_layer
from kybernetes.kubelet.runtime.protocol import ImageConfig, ImageRef


@dataclass
class ImageRecord:
    id: str  # config digest
    manifest: str  # manifest digest
    manifest_media_type: str
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)  # diff_ids, lowest first
    blobs: list[str] = field(default_factory=list)  # every blob digest this image keeps
    size: int = 0
    config: dict[str, Any] = field(default_factory=dict)  # ImageConfig fields
    created_at: float = 0.0
    last_used: float = 0.0

    @staticmethod
    def from_json(obj: dict[str, Any]) -> ImageRecord:
        known = set(ImageRecord.__dataclass_fields__)
        return ImageRecord(**{k: v for k, v in obj.items() if k in known})


@dataclass
class IndexData:
    images: dict[str, ImageRecord] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # normalized name:tag → image id
    layer_sizes: dict[str, int] = field(default_factory=dict)  # diff_id → unpacked bytes

    def to_json(self) -> dict[str, Any]:
        return {"images": {k: asdict(v) for k, v in self.images.items()}, "tags": self.tags,
                "layerSizes": self.layer_sizes}

    @staticmethod
    def from_json(obj: dict[str, Any]) -> IndexData:
        return IndexData(images={k: ImageRecord.from_json(v) for k, v in (obj.get("images") or {}).items()},
                         tags=dict(obj.get("tags") or {}), layer_sizes=dict(obj.get("layerSizes") or {}))

    def tag(self, *, name: str, image_id: str) -> None:
        """Point tag `name` at `image_id`, taking it away from the image that had it."""
        previous = self.tags.get(name)
        if previous and previous != image_id and previous in self.images:
            tags = self.images[previous].repo_tags
            if name in tags:
                tags.remove(name)
        self.tags[name] = image_id
        record = self.images[image_id]
        if name not in record.repo_tags:
            record.repo_tags.append(name)


def image_config_from_json(config: dict[str, Any]) -> ImageConfig:
    """The run settings of an OCI / Docker image config (its `config` object)."""
    c = config.get("config") or {}

    def strings(key: str) -> tuple[str, ...]:
        value = c.get(key)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    ports = c.get("ExposedPorts")
    return ImageConfig(entrypoint=strings("Entrypoint"), cmd=strings("Cmd"), env=strings("Env"),
                       working_dir=str(c.get("WorkingDir") or ""), user=str(c.get("User") or ""),
                       exposed_ports=tuple(sorted(ports)) if isinstance(ports, dict) else ())


class ImageStore:
    """Blocking file operations of the store; the service calls the slow ones in a thread."""

    def __init__(self, *, root: Path) -> None:
        self.root = root
        self.blobs_dir = root / "blobs" / "sha256"
        self.layers_dir = root / "layers"
        self._tmp_root = root / "tmp"
        self.tmp_dir = self._tmp_root / str(os.getpid())
        self.index_path = root / "index.json"
        self._lock_path = root / "index.lock"
        for d in (self.blobs_dir, self.layers_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._cache: tuple[int, IndexData] | None = None

    def clean_tmp(self) -> None:
        """Remove leftovers of interrupted downloads and unpacks of processes that are gone."""
        for entry in self._tmp_root.iterdir():
            if entry.name == str(os.getpid()):
                continue  # possibly another store object of this process at work
            if entry.name.isdigit():
                try:
                    os.kill(int(entry.name), 0)
                    continue  # another live process (a kubelet, `kyb image import`) is working there
                except ProcessLookupError:
                    pass
                except PermissionError:
                    continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.tmp_dir.rmdir()  # only if empty: nothing of this process is in progress

    # ---- blobs -----------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs_dir / digest_hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def new_tmp_file(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="blob-")
        return fd, Path(name)

    def commit_blob(self, *, tmp: Path, digest: str) -> Path:
        """Move a verified download into place (atomic; an existing copy is identical by construction)."""
        path = self.blob_path(digest)
        os.replace(tmp, path)
        return path

    def write_blob(self, *, digest: str, data: bytes) -> Path:
        path = self.blob_path(digest)
        if path.is_file():
            return path
        fd, tmp = self.new_tmp_file()
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return self.commit_blob(tmp=tmp, digest=digest)

    def remove_blob(self, digest: str) -> None:
        self.blob_path(digest).unlink(missing_ok=True)

    # ---- layers ----------------------------------------------------------------------------------

    def layer_path(self, diff_id: str) -> Path:
        return self.layers_dir / digest_hex(diff_id)

    def has_layer(self, diff_id: str) -> bool:
        return self.layer_path(diff_id).is_dir()

    def unpack(self, *, blob_digest: str, diff_id: str) -> int:
        """Unpack a layer blob into `layers/` (blocking). Returns the unpacked size; 0 if it was there."""
        final = self.layer_path(diff_id)
        if final.is_dir():
            return 0
        work = Path(tempfile.mkdtemp(dir=self.tmp_dir, prefix="layer-"))
        try:
            os.chmod(work, 0o755)
            size = unpack_layer(blob=self.blob_path(blob_digest), dest=work, diff_id=diff_id)
            try:
                os.rename(work, final)
            except OSError:
                if not final.is_dir():
                    raise
                shutil.rmtree(work, ignore_errors=True)  # another process unpacked it meanwhile
            return size
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def remove_layer(self, diff_id: str) -> None:
        path = self.layer_path(diff_id)
        if not path.exists():
            return
        # Rename first so a half-removed layer is never seen as present.
        doomed = self.tmp_dir / f"rm-{path.name}-{os.getpid()}-{time.monotonic_ns()}"
        os.rename(path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    # ---- index -----------------------------------------------------------------------------------

    def load(self) -> IndexData:
        try:
            mtime = self.index_path.stat().st_mtime_ns
        except FileNotFoundError:
            return IndexData()
        if self._cache is not None and self._cache[0] == mtime:
            return self._cache[1]
        data = IndexData.from_json(json.loads(self.index_path.read_text()))
        self._cache = (mtime, data)
        return data

    @contextlib.contextmanager
    def update(self) -> Iterator[IndexData]:
        """Read-modify-write the index under an exclusive flock (across processes)."""
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._cache = None
                data = self.load()
                yield data
                fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".index-")
                with os.fdopen(fd, "w") as f:
                    json.dump(data.to_json(), f, indent=1, sort_keys=True)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.index_path)
                self._cache = None
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def to_ref(self, record: ImageRecord) -> ImageRef:
        name = record.repo_digests[0] if record.repo_digests else ""
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in record.config.items()
                                  if k in ImageConfig.__dataclass_fields__}
        return ImageRef(id=record.id, repo_tags=tuple(record.repo_tags), repo_digest=name,
                        size=record.size, config=ImageConfig(**fields),
                        layers=tuple(self.layer_path(d) for d in record.layers))

    def usage(self) -> tuple[int, int]:
        """(bytes of blobs and unpacked layers, bytes of the filesystem)."""
        used = 0
        with os.scandir(self.blobs_dir) as it:
            for entry in it:
                used += entry.stat(follow_symlinks=False).st_blocks * 512
        data = self.load()
        used += sum(size for diff_id, size in data.layer_sizes.items() if self.has_layer(diff_id))
        st = os.statvfs(self.root)
        return used, st.f_blocks * st.f_frsize

    def add_image(self, *, manifest_digest: str, manifest_media_type: str, config_digest: str,
                  config: dict[str, Any], diff_ids: list[str], blobs: list[str], size: int,
                  tags: list[str], repo_digests: list[str], layer_sizes: dict[str, int]) -> ImageRecord:
        """Record an image whose blobs and layers are in place; tags move to it from older images."""
        now = time.time()
        with self.update() as data:
            record = data.images.get(config_digest)
            if record is None:
                record = ImageRecord(id=config_digest, manifest=manifest_digest,
                                     manifest_media_type=manifest_media_type, created_at=now)
                data.images[config_digest] = record
            record.manifest, record.manifest_media_type = manifest_digest, manifest_media_type
            record.layers = list(diff_ids)
            record.blobs = sorted(set(record.blobs) | set(blobs))
            record.size = size
            run = image_config_from_json(config)
            record.config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(run).items()}
            record.last_used = now
            for repo_digest in repo_digests:
                if repo_digest not in record.repo_digests:
                    record.repo_digests.insert(0, repo_digest)
            for tag in tags:
                data.tag(name=tag, image_id=config_digest)
            for diff_id, layer_size in layer_sizes.items():
                if layer_size or diff_id not in data.layer_sizes:
                    data.layer_sizes[diff_id] = layer_size
            return record
