"""What every `kyb` verb shares: the connection flags, the kubeconfig, the namespace, and how errors end.

`add_connection_flags(parser)` adds kubectl's flags (`--kubeconfig`, `--context`, `-n/--namespace`, and
`-A/--all-namespaces` where the verb lists); `CliContext.from_args(args)` resolves them the way kubectl
does: an explicit `--kubeconfig`, else `$KUBECONFIG` (merged), else `~/.kube/config`; the namespace is `-n`,
else the context's, else `default`.

A verb's work is an `async def` taking the context; `run(args, verb)` opens the client, runs it, and turns
every failure into kubectl's one line on stderr with exit status 1:

    Error from server (NotFound): pods "x" not found
    error: the server doesn't have a resource type "foo"
    The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from kybernetes.client import APIConnectionError, Client, ClientConfig, KubeConfigError, load_kubeconfig
from kybernetes.client.kubeconfig import default_kubeconfig_paths
from kybernetes.machinery.errors import StatusError

__all__ = [
    "FIELD_MANAGER",
    "CliContext",
    "CliError",
    "add_connection_flags",
    "auth_headers",
    "error_line",
    "open_stream",
    "run",
    "stream_frames",
]

FIELD_MANAGER = "kyb"


class CliError(Exception):
    """A failure the user can act on; printed as `error: <message>`."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_connection_flags(parser: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    """kubectl's flags for reaching the cluster (and `-A` for verbs that list)."""
    group = parser.add_argument_group("cluster")
    group.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    group.add_argument("--context", default=None, help="the kubeconfig context to use")
    group.add_argument("-n", "--namespace", default=None, help="the namespace (default: the context's)")
    group.add_argument("--request-timeout", type=float, default=60.0, metavar="SECONDS",
                       help="seconds to wait for one request")
    if all_namespaces:
        group.add_argument("-A", "--all-namespaces", action="store_true",
                           help="list across all namespaces")


@dataclass
class CliContext:
    """The resolved connection of one invocation, and its client once `run` opened it."""

    config: ClientConfig
    namespace: str
    all_namespaces: bool = False
    # Whether the namespace came from `-n` (kubectl refuses objects whose own namespace differs).
    namespace_flag: bool = False
    _client: Client | None = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CliContext:
        paths = args.kubeconfig if getattr(args, "kubeconfig", None) else default_kubeconfig_paths()
        kubeconfig = load_kubeconfig(paths, context=getattr(args, "context", None))
        config = ClientConfig.from_kubeconfig(
            kubeconfig, component="kyb", timeout=float(getattr(args, "request_timeout", 60.0) or 60.0),
            max_retries=1,
        )
        flag = getattr(args, "namespace", None)
        return cls(
            config=config,
            namespace=flag or kubeconfig.namespace or "default",
            all_namespaces=bool(getattr(args, "all_namespaces", False)),
            namespace_flag=bool(flag),
        )

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the client is opened by cli.context.run")
        return self._client

    def list_namespace(self) -> str | None:
        """The namespace a list covers: None with `-A`."""
        return None if self.all_namespaces else self.namespace


def auth_headers(config: ClientConfig) -> dict[str, str]:
    """The bearer token header for requests made on the client's session directly (streams, WebSockets)."""
    return {"Authorization": f"Bearer {config.token}"} if config.token else {}


async def open_stream(
    client: Client, path: str, *, params: list[tuple[str, str]] | None = None, accept: str = "application/json"
) -> AsyncGenerator[bytes, None]:
    """GET `path` and yield the body's chunks as they arrive (logs: lines must keep their blank lines,
    which `Client.stream_lines` drops). A non-2xx answer raises its `StatusError`."""
    from kybernetes.client.rest import error_from_response

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=client.config.timeout)
    try:
        resp = await client.session.get(
            client.config.server + path, params=params, headers={**auth_headers(client.config), "Accept": accept}, timeout=timeout,
            server_hostname=client.config.tls_server_name,
        )
    except (aiohttp.ClientError, TimeoutError) as e:
        raise APIConnectionError(f"GET {path}: {e!r}") from e
    try:
        if resp.status >= 300:
            raise error_from_response(status=resp.status, body=await resp.read(), method="GET", path=path)
        async for chunk in resp.content.iter_any():
            yield chunk
    except aiohttp.ClientError as e:
        raise APIConnectionError(f"GET {path}: stream broken: {e!r}") from e
    finally:
        resp.close()


async def stream_frames(
    client: Client, path: str, *, params: list[tuple[str, str]] | None = None, accept: str = "application/json"
) -> AsyncGenerator[bytes, None]:
    """The non-empty lines of a streamed body (watch frames), asked for with `accept`."""
    pending = b""
    async for chunk in open_stream(client, path, params=params, accept=accept):
        pending += chunk
        if b"\n" not in chunk:
            continue
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def error_line(error: BaseException, *, server: str = "") -> str:
    """kubectl's one-line rendering of a failure."""
    if isinstance(error, StatusError):
        reason = error.reason if error.reason and error.reason != "StatusError" else ""
        return f"Error from server ({reason}): {error.message}" if reason else f"Error from server: {error.message}"
    if isinstance(error, APIConnectionError):
        host = urlsplit(server).netloc or server
        if "refused" in str(error).lower() or "Cannot connect" in str(error):
            return f"The connection to the server {host} was refused - did you specify the right host or port?"
        return f"Unable to connect to the server: {error}"
    if isinstance(error, KubeConfigError | CliError):
        return f"error: {error}"
    return f"error: {error}"


def run(args: argparse.Namespace, verb: Callable[[CliContext], Awaitable[int | None]]) -> int:
    """Resolve the context, open the client, run `verb`, and map failures to kubectl's line and status."""
    try:
        ctx = CliContext.from_args(args)
    except (KubeConfigError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    async def main() -> int:
        async with Client(ctx.config) as client:
            ctx._client = client
            return int(await verb(ctx) or 0)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0  # `kyb get ... | head`: the reader left, which is not an error
    except (StatusError, APIConnectionError, CliError, KubeConfigError) as e:
        print(error_line(e, server=ctx.config.server), file=sys.stderr)
        return e.code if isinstance(e, CliError) else 1


def split_name(text: str) -> tuple[str, str]:
    """`deploy/web` → ("deploy", "web"); `web` → ("", "web")."""
    kind, sep, name = text.partition("/")
    return (kind, name) if sep else ("", text)


def obj_meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}
