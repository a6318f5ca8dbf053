"""OCI and Docker manifests: media types, parsing, platform choice from an index, digests.

An image is a manifest naming a config blob and layer blobs; an index (Docker: manifest list) names one
manifest per platform. Digests are always `sha256:<hex>` of the exact bytes; other algorithms are refused.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from dataclasses import dataclass
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))


class ManifestError(ValueError):
    """A manifest or index that cannot be used (bad JSON, unknown type, no matching platform)."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_hex(digest: str) -> str:
    """The hex part of a sha256 digest; refuses anything else, so a digest is always safe as a file name."""
    algorithm, _, hex_ = digest.partition(":")
    if algorithm != "sha256" or not _SHA256_HEX.fullmatch(hex_):
        raise ManifestError(f"unsupported digest {digest!r} (only sha256 is supported)")
    return hex_


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None

    @staticmethod
    def from_json(obj: Any) -> Descriptor:
        if not isinstance(obj, dict) or not isinstance(obj.get("digest"), str):
            raise ManifestError("descriptor without a digest")
        digest_hex(obj["digest"])
        size = obj.get("size", 0)
        if not isinstance(size, int) or size < 0:
            raise ManifestError(f"descriptor {obj['digest']} has a bad size")
        return Descriptor(media_type=str(obj.get("mediaType", "")), digest=obj["digest"], size=size,
                          platform=obj.get("platform"), annotations=obj.get("annotations"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            out["platform"] = self.platform
        if self.annotations:
            out["annotations"] = self.annotations
        return out


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


def parse(data: bytes, *, content_type: str = "") -> Manifest | Index:
    """Parse a manifest or an index; the type comes from the body's mediaType, else the Content-Type."""
    try:
        obj = json.loads(data)
    except ValueError as e:
        raise ManifestError(f"manifest is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ManifestError("manifest is not a JSON object")
    media_type = obj.get("mediaType") or content_type.split(";")[0].strip()
    if not media_type:
        # OCI allows an omitted mediaType: tell by the shape.
        media_type = OCI_INDEX if "manifests" in obj else OCI_MANIFEST
    if media_type in INDEX_TYPES:
        return Index(media_type=media_type,
                     manifests=tuple(Descriptor.from_json(d) for d in obj.get("manifests") or ()))
    if media_type in MANIFEST_TYPES:
        if obj.get("schemaVersion") != 2:
            raise ManifestError(f"unsupported manifest schemaVersion {obj.get('schemaVersion')!r}")
        return Manifest(media_type=media_type, config=Descriptor.from_json(obj.get("config")),
                        layers=tuple(Descriptor.from_json(d) for d in obj.get("layers") or ()))
    raise ManifestError(f"unsupported manifest media type {media_type!r} (Docker schema 1 is not supported)")


def machine_platform() -> tuple[str, str, str]:
    """(os, architecture, variant) of this machine in OCI terms."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
            "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
            "riscv64": "riscv64"}.get(machine, machine)
    variant = {"aarch64": "v8", "arm64": "v8", "armv7l": "v7", "armv6l": "v6"}.get(machine, "")
    return "linux", arch, variant


def select_platform(index: Index, *, os: str = "", architecture: str = "", variant: str = "") -> Descriptor:
    """The index entry for the platform (this machine's by default).

    Entries with another OS or architecture are skipped; attestation manifests (BuildKit puts them under
    `unknown/unknown`) thereby too. An exact variant beats a missing one; an entry without any platform is
    taken only when nothing else matches (a single-platform index written by simple tools).
    """
    m_os, m_arch, m_variant = machine_platform()
    os, architecture, variant = os or m_os, architecture or m_arch, variant or m_variant
    best: tuple[int, Descriptor] | None = None
    for desc in index.manifests:
        if desc.media_type and desc.media_type not in MANIFEST_TYPES | INDEX_TYPES:
            continue
        plat = desc.platform
        if plat is None:
            score = 1
        else:
            if plat.get("os") != os or plat.get("architecture") != architecture:
                continue
            entry_variant = plat.get("variant", "")
            if entry_variant == variant:
                score = 3
            elif not entry_variant or not variant:
                score = 2
            else:
                continue
        if best is None or score > best[0]:
            best = (score, desc)
    if best is None:
        have = sorted({f"{(d.platform or {}).get('os')}/{(d.platform or {}).get('architecture')}"
                       for d in index.manifests})
        raise ManifestError(f"no match for platform {os}/{architecture} in manifest list (has {', '.join(have)})")
    return best[1]
