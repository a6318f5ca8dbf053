"""Namespaces: Active on create; on delete they turn Terminating and stay until their `spec.finalizers`
are emptied through the `finalize` subresource (the namespace controller does that once the content is
gone), as in Kubernetes."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver import codec
from kybernetes.apiserver.registry.strategy import Strategy
from kybernetes.apiserver.rest import RequestContext, ResourceREST
from kybernetes.machinery import errors

if TYPE_CHECKING:
    from kybernetes.apiserver.handlers import ResourceHandlers


class NamespaceStrategy(Strategy):
    def prepare_for_create(self, *, obj: dict[str, Any]) -> None:
        super().prepare_for_create(obj=obj)
        obj["status"] = {"phase": "Active"}
        # Every namespace carries the `kubernetes` finalizer: deleting one makes it Terminating until the
        # namespace controller has removed its content and finalized it.
        obj["spec"] = {"finalizers": ["kubernetes"]}

    def keep_for_finalization(self, *, obj: dict[str, Any]) -> bool:
        if (obj.get("spec") or {}).get("finalizers"):
            obj.setdefault("status", {})["phase"] = "Terminating"
            return True
        return False


async def finalize(handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                   ctx: RequestContext, name: str) -> web.StreamResponse:
    from kybernetes.apiserver.handlers import json_response

    if request.method != "PUT":
        raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
    body = handlers.check_kind(
        obj=codec.decode_body(body=await request.read(), content_type=request.headers.get("Content-Type")),
        info=info,
    )
    finalizers = list((body.get("spec") or {}).get("finalizers") or [])

    async def transform(current: dict[str, Any]) -> dict[str, Any]:
        updated = copy.deepcopy(current)
        updated.setdefault("spec", {})["finalizers"] = finalizers
        if not finalizers:
            updated["spec"].pop("finalizers")
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv:
            updated["metadata"]["resourceVersion"] = rv
        else:
            updated["metadata"].pop("resourceVersion", None)
        return updated

    obj, _ = await rest.update(ctx=ctx, name=name, transform=transform, subresource="finalize")
    return json_response(obj)
