"""`kyb port-forward POD|TYPE/NAME [LOCAL:]REMOTE...`: local TCP ports into a pod, through the API server.

Each local connection gets its own WebSocket to `pods/<name>/portforward?ports=REMOTE` with subprotocol
`v4.channel.k8s.io`: channel 0 carries the data and channel 1 the errors, each opened by a message holding
the port as two little-endian bytes. Bytes from the local connection go out on channel 0; what arrives on
channel 0 is written back; text on channel 1 is an error, printed as kubectl prints it. The connection ends
when either side does.

`svc/NAME` (and workloads: `deploy/web`) forward to one of the selected pods, running ones first; a Service
port is mapped to its target port as kubectl maps it (a named target port is looked up among the pod's
container ports). `LOCAL:REMOTE`, `PORT` (the same on both sides) and `:REMOTE` (any free local port) are
accepted; `--address` lists the local addresses (default `localhost`: 127.0.0.1 and ::1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import struct
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp

from kybernetes.cli.context import CliContext, CliError, add_connection_flags, auth_headers, split_name
from kybernetes.cli.kinds import resolve_type
from kybernetes.cli.logs import pod_for

__all__ = ["PORTFORWARD_PROTOCOL", "PortMapping", "add_arguments", "parse_ports", "run", "run_port_forward"]

PORTFORWARD_PROTOCOL = "v4.channel.k8s.io"
CHUNK = 32 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="POD|TYPE/NAME", help="the pod, or svc/NAME, deploy/NAME")
    parser.add_argument("ports", nargs="+", metavar="[LOCAL:]REMOTE", help="ports to forward")
    parser.add_argument("--address", default="localhost",
                        help="comma-separated local addresses to listen on (default localhost)")
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_port_forward(ctx, args=args))


@dataclass(frozen=True)
class PortMapping:
    local: int  # 0: any free port
    remote: str  # a number, or a port name to resolve


def parse_ports(specs: list[str]) -> list[PortMapping]:
    out = []
    for spec in specs:
        local, sep, remote = spec.partition(":")
        if not sep:
            local, remote = spec, spec
        if not remote:
            raise CliError(f"invalid port format '{spec}'")
        try:
            local_port = int(local) if local else 0
        except ValueError:
            raise CliError(f"invalid port format '{spec}'") from None
        if not 0 <= local_port < 65536:
            raise CliError(f"local port {local_port} must be < 65536")
        out.append(PortMapping(local=local_port, remote=remote))
    return out


def _container_port(pod: dict[str, Any], name: str) -> int:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    raise CliError(f"Pod '{(pod.get('metadata') or {}).get('name')}' does not have a named port '{name}'")


def remote_port(*, pod: dict[str, Any], service: dict[str, Any] | None, remote: str) -> int:
    """The pod port a `REMOTE` means: a Service port is mapped to its target, a name to its number."""
    if service is not None:
        for port in (service.get("spec") or {}).get("ports") or []:
            if str(port.get("port")) == remote or port.get("name") == remote:
                target = port.get("targetPort", port.get("port"))
                return _container_port(pod, target) if isinstance(target, str) else int(target)
        svc_name = (service.get("metadata") or {}).get("name")
        raise CliError(f"Service {svc_name} does not have a service port {remote}")
    return int(remote) if remote.isdigit() else _container_port(pod, remote)


async def _relay(ctx: CliContext, *, namespace: str, pod: str, port: int,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    url = f"{ctx.config.server}/api/v1/namespaces/{namespace}/pods/{pod}/portforward"
    try:
        ws = await ctx.client.session.ws_connect(
            url, params=[("ports", str(port))], protocols=(PORTFORWARD_PROTOCOL,),
            headers=auth_headers(ctx.config), server_hostname=ctx.config.tls_server_name, max_msg_size=0,
        )
    except (aiohttp.ClientError, OSError) as e:
        print(f"error: an error occurred forwarding {port}: {e}", file=sys.stderr)
        writer.close()
        return
    headers_seen = set()

    async def down() -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel not in headers_seen and len(data) >= 2 and struct.unpack("<H", data[:2])[0] == port:
                headers_seen.add(channel)  # the port header that opens each channel
                data = data[2:]
                if not data:
                    continue
            if channel == 0:
                writer.write(data)
                await writer.drain()
            elif channel == 1 and data:
                print(f"error: an error occurred forwarding {port}: {data.decode(errors='replace')}",
                      file=sys.stderr)

    async def up() -> None:
        while data := await reader.read(CHUNK):
            await ws.send_bytes(b"\x00" + data)

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ws.close()
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def _hosts(address: str) -> list[str]:
    hosts: list[str] = []
    for part in address.split(","):
        part = part.strip()
        hosts.extend(["127.0.0.1", "::1"] if part == "localhost" else [part])
    return hosts


async def run_port_forward(ctx: CliContext, *, args: argparse.Namespace) -> int:
    mappings = parse_ports(args.ports)
    kind, _ = split_name(args.target)
    service = None
    if kind and resolve_type(kind).kind == "Service":
        _, svc_name = split_name(args.target)
        service = (await ctx.client.request(
            "GET", f"/api/v1/namespaces/{ctx.namespace}/services/{svc_name}")).json()
    pod = await pod_for(ctx, target=args.target)
    if (pod.get("status") or {}).get("phase") != "Running":
        raise CliError(f"unable to forward port because pod is not running. Current status="
                       f"{(pod.get('status') or {}).get('phase')}")
    name, namespace = pod["metadata"]["name"], pod["metadata"].get("namespace", ctx.namespace)
    servers: list[asyncio.Server] = []
    for mapping in mappings:
        target = remote_port(pod=pod, service=service, remote=mapping.remote)
        local = mapping.local
        for host in _hosts(args.address):

            def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, _target: int = target) -> Any:
                print(f"Handling connection for {writer.get_extra_info('sockname')[1]}", flush=True)
                return _relay(ctx, namespace=namespace, pod=name, port=_target, reader=reader, writer=writer)

            try:
                server = await asyncio.start_server(handler, host=host, port=local)
            except OSError as e:
                if host == "::1":
                    continue  # no IPv6 loopback here: kubectl too carries on with IPv4 alone
                raise CliError(f"unable to listen on port {local}: {e}") from None
            local = local or server.sockets[0].getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            print(f"Forwarding from {shown}:{local} -> {target}", flush=True)
            servers.append(server)
    try:
        await asyncio.gather(*(server.serve_forever() for server in servers))
    except asyncio.CancelledError:
        pass
    finally:
        for server in servers:
            server.close()
    return 0
