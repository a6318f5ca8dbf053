"""A client of the OCI distribution API (what `docker pull` speaks), over aiohttp.

Endpoints for a reference: the node's mirrors for its registry, in order, then the registry itself
(Docker Hub's API is at registry-1.docker.io). HTTPS unless the host is loopback or listed as insecure in
the node's configuration, as Docker and containerd do.

Auth: a request answered 401 is retried once after meeting the `WWW-Authenticate` challenge: `Basic` with
the credentials, or `Bearer realm=...,service=...,scope=...` by asking the realm for a token (anonymous,
with basic credentials, or with an identity token as OAuth2 refresh token). Tokens are cached per
endpoint and scope until they expire. Credentials go only to the registry they are for (a mirror gets
the node's credentials for the mirror host, never the pod's for the upstream).

Every body is checked: manifests fetched by digest and all blobs against their sha256 and size.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import aiohttp

from kybernetes.kubelet.images.auth import basic_header, parse_www_authenticate
from kybernetes.kubelet.images.manifest import ACCEPT, Descriptor, sha256_digest
from kybernetes.kubelet.images.reference import DOCKER_HUB, DOCKER_HUB_API_HOST, Reference
from kybernetes.kubelet.runtime.protocol import RegistryAuth

T = TypeVar("T")
MAX_MANIFEST_BYTES = 4 << 20
_WRITE_BATCH = 4 << 20


@dataclass(frozen=True)
class ImageServiceConfig:
    """A node's registry settings.

    `mirrors`: registry host (`docker.io`, `myreg:5000`) → mirror URLs tried in order before it
    (`http://127.0.0.1:5000`; a URL without scheme gets http for loopback/insecure hosts, else https).
    `insecure`: `host[:port]` registries spoken to over plain HTTP. `credentials`: node-wide credentials
    per `host[:port]` (used for mirrors, and for registries when a pull brings none).
    """

    mirrors: dict[str, list[str]] = field(default_factory=dict)
    insecure: list[str] = field(default_factory=list)
    credentials: dict[str, RegistryAuth] = field(default_factory=dict)
    max_concurrent_downloads: int = 3
    connect_timeout: float = 5.0
    read_timeout: float = 60.0


class RegistryError(Exception):
    """A registry's refusal or an unreachable registry; `kind` is not_found, unauthorized, unreachable or error."""

    def __init__(self, message: str, *, kind: str = "error", status: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def is_loopback(host: str) -> bool:
    name = host
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    base: str  # scheme://host[:port][/prefix], no trailing slash
    host: str  # host[:port], for credentials and messages
    mirror: bool


def endpoints_for(ref: Reference, config: ImageServiceConfig) -> list[Endpoint]:
    def scheme_for(host: str) -> str:
        return "http" if is_loopback(host) or host in config.insecure else "https"

    out = []
    for url in config.mirrors.get(ref.domain, []):
        if "://" not in url:
            url = f"{scheme_for(url.split('/', 1)[0])}://{url}"
        base = url.rstrip("/")
        if base.endswith("/v2"):
            base = base[:-3]
        out.append(Endpoint(base=base, host=urlsplit(base).netloc, mirror=True))
    host = DOCKER_HUB_API_HOST if ref.domain == DOCKER_HUB else ref.domain
    out.append(Endpoint(base=f"{scheme_for(ref.domain)}://{host}", host=ref.domain, mirror=False))
    return out


def _error_text(status: int, body: bytes) -> str:
    """The registry's own words: `code: message` of its error list, else the HTTP status."""
    try:
        obj = json.loads(body)
        errors = obj.get("errors") if isinstance(obj, dict) else None
        if errors:
            return "; ".join(f"{str(e.get('code', '')).lower()}: {e.get('message', '')}".strip(": ")
                             for e in errors if isinstance(e, dict))
        if isinstance(obj, dict) and obj.get("details"):
            return str(obj["details"])
    except ValueError:
        pass
    text = body[:200].decode("utf-8", "replace").strip()
    return f"HTTP {status}" + (f": {text}" if text else "")


class RegistryClient:
    """Distribution API calls; one per image service, sharing its aiohttp session and token cache."""

    def __init__(self, *, session: aiohttp.ClientSession, config: ImageServiceConfig) -> None:
        self.session = session
        self.config = config
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    def _auth_for(self, endpoint: Endpoint, auth: RegistryAuth | None) -> RegistryAuth | None:
        if endpoint.mirror:
            return self.config.credentials.get(endpoint.host)
        return auth or self.config.credentials.get(endpoint.host)

    async def _get(self, endpoint: Endpoint, path: str, *, repo: str, auth: RegistryAuth | None,
                   headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        """GET `path`, meeting one auth challenge; the caller reads and releases the response."""
        creds = self._auth_for(endpoint, auth)
        url = endpoint.base + path
        scope = f"repository:{repo}:pull"
        headers = dict(headers or {})
        cached = self._tokens.get((endpoint.base, scope))
        if cached and cached[1] > time.monotonic():
            headers["Authorization"] = cached[0]
        elif creds and creds.registry_token:
            headers["Authorization"] = f"Bearer {creds.registry_token}"
        for attempt in range(2):
            try:
                resp = await self.session.get(url, headers=headers)
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                raise RegistryError(f"{endpoint.base}: {type(e).__name__}: {e}".rstrip(": "),
                                    kind="unreachable") from None
            if resp.status != 401 or attempt == 1:
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            body = await resp.read()
            resp.release()
            scheme, params = parse_www_authenticate(challenge)
            if scheme == "bearer" and params.get("realm"):
                token = await self._token(endpoint=endpoint, params=params, scope=params.get("scope") or scope,
                                          creds=creds)
                headers["Authorization"] = token
                self._tokens[(endpoint.base, scope)] = (token, time.monotonic() + 50)
            elif scheme == "basic" and creds and creds.username:
                headers["Authorization"] = basic_header(creds)
            else:
                raise RegistryError(_error_text(401, body), kind="unauthorized", status=401)
        raise AssertionError("unreachable")

    async def _token(self, *, endpoint: Endpoint, params: dict[str, str], scope: str,
                     creds: RegistryAuth | None) -> str:
        realm = params["realm"]
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        headers: dict[str, str] = {}
        try:
            if creds and creds.identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                        "client_id": "kybernetes", **query}
                resp = await self.session.post(realm, data=form)
            else:
                if creds and creds.username:
                    headers["Authorization"] = basic_header(creds)
                query["client_id"] = "kybernetes"
                resp = await self.session.get(f"{realm}?{urlencode(query)}", headers=headers)
            async with resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RegistryError(f"token from {realm}: {_error_text(resp.status, body)}",
                                        kind="unauthorized", status=resp.status)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise RegistryError(f"token from {realm}: {type(e).__name__}: {e}", kind="unauthorized") from None
        try:
            obj: Any = json.loads(body)
            token = obj.get("token") or obj.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token from {realm}: no token in the answer", kind="unauthorized")
        return f"Bearer {token}"

    async def fetch_manifest(self, endpoint: Endpoint, ref: Reference, *, reference: str,
                             auth: RegistryAuth | None) -> tuple[bytes, str, str]:
        """(body, content type, digest) of `/v2/<repo>/manifests/<reference>`; digest references are verified."""
        resp = await self._get(endpoint, f"/v2/{ref.path}/manifests/{reference}", repo=ref.path, auth=auth,
                               headers={"Accept": ACCEPT})
        async with resp:
            body = await resp.content.read(MAX_MANIFEST_BYTES + 1)
            if resp.status == 404:
                raise RegistryError(f"{ref.name}:{reference}: not found: {_error_text(404, body)}"
                                    if not reference.startswith("sha256:") else
                                    f"{ref.name}@{reference}: not found: {_error_text(404, body)}",
                                    kind="not_found", status=404)
            if resp.status in (401, 403):
                raise RegistryError(_error_text(resp.status, body), kind="unauthorized", status=resp.status)
            if resp.status != 200:
                raise RegistryError(f"{endpoint.base}: {_error_text(resp.status, body)}", status=resp.status)
            if len(body) > MAX_MANIFEST_BYTES:
                raise RegistryError(f"manifest {reference} is larger than {MAX_MANIFEST_BYTES} bytes")
            digest = sha256_digest(body)
            if reference.startswith("sha256:") and digest != reference:
                raise RegistryError(f"manifest digest mismatch: asked for {reference}, got {digest}")
            return body, resp.headers.get("Content-Type", ""), digest

    async def fetch_blob(self, endpoint: Endpoint, ref: Reference, *, desc: Descriptor,
                         auth: RegistryAuth | None, dest: Path) -> None:
        """Download blob `desc` into the new file `dest`, checking its size and sha256."""
        resp = await self._get(endpoint, f"/v2/{ref.path}/blobs/{desc.digest}", repo=ref.path, auth=auth)
        async with resp:
            if resp.status != 200:
                body = await resp.content.read(4096)
                kind = "not_found" if resp.status == 404 else "error"
                raise RegistryError(f"blob {desc.digest}: {_error_text(resp.status, body)}", kind=kind,
                                    status=resp.status)
            digest = hashlib.sha256()
            size = 0
            buffer = bytearray()
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                try:
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        size += len(chunk)
                        if desc.size and size > desc.size:
                            raise RegistryError(f"blob {desc.digest}: larger than its descriptor's {desc.size}")
                        digest.update(chunk)
                        buffer += chunk
                        if len(buffer) >= _WRITE_BATCH:
                            data, buffer = bytes(buffer), bytearray()
                            await finish_in_thread(_write_all, fd, data)
                except (TimeoutError, aiohttp.ClientError, OSError) as e:
                    raise RegistryError(f"blob {desc.digest}: {type(e).__name__}: {e}",
                                        kind="unreachable") from None
                if buffer:
                    await finish_in_thread(_write_all, fd, bytes(buffer))
            finally:
                os.close(fd)
        if "sha256:" + digest.hexdigest() != desc.digest:
            raise RegistryError(f"blob {desc.digest}: digest mismatch (got sha256:{digest.hexdigest()})")
        if desc.size and size != desc.size:
            raise RegistryError(f"blob {desc.digest}: size {size}, descriptor says {desc.size}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


async def finish_in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` in a thread; if cancelled meanwhile, wait for the thread before re-raising, so a failed
    pull leaves no unpack running behind it (threads cannot be interrupted)."""
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise
