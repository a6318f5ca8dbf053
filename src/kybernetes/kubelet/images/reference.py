"""Image references, parsed and normalized the way Docker and containerd do it.

`busybox` is `docker.io/library/busybox:latest`; `myreg:5000/team/app:v1` keeps its registry; a reference
may carry a digest (`name@sha256:<hex>`, with or without a tag). The first path component is a registry
host only when it contains a `.` or a `:` or is `localhost` (Docker's rule); otherwise the image lives on
Docker Hub, where single-component names get the `library/` prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# Where Docker Hub's distribution API really is.
DOCKER_HUB_API_HOST = "registry-1.docker.io"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class InvalidReference(ValueError):
    """The text is not an image reference (Kubernetes shows this as InvalidImageName)."""


@dataclass(frozen=True)
class Reference:
    """A normalized image reference: `domain/path[:tag][@digest]`."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The repository with its registry, e.g. docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    @property
    def api_ref(self) -> str:
        """What goes after /manifests/ in the distribution API: the digest if there is one, else the tag."""
        return self.digest or self.tag

    def with_digest(self, digest: str) -> Reference:
        return Reference(domain=self.domain, path=self.path, digest=digest)

    def familiar(self) -> str:
        """The short form Docker prints (busybox:latest, myreg:5000/app:v1)."""
        path = self.path
        if self.domain == DOCKER_HUB:
            if path.startswith("library/") and path.count("/") == 1:
                path = path[len("library/"):]
            text = path
        else:
            text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> Reference:
    """Parse and normalize `text`; a reference without tag or digest gets `:latest`.

    Raises `InvalidReference` for anything Docker would refuse (upper case in the path, empty components,
    a bad tag or digest, a bare 64-hex id).
    """
    original = text
    if not text or text != text.strip():
        raise InvalidReference(f"invalid reference format: {original!r}")
    digest = ""
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise InvalidReference(f"invalid reference format: bad digest in {original!r}")
        algorithm, hex_ = digest.split(":", 1)
        if algorithm == "sha256" and not _SHA256_HEX.fullmatch(hex_):
            raise InvalidReference(f"invalid reference format: bad sha256 digest in {original!r}")
    tag = ""
    # A ':' after the last '/' separates the tag (a ':' before it is a registry port).
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise InvalidReference(f"invalid reference format: bad tag in {original!r}")
    if not text:
        raise InvalidReference(f"invalid reference format: {original!r}")
    if _SHA256_HEX.fullmatch(text) and not tag and not digest:
        raise InvalidReference(f"invalid repository name (64 hex characters are an image id): {original!r}")
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
        if not _DOMAIN.fullmatch(domain):
            raise InvalidReference(f"invalid reference format: bad registry {domain!r} in {original!r}")
    else:
        domain, path = DOCKER_HUB, text
    if domain in DOCKER_HUB_ALIASES:
        domain = DOCKER_HUB
    if any(c.isupper() for c in path):
        raise InvalidReference(f"invalid reference format: repository name must be lowercase: {original!r}")
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise InvalidReference(f"invalid reference format: {original!r}")
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if len(f"{domain}/{path}") > 255:
        raise InvalidReference(f"repository name must not be more than 255 characters: {original!r}")
    if not tag and not digest:
        tag = "latest"
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def normalize(text: str) -> str:
    """The normalized string form of a reference (`busybox` → docker.io/library/busybox:latest)."""
    return str(parse_reference(text))
