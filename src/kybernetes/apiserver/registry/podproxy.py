"""pods/log, pods/exec, pods/attach and pods/portforward: proxied to the kubelet of the pod's node over HTTPS.

The node's address is its InternalIP (else its first address), the port its
status.daemonEndpoints.kubeletEndpoint.Port (10250 when unset). The API server authenticates to the kubelet
with a client certificate issued from the cluster CA (`PodProxy.use_pki`); it does not verify the kubelet's
serving certificate (self-signed by the agent; Kubernetes' default is not to verify it either).

Logs are streamed through as they come (`follow`). Exec is a WebSocket (subprotocol v5/v4.channel.k8s.io):
the kubelet's WebSocket is opened first, so that its refusal is an HTTP error the client can show, then the
client's is accepted with the subprotocol the kubelet chose, and messages are relayed both ways unchanged.
Attach (v5/v4.channel.k8s.io) and port forwarding (SPDY/3.1+portforward.k8s.io from kubectl: SPDY in
WebSocket binary messages; v4.channel.k8s.io from the official client) are relayed the same way; when the
kubelet refuses, its reason (no such pod, container not running) is the error, also on the SPDY request
kubectl falls back to.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import WSMsgType, web

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver.rest import RequestContext, ResourceREST
from kybernetes.machinery import errors

if TYPE_CHECKING:
    from kybernetes.apiserver.auth.pki import Pki
    from kybernetes.apiserver.handlers import ResourceHandlers

__all__ = ["KUBELET_CLIENT_USER", "PodProxy"]

KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
DEFAULT_KUBELET_PORT = 10250
_LOG_PARAMS = ("follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes")
_EXEC_PARAMS = ("stdin", "stdout", "stderr", "tty")


def _flag(q: Any, name: str) -> bool:
    return str(q.get(name, "")).lower() in ("true", "1")


class PodProxy:
    def __init__(self) -> None:
        self._ssl: ssl.SSLContext | None = None

    def use_pki(self, pki: Pki) -> None:
        """Issue the API server's kubelet client certificate from the cluster CA."""
        from kybernetes.apiserver.auth.pki import issue_client_cert

        cert, key = issue_client_cert(pki=pki, user=KUBELET_CLIENT_USER, groups=["system:masters"], days=365)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        # load_cert_chain reads files only; the key lives on disk just for the call.
        with tempfile.TemporaryDirectory(prefix="kyb-kubelet-client-") as d:
            (Path(d) / "c.pem").write_bytes(cert + key)
            context.load_cert_chain(Path(d) / "c.pem")
        self._ssl = context

    @staticmethod
    def _client() -> aiohttp.ClientSession:
        # One session per proxied request: nothing to close when the server stops; these requests are rare.
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    # ---- the target ------------------------------------------------------------------------------------

    async def _target(self, *, request: web.Request, rest: ResourceREST, ctx: RequestContext, name: str,
                      action: str) -> tuple[str, str]:
        """(kubelet base URL, container) for the pod, or the Status error Kubernetes answers."""
        pod = (await rest.get_cached(namespace=ctx.namespace, name=name)).obj
        spec = pod.get("spec") or {}
        names = [c.get("name", "") for c in spec.get("containers") or []]
        others = [c.get("name", "") for c in (spec.get("initContainers") or []) + (spec.get("ephemeralContainers") or [])]
        container = request.query.get("container", "")
        if not container:
            default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
            if default or len(names) == 1:
                container = default or names[0]
            else:
                raise errors.BadRequestError(f"a container name must be specified for pod {name}, "
                                             f"choose one of: [{' '.join(names)}]"
                                             + (f" or one of the init containers: [{' '.join(others)}]" if others else ""))
        if container not in names + others:
            raise errors.BadRequestError(f"container {container} is not valid for pod {name}")
        phase = (pod.get("status") or {}).get("phase")
        if action == "exec" and phase in ("Succeeded", "Failed"):
            raise errors.BadRequestError(f"cannot exec into a container in a completed pod; current phase is {phase}")
        if action == "attach" and phase in ("Succeeded", "Failed"):
            raise errors.BadRequestError(f"cannot attach to a container in a completed pod; current phase is {phase}")
        node_name = spec.get("nodeName")
        if not node_name:
            raise errors.BadRequestError(f"pod {name} does not have a host assigned")
        if action == "log":
            waiting = self._waiting(pod, container)
            if waiting and not _flag(request.query, "previous"):
                raise errors.BadRequestError(f'container "{container}" in pod "{name}" is waiting to start: {waiting}')
        return await self._kubelet(request=request, node_name=node_name), container

    async def _kubelet(self, *, request: web.Request, node_name: str) -> str:
        """The base URL of the kubelet of node `node_name`."""
        nodes = request.app["kyb.lookup"]("nodes")
        try:
            node = (await nodes.get_cached(namespace="", name=node_name)).obj
        except errors.NotFoundError:
            raise errors.BadRequestError(f'node "{node_name}" not found') from None
        status = node.get("status") or {}
        addresses = status.get("addresses") or []
        address = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), None)
        address = address or next((a["address"] for a in addresses if a.get("address")), None)
        if not address:
            raise errors.BadRequestError(f"node {node_name} has no address")
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
        host = f"[{address}]" if ":" in address else address
        return f"https://{host}:{port}"

    @staticmethod
    def _waiting(pod: dict[str, Any], container: str) -> str:
        status = pod.get("status") or {}
        for s in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            if s.get("name") == container:
                w = (s.get("state") or {}).get("waiting")
                return str(w.get("reason") or "") if w is not None and s.get("restartCount", 0) == 0 else ""
        return "ContainerCreating" if status.get("phase") == "Pending" else ""

    @staticmethod
    def _path(kind: str, ctx: RequestContext, name: str, container: str) -> str:
        return "/" + "/".join(quote(p, safe="") for p in (kind, ctx.namespace, name, container))

    def _unreachable(self, url: str, e: Exception) -> errors.StatusError:
        return errors.InternalError(f"Get \"{url}\": {e}")

    # ---- pods/log ------------------------------------------------------------------------------------

    async def log(self, handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                  ctx: RequestContext, name: str) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
        q = request.query
        for key in ("tailLines", "sinceSeconds", "limitBytes"):
            if q.get(key) not in (None, ""):
                try:
                    value = int(q[key])
                except ValueError:
                    raise errors.BadRequestError(f"{key}: invalid value {q[key]!r}") from None
                if value < (1 if key != "tailLines" else 0):
                    raise errors.InvalidError.of(kind="PodLogOptions", group="", name="", causes=[
                        errors.invalid(key, value, "must be greater than 0" if key != "tailLines"
                                       else "must be greater than or equal to 0")])
        base, container = await self._target(request=request, rest=rest, ctx=ctx, name=name, action="log")
        params = {k: q[k] for k in _LOG_PARAMS if q.get(k) not in (None, "")}
        url = f"{base}{self._path('containerLogs', ctx, name, container)}?{urlencode(params)}"
        async with self._client() as session:
            return await self._stream_log(request=request, session=session, url=url)

    async def _stream_log(self, *, request: web.Request, session: aiohttp.ClientSession,
                          url: str) -> web.StreamResponse:
        try:
            upstream = await session.get(url, ssl=self._ssl or False)
        except (aiohttp.ClientError, OSError) as e:
            raise self._unreachable(url, e) from None
        async with upstream:
            if upstream.status != 200:
                text = (await upstream.text()).strip()
                if upstream.status == 404:
                    raise errors.BadRequestError(text)
                raise errors.InternalError(text or f"kubelet answered {upstream.status}")
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, ConnectionResetError):
                pass  # the kubelet went away mid-stream: end the body
            await response.write_eof()
            return response

    # ---- pods/exec -----------------------------------------------------------------------------------

    async def exec(self, handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                   ctx: RequestContext, name: str) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
        q = request.query
        command = q.getall("command", [])
        if not command:
            raise errors.BadRequestError("you must specify at least 1 command")
        base, container = await self._target(request=request, rest=rest, ctx=ctx, name=name, action="exec")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            # SPDY is not spoken. kubectl comes here after a failed WebSocket attempt: a kubelet that cannot
            # be reached is the error to show then, not the protocol.
            async with self._client() as session:
                try:
                    async with session.get(f"{base}/", ssl=self._ssl or False) as r:
                        await r.read()
                except (aiohttp.ClientError, OSError) as e:
                    raise self._unreachable(f"{base}/exec", e) from None
            raise errors.BadRequestError("Upgrade request required: exec is served over WebSocket "
                                         "(v5.channel.k8s.io, v4.channel.k8s.io), not SPDY")
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        params: list[tuple[str, str]] = [("command", c) for c in command]
        params += [(k, "1" if _flag(q, k) else "0") for k in _EXEC_PARAMS]
        url = f"{base}{self._path('exec', ctx, name, container)}?{urlencode(params)}"
        async with self._client() as session:
            try:
                upstream = await session.ws_connect(url, ssl=self._ssl or False, protocols=offered,
                                                    autoping=True, heartbeat=None)
            except aiohttp.WSServerHandshakeError as e:
                raise errors.BadRequestError(f"unable to upgrade connection: {e.message}") from None
            except (aiohttp.ClientError, OSError) as e:
                raise self._unreachable(url, e) from None
            async with upstream:
                ws = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else (),
                                           heartbeat=None)
                await ws.prepare(request)
                await _relay(client=ws, kubelet=upstream)
                return ws

    # ---- pods/attach and pods/portforward -----------------------------------------------------------------

    async def attach(self, handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                     ctx: RequestContext, name: str) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
        base, container = await self._target(request=request, rest=rest, ctx=ctx, name=name, action="attach")
        params = urlencode([(k, "1" if _flag(request.query, k) else "0") for k in _EXEC_PARAMS])
        url = f"{base}{self._path('attach', ctx, name, container)}?{params}"
        return await self._tunnel(request=request, url=url, what="attach")

    async def portforward(self, handlers: ResourceHandlers, request: web.Request, info: ResourceInfo,
                          rest: ResourceREST, ctx: RequestContext, name: str) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
        pod = (await rest.get_cached(namespace=ctx.namespace, name=name)).obj
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.BadRequestError(f"pod {name} does not have a host assigned")
        base = await self._kubelet(request=request, node_name=node_name)
        ports = urlencode([("ports", p) for p in request.query.getall("ports", [])])
        url = f"{base}/portForward/{quote(ctx.namespace, safe='')}/{quote(name, safe='')}" + (f"?{ports}" if ports else "")
        return await self._tunnel(request=request, url=url, what="port forwarding")

    async def _refusal(self, *, session: aiohttp.ClientSession, url: str) -> errors.StatusError:
        """Why the kubelet does not serve `url`: it answers a plain GET with the reason it refuses the
        upgrade (the pod or container is not there), else with "Upgrade request required"."""
        try:
            async with session.get(url, ssl=self._ssl or False) as r:
                text = (await r.text()).strip()
        except (aiohttp.ClientError, OSError) as e:
            return self._unreachable(url, e)
        if r.status == 404:
            return errors.NotFoundError(text)
        return errors.BadRequestError(text or f"kubelet answered {r.status}")

    async def _tunnel(self, *, request: web.Request, url: str, what: str) -> web.StreamResponse:
        """Relay the client's WebSocket to the kubelet's at `url` unchanged (the subprotocol is the one the
        kubelet chose from the client's offer)."""
        async with self._client() as session:
            if request.headers.get("Upgrade", "").lower() != "websocket":
                # SPDY is not spoken here. kubectl comes here after a refused WebSocket: show it the reason.
                raise await self._refusal(session=session, url=url)
            offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
            try:
                upstream = await session.ws_connect(url, ssl=self._ssl or False, protocols=offered,
                                                    autoping=True, heartbeat=None, max_msg_size=0)
            except aiohttp.WSServerHandshakeError:
                raise await self._refusal(session=session, url=url) from None
            except (aiohttp.ClientError, OSError) as e:
                raise self._unreachable(url, e) from None
            async with upstream:
                ws = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else (),
                                           heartbeat=None, max_msg_size=0)
                await ws.prepare(request)
                await _relay(client=ws, kubelet=upstream)
                return ws


async def _relay(*, client: web.WebSocketResponse, kubelet: aiohttp.ClientWebSocketResponse) -> None:
    async def down() -> None:
        async for msg in kubelet:
            if msg.type == WSMsgType.BINARY:
                await client.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await client.send_str(msg.data)

    async def up() -> None:
        async for msg in client:
            if msg.type == WSMsgType.BINARY:
                await kubelet.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await kubelet.send_str(msg.data)

    down_task, up_task = asyncio.create_task(down()), asyncio.create_task(up())
    try:
        # The exec is over when the kubelet closes; a client that leaves ends it too.
        await asyncio.wait({down_task, up_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (down_task, up_task):
            t.cancel()
        for t in (down_task, up_task):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await client.close()
        await kubelet.close()
