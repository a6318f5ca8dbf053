"""The HTTP transport of the client library: `Client`, one aiohttp session per client, keep-alive.

`Client` is an async context manager; everything else in `kybernetes.client` talks to the cluster through it:

* `client.resource(Pod)` gives a `TypedResource[Pod]` (objects decoded by msgspec straight into the Structs),
  `client.dynamic(group=..., version=..., plural=...)` the same verbs on plain dicts (see `resource.py`);
* `client.request(method, path, ...)` is the raw call: it returns a `Response` for 2xx and raises the
  `StatusError` subclass the server's `Status` body names (`NotFoundError`, `ConflictError`, ...) otherwise;
* `client.stream_lines(path, ...)` yields the newline-delimited frames of a watch.

Retries, bounded by `ClientConfig.max_retries`: a 429, or a 5xx carrying `Retry-After`, is retried after the
delay the server asked for (capped at `MAX_RETRY_AFTER`); a connection that could not be opened is retried
with exponential backoff for every verb; a connection dropped mid-request only for verbs that are safe to
repeat (GET, HEAD, PUT and DELETE, whose preconditions make a repeat harmless). A connection failure that
outlives the retries surfaces as `APIConnectionError`. An optional token bucket (`ClientConfig.qps`,
`burst`) spaces requests on the client side.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import msgspec
from multidict import CIMultiDictProxy

from kybernetes.client.clock import REAL_CLOCK, Clock
from kybernetes.client.config import ClientConfig
from kybernetes.client.ratelimit import Backoff, TokenBucket
from kybernetes.machinery.errors import StatusError

if TYPE_CHECKING:
    from kybernetes.api.models import Model
    from kybernetes.client.resource import DynamicResource, TypedResource

__all__ = ["MAX_RETRY_AFTER", "APIConnectionError", "Client", "Response"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound="Model")

MAX_RETRY_AFTER = 30.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Re-read a token file at most this often (rotated service account tokens).
_TOKEN_REFRESH = 60.0

Params = Mapping[str, str] | list[tuple[str, str]] | None


class APIConnectionError(ConnectionError):
    """The API server could not be reached (after retries), or the connection broke mid-response."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    @property
    def warnings(self) -> list[str]:
        return list(self.headers.getall("Warning", []))


def error_from_response(*, status: int, body: bytes, method: str = "", path: str = "") -> StatusError:
    """The typed error for a non-2xx answer: from its `Status` body when there is one, else from the code."""
    data: Any = None
    try:
        data = msgspec.json.decode(body) if body else None
    except msgspec.DecodeError:
        data = None
    if isinstance(data, dict) and data.get("kind") == "Status":
        return StatusError.from_status(data, code=status)
    text = body.decode("utf-8", "replace").strip()[:500]
    message = text or f"{method} {path}: HTTP {status}"
    return StatusError.from_status({"message": message, "code": status}, code=status)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        return 1.0  # an HTTP date; we do not parse it, a second is a fair guess


class Client:
    """One connection pool to one API server. Use as `async with Client(config) as client:`."""

    def __init__(self, config: ClientConfig, *, clock: Clock = REAL_CLOCK, backoff: Backoff | None = None) -> None:
        self.config = config
        self.clock = clock
        self.backoff = backoff or Backoff(initial=0.1, cap=5.0)
        self._session: aiohttp.ClientSession | None = None
        self._bucket = (
            TokenBucket(qps=config.qps, burst=config.burst, clock=clock) if config.qps else None
        )
        self._token = config.token
        self._token_checked = clock.now()
        self._token_mtime = self._mtime(config.token_file)
        self.requests = 0
        self.retries = 0

    @property
    def namespace(self) -> str:
        """The default namespace of the configuration (the kubeconfig context or the pod's)."""
        return self.config.namespace

    async def __aenter__(self) -> Client:
        self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def open(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            ssl=self.config.ssl_context if self.config.ssl_context is not None else False,
            limit=0,
            limit_per_host=self.config.max_connections,
            keepalive_timeout=60,
        )
        headers = {"User-Agent": self.config.agent(), "Accept": "application/json", **self.config.extra_headers}
        self._session = aiohttp.ClientSession(
            base_url=None, connector=connector, headers=headers, auto_decompress=True, raise_for_status=False
        )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Client is not open: use `async with Client(config) as client:`")
        return self._session

    # ---- typed and dynamic access -------------------------------------------------------------------

    def resource(self, model: type[M]) -> TypedResource[M]:
        from kybernetes.client.resource import TypedResource

        return TypedResource(client=self, model=model)

    def dynamic(self, *, group: str, version: str, plural: str, namespaced: bool | None = None) -> DynamicResource:
        from kybernetes.client.resource import DynamicResource

        return DynamicResource(client=self, group=group, version=version, plural=plural, namespaced=namespaced)

    # ---- raw requests ---------------------------------------------------------------------------------

    @staticmethod
    def _mtime(path: str | None) -> float:
        if not path:
            return 0.0
        try:
            return os.stat(path).st_mtime
        except OSError:
            return 0.0

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        token_file = self.config.token_file
        if token_file and self.clock.now() - self._token_checked >= _TOKEN_REFRESH:
            self._token_checked = self.clock.now()
            mtime = self._mtime(token_file)
            if mtime != self._token_mtime:
                self._token_mtime = mtime
                try:
                    with open(token_file) as f:
                        self._token = f.read().strip() or self._token
                except OSError as e:
                    log.warning("cannot re-read token file %s: %s", token_file, e)
        headers = dict(extra or {})
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def _throttle(self) -> None:
        if self._bucket is not None:
            await self._bucket.wait()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request HTTP timeout, not a cancel scope
    ) -> Response:
        """Send one request (with retries, see the module docstring); 2xx → `Response`, else `StatusError`."""
        method = method.upper()
        url = self.config.server + path
        extra = dict(headers or {})
        if body is not None:
            extra.setdefault("Content-Type", content_type)
        client_timeout = aiohttp.ClientTimeout(total=timeout or self.config.timeout)
        attempt = 0
        while True:
            await self._throttle()
            self.requests += 1
            try:
                async with self.session.request(
                    method, url, params=params, data=body, headers=self._headers(extra), timeout=client_timeout,
                    server_hostname=self.config.tls_server_name,
                ) as resp:
                    payload = await resp.read()
                    status, resp_headers = resp.status, resp.headers
            except (aiohttp.ClientError, TimeoutError) as e:
                if attempt < self.config.max_retries and self._may_retry(method, e):
                    await self._wait_retry(attempt, f"{method} {path}: {e!r}")
                    attempt += 1
                    continue
                raise APIConnectionError(f"{method} {path}: {e!r}") from e
            if status < 300:
                return Response(status, resp_headers, payload)
            delay = _retry_after(resp_headers)
            if (status == 429 or (status >= 500 and delay is not None)) and attempt < self.config.max_retries:
                self.retries += 1
                log.debug("%s %s: HTTP %d, retrying in %.2fs", method, path, status, delay or 1.0)
                await self.clock.sleep(1.0 if delay is None else delay)
                attempt += 1
                continue
            raise error_from_response(status=status, body=payload, method=method, path=path)

    def _may_retry(self, method: str, error: BaseException) -> bool:
        # Not connected at all: nothing reached the server, so any verb may be repeated.
        if isinstance(error, aiohttp.ClientConnectorError):
            return True
        return method in _IDEMPOTENT

    async def _wait_retry(self, attempt: int, what: str) -> None:
        self.retries += 1
        delay = self.backoff.delay(attempt)
        log.debug("%s; retrying in %.2fs", what, delay)
        await self.clock.sleep(delay)

    async def stream_lines(
        self, path: str, *, params: Params = None, read_timeout: float | None = None
    ) -> AsyncGenerator[bytes, None]:
        """GET `path` and yield each non-empty line of the (chunked) body, e.g. watch frames.

        Opening is retried like `request`; once the body flows, a broken connection raises
        `APIConnectionError` to the consumer, who decides whether to resume (informers do).
        Close the iterator when done early (`contextlib.aclosing`) to return the connection at once.
        """
        url = self.config.server + path
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.timeout, sock_read=read_timeout)
        attempt = 0
        while True:
            await self._throttle()
            self.requests += 1
            try:
                resp = await self.session.get(
                    url, params=params, headers=self._headers(None), timeout=timeout,
                    server_hostname=self.config.tls_server_name,
                )
            except (aiohttp.ClientError, TimeoutError) as e:
                if attempt < self.config.max_retries and self._may_retry("GET", e):
                    await self._wait_retry(attempt, f"GET {path}: {e!r}")
                    attempt += 1
                    continue
                raise APIConnectionError(f"GET {path}: {e!r}") from e
            if resp.status >= 300:
                try:
                    payload = await resp.read()
                finally:
                    resp.release()
                delay = _retry_after(resp.headers)
                if (resp.status == 429 or (resp.status >= 500 and delay is not None)) and (
                    attempt < self.config.max_retries
                ):
                    self.retries += 1
                    await self.clock.sleep(1.0 if delay is None else delay)
                    attempt += 1
                    continue
                raise error_from_response(status=resp.status, body=payload, method="GET", path=path)
            break
        finished = False
        try:
            pending = b""
            async for chunk in resp.content.iter_any():
                pending += chunk
                if b"\n" not in chunk:
                    continue
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield line
            if pending.strip():
                yield pending
            finished = True
        except (aiohttp.ClientError, TimeoutError) as e:
            raise APIConnectionError(f"GET {path}: stream broken: {e!r}") from e
        finally:
            # A body read to its end returns the connection to the pool; an abandoned one must be dropped.
            if finished:
                resp.release()
            else:
                resp.close()
