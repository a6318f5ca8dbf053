"""Probes and lifecycle hooks: exec (through the runtime), httpGet (to the pod IP), tcpSocket.

`run_handler` runs one probe or hook handler and returns (success, message). `ProbeState` counts
consecutive results against a probe's thresholds, as the kubelet's prober workers do: a probe flips to
failure after `failureThreshold` failures in a row and back to success after `successThreshold` successes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from kybernetes.api.models.core_v1 import Container, ExecAction, HTTPGetAction, Probe, TCPSocketAction
from kybernetes.kubelet.runtime.protocol import Runtime, RuntimeError_

__all__ = ["ProbeState", "resolve_port", "run_handler"]


def resolve_port(port: int | str | None, container: Container) -> int:
    if isinstance(port, int):
        return port
    if port is None:
        raise ValueError("probe without a port")
    if port.isdigit():
        return int(port)
    for p in container.ports or []:
        if p.name == port:
            return p.container_port or 0
    raise ValueError(f"unknown named port {port!r}")


async def run_handler(*, runtime: Runtime, container_id: str, container: Container, pod_ip: str,
                      exec_: ExecAction | None, http_get: HTTPGetAction | None,
                      tcp_socket: TCPSocketAction | None, timeout: float) -> tuple[bool, str]:  # noqa: ASYNC109
    try:
        if exec_ is not None:
            result = await runtime.exec_sync(container_id=container_id, command=list(exec_.command or []),
                                             deadline_seconds=timeout)
            out = (result.stdout + result.stderr).decode(errors="replace")[-1024:]
            return result.exit_code == 0, out
        if http_get is not None:
            host = http_get.host or pod_ip or "127.0.0.1"
            port = resolve_port(http_get.port, container)
            scheme = (http_get.scheme or "HTTP").lower()
            path = http_get.path or "/"
            headers = {h.name or "": h.value or "" for h in http_get.http_headers or []}
            headers.setdefault("User-Agent", "kube-probe/1.36")
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                    session.get(f"{scheme}://{host}:{port}{path}", headers=headers, ssl=False,
                                allow_redirects=True) as response:
                ok = 200 <= response.status < 400
                return ok, "" if ok else f"HTTP probe failed with statuscode: {response.status}"
        if tcp_socket is not None:
            host = tcp_socket.host or pod_ip or "127.0.0.1"
            port = resolve_port(tcp_socket.port, container)
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            return True, ""
    except TimeoutError:
        return False, f"probe timed out after {timeout:g}s"
    except (OSError, aiohttp.ClientError, RuntimeError_, ValueError) as e:
        return False, str(e) or type(e).__name__
    return False, "probe has no handler"


@dataclass
class ProbeState:
    """One probe of one container instance; `result` None until the first verdict."""

    result: bool | None = None
    successes: int = 0
    failures: int = 0
    next_at: float = 0.0
    message: str = ""

    def record(self, ok: bool, probe: Probe, *, now: float, message: str = "") -> None:
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= (probe.success_threshold or 1):
                self.result = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= (probe.failure_threshold or 3):
                self.result = False
        self.message = message
        self.next_at = now + (probe.period_seconds or 10)
