"""`LocalImageService`: the kubelet's image service (pull, status, list, remove, usage, GC).

A pull resolves the reference on the node's endpoints in order (mirrors, then the registry itself): the
first endpoint that has the manifest serves the whole image. From an index it takes this machine's
platform. Blobs already in the store and layers already unpacked are not fetched again; missing layers
download concurrently (bounded) and each unpacks in a thread as soon as it has arrived. Pulls of one
reference are serialized, so a second concurrent pull of the same image waits and then finds everything
present; two images sharing a layer fetch it once (a lock per layer).

Failures are `ImagePullError` with the registry's reason, in containerd's wording:
`failed to resolve reference "docker.io/library/nope:latest": docker.io/library/nope:latest: not found: ...`.
A reference that cannot be parsed is `InvalidImageName`.

GC (`garbage_collect`) frees the least recently used images not in use when the store's usage is over
`high_percent` of its filesystem, down to `low_percent`, removing blobs and layers no other image has.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from kybernetes.kubelet.images.manifest import (
    Index,
    Manifest,
    ManifestError,
    parse,
    select_platform,
    sha256_digest,
)
from kybernetes.kubelet.images.reference import InvalidReference, Reference, parse_reference
from kybernetes.kubelet.images.registry import (
    Endpoint,
    ImageServiceConfig,
    RegistryClient,
    RegistryError,
    endpoints_for,
    finish_in_thread,
)
from kybernetes.kubelet.images.store import ImageRecord, ImageStore
from kybernetes.kubelet.images.unpack import LayerError
from kybernetes.kubelet.runtime.protocol import ImagePullError, ImageRef, RegistryAuth

log = logging.getLogger("kybernetes.kubelet.images")


class InvalidImageName(ImagePullError):
    reason = "InvalidImageName"


class LocalImageService:
    """Implements `ImageService` on a store under `data_dir/images`. Close with `aclose()`."""

    def __init__(self, *, data_dir: Path, config: ImageServiceConfig | None = None) -> None:
        self.config = config or ImageServiceConfig()
        self.store = ImageStore(root=Path(data_dir) / "images")
        self.store.clean_tmp()
        self._session: aiohttp.ClientSession | None = None
        self._client: RegistryClient | None = None
        self._ref_locks: dict[str, asyncio.Lock] = {}
        self._ref_users: Counter[str] = Counter()
        self._layer_locks: dict[str, asyncio.Lock] = {}
        self._downloads = asyncio.Semaphore(self.config.max_concurrent_downloads)
        self._mutation = asyncio.Lock()
        self._pinned: Counter[str] = Counter()  # blobs and layers a running pull relies on

    async def aclose(self) -> None:
        self.store.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._client = None

    async def __aenter__(self) -> LocalImageService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _registry(self) -> RegistryClient:
        if self._client is None:
            timeout = aiohttp.ClientTimeout(total=None, connect=self.config.connect_timeout,
                                            sock_connect=self.config.connect_timeout,
                                            sock_read=self.config.read_timeout)
            self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)
            self._client = RegistryClient(session=self._session, config=self.config)
        return self._client

    @contextlib.contextmanager
    def _pin(self, keys: Iterable[str]) -> Any:
        keys = list(keys)
        self._pinned.update(keys)
        try:
            yield
        finally:
            self._pinned.subtract(keys)
            for key in keys:
                if self._pinned[key] <= 0:
                    del self._pinned[key]

    # ---- pull --------------------------------------------------------------------------------------

    async def pull_image(self, *, image: str, auth: RegistryAuth | None = None) -> ImageRef:
        try:
            ref = parse_reference(image)
        except InvalidReference as e:
            raise InvalidImageName(str(e)) from None
        key = str(ref)
        lock = self._ref_locks.setdefault(key, asyncio.Lock())
        self._ref_users[key] += 1
        try:
            async with lock:
                return await self._pull(ref, auth)
        finally:
            self._ref_users[key] -= 1
            if self._ref_users[key] <= 0:
                del self._ref_users[key]
                self._ref_locks.pop(key, None)

    async def _pull(self, ref: Reference, auth: RegistryAuth | None) -> ImageRef:
        client = self._registry()
        failures: list[RegistryError] = []
        for endpoint in endpoints_for(ref, self.config):
            try:
                body, content_type, digest = await client.fetch_manifest(endpoint, ref, reference=ref.api_ref,
                                                                         auth=auth)
            except RegistryError as e:
                log.debug("resolving %s on %s: %s", ref, endpoint.base, e)
                failures.append(e)
                continue
            try:
                return await self._fetch_image(endpoint, ref, auth=auth, top_body=body, top_type=content_type,
                                               top_digest=digest)
            except (RegistryError, ManifestError, LayerError, OSError) as e:
                raise ImagePullError(f'failed to pull and unpack image "{ref}": {e}') from None
        raise ImagePullError(f'failed to resolve reference "{ref}": {_best_reason(failures)}')

    async def _fetch_image(self, endpoint: Endpoint, ref: Reference, *, auth: RegistryAuth | None,
                           top_body: bytes, top_type: str, top_digest: str) -> ImageRef:
        client = self._registry()
        manifests = {top_digest: top_body}
        parsed = parse(top_body, content_type=top_type)
        if isinstance(parsed, Index):
            chosen = select_platform(parsed)
            body, content_type, digest = await client.fetch_manifest(endpoint, ref, reference=chosen.digest,
                                                                     auth=auth)
            manifests[digest] = body
            parsed = parse(body, content_type=content_type or chosen.media_type)
            if not isinstance(parsed, Manifest):
                raise ManifestError("an index inside an index is not supported")
        else:
            digest = top_digest
        manifest: Manifest = parsed
        store = self.store
        with self._pin([*manifests, manifest.config.digest, *(d.digest for d in manifest.layers)]):
            if store.has_blob(manifest.config.digest):
                config_bytes = await asyncio.to_thread(store.read_blob, manifest.config.digest)
            else:
                config_bytes = await self._download(endpoint, ref, manifest.config, auth=auth)
            if sha256_digest(config_bytes) != manifest.config.digest:
                raise ManifestError(f"config {manifest.config.digest}: digest mismatch")
            config = json.loads(config_bytes)
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            if len(diff_ids) != len(manifest.layers):
                raise ManifestError(f"config has {len(diff_ids)} diff_ids for {len(manifest.layers)} layers")
            with self._pin(diff_ids):
                sizes: dict[str, int] = {}
                try:
                    async with asyncio.TaskGroup() as tg:
                        for desc, diff_id in zip(manifest.layers, diff_ids, strict=True):
                            tg.create_task(self._ensure_layer(endpoint, ref, desc=desc, diff_id=diff_id,
                                                              auth=auth, sizes=sizes))
                except* (RegistryError, ManifestError, LayerError, OSError) as group:
                    raise _first(group) from None
                for manifest_digest, manifest_body in manifests.items():
                    await asyncio.to_thread(store.write_blob, digest=manifest_digest, data=manifest_body)
                record = await asyncio.to_thread(
                    store.add_image, manifest_digest=digest, manifest_media_type=manifest.media_type,
                    config_digest=manifest.config.digest, config=config, diff_ids=diff_ids,
                    blobs=[*manifests, manifest.config.digest, *(d.digest for d in manifest.layers)],
                    size=manifest.config.size + sum(d.size for d in manifest.layers),
                    tags=[str(ref)] if ref.tag and not ref.digest else [],
                    repo_digests=[f"{ref.name}@{top_digest}"], layer_sizes=sizes)
        return store.to_ref(record)

    async def _download(self, endpoint: Endpoint, ref: Reference, desc: Any, *, auth: RegistryAuth | None) -> bytes:
        path = await self._download_blob(endpoint, ref, desc, auth=auth)
        return await asyncio.to_thread(path.read_bytes)

    async def _download_blob(self, endpoint: Endpoint, ref: Reference, desc: Any, *,
                             auth: RegistryAuth | None) -> Path:
        store = self.store
        if store.has_blob(desc.digest):
            return store.blob_path(desc.digest)
        fd, tmp = store.new_tmp_file()
        os.close(fd)
        try:
            async with self._downloads:
                await self._registry().fetch_blob(endpoint, ref, desc=desc, auth=auth, dest=tmp)
            return store.commit_blob(tmp=tmp, digest=desc.digest)
        finally:
            tmp.unlink(missing_ok=True)

    async def _ensure_layer(self, endpoint: Endpoint, ref: Reference, *, desc: Any, diff_id: str,
                            auth: RegistryAuth | None, sizes: dict[str, int]) -> None:
        store = self.store
        if store.has_layer(diff_id):
            return
        lock = self._layer_locks.setdefault(diff_id, asyncio.Lock())
        async with lock:
            if store.has_layer(diff_id):
                return
            await self._download_blob(endpoint, ref, desc, auth=auth)
            sizes[diff_id] = await finish_in_thread(store.unpack, blob_digest=desc.digest, diff_id=diff_id)

    # ---- queries -----------------------------------------------------------------------------------

    def _find(self, image: str) -> ImageRecord | None:
        data = self.store.load()
        if image.startswith("sha256:"):
            record = data.images.get(image)
            if record is not None:
                return record
        try:
            ref = parse_reference(image)
        except InvalidReference:
            return None
        if ref.digest:
            wanted = f"{ref.name}@{ref.digest}"
            for record in data.images.values():
                if wanted in record.repo_digests:
                    return record
            return None
        image_id = data.tags.get(str(ref))
        return data.images.get(image_id) if image_id else None

    async def image_status(self, *, image: str) -> ImageRef | None:
        record = self._find(image)
        if record is None or not all(self.store.has_layer(d) for d in record.layers):
            return None
        return self.store.to_ref(record)

    async def list_images(self) -> list[ImageRef]:
        data = self.store.load()
        return [self.store.to_ref(r) for r in sorted(data.images.values(), key=lambda r: r.created_at)]

    async def mark_used(self, *, image: str) -> None:
        """Note that a container was started from `image` (GC removes the least recently used first)."""
        record = self._find(image)
        if record is None:
            return
        image_id = record.id

        def touch() -> None:
            with self.store.update() as data:
                if image_id in data.images:
                    data.images[image_id].last_used = time.time()

        await asyncio.to_thread(touch)

    async def fs_usage(self) -> tuple[int, int]:
        return await asyncio.to_thread(self.store.usage)

    # ---- removal and GC ----------------------------------------------------------------------------

    async def remove_image(self, *, image: str) -> None:
        """Remove the image (all its tags) and the blobs and layers no other image has. Absent: no error."""
        async with self._mutation:
            record = self._find(image)
            if record is not None:
                await asyncio.to_thread(self._remove_records, [record.id])

    def _remove_records(self, image_ids: Sequence[str]) -> None:
        store = self.store
        with store.update() as data:
            doomed = [data.images.pop(i) for i in image_ids if i in data.images]
            for name in [t for t, i in data.tags.items() if i in image_ids]:
                del data.tags[name]
            kept_blobs = {b for r in data.images.values() for b in r.blobs}
            kept_layers = {d for r in data.images.values() for d in r.layers}
            blobs = {b for r in doomed for b in r.blobs} - kept_blobs - set(self._pinned)
            layers = {d for r in doomed for d in r.layers} - kept_layers - set(self._pinned)
            for diff_id in layers:
                data.layer_sizes.pop(diff_id, None)
        for digest in blobs:
            store.remove_blob(digest)
        for diff_id in layers:
            store.remove_layer(diff_id)

    async def garbage_collect(self, *, high_percent: float, low_percent: float, in_use: set[str],
                              min_age_seconds: float = 0.0) -> list[str]:
        """Free images if usage ≥ `high_percent` of the filesystem, down to `low_percent`; returns removed ids.

        `in_use` holds image ids, tags or digest references of images that containers use: never removed.
        Images are removed least recently used first; images younger than `min_age_seconds` are kept.
        """
        async with self._mutation:
            used, capacity = await self.fs_usage()
            if capacity <= 0 or used * 100 < high_percent * capacity:
                return []
            target = used - int(low_percent * capacity / 100)
            protected = {r.id for r in (self._find(i) for i in in_use) if r is not None}
            now = time.time()
            candidates = sorted((r for r in self.store.load().images.values()
                                 if r.id not in protected and now - r.created_at >= min_age_seconds),
                                key=lambda r: r.last_used)
            removed: list[str] = []
            freed = 0
            for record in candidates:
                if freed >= target:
                    break
                before = (await self.fs_usage())[0]
                await asyncio.to_thread(self._remove_records, [record.id])
                freed += before - (await self.fs_usage())[0]
                removed.append(record.id)
            if removed:
                log.info("image GC removed %d images, freed %d bytes", len(removed), freed)
            return removed

    # ---- import ------------------------------------------------------------------------------------

    async def import_archive(self, *, path: Path, tags: Sequence[str] = ()) -> list[ImageRef]:
        """Load an OCI layout (directory or tar) or a docker-save tar (see `archive`)."""
        from kybernetes.kubelet.images.archive import import_archive

        async with self._mutation:
            records = await asyncio.to_thread(import_archive, store=self.store, path=Path(path), tags=list(tags))
        return [self.store.to_ref(r) for r in records]


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    """The first failure of a layer task group (the others are usually the same cause)."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _best_reason(failures: list[RegistryError]) -> str:
    """The most telling failure: a registry's own answer (not found, denied) over an unreachable one."""
    for kind in ("not_found", "unauthorized", "error", "unreachable"):
        for failure in failures:
            if failure.kind == kind:
                if kind == "unauthorized":
                    return f"pull access denied, repository does not exist or may require authorization: {failure}"
                return str(failure)
    return "no registry endpoint"
