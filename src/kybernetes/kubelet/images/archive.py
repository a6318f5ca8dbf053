"""Import images from archives with no registry: an OCI image layout (directory or tar) or `docker save`.

OCI layout: `oci-layout`, `index.json` naming manifests (or nested indexes, of which this machine's
platform is taken), blobs under `blobs/sha256/`. An entry's name is its `io.containerd.image.name`
annotation, else its `org.opencontainers.image.ref.name` when that is a full reference (a bare tag such as
`latest` names nothing without a repository). Docker save: `manifest.json` lists each image's config
file, `RepoTags` and layer tars (uncompressed, possibly symlinks to one another); a Docker v2 manifest is
written for it, so the image looks as if pulled. When both are in one archive (Docker >= 25),
`manifest.json` is used for its tags.

Every blob is verified (OCI: against its digest; docker save: the layers against the config's diff_ids
while unpacking). Blocking code; the image service runs it in a thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tarfile
from pathlib import Path
from typing import IO, Any

from kybernetes.kubelet.images.manifest import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    Descriptor,
    Index,
    Manifest,
    ManifestError,
    parse,
    select_platform,
    sha256_digest,
)
from kybernetes.kubelet.images.reference import InvalidReference, parse_reference
from kybernetes.kubelet.images.store import ImageRecord, ImageStore
from kybernetes.kubelet.images.unpack import clean_parts

DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"


class ArchiveError(ValueError):
    """Not an OCI layout or docker-save archive, or a corrupt one."""


class _Source:
    """Files of an archive by relative path: a directory or a tar (symlinks inside the tar followed)."""

    def __init__(self, path: Path) -> None:
        self.dir: Path | None = None
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        if path.is_dir():
            self.dir = path
        else:
            try:
                self.tar = tarfile.open(path, "r:*")
            except (tarfile.TarError, OSError) as e:
                raise ArchiveError(f"{path}: not a directory or tar archive: {e}") from None
            for member in self.tar.getmembers():
                parts = clean_parts(member.name)
                if parts:
                    self.members["/".join(parts)] = member

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()

    def _member(self, rel: str) -> tarfile.TarInfo:
        for _ in range(16):
            name = "/".join(clean_parts(rel))
            member = self.members.get(name)
            if member is None:
                raise FileNotFoundError(rel)
            if not member.issym():
                return member
            rel = posixpath.join(posixpath.dirname(name), member.linkname)
        raise ArchiveError(f"{rel}: too many symbolic links")

    def exists(self, rel: str) -> bool:
        try:
            if self.dir is not None:
                return (self.dir / "/".join(clean_parts(rel))).is_file()
            self._member(rel)
            return True
        except (FileNotFoundError, ValueError):
            return False

    def open(self, rel: str) -> IO[bytes]:
        if self.dir is not None:
            path = (self.dir / "/".join(clean_parts(rel))).resolve()
            if not path.is_relative_to(self.dir.resolve()):
                raise ArchiveError(f"{rel}: outside the layout")
            return open(path, "rb")
        assert self.tar is not None
        f = self.tar.extractfile(self._member(rel))
        if f is None:
            raise ArchiveError(f"{rel}: not a regular file")
        return f

    def read(self, rel: str) -> bytes:
        with self.open(rel) as f:
            return f.read()


def _copy_blob(store: ImageStore, source: _Source, rel: str, *, digest: str | None) -> tuple[str, int]:
    """Copy a file of the archive into the blob store; (digest, size). `digest` given: verified."""
    if digest is not None and store.has_blob(digest):
        return digest, store.blob_path(digest).stat().st_size
    fd, tmp = store.new_tmp_file()
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, source.open(rel) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
        actual = "sha256:" + h.hexdigest()
        if digest is not None and actual != digest:
            raise ArchiveError(f"{rel}: digest mismatch: expected {digest}, got {actual}")
        store.commit_blob(tmp=tmp, digest=actual)
        return actual, size
    finally:
        tmp.unlink(missing_ok=True)


def _name_of(desc: Descriptor) -> str:
    annotations = desc.annotations or {}
    for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
        value = annotations.get(key, "")
        if not value or ("/" not in value and ":" not in value and "@" not in value):
            continue  # a bare tag: no repository to put it in
        try:
            return str(parse_reference(value))
        except InvalidReference:
            continue
    return ""


def _finish(store: ImageStore, *, manifest: Manifest, manifest_digest: str, top_digest: str,
            blobs: list[str], config_bytes: bytes, tags: list[str], named: str) -> ImageRecord:
    config = json.loads(config_bytes)
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(manifest.layers):
        raise ManifestError(f"config has {len(diff_ids)} diff_ids for {len(manifest.layers)} layers")
    sizes = {d: store.unpack(blob_digest=desc.digest, diff_id=d) for desc, d in zip(manifest.layers, diff_ids, strict=True)}
    repo_digests = []
    all_tags = list(tags)
    if named:
        ref = parse_reference(named)
        if ref.tag and not ref.digest:
            all_tags.insert(0, str(ref))
        repo_digests.append(f"{ref.name}@{top_digest}")
    return store.add_image(manifest_digest=manifest_digest, manifest_media_type=manifest.media_type,
                           config_digest=manifest.config.digest, config=config, diff_ids=diff_ids,
                           blobs=blobs, size=manifest.config.size + sum(d.size for d in manifest.layers),
                           tags=all_tags, repo_digests=repo_digests, layer_sizes=sizes)


def _import_oci(store: ImageStore, source: _Source, tags: list[str]) -> list[ImageRecord]:
    try:
        top = parse(source.read("index.json"), content_type="application/vnd.oci.image.index.v1+json")
    except FileNotFoundError:
        raise ArchiveError("no index.json: not an OCI image layout") from None
    if not isinstance(top, Index):
        raise ArchiveError("index.json is not an image index")
    if tags and len(top.manifests) != 1:
        raise ArchiveError(f"--tag needs an archive with one image, this one has {len(top.manifests)}")
    records = []
    for entry in top.manifests:
        named = _name_of(entry)
        blobs = []
        digest, _ = _copy_blob(store, source, f"blobs/sha256/{entry.digest.split(':', 1)[1]}", digest=entry.digest)
        blobs.append(digest)
        parsed = parse(store.read_blob(digest), content_type=entry.media_type)
        manifest_digest = digest
        if isinstance(parsed, Index):
            chosen = select_platform(parsed)
            manifest_digest, _ = _copy_blob(store, source, f"blobs/sha256/{chosen.digest.split(':', 1)[1]}",
                                            digest=chosen.digest)
            blobs.append(manifest_digest)
            parsed = parse(store.read_blob(manifest_digest), content_type=chosen.media_type)
            if not isinstance(parsed, Manifest):
                raise ArchiveError("an index inside an index is not supported")
        for desc in (parsed.config, *parsed.layers):
            _copy_blob(store, source, f"blobs/sha256/{desc.digest.split(':', 1)[1]}", digest=desc.digest)
            blobs.append(desc.digest)
        records.append(_finish(store, manifest=parsed, manifest_digest=manifest_digest, top_digest=digest,
                               blobs=blobs, config_bytes=store.read_blob(parsed.config.digest), tags=tags,
                               named=named))
    return records


def _import_docker(store: ImageStore, source: _Source, tags: list[str]) -> list[ImageRecord]:
    entries: Any = json.loads(source.read("manifest.json"))
    if not isinstance(entries, list):
        raise ArchiveError("manifest.json is not a list")
    if tags and len(entries) != 1:
        raise ArchiveError(f"--tag needs an archive with one image, this one has {len(entries)}")
    records = []
    for entry in entries:
        config_digest, config_size = _copy_blob(store, source, entry["Config"], digest=None)
        layers: list[dict[str, Any]] = []
        for rel in entry.get("Layers") or []:
            digest, size = _copy_blob(store, source, rel, digest=None)
            layers.append({"mediaType": DOCKER_LAYER_TAR, "digest": digest, "size": size})
        manifest_json = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                         "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest, "size": config_size},
                         "layers": layers}
        body = json.dumps(manifest_json, separators=(",", ":")).encode()
        manifest_digest = sha256_digest(body)
        store.write_blob(digest=manifest_digest, data=body)
        manifest = parse(body)
        assert isinstance(manifest, Manifest)
        repo_tags = []
        for tag in entry.get("RepoTags") or []:
            try:
                repo_tags.append(str(parse_reference(tag)))
            except InvalidReference:
                continue
        records.append(_finish(store, manifest=manifest, manifest_digest=manifest_digest, top_digest=manifest_digest,
                               blobs=[manifest_digest, config_digest, *(str(d["digest"]) for d in layers)],
                               config_bytes=store.read_blob(config_digest), tags=[*repo_tags, *tags], named=""))
    return records


def import_archive(*, store: ImageStore, path: Path, tags: list[str]) -> list[ImageRecord]:
    """Import every image of the archive at `path`; `tags` (normalized here) are added to its one image."""
    try:
        normalized = [str(parse_reference(t)) for t in tags]
    except InvalidReference as e:
        raise ArchiveError(str(e)) from None
    source = _Source(path)
    try:
        if source.exists("manifest.json"):
            return _import_docker(store, source, normalized)
        if source.exists("index.json"):
            return _import_oci(store, source, normalized)
        raise ArchiveError(f"{path}: neither an OCI image layout (index.json) nor a docker-save archive "
                           "(manifest.json)")
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ArchiveError(f"{path}: malformed archive: {e!r}") from None
    finally:
        source.close()
