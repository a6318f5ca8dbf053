"""Generic subresources: `status` (get / update / patch of the status alone) and `scale`.

`scale` presents a workload's replicas as an `autoscaling/v1` Scale, the common shape that `kubectl scale`
and autoscalers use; writing it changes only `spec.replicas` of the workload.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver import codec
from kybernetes.apiserver.rest import RequestContext, ResourceREST
from kybernetes.machinery import errors
from kybernetes.machinery import patch as patches
from kybernetes.machinery.labels import selector_from_api

if TYPE_CHECKING:
    from kybernetes.apiserver.handlers import ResourceHandlers


async def status(handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                 ctx: RequestContext, name: str) -> web.StreamResponse:
    from kybernetes.apiserver.handlers import json_response

    if request.method in ("GET", "HEAD"):
        found = await rest.get_cached(namespace=ctx.namespace, name=name)
        return json_response(rest.present_bytes(found))
    if request.method == "PUT":
        return await handlers.replace(request, rest, ctx, name, subresource="status")
    if request.method == "PATCH":
        return await handlers.patch(request, rest, ctx, name, subresource="status")
    raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")


def _selector_string(obj: dict[str, Any]) -> str:
    spec = obj.get("spec") or {}
    sel = spec.get("selector")
    if sel is None:
        return ""
    if obj.get("kind") == "ReplicationController":
        return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
    return str(selector_from_api(sel))


def to_scale(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    status = obj.get("status") or {}
    scale_status: dict[str, Any] = {"replicas": status.get("replicas", 0)}
    selector = _selector_string(obj)
    if selector:
        scale_status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": scale_status,
    }


async def scale(handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                ctx: RequestContext, name: str) -> web.StreamResponse:
    from kybernetes.apiserver.handlers import json_response

    if request.method in ("GET", "HEAD"):
        found = await rest.get_cached(namespace=ctx.namespace, name=name)
        return json_response(to_scale(found.obj))
    if request.method not in ("PUT", "PATCH"):
        raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
    raw = await request.read()
    content_type = codec.media_type(request.headers.get("Content-Type"))
    if request.method == "PUT":
        body = handlers.check_kind(obj=codec.decode_body(body=raw, content_type=content_type), info=info,
                                   kind="Scale", api_version="autoscaling/v1")
    else:
        if content_type not in codec.PATCH_TYPES or content_type == codec.APPLY_PATCH_YAML:
            raise errors.UnsupportedMediaTypeError(
                "the body of the request was in an unknown format - accepted media types include: "
                + ", ".join(codec.PATCH_TYPES[:3])
            )
        patch_doc = codec.decode_body(body=raw, content_type=content_type, allow=codec.PATCH_TYPES)
        body = None

    async def transform(current: dict[str, Any]) -> dict[str, Any]:
        current_scale = to_scale(current)
        if body is not None:
            desired = body
        elif content_type == codec.JSON_PATCH:
            desired = patches.apply_json_patch(current_scale, patch_doc)
        else:
            desired = patches.apply_merge_patch(current_scale, patch_doc)
        replicas = (desired.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.InvalidError.of(kind="Scale", group="autoscaling", name=name, causes=[
                errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")])
        rv = (desired.get("metadata") or {}).get("resourceVersion")
        updated = copy.deepcopy(current)
        updated["spec"]["replicas"] = replicas
        if rv:
            updated["metadata"]["resourceVersion"] = rv
        else:
            updated["metadata"].pop("resourceVersion", None)
        return updated

    obj, _ = await rest.update(ctx=ctx, name=name, transform=transform, subresource="scale")
    return json_response(to_scale(obj))
