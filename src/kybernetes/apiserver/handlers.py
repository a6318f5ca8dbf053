"""HTTP handlers for resource requests: the verbs on the wire, mapped onto `ResourceREST`.

One entry point, `ResourceHandlers.serve(request, info)`, takes a parsed `RequestInfo` and answers it:
query parameters (selectors, paging, watch options, dryRun, fieldManager, fieldValidation), content
negotiation (JSON, YAML, `as=Table`, `as=PartialObjectMetadata`), patches of every kind, subresources.
Lists and watches are served from the watch cache as prepared bytes; a paged list (`limit`) continues at the
first page's revision, from the cache when it can prove that snapshot and from the store otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from kybernetes.api.fields import selectable_fields, supported_fields
from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver import codec
from kybernetes.apiserver.requestinfo import RequestInfo
from kybernetes.apiserver.rest import RequestContext, ResourceREST
from kybernetes.apiserver.tables import build_table
from kybernetes.apiserver.watchcache import (
    ADDED,
    BOOKMARK,
    DELETED,
    EVENT_FRAME_HEAD,
    LIST_CHUNK_BYTES,
    LIST_STREAM_BYTES,
    MODIFIED,
    CachedObject,
    with_resource_version,
)
from kybernetes.machinery import errors
from kybernetes.machinery.fields import FieldSelector, validate_fields
from kybernetes.machinery.labels import LabelSelector
from kybernetes.machinery.managedfields import manager_from_user_agent
from kybernetes.storage import CompactedError

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

# A subresource handler: (handlers, request, info, rest, ctx, name) -> response
SubresourceHandler = Callable[..., Awaitable[web.StreamResponse]]


def json_response(obj: Any, *, status: int = 200, warnings: list[str] | None = None,
                  request: web.Request | None = None) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join(
            '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in warnings
        )
    if request is not None and codec.media_type(request.headers.get("Accept")) == codec.YAML:
        return web.Response(body=codec.to_yaml(obj), status=status, content_type=codec.YAML, headers=headers)
    body = obj if isinstance(obj, bytes) else _encode(obj)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def _accept_as(request: web.Request) -> str:
    """'Table', 'PartialObjectMetadata', 'PartialObjectMetadataList' or '' from the Accept header."""
    accept = request.headers.get("Accept", "")
    for clause in accept.split(","):
        params = dict(
            p.strip().split("=", 1) for p in clause.split(";")[1:] if "=" in p
        )
        as_ = params.get("as")
        if as_ in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList") and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            return as_
        if clause.split(";")[0].strip() in ("application/json", "*/*", "application/yaml") and not as_:
            return ""
    return ""


def _bool_param(q: Any, name: str) -> bool:
    return str(q.get(name, "")).lower() in ("true", "1")


def _int_param(q: Any, name: str) -> int | None:
    raw = q.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.BadRequestError(f'invalid value for {name}: "{raw}"') from None


def _rv_param(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise errors.BadRequestError(f'invalid resource version: "{raw}"') from None
    if value < 0:
        raise errors.BadRequestError(f'invalid resource version: "{raw}"')
    return value


def _encode_continue(*, rv: int, start: str) -> str:
    return base64.urlsafe_b64encode(_encode({"v": "meta.k8s.io/v1", "rv": rv, "start": start})).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = _decode(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        return int(data["rv"]), str(data["start"])
    except (binascii.Error, msgspec.DecodeError, KeyError, ValueError, TypeError):
        raise errors.BadRequestError("continue key is not valid: invalid continue token") from None


class ResourceHandlers:
    def __init__(
        self,
        *,
        rests: dict[tuple[str, str, str], ResourceREST],
        subresources: dict[tuple[str, str], SubresourceHandler],
        bookmark_interval: float = 30.0,
        reviews: dict[tuple[str, str, str], tuple[ResourceInfo, Any]] | None = None,
    ) -> None:
        self.rests = rests
        self.reviews = reviews or {}
        self.subresources = subresources
        self.bookmark_interval = bookmark_interval
        self.list_kind_prefix: dict[str, bytes] = {}

    # ---- shared helpers ------------------------------------------------------------------------------

    def _predicate(
        self, info: ResourceInfo, q: Any
    ) -> tuple[Callable[[CachedObject], bool] | None, LabelSelector, FieldSelector]:
        labels = LabelSelector.parse(q.get("labelSelector", "")) if q.get("labelSelector") else LabelSelector.everything()
        fields = FieldSelector.parse(q.get("fieldSelector", "")) if q.get("fieldSelector") else FieldSelector.everything()
        if not fields.empty:
            validate_fields(fields, supported_fields(info), info.kind)
        if labels.empty and fields.empty:
            return None, labels, fields

        def predicate(o: CachedObject) -> bool:
            return labels.matches(o.labels) and fields.matches(o.fields)

        return predicate, labels, fields

    @staticmethod
    def _scope(info: ResourceInfo, ri: RequestInfo) -> str | None:
        if not info.namespaced:
            return None
        return ri.namespace or None

    def decode_object(self, *, request_body: bytes, request: web.Request, info: ResourceInfo,
                      rest: ResourceREST | None = None, ctx: RequestContext | None = None) -> dict[str, Any]:
        """The request's object with its kind and apiVersion checked; given `rest` and `ctx`, also type-checked
        and canonical (`rest.decode`, the unknown-field policy included).

        A JSON body that the model takes as it is (the usual case) is decoded once, straight into the model
        (`rest.decode_json`); anything else — unknown fields, wrong types, not JSON, YAML, protobuf, a body
        without apiVersion, kind or metadata (whose canonical key order the checks below set) — goes step
        by step: decode, check the kind, `rest.decode`, which is where bad input gets its messages."""
        content_type = request.headers.get("Content-Type")
        if (rest is not None and ctx is not None and rest.decode_json is not None
                and codec.media_type(content_type) == codec.JSON and len(request_body) <= codec.MAX_BODY_BYTES):
            canonical = rest.decode_json(request_body)
            if canonical is not None and "apiVersion" in canonical and "kind" in canonical and "metadata" in canonical:
                return self.check_kind(obj=canonical, info=info)
        obj = self.check_kind(obj=codec.decode_body(body=request_body, content_type=content_type), info=info)
        if rest is not None and ctx is not None:
            return rest.decode(obj=obj, ctx=ctx)
        return obj

    @staticmethod
    def check_kind(*, obj: Any, info: ResourceInfo, kind: str | None = None, api_version: str | None = None) -> dict[str, Any]:
        kind = kind or info.kind
        api_version = api_version or info.group_version
        if not isinstance(obj, dict):
            raise errors.BadRequestError(f"the object provided is not a {kind}: expected a JSON object")
        got_version = obj.get("apiVersion")
        got_kind = obj.get("kind")
        if got_version and got_version != api_version:
            raise errors.BadRequestError(
                f"the API version in the data ({got_version}) does not match the expected API version ({api_version})"
            )
        if got_kind and got_kind != kind:
            raise errors.BadRequestError(
                f"the kind in the data ({got_kind}) does not match the expected kind ({kind})"
            )
        obj["apiVersion"] = api_version
        obj["kind"] = kind
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = {}
        elif not isinstance(meta, dict):
            raise errors.BadRequestError(f"{kind} in version \"{info.version}\" cannot be handled as a {kind}: metadata must be an object")
        return obj

    @staticmethod
    def context(request: web.Request, ri: RequestInfo) -> RequestContext:
        ctx: RequestContext = request["ctx"]
        ctx.namespace = ri.namespace
        q = request.query
        dry = q.getall("dryRun", [])
        if dry and any(d != "All" for d in dry):
            raise errors.BadRequestError(f'Invalid dryRun value: "{dry[0]}"; supported values: "All"')
        ctx.dry_run = bool(dry)
        manager = q.get("fieldManager", "")
        if len(manager) > 128:
            raise errors.BadRequestError("fieldManager: Too long: must have at most 128 bytes")
        ctx.field_manager = manager or manager_from_user_agent(request.headers.get("User-Agent", ""))
        validation = q.get("fieldValidation", "Warn") or "Warn"
        if validation not in ("Ignore", "Warn", "Strict"):
            raise errors.BadRequestError(
                f'fieldValidation: Unsupported value: "{validation}": supported values: "Ignore", "Warn", "Strict"'
            )
        ctx.field_validation = validation
        return ctx

    # ---- dispatch -----------------------------------------------------------------------------------

    async def serve(self, request: web.Request, ri: RequestInfo) -> web.StreamResponse:
        review = self.reviews.get((ri.group, ri.version, ri.resource))
        if review is not None:
            info, answer = review
            if ri.verb != "create" or ri.name or (ri.namespace and not info.namespaced):
                raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
            return await answer(request, info, self.context(request, ri))
        rest = self.rests.get((ri.group, ri.version, ri.resource))
        if rest is None:
            raise errors.NotFoundError("the server could not find the requested resource")
        info = rest.info
        if info.namespaced is False and ri.namespace and ri.resource != "namespaces":
            raise errors.NotFoundError("the server could not find the requested resource")
        if info.namespaced and not ri.namespace and ri.verb not in ("list", "watch"):
            raise errors.NotFoundError("the server could not find the requested resource")
        ctx = self.context(request, ri)
        if info.plural == "namespaces" and not info.group:
            ctx.namespace = ""
        if ri.subresource:
            handler = self.subresources.get((info.qualified, ri.subresource))
            if handler is None:
                raise errors.NotFoundError("the server could not find the requested resource")
            return await handler(self, request, info, rest, ctx, ri.name)
        verb = ri.verb
        if verb == "get":
            return await self.get(request, rest, ctx, ri.name)
        if verb == "list":
            return await self.list_objects(request, rest, ri)
        if verb == "watch":
            return await self.watch(request, rest, ri)
        if verb == "create" and info.plural == "bindings" and not info.group:
            # POST .../bindings binds the pod the Binding names, as pods/<name>/binding does.
            return await self._bind(request, ri, ctx)
        if verb == "create":
            if ri.name:
                raise errors.MethodNotAllowedError('the server does not allow this method on the requested resource')
            return await self.create(request, rest, ctx)
        if verb in ("update", "patch") and not ri.name:
            raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
        if verb == "update":
            return await self.replace(request, rest, ctx, ri.name)
        if verb == "patch":
            return await self.patch(request, rest, ctx, ri.name)
        if verb == "delete":
            return await self.delete(request, rest, ctx, ri.name)
        if verb == "deletecollection":
            return await self.delete_collection(request, rest, ctx, ri)
        raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")

    async def _bind(self, request: web.Request, ri: RequestInfo, ctx: RequestContext) -> web.StreamResponse:
        pods = self.rests[("", "v1", "pods")]
        body = codec.decode_body(body=await request.read(), content_type=request.headers.get("Content-Type"))
        name = ((body or {}).get("metadata") or {}).get("name") if isinstance(body, dict) else None
        if not name:
            raise errors.InvalidError.of(kind="Binding", group="", name="", causes=[errors.required("metadata.name")])
        request["kyb.body"] = body
        return await self.subresources[("pods", "binding")](self, request, pods.info, pods, ctx, name)

    # ---- verbs --------------------------------------------------------------------------------------

    async def get(self, request: web.Request, rest: ResourceREST, ctx: RequestContext, name: str) -> web.StreamResponse:
        consistent = request.query.get("resourceVersion", "") != "0"
        found = await rest.get_cached(namespace=ctx.namespace, name=name, consistent=consistent)
        as_ = _accept_as(request)
        if as_ == "Table":
            return json_response(self._table(request, rest.info, [rest.present(found.obj)], rv=str(found.rv)))
        if as_ == "PartialObjectMetadata":
            return json_response(_partial(found.obj))
        return json_response(rest.present_bytes(found), request=request)

    def _table(self, request: web.Request, info: ResourceInfo, objs: list[dict[str, Any]], *, rv: str = "",
               continue_token: str = "", remaining: int | None = None, headers: bool = True) -> dict[str, Any]:
        include = request.query.get("includeObject", "Metadata")
        table = build_table(group=info.group, kind=info.kind, objects=objs, now=datetime.now(UTC),
                            include_object=include, resource_version=rv, continue_token=continue_token,
                            remaining=remaining)
        if not headers:
            table["columnDefinitions"] = []
        return table

    async def list_objects(self, request: web.Request, rest: ResourceREST, ri: RequestInfo) -> web.StreamResponse:
        q = request.query
        info = rest.info
        predicate, labels, fields = self._predicate(info, q)
        scope = self._scope(info, ri)
        limit = _int_param(q, "limit") or 0
        token = q.get("continue", "")
        rv_raw = q.get("resourceVersion", "")
        rv_match = q.get("resourceVersionMatch", "")
        if rv_match and not rv_raw:
            raise errors.BadRequestError("resourceVersionMatch is forbidden unless resourceVersion is provided")
        if token and rv_raw not in ("", None):
            raise errors.BadRequestError(
                "specifying resource version is not allowed when using continue"
            )
        rv = _rv_param(rv_raw)
        more_token = ""
        remaining: int | None = None
        if token or (rv is not None and rv != 0 and rv_match == "Exact"):
            # Later pages (and exact old revisions) are the snapshot at the token's revision: from the
            # cache when it can prove that state, from the store otherwise.
            items_bytes, list_rv, more_token, remaining = await self._list_from_store(
                rest=rest, namespace=scope, labels=labels, fields=fields, limit=limit, token=token, rv=rv,
                exact=rv_match == "Exact",
            )
        else:
            if rv is None:
                await rest.sync_cache()
            elif rv > rest.cache.revision:
                await rest.cache.wait_for_revision(rv)
            cached = rest.cache.list(namespace=scope, predicate=predicate)
            list_rv = rest.cache.revision
            if 0 < limit < len(cached):
                # The first page comes from memory; the cache at revision R is the store at R, so the
                # continue token reads the rest at R, consistently.
                if labels.empty and fields.empty:
                    remaining = len(cached) - limit
                cached = cached[:limit]
                more_token = _encode_continue(rv=list_rv, start=cached[-1].key + "\x00")
            items_bytes = [rest.present_bytes(o) for o in cached]
            del cached
        as_ = _accept_as(request)
        if as_ in ("Table", "PartialObjectMetadataList", "PartialObjectMetadata"):
            # The only list forms that need the objects decoded; JSON lists join the cached bytes.
            objs = [_decode(b) for b in items_bytes]
            if as_ == "Table":
                return json_response(self._table(request, info, objs, rv=str(list_rv),
                                                 continue_token=more_token, remaining=remaining))
            meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
            if more_token:
                meta["continue"] = more_token
            return json_response({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                  "metadata": meta, "items": [_partial(o) for o in objs]})
        list_meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if more_token:
            list_meta["continue"] = more_token
            if remaining is not None:
                list_meta["remainingItemCount"] = remaining
        head = (
            b'{"kind":"' + info.list_kind.encode() + b'","apiVersion":"' + info.group_version.encode()
            + b'","metadata":' + _encode(list_meta) + b',"items":['
        )
        if codec.media_type(request.headers.get("Accept")) == codec.YAML:
            return json_response(_decode(b"".join((head, b",".join(items_bytes), b"]}"))), request=request)
        size = len(head) + sum(map(len, items_bytes)) + len(items_bytes) + 2
        if size <= LIST_STREAM_BYTES:
            # One copy: head, items and their commas joined at once (not `head + b",".join(...)`).
            parts = [head]
            for b in items_bytes:
                parts += (b, b",")
            if items_bytes:
                parts.pop()
            parts.append(b"]}")
            return web.Response(body=b"".join(parts), content_type="application/json")
        # A large list (a 30,000-pod list is ~130 MB) is streamed in chunks of ~1 MiB: the cached bytes are
        # never copied into one body, and each write waits for the connection to drain, so neither the
        # body nor its TLS records pile up in memory.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk: list[bytes] = [head]
        filled = len(head)
        for i, b in enumerate(items_bytes):
            if i:
                chunk.append(b",")
            chunk.append(b)
            filled += len(b) + 1
            if filled >= LIST_CHUNK_BYTES:
                await response.write(b"".join(chunk))
                chunk, filled = [], 0
        chunk.append(b"]}")
        await response.write(b"".join(chunk))
        await response.write_eof()
        return response

    async def _list_from_store(
        self, *, rest: ResourceREST, namespace: str | None, labels: LabelSelector, fields: FieldSelector,
        limit: int, token: str, rv: int | None, exact: bool,
    ) -> tuple[list[bytes], int, str, int | None]:
        """(items as served, revision, continue token, remainingItemCount) of the snapshot at the token's
        (or `rv`'s) revision."""
        prefix = rest.prefix + (f"{namespace}/" if namespace is not None else "")
        start = prefix
        revision = rv or 0
        if token:
            revision, start = _decode_continue(token)
            if not start.startswith(prefix):
                raise errors.BadRequestError("continue key is not valid: the continue token does not match the request")
        unfiltered = labels.empty and fields.empty
        if revision:
            def predicate(o: CachedObject) -> bool:
                return labels.matches(o.labels) and fields.matches(o.fields)

            snap = rest.cache.snapshot_page(revision=revision, key_prefix=prefix, start=start, limit=limit,
                                            predicate=None if unfiltered else predicate)
            if snap is not None:
                token_out = _encode_continue(rv=revision, start=snap.items[-1].key + "\x00") if snap.more else ""
                return ([rest.present_bytes(o) for o in snap.items], revision, token_out,
                        snap.remaining if unfiltered and snap.more else None)
        out_bytes: list[bytes] = []
        more = False
        remaining: int | None = None
        last_key = ""
        want = limit if limit > 0 else 1 << 62
        batch = limit if unfiltered and limit > 0 else max(limit, 500)
        convert = rest.from_storage
        try:
            while True:
                page = await rest.store.list(prefix=prefix, revision=revision, limit=batch, start_key=start)
                revision = page.revision
                for i, kv in enumerate(page.items):
                    last_key = kv.key
                    if unfiltered and convert is None:
                        # Served as stored: only the resourceVersion to splice in, nothing to decode.
                        out_bytes.append(with_resource_version(kv.value, kv.mod_revision))
                    elif convert is None:
                        stored = _decode(kv.value)
                        if (labels.empty or labels.matches(stored["metadata"].get("labels"))) and (
                            fields.empty or fields.matches(selectable_fields(rest.info, stored))
                        ):
                            out_bytes.append(with_resource_version(kv.value, kv.mod_revision, stored))
                    else:
                        obj = rest.present(rest._with_rv(kv.value, kv.mod_revision))
                        if (labels.empty or labels.matches(obj["metadata"].get("labels"))) and (
                            fields.empty or fields.matches(selectable_fields(rest.info, obj))
                        ):
                            out_bytes.append(_encode(obj))
                    if len(out_bytes) >= want:
                        left_in_page = len(page.items) - 1 - i
                        more = left_in_page > 0 or page.more
                        if unfiltered and more:
                            remaining = left_in_page + (page.remaining if page.more else 0)
                        break
                else:
                    if page.more and page.items:
                        start = page.items[-1].key + "\x00"
                        continue
                break
        except CompactedError:
            raise errors.GoneError(
                "The provided continue parameter is too old to display a consistent list result. You can start "
                "a new list without the continue parameter, or use the continue token in this response to "
                "retrieve the remainder of the results. Continuing with the provided token results in an "
                "inconsistent list - objects that were created, modified, or deleted between the time the first "
                "chunk was returned and now may show up in the list."
            ) from None
        token_out = _encode_continue(rv=revision, start=last_key + "\x00") if more else ""
        return out_bytes, revision, token_out, remaining

    async def watch(self, request: web.Request, rest: ResourceREST, ri: RequestInfo) -> web.StreamResponse:
        q = request.query
        info = rest.info
        predicate, _, _ = self._predicate(info, q)
        scope = self._scope(info, ri)
        rv = _rv_param(q.get("resourceVersion"))
        send_initial = _bool_param(q, "sendInitialEvents")
        bookmarks = _bool_param(q, "allowWatchBookmarks")
        timeout = _int_param(q, "timeoutSeconds")
        if timeout is None:
            timeout = 1800
        if send_initial and q.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.InvalidError(
                "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
            )
        if rv == 0:
            rv = None  # "0": start at any state, with synthetic ADDED events (Kubernetes' semantics)
        elif rv is None:
            # Unset: the same synthetic ADDED events, but from a state at least as new as the store's.
            await rest.sync_cache()
        elif rv > rest.cache.revision:
            await rest.cache.wait_for_revision(rv)
        watcher = rest.cache.watch(from_revision=rv, namespace=scope, predicate=predicate, send_initial=send_initial)
        as_table = _accept_as(request) == "Table"
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        deadline = time.monotonic() + timeout
        first = True
        initial_pending = send_initial
        kind_b = info.kind.encode()
        gv_b = info.group_version.encode()
        next_bookmark = self._next_bookmark(time.monotonic(), deadline) if bookmarks else float("inf")
        queue = watcher.queue
        loop = asyncio.get_running_loop()
        # One timer wakes the loop for the next bookmark or the deadline, re-armed only when that instant
        # changes or it fired: no timeout object per wait, which a busy fan-out would pay per event.
        timer: asyncio.TimerHandle | None = None
        timer_at = 0.0
        fired = [False]

        def ring() -> None:
            fired[0] = True
            queue.wake()

        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                if initial_pending and queue.empty():
                    initial_pending = False
                    await response.write(self._bookmark(kind_b, gv_b, rest.cache.revision, initial_end=True))
                    continue
                if now >= next_bookmark:
                    await response.write(self._bookmark(kind_b, gv_b, rest.cache.revision))
                    next_bookmark = self._next_bookmark(now, deadline)
                    continue
                if queue.empty():
                    wake_at = min(deadline, next_bookmark)
                    if timer is None or fired[0] or timer_at != wake_at:
                        if timer is not None:
                            timer.cancel()
                        fired[0] = False
                        timer, timer_at = loop.call_later(max(wake_at - now, 0.0), ring), wake_at
                    await queue.wait()
                    continue
                # Everything queued for this watcher goes out in one write (one chunk, one TLS record
                # run), the frames joined once.
                parts: list[bytes] = []
                ended = False
                count = 0
                while count < 500 and not queue.empty():
                    item = queue.get_nowait()
                    if item is None:
                        ended = True
                        break
                    event_type, o = item
                    count += 1
                    if as_table:
                        table = self._table(request, info, [rest.present(o.obj)], rv=str(o.rv), headers=first)
                        first = False
                        parts += (EVENT_FRAME_HEAD[event_type], _encode(table), b"}\n")
                    else:
                        parts += (EVENT_FRAME_HEAD[event_type], rest.present_bytes(o), b"}\n")
                if parts:
                    await response.write(b"".join(parts))
                if ended:
                    if watcher.overflowed:
                        err = errors.GoneError("watch closed: the client could not keep up", )
                        await response.write(b'{"type":"ERROR","object":' + codec.status_body(err) + b"}\n")
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            rest.cache.stop_watch(watcher)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            rest.cache.stop_watch(watcher)
        await response.write_eof()
        return response

    def _next_bookmark(self, now: float, deadline: float) -> float:
        """Bookmarks go out every interval and once about two seconds before the watch ends, so a client
        can resume from a recent resourceVersion (Kubernetes does the same)."""
        last_call = deadline - 2.0
        following = now + self.bookmark_interval
        if now < last_call:
            return min(following, last_call)
        return following if following < deadline else float("inf")

    @staticmethod
    def _bookmark(kind: bytes, gv: bytes, rv: int, *, initial_end: bool = False) -> bytes:
        annotations = b',"annotations":{"k8s.io/initial-events-end":"true"}' if initial_end else b""
        return (b'{"type":"' + BOOKMARK.encode() + b'","object":{"kind":"' + kind + b'","apiVersion":"' + gv
                + b'","metadata":{"resourceVersion":"' + str(rv).encode() + b'"' + annotations + b"}}}\n")

    async def create(self, request: web.Request, rest: ResourceREST, ctx: RequestContext) -> web.StreamResponse:
        obj = self.decode_object(request_body=await request.read(), request=request, info=rest.info, rest=rest,
                                 ctx=ctx)
        created = await rest.create(ctx=ctx, obj=obj, decoded=True)
        return json_response(created, status=201, warnings=ctx.warnings, request=request)

    async def replace(self, request: web.Request, rest: ResourceREST, ctx: RequestContext, name: str,
                      subresource: str = "") -> web.StreamResponse:
        desired = self.decode_object(request_body=await request.read(), request=request, info=rest.info,
                                     rest=rest, ctx=ctx)
        # An attempt changes the object it is given in place: the first one gets `desired` itself, a retry
        # (conflict, stale cache) a fresh decode of its bytes, far cheaper than a deep copy.
        pristine = _encode(desired)
        attempts = 0

        async def transform(current: dict[str, Any]) -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            return desired if attempts == 1 else _decode(pristine)

        async def create_missing() -> dict[str, Any]:
            raise rest._not_found(name)

        obj, created = await rest.update(ctx=ctx, name=name, transform=transform, subresource=subresource,
                                         create_missing=create_missing)
        return json_response(obj, status=201 if created else 200, warnings=ctx.warnings, request=request)

    async def patch(self, request: web.Request, rest: ResourceREST, ctx: RequestContext, name: str,
                    subresource: str = "") -> web.StreamResponse:
        from kybernetes.apiserver.patching import patch_object

        content_type = codec.media_type(request.headers.get("Content-Type"))
        if content_type not in codec.PATCH_TYPES:
            raise errors.UnsupportedMediaTypeError(
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join(codec.PATCH_TYPES)}"
            )
        raw = await request.read()
        patch_doc = codec.decode_body(body=raw, content_type=content_type, allow=codec.PATCH_TYPES)
        force = _bool_param(request.query, "force")
        if content_type == codec.APPLY_PATCH_YAML:
            if not request.query.get("fieldManager"):
                raise errors.BadRequestError("PATCH, application/apply-patch+yaml requires a non-empty fieldManager")
        elif "force" in request.query:
            raise errors.BadRequestError("force: Invalid value: \"true\": may not be specified for non-apply patch")
        obj, created = await patch_object(
            handlers=self, rest=rest, ctx=ctx, name=name, patch_type=content_type, patch=patch_doc,
            subresource=subresource, force=force,
        )
        return json_response(obj, status=201 if created else 200, warnings=ctx.warnings, request=request)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        options: dict[str, Any] = {}
        if raw.strip():
            decoded = codec.decode_body(body=raw, content_type=request.headers.get("Content-Type"))
            if not isinstance(decoded, dict):
                raise errors.BadRequestError("the body of the request must be a DeleteOptions object")
            options = decoded
        q = request.query
        if "gracePeriodSeconds" in q:
            options["gracePeriodSeconds"] = _int_param(q, "gracePeriodSeconds")
        if "propagationPolicy" in q:
            options["propagationPolicy"] = q["propagationPolicy"]
        if "orphanDependents" in q:
            options["orphanDependents"] = _bool_param(q, "orphanDependents")
        policy = options.get("propagationPolicy")
        if policy is not None and policy not in ("Foreground", "Background", "Orphan"):
            raise errors.InvalidError(
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "{policy}": '
                'supported values: "Foreground", "Background", "Orphan"',
                causes=[errors.not_supported("propagationPolicy", policy, ["Foreground", "Background", "Orphan"])],
            )
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (not isinstance(grace, int) or grace < 0):
            raise errors.InvalidError(
                'DeleteOptions.meta.k8s.io "" is invalid: gracePeriodSeconds: Invalid value: must be >= 0',
                causes=[errors.invalid("gracePeriodSeconds", grace, "must be >= 0")],
            )
        return options

    @staticmethod
    def _body_dry_run(ctx: RequestContext, options: dict[str, Any]) -> None:
        """DeleteOptions may carry dryRun in the body (kubectl --dry-run=server does) as well as the query."""
        dry = options.get("dryRun") or []
        if dry:
            if not isinstance(dry, list) or any(d != "All" for d in dry):
                raise errors.BadRequestError(f'Invalid dryRun value: "{dry}"; supported values: "All"')
            ctx.dry_run = True

    async def delete(self, request: web.Request, rest: ResourceREST, ctx: RequestContext, name: str) -> web.StreamResponse:
        options = await self._delete_options(request)
        self._body_dry_run(ctx, options)
        obj, present = await rest.delete(ctx=ctx, name=name, options=options)
        if present or rest.info.delete_returns_object:
            # 202: accepted, but the object is still there (graceful deletion or finalizers), as Kubernetes answers.
            return json_response(obj, status=202 if present and not ctx.dry_run else 200, request=request)
        meta = obj["metadata"]
        return json_response(codec.success_status(details={
            "name": name, "group": rest.info.group, "kind": rest.info.plural, "uid": meta.get("uid", ""),
        }), request=request)

    async def delete_collection(self, request: web.Request, rest: ResourceREST, ctx: RequestContext,
                                ri: RequestInfo) -> web.StreamResponse:
        options = await self._delete_options(request)
        self._body_dry_run(ctx, options)
        predicate, _, _ = self._predicate(rest.info, request.query)
        await rest.sync_cache()
        targets = rest.cache.list(namespace=self._scope(rest.info, ri), predicate=predicate)
        deleted: list[dict[str, Any]] = []
        for o in targets:
            sub_ctx = copy.copy(ctx)
            sub_ctx.namespace = o.namespace
            try:
                obj, _ = await rest.delete(ctx=sub_ctx, name=o.name, options=options)
            except errors.NotFoundError:
                continue
            deleted.append(obj)
        return json_response({
            "kind": rest.info.list_kind, "apiVersion": rest.info.group_version,
            "metadata": {"resourceVersion": str(rest.cache.revision)}, "items": deleted,
        })


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


__all__ = ["ADDED", "DELETED", "MODIFIED", "ResourceHandlers", "json_response"]
