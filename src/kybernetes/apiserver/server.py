"""The API server: wiring of store, watch caches, REST flows, handlers and the HTTP pipeline.

Request pipeline (each stage a small function; the seams for later issues are marked):

  TLS → error rendering → authentication → [audit] → [authorization: the node authorizer for nodes'
  reads, allow-all otherwise] → route:
     non-resource paths (/version, /healthz, discovery, OpenAPI) or resource handlers → admission → REST

`APIServer.run()` owns every background task in one TaskGroup (the watch caches), bootstraps the
objects a cluster always has (system namespaces, the `kubernetes` Service, system PriorityClasses),
then serves until cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kybernetes import KUBE_GIT_VERSION, KUBE_MAJOR, KUBE_MINOR
from kybernetes.api.conversion import convert
from kybernetes.api.fields import selectable_fields
from kybernetes.api.models import model_for
from kybernetes.api.resources import METRICS_RESOURCES, RESOURCES, ResourceInfo, storage_info
from kybernetes.api.schema import decode_json, decode_object
from kybernetes.apiserver import codec
from kybernetes.apiserver.admission.namespace_lifecycle import NamespaceLifecycle
from kybernetes.apiserver.admission.noderestriction import NodeRestriction
from kybernetes.apiserver.admission.pods import SYSTEM_PRIORITY_CLASSES, PodDefaults
from kybernetes.apiserver.auth import (
    AuthenticatorChain,
    TokenIssuer,
    UserInfo,
    authenticate_request,
)
from kybernetes.apiserver.auth.nodeauthorizer import NodeAuthorizer
from kybernetes.apiserver.discovery import Discovery, wants_aggregated
from kybernetes.apiserver.handlers import ResourceHandlers, SubresourceHandler, json_response
from kybernetes.apiserver.metrics import METRICS_GROUP, KubeletScraper, MetricsAPI
from kybernetes.apiserver.patching import managed_fields_updater
from kybernetes.apiserver.registry import certificates, namespaces, pods, subresources
from kybernetes.apiserver.registry.certificates import CertificateSigningRequestStrategy
from kybernetes.apiserver.registry.namespaces import NamespaceStrategy
from kybernetes.apiserver.registry.podproxy import PodProxy
from kybernetes.apiserver.registry.pods import PodStrategy
from kybernetes.apiserver.registry.reviews import ReviewHandler, review_handlers
from kybernetes.apiserver.registry.secrets import SecretStrategy
from kybernetes.apiserver.registry.serviceaccounts import token_handler
from kybernetes.apiserver.registry.services import Allocator, ServiceStrategy
from kybernetes.apiserver.registry.strategy import NodeStrategy, Strategy
from kybernetes.apiserver.requestinfo import parse_request_info
from kybernetes.apiserver.rest import Admission, RequestContext, ResourceREST
from kybernetes.apiserver.watchcache import CacheHub, WatchCache
from kybernetes.machinery import errors
from kybernetes.storage import Store
from kybernetes.storage.backends.compactor import run_compactor

log = logging.getLogger("kybernetes.apiserver")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class ServerConfig:
    service_cidr: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)
    advertise_address: str = "127.0.0.1"
    port: int = 6443
    watch_cache_capacity: int = 10_000
    bookmark_interval: float = 30.0
    compaction_interval: float = 300.0


def _converter(target: ResourceInfo) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def convert_to(obj: dict[str, Any]) -> dict[str, Any]:
        return convert(obj=obj, group=target.group, to_version=target.version)

    return convert_to


class APIServer:
    def __init__(
        self,
        *,
        store: Store,
        config: ServerConfig,
        authenticator: AuthenticatorChain | None = None,
        token_issuer: TokenIssuer | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.authenticator = authenticator
        self.token_issuer = token_issuer
        self.allocator = Allocator(store=store, service_cidr=config.service_cidr,
                                   node_port_range=config.node_port_range)
        self.caches: dict[str, WatchCache] = {}
        self.hub = CacheHub(store=store)
        self.rests: dict[tuple[str, str, str], ResourceREST] = {}
        self.by_qualified: dict[str, ResourceREST] = {}
        admission: list[Admission] = [NamespaceLifecycle(lookup=self.lookup), PodDefaults(lookup=self.lookup),
                                      NodeRestriction()]
        # What a node (system:node:<name>) may read; everyone else is allow-all for now.
        self.node_authorizer = NodeAuthorizer(lookup=self.lookup)
        self.reviews: dict[tuple[str, str, str], tuple[ResourceInfo, ReviewHandler]] = {}
        review_table = review_handlers(authenticator=authenticator)
        for info in RESOURCES:
            if info.virtual:
                self.reviews[(info.group, info.version, info.plural)] = (info, review_table[info.qualified])
                continue
            prefix = f"/registry/{info.storage_prefix}/"
            stored = storage_info(info)
            cache = self.caches.get(prefix)
            if cache is None:
                cache = WatchCache(store=store, prefix=prefix, capacity=config.watch_cache_capacity,
                                   fields_of=functools.partial(selectable_fields, stored))
                self.caches[prefix] = cache
                self.hub.add(cache)
            rest = ResourceREST(
                info=info, strategy=self._strategy(stored), store=store, cache=cache,
                decode=self._decoder(info), decode_json=self._json_decoder(info), admission=list(admission),
                managed_fields=managed_fields_updater(info),
            )
            if stored is not info:
                rest.to_storage = _converter(stored)
                rest.from_storage = _converter(info)
            self.rests[(info.group, info.version, info.plural)] = rest
            if info.preferred or info.qualified not in self.by_qualified:
                self.by_qualified[info.qualified] = rest
        self.handlers = ResourceHandlers(rests=self.rests, subresources=self._subresources(),
                                         bookmark_interval=config.bookmark_interval, reviews=self.reviews)
        self.discovery = Discovery(resources=(*RESOURCES, *METRICS_RESOURCES),
                                   server_address=f"{config.advertise_address}:{config.port}")
        # metrics.k8s.io from the kubelets' /stats/summary, with the client certificate pods/log uses.
        self.metrics = MetricsAPI(lookup=self.lookup, scraper=KubeletScraper(
            ssl_context=lambda: getattr(self.pod_proxy, "_ssl", None)))
        self.ready = asyncio.Event()

    # ---- wiring -------------------------------------------------------------------------------------

    def lookup(self, qualified: str) -> ResourceREST | None:
        return self.by_qualified.get(qualified)

    def _strategy(self, info: ResourceInfo) -> Strategy:
        if not info.group:
            if info.plural == "pods":
                return PodStrategy(info)
            if info.plural == "services":
                return ServiceStrategy(info, allocator=self.allocator)
            if info.plural == "namespaces":
                return NamespaceStrategy(info)
            if info.plural == "secrets":
                return SecretStrategy(info)
            if info.plural == "nodes":
                return NodeStrategy(info)
        if info.group == "certificates.k8s.io" and info.plural == "certificatesigningrequests":
            return CertificateSigningRequestStrategy(info)
        return Strategy(info)

    def _subresources(self) -> dict[tuple[str, str], SubresourceHandler]:
        table: dict[tuple[str, str], SubresourceHandler] = {}
        for info in RESOURCES:
            for sub in info.subresources:
                if sub == "status":
                    table[(info.qualified, sub)] = subresources.status
                elif sub == "scale":
                    table[(info.qualified, sub)] = subresources.scale
        table[("pods", "binding")] = pods.binding
        table[("pods", "eviction")] = pods.eviction
        # pods/log, exec, attach and portforward go to the node's kubelet; `pod_proxy.use_pki(pki)` gives it
        # its client cert.
        self.pod_proxy = PodProxy()
        table[("pods", "log")] = self.pod_proxy.log
        table[("pods", "exec")] = self.pod_proxy.exec
        table[("pods", "attach")] = self.pod_proxy.attach
        table[("pods", "portforward")] = self.pod_proxy.portforward
        table[("namespaces", "finalize")] = namespaces.finalize
        table[("certificatesigningrequests.certificates.k8s.io", "approval")] = certificates.approval
        if self.token_issuer is not None:
            table[("serviceaccounts", "token")] = token_handler(self.token_issuer)
        return table

    @staticmethod
    def _json_decoder(info: ResourceInfo) -> Callable[[bytes], dict[str, Any] | None]:
        """`ResourceREST.decode_json`: a JSON body straight into the model and back (one pass); a body it
        answers None for goes through `_decoder`, which reports unknown fields and type errors."""
        model = model_for(info.group, info.version, info.kind)
        if model is None:
            raise LookupError(f"no model for {info.group_version} {info.kind}")
        return functools.partial(decode_json, model=model)

    def _decoder(self, info: ResourceInfo) -> Callable[..., dict[str, Any]]:
        model = model_for(info.group, info.version, info.kind)
        if model is None:
            raise LookupError(f"no model for {info.group_version} {info.kind}")

        def decode(*, obj: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
            try:
                canonical, unknown = decode_object(obj, model)
            except errors.BadRequestError as e:
                prefix = f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
                raise errors.BadRequestError(e.message if e.message.startswith(prefix) else prefix + e.message) from None
            if unknown and ctx.field_validation == "Strict":
                listed = ", ".join(f'unknown field "{p}"' for p in unknown)
                raise errors.BadRequestError(
                    f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
                    f"strict decoding error: {listed}"
                )
            if unknown and ctx.field_validation == "Warn":
                ctx.warnings.extend(f'unknown field "{p}"' for p in unknown)
            return canonical

        return decode

    # ---- HTTP ---------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors_middleware, self._authn_middleware],
                              client_max_size=codec.MAX_BODY_BYTES + 1024)
        app["kyb.lookup"] = self.lookup
        app.router.add_route("*", "/{tail:.*}", self._route)
        return app

    @web.middleware
    async def _errors_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.StatusError as e:
            headers = {"Retry-After": str(e.retry_after_seconds)} if e.retry_after_seconds else None
            return web.Response(body=codec.status_body(e), status=e.code, content_type="application/json",
                                headers=headers)
        except web.HTTPRequestEntityTooLarge:
            e2 = errors.RequestEntityTooLargeError("the request body is too large: limit is 3 MiB")
            return web.Response(body=codec.status_body(e2), status=413, content_type="application/json")
        except (web.HTTPException, asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path)
            e3 = errors.InternalError("an error on the server has prevented the request from succeeding")
            return web.Response(body=codec.status_body(e3), status=500, content_type="application/json")

    @web.middleware
    async def _authn_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        user = UserInfo(name="system:anonymous", groups=("system:unauthenticated",))
        if self.authenticator is not None:
            user = await authenticate_request(self.authenticator, request)
        request["ctx"] = RequestContext(user=user)
        # Seams for later issues: audit (record request + response) and authorization (RBAC) go here.
        return await handler(request)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        ri = parse_request_info(method=request.method, path=path, watch=request.query.get("watch") in ("true", "1"))
        await self.node_authorizer.authorize(user=request["ctx"].user, ri=ri)
        if ri.is_resource_request and ri.group == METRICS_GROUP:
            return await self.metrics.serve(request, ri)
        if ri.is_resource_request:
            return await self.handlers.serve(request, ri)
        return await self._non_resource(request, ri.parts)

    async def _non_resource(self, request: web.Request, parts: tuple[str, ...]) -> web.StreamResponse:
        path = "/" + "/".join(parts)
        if request.method not in ("GET", "HEAD"):
            raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
        if path == "/version":
            return json_response({
                "major": KUBE_MAJOR, "minor": KUBE_MINOR,
                "emulationMajor": KUBE_MAJOR, "emulationMinor": KUBE_MINOR,
                "minCompatibilityMajor": KUBE_MAJOR, "minCompatibilityMinor": str(int(KUBE_MINOR) - 1),
                "gitVersion": KUBE_GIT_VERSION,
                "gitCommit": "kybernetes", "gitTreeState": "clean", "buildDate": "2026-11-25T00:00:00Z",
                "goVersion": "python", "compiler": "cpython", "platform": "linux/amd64",
            })
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            if path.startswith("/readyz") and not self.ready.is_set():
                return web.Response(text="[-]informer-sync failed: not finished\nreadyz check failed", status=500)
            return web.Response(text="ok", content_type="text/plain")
        accept = request.headers.get("Accept", "")
        if path in ("/api", "/apis"):
            aggregated = wants_aggregated(accept)
            if aggregated:
                doc = (self.discovery.aggregated_api if path == "/api" else self.discovery.aggregated_apis)[aggregated]
            else:
                doc = self.discovery.api if path == "/api" else self.discovery.apis
            return self._document(request, doc.body, doc.etag, doc.content_type)
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in self.discovery.groups:
            doc = self.discovery.groups[parts[1]]
            return self._document(request, doc.body, doc.etag, doc.content_type)
        gv = None
        if len(parts) == 2 and parts[0] == "api":
            gv = ("", parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            gv = (parts[1], parts[2])
        if gv is not None and gv in self.discovery.group_versions:
            doc = self.discovery.group_versions[gv]
            return self._document(request, doc.body, doc.etag, doc.content_type)
        if parts[:1] == ("openapi",):
            return await self._openapi(request, parts)
        raise errors.NotFoundError("the server could not find the requested resource")

    @staticmethod
    def _document(request: web.Request, body: bytes, etag: str, content_type: str) -> web.Response:
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": content_type, "Vary": "Accept"})

    async def _openapi(self, request: web.Request, parts: tuple[str, ...]) -> web.StreamResponse:
        # Lazy: the documents (and their encoders) load on the first request for them.
        from kybernetes.api import openapi
        from kybernetes.api.openapi_proto import MEDIA_TYPE as PROTO_MEDIA_TYPE
        from kybernetes.api.openapi_proto import openapi_v2_protobuf, wants_protobuf

        loop = asyncio.get_running_loop()
        if parts == ("openapi", "v2"):
            if wants_protobuf(accept=request.headers.get("Accept", "")):
                # kubectl reads the v2 document only in gnostic's protobuf form.
                proto = await loop.run_in_executor(None, openapi_v2_protobuf)
                return web.Response(body=proto, headers={"Content-Type": PROTO_MEDIA_TYPE})
            body = await loop.run_in_executor(None, openapi.openapi_v2)
            return web.Response(body=body, content_type="application/json")
        if parts == ("openapi", "v3"):
            body = await loop.run_in_executor(None, openapi.openapi_v3_index)
            return web.Response(body=body, content_type="application/json")
        if parts[:2] == ("openapi", "v3"):
            found = await loop.run_in_executor(None, openapi.openapi_v3, "/".join(parts[2:]))
            if found is None:
                raise errors.NotFoundError("the server could not find the requested resource")
            return web.Response(body=found, content_type="application/json",
                                headers={"Cache-Control": "public, immutable"})
        raise errors.NotFoundError("the server could not find the requested resource")

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def bootstrap(self) -> None:
        """Create what every cluster has, if missing. Idempotent; runs on every start."""
        ctx = RequestContext(user=UserInfo(name="system:apiserver", groups=("system:masters",)),
                             field_manager="kube-apiserver")
        ns_rest = self.by_qualified["namespaces"]
        for name in SYSTEM_NAMESPACES:
            with contextlib.suppress(errors.AlreadyExistsError):
                await ns_rest.create(ctx=ctx, obj={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        pc_rest = self.by_qualified["priorityclasses.scheduling.k8s.io"]
        for name, value in SYSTEM_PRIORITY_CLASSES.items():
            with contextlib.suppress(errors.AlreadyExistsError):
                await pc_rest.create(ctx=ctx, obj={
                    "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                    "value": value, "description": "Used for system critical pods that must run in the cluster, "
                    "but can be moved to another node if necessary." if name == "system-cluster-critical" else
                    "Used for system critical pods that must not be moved from their current node.",
                })
        await self._kubernetes_service(ctx)

    async def _kubernetes_service(self, ctx: RequestContext) -> None:
        """The `kubernetes` Service in `default` and its endpoints: the API server itself."""
        ctx.namespace = "default"
        svc_rest = self.by_qualified["services"]
        with contextlib.suppress(errors.AlreadyExistsError):
            await svc_rest.create(ctx=ctx, obj={
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": self.allocator.first_ip(), "type": "ClusterIP", "sessionAffinity": "None",
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.config.port}]},
            })
        address = self.config.advertise_address
        endpoints = {
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": address}],
                         "ports": [{"name": "https", "port": self.config.port, "protocol": "TCP"}]}],
        }
        slice_ = {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes",
                                    "endpointslice.kubernetes.io/managed-by": "kube-apiserver"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": self.config.port, "protocol": "TCP"}],
        }
        for qualified, obj in (("endpoints", endpoints), ("endpointslices.discovery.k8s.io", slice_)):
            rest = self.by_qualified[qualified]
            try:
                await rest.create(ctx=ctx, obj=obj)
            except errors.AlreadyExistsError:
                async def replace(current: dict[str, Any], _obj: dict[str, Any] = obj,
                                  _rest: ResourceREST = rest) -> dict[str, Any]:
                    desired = _rest.decode(obj=copy.deepcopy(_obj), ctx=ctx)
                    desired["metadata"] = {**current["metadata"], **desired["metadata"]}
                    desired["metadata"].pop("resourceVersion", None)
                    return desired

                await rest.update(ctx=ctx, name="kubernetes", transform=replace)

    async def run(self, *, sites: Callable[[web.AppRunner], Awaitable[list[web.BaseSite]]],
                  on_ready: Callable[[], None] | None = None) -> None:
        """Start caches, bootstrap, serve on the sites `sites(runner)` creates, until cancelled."""
        await self.store.start()
        # handler_cancellation: a client that goes away cancels its handler (a watch ends at once).
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=2.0,
                               handler_cancellation=True)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.hub.run(), name="watch caches")
                # History older than five minutes (and 10,000 revisions) goes, as Kubernetes compacts.
                tg.create_task(run_compactor(store=self.store, interval=self.config.compaction_interval),
                               name="compactor")
                await self.hub.wait_ready()
                await self.bootstrap()
                await runner.setup()
                for site in await sites(runner):
                    await site.start()
                self.ready.set()
                if on_ready is not None:
                    on_ready()
                await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            await self.store.close()


def tls_site_factory(*, host: str, port: int, ssl_context: ssl.SSLContext | None,
                     sock: socket.socket | None = None) -> Callable[[web.AppRunner], Awaitable[list[web.BaseSite]]]:
    async def make(runner: web.AppRunner) -> list[web.BaseSite]:
        if sock is not None:
            return [web.SockSite(runner, sock, ssl_context=ssl_context, backlog=1024)]
        return [web.TCPSite(runner, host, port, ssl_context=ssl_context, backlog=1024, reuse_address=True)]

    return make


