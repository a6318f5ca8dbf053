"""The kubelet's HTTPS server: container logs, exec, attach and port forwarding, for the API server's
pods/log, pods/exec, pods/attach and pods/portforward.

    GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&timestamps=&previous=
        &sinceSeconds=&sinceTime=&limitBytes=          → text/plain, streamed while following
    GET /exec/{namespace}/{pod}/{container}?command=...&stdin=&stdout=&stderr=&tty=
        (WebSocket, subprotocol v5.channel.k8s.io or v4.channel.k8s.io) → the channel protocol
    GET /attach/{namespace}/{pod}/{container}?stdin=&stdout=&stderr=&tty=   (WebSocket, as exec)
    GET /portForward/{namespace}/{pod}[?ports=P]
        (WebSocket, SPDY/3.1+portforward.k8s.io or v4.channel.k8s.io) → see `portforward`

Logs are read from the container's CRI log file (`TIMESTAMP STREAM P|F message` lines, written by conmon;
partial `P` lines are joined up to their `F`). Exec runs `Runtime.exec` and speaks the channel protocol:
every binary message starts with its channel byte (0 stdin, 1 stdout, 2 stderr, 3 error: the final Status
with the exit code, 4 resize; v5 adds 255 close, by which the client ends stdin).

Attach serves the container's output from the moment of attaching, by following its CRI log as conmon
writes it (stdout on channel 1, stderr on 2), and a Success Status on channel 3 when the container stops.
With `stdin=1`, what the client sends on channel 0 goes to the container's stdin (`Runtime.attach_stdin`:
conmon's attach socket for runc) when the container was created with `stdin: true`; its close frame ends
this client's stdin (and the container's, with `stdinOnce`). Without `stdin: true` attach is output only.
Port forwarding dials the port in the pod's newest ready sandbox with `Runtime.port_forward`.

Trust: only clients presenting a certificate signed by the cluster CA are served (the API server uses one
it issues itself). The serving certificate is self-signed, made on first start in `<data_dir>/pki/`; the API
server does not verify it (Kubernetes' default is not to verify kubelet serving certificates either).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import os
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kybernetes.api.models.core_v1 import Node
from kybernetes.client import Client
from kybernetes.kubelet.agent.portforward import (
    PORTFORWARD_PROTOCOLS,
    SPDY_PROTOCOL,
    serve_channels,
    serve_spdy,
)
from kybernetes.kubelet.runtime.protocol import (
    ContainerStatus,
    ExecSession,
    Runtime,
    RuntimeError_,
    SandboxStatus,
    State,
    StdinWriter,
)

__all__ = ["EXEC_PROTOCOLS", "KubeletServer", "LogOptions", "exit_status", "follow_output", "forward_error",
           "parse_cri_line", "read_log", "serve_kubelet"]

log = logging.getLogger(__name__)

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
FOLLOW_POLL_SECONDS = 0.2


# ---- CRI log files ---------------------------------------------------------------------------------------


def parse_cri_line(line: bytes) -> tuple[str, str, bool, bytes] | None:
    """(timestamp, stream, partial, message) of one CRI log line (without its newline), None if malformed."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, stream, tag = parts[0].decode(errors="replace"), parts[1].decode(errors="replace"), parts[2]
    message = parts[3] if len(parts) == 4 else b""
    return ts, stream, tag.split(b":", 1)[0] == b"P", message


def _parse_time(ts: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(ts)
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True)
class LogOptions:
    follow: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since: datetime.datetime | None = None
    limit_bytes: int | None = None


class _Lines:
    """Turns CRI records into whole log lines, joining partial records; keeps an unfinished tail."""

    def __init__(self, *, options: LogOptions) -> None:
        self.options = options
        self.rest = b""
        self.partial: dict[str, tuple[str, bytearray]] = {}

    def feed(self, data: bytes) -> list[bytes]:
        self.rest += data
        *lines, self.rest = self.rest.split(b"\n")
        out: list[bytes] = []
        for raw in lines:
            parsed = parse_cri_line(raw)
            if parsed is None:
                continue
            ts, stream, partial, message = parsed
            first_ts, buf = self.partial.pop(stream, (ts, bytearray()))
            buf.extend(message)
            if partial:
                self.partial[stream] = (first_ts, buf)
                continue
            if self.options.since is not None:
                when = _parse_time(first_ts)
                if when is not None and when < self.options.since:
                    continue
            prefix = f"{first_ts} ".encode() if self.options.timestamps else b""
            out.append(prefix + bytes(buf) + b"\n")
        return out


async def read_log(*, path: Path, options: LogOptions, running: Any = None) -> AsyncIterator[bytes]:
    """The log lines of the CRI file at `path`. Following, waits for more while `running()` (an async
    callable) says the container runs; `limit_bytes` cuts the output short (mid-line, as Kubernetes does)."""
    lines = _Lines(options=options)
    budget = options.limit_bytes
    with path.open("rb") as f:
        pending = lines.feed(f.read())
        if options.tail_lines is not None:
            pending = pending[-options.tail_lines:] if options.tail_lines > 0 else []
        last = not options.follow
        while True:
            for chunk in pending:
                if budget is not None:
                    chunk = chunk[:budget]
                    budget -= len(chunk)
                yield chunk
                if budget is not None and budget <= 0:
                    return
            if last:
                return
            data = f.read()
            if not data:
                # Stop once the container has exited, after what it wrote just before.
                last = running is None or not await running()
                if not last:
                    await asyncio.sleep(FOLLOW_POLL_SECONDS)
                data = f.read()
            pending = lines.feed(data)


# ---- exec ------------------------------------------------------------------------------------------------


def exit_status(code: int, *, command: list[str]) -> bytes:
    """The Status sent on the error channel when an exec ends."""
    if code == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    return json.dumps({
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {command}, "
                   f"exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }).encode()


def _failure(message: str) -> bytes:
    return json.dumps({"metadata": {}, "status": "Failure", "message": message}).encode()


def _flag(q: Any, name: str) -> bool:
    return str(q.get(name, "")).lower() in ("true", "1")


# ---- the server ------------------------------------------------------------------------------------------


class KubeletServer:
    def __init__(self, *, runtime: Runtime, data_dir: Path, ca_pem: bytes, address: str = "0.0.0.0",
                 port: int = 10250, node_name: str = "") -> None:
        self.runtime, self.data_dir, self.ca_pem = runtime, data_dir, ca_pem
        self.address, self.port, self.node_name = address, port, node_name
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_get("/exec/{namespace}/{pod}/{container}", self._exec)
        app.router.add_get("/attach/{namespace}/{pod}/{container}", self._attach)
        app.router.add_get("/portForward/{namespace}/{pod}", self._port_forward)
        from kybernetes.kubelet.agent import stats  # GET /stats/summary, and its background sampler

        stats.install(app, runtime=self.runtime, node_name=self.node_name, data_dir=self.data_dir)
        return app

    def ssl_context(self) -> ssl.SSLContext:
        cert, key = _self_signed(directory=self.data_dir / "pki", name=self.node_name or socket.gethostname())
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=self.ca_pem.decode())
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(cert, key)
        return context

    async def start(self) -> int:
        """Bind and serve; returns the port (the one chosen when `port` is 0)."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port, ssl_context=self.ssl_context(), reuse_address=True)
        await site.start()
        server = site._server  # the bound socket tells the port when 0 was asked for
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    def _text(message: str, *, status: int) -> web.Response:
        return web.Response(text=message, status=status, content_type="text/plain")

    async def _find(self, *, namespace: str, pod: str, container: str) -> list[ContainerStatus]:
        """The pod's instances of `container`, newest attempt first."""
        sandboxes = {s.id: s for s in await self.runtime.list_pod_sandboxes()
                     if s.config is not None and s.config.namespace == namespace and s.config.name == pod}
        found = [c for c in await self.runtime.list_containers() if c.sandbox_id in sandboxes and c.name == container]
        # Sandboxes of an older incarnation of the pod (same name) sort after the newest sandbox's.
        return sorted(found, key=lambda c: (sandboxes[c.sandbox_id].created_at_ns, c.attempt, c.created_at_ns),
                      reverse=True)

    def _log_path(self, c: ContainerStatus, *, namespace: str, pod: str, uid: str) -> Path:
        if c.log_path is not None:
            return c.log_path
        return self.data_dir / "logs" / f"{namespace}_{pod}_{uid}" / c.name / f"{c.attempt}.log"

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        ns, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        q = request.query
        try:
            tail = int(q["tailLines"]) if q.get("tailLines") else None
            limit = int(q["limitBytes"]) if q.get("limitBytes") else None
            since = None
            if q.get("sinceSeconds"):
                since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=int(q["sinceSeconds"]))
            elif q.get("sinceTime"):
                since = datetime.datetime.fromisoformat(q["sinceTime"])
        except ValueError as e:
            return self._text(f"invalid log options: {e}", status=400)
        instances = await self._find(namespace=ns, pod=pod, container=name)
        previous = _flag(q, "previous")
        index = 1 if previous else 0
        if len(instances) <= index:
            what = "previous terminated container" if previous else "container"
            return self._text(f'{what} "{name}" in pod "{pod}" not found', status=404)
        c = instances[index]
        sandboxes = {s.id: s for s in await self.runtime.list_pod_sandboxes()}
        config = sandboxes[c.sandbox_id].config if c.sandbox_id in sandboxes else None
        path = self._log_path(c, namespace=ns, pod=pod, uid=config.uid if config else "")
        options = LogOptions(follow=_flag(q, "follow") and not previous, timestamps=_flag(q, "timestamps"),
                             tail_lines=tail, since=since, limit_bytes=limit)

        async def running() -> bool:
            try:
                return (await self.runtime.container_status(container_id=c.id)).state == State.RUNNING
            except RuntimeError_:
                return False

        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        if not path.exists():
            await response.prepare(request)
            await response.write_eof()
            return response
        await response.prepare(request)
        async for chunk in read_log(path=path, options=options, running=running):
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        ns, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        q = request.query
        command = q.getall("command", [])
        if not command:
            return self._text("you must specify at least 1 command", status=400)
        instances = [c for c in await self._find(namespace=ns, pod=pod, container=name) if c.state == State.RUNNING]
        if not instances:
            return self._text(f'container "{name}" in pod "{pod}" is not running', status=404)
        want_stdin, tty = _flag(q, "stdin"), _flag(q, "tty")
        try:
            session = await self.runtime.exec(container_id=instances[0].id, command=command, tty=tty,
                                              stdin=want_stdin)
        except RuntimeError_ as e:
            return self._text(f"exec failed: {e}", status=500)
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, heartbeat=None)
        await ws.prepare(request)
        await _run_exec(ws=ws, session=session, command=command, v5=ws.ws_protocol == EXEC_PROTOCOLS[0],
                        stdout=_flag(q, "stdout") or tty, stderr=_flag(q, "stderr"))
        return ws

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        ns, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        q = request.query
        instances = [c for c in await self._find(namespace=ns, pod=pod, container=name) if c.state == State.RUNNING]
        if not instances:
            return self._text(f'container "{name}" in pod "{pod}" is not running', status=404)
        c = instances[0]
        sandbox = next((s for s in await self.runtime.list_pod_sandboxes() if s.id == c.sandbox_id), None)
        uid = sandbox.config.uid if sandbox is not None and sandbox.config is not None else ""
        path = self._log_path(c, namespace=ns, pod=pod, uid=uid)

        async def running() -> bool:
            try:
                return (await self.runtime.container_status(container_id=c.id)).state == State.RUNNING
            except RuntimeError_:
                return False

        # Output is followed from this moment: anything the container prints in answer to what the client
        # sends next (stdin goes through from the start of the session) must not be missed.
        start = await asyncio.to_thread(log_offset, path)
        stdin: StdinWriter | None = None
        if _flag(q, "stdin"):
            try:
                stdin = await self.runtime.attach_stdin(container_id=c.id)
            except RuntimeError_:
                # As Kubernetes: a container without `stdin: true` is attached to for output only.
                stdin = None
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, heartbeat=None)
        await ws.prepare(request)
        tty = _flag(q, "tty")
        try:
            await _run_attach(ws=ws, output=follow_output(path=path, running=running, start=start),
                              stdout=_flag(q, "stdout") or tty, stderr=_flag(q, "stderr"), stdin=stdin)
        finally:
            if stdin is not None:
                await stdin.close()
        return ws

    async def _sandbox_of(self, *, namespace: str, pod: str) -> SandboxStatus | None:
        """The pod's newest ready sandbox."""
        found = [s for s in await self.runtime.list_pod_sandboxes() if s.state == State.RUNNING
                 and s.config is not None and s.config.namespace == namespace and s.config.name == pod]
        return max(found, key=lambda s: s.created_at_ns, default=None)

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["namespace"], request.match_info["pod"]
        sandbox = await self._sandbox_of(namespace=ns, pod=pod)
        if sandbox is None:
            return self._text(f'pod not found ("{pod}_{ns}")', status=404)
        ports: list[int] = []
        for value in request.query.getall("ports", []):
            for part in value.split(","):
                try:
                    port = int(part)
                except ValueError:
                    return self._text(f'unable to parse "{part}" as a port', status=400)
                if not 0 < port < 65536:
                    return self._text(f'port "{part}" must be > 0 and < 65536', status=400)
                ports.append(port)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return self._text("Upgrade request required: port forwarding is served over WebSocket "
                              f"({', '.join(PORTFORWARD_PROTOCOLS)})", status=400)
        ws = web.WebSocketResponse(protocols=PORTFORWARD_PROTOCOLS, heartbeat=None)
        spdy = ws.can_prepare(request).protocol == SPDY_PROTOCOL
        if not spdy and not ports:
            return self._text('query parameter "port" is required', status=400)

        async def connect(port: int) -> tuple[Any, Any]:
            return await self.runtime.port_forward(sandbox_id=sandbox.id, port=port)

        def describe(port: int, error: BaseException) -> str:
            return forward_error(port=port, sandbox=sandbox, error=error)

        await ws.prepare(request)
        try:
            if spdy:
                await serve_spdy(ws=ws, connect=connect, describe=describe)
            else:
                await serve_channels(ws=ws, ports=ports, connect=connect, describe=describe)
        finally:
            await ws.close()
        return ws


async def _run_exec(*, ws: web.WebSocketResponse, session: ExecSession, command: list[str], v5: bool,
                    stdout: bool, stderr: bool) -> None:
    async def pump_input() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN and data:
                await session.write_stdin(data)
            elif channel == CLOSE and v5 and data[:1] == bytes([STDIN]):
                await session.close_stdin()
            elif channel == RESIZE:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    size = json.loads(data)
                    await session.resize(width=int(size["Width"]), height=int(size["Height"]))
        await session.close_stdin()  # the client went away

    reader = asyncio.create_task(pump_input())
    try:
        async for stream, data in session.output():
            if (stream == STDOUT and stdout) or (stream == STDERR and stderr):
                await ws.send_bytes(bytes([stream]) + data)
        code = await session.wait()
        await ws.send_bytes(bytes([ERROR]) + exit_status(code, command=command))
    except (RuntimeError_, OSError) as e:
        with contextlib.suppress(Exception):
            await ws.send_bytes(bytes([ERROR]) + _failure(str(e)))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await ws.close()


# ---- attach and port-forward -----------------------------------------------------------------------------


def log_offset(path: Path) -> int:
    """Where "now" is in a container's log: the offset to follow it from."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


async def follow_output(*, path: Path, running: Any, start: int | None = None) -> AsyncIterator[tuple[int, bytes]]:
    """The container's output from `start` (a `log_offset` taken when the client attached; default: when this
    generator first runs), as (stream, bytes), read from its CRI log as conmon writes it: what `kubectl
    attach` shows. A partial record is passed on without a newline, as the process wrote it. Ends once the
    container has stopped (after what it wrote last)."""
    while not await asyncio.to_thread(path.exists):
        if not await running():
            return
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
    with path.open("rb") as f:
        end = f.seek(0, 2)
        if start is not None:
            f.seek(start if start <= end else 0)  # a shorter file was rotated since: read the new one whole
        rest, last = b"", False
        while True:
            data = f.read()
            if not data:
                if last:
                    return
                last = not await running()
                if not last:
                    await asyncio.sleep(FOLLOW_POLL_SECONDS)
                continue
            *lines, rest = (rest + data).split(b"\n")
            for line in lines:
                parsed = parse_cri_line(line)
                if parsed is not None:
                    _, stream, partial, message = parsed
                    yield (STDERR if stream == "stderr" else STDOUT), message + (b"" if partial else b"\n")


async def _run_attach(*, ws: web.WebSocketResponse, output: AsyncIterator[tuple[int, bytes]], stdout: bool,
                      stderr: bool, stdin: StdinWriter | None = None) -> None:
    async def relay() -> None:
        async for stream, data in output:
            if data and ((stream == STDOUT and stdout) or (stream == STDERR and stderr)):
                await ws.send_bytes(bytes([stream]) + data)
        await ws.send_bytes(bytes([ERROR]) + exit_status(0, command=[]))

    async def client() -> None:
        writer = stdin
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN and writer is not None and data:
                await writer.write(data)
            elif channel == CLOSE and data[:1] == bytes([STDIN]) and writer is not None:
                await writer.close()  # the client's stdin ended (v5); output goes on
                writer = None
        # the client left

    tasks = [asyncio.create_task(relay()), asyncio.create_task(client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await ws.close()


def forward_error(*, port: int, sandbox: SandboxStatus, error: BaseException) -> str:
    """The text on a port-forward error stream, in the shape Kubernetes (with a CRI runtime) writes it."""
    if isinstance(error, OSError) and error.errno is not None:
        detail = (f'failed to connect to localhost:{port} inside namespace "{sandbox.id}", '
                  f"IPv4: dial tcp4 127.0.0.1:{port}: connect: {os.strerror(error.errno).lower()}")
    else:
        detail = str(error) or type(error).__name__
    return (f"error forwarding port {port} to pod {sandbox.id}, uid : failed to execute portforward in network "
            f'namespace "{sandbox.netns_path or "host"}": {detail}')


def _self_signed(*, directory: Path, name: str) -> tuple[Path, Path]:
    """`kubelet.crt`/`kubelet.key` in `directory`, made once (ECDSA P-256, one year)."""
    cert_path, key_path = directory / "kubelet.crt", directory / "kubelet.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7):
            return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}@kubelet")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


async def serve_kubelet(*, client: Client, node_name: str, runtime: Runtime, data_dir: Path, ca_pem: bytes,
                        address: str, port: int, registered: asyncio.Event) -> None:
    """Serve until cancelled and publish the port as the Node's status.daemonEndpoints once it is registered.
    Without the cluster CA (nothing to check clients against) or when the port is taken, it logs and returns:
    the agent keeps running pods, only logs and exec are unavailable."""
    if not ca_pem:
        log.warning("no cluster CA known: the kubelet server (logs, exec) is not started")
        return
    server = KubeletServer(runtime=runtime, data_dir=data_dir, ca_pem=ca_pem, address=address, port=port,
                           node_name=node_name)
    try:
        bound = await server.start()
    except OSError as e:
        log.error("kubelet server on %s:%d: %s (logs and exec unavailable)", address, port, e)
        await server.stop()
        return
    try:
        log.info("kubelet server on https://%s:%d", address, bound)
        await registered.wait()
        await client.resource(Node).patch(
            name=node_name, patch={"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": bound}}}},
            type="strategic", subresource="status", field_manager="kubelet")
        await asyncio.Event().wait()
    finally:
        await server.stop()
