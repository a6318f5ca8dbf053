"""The `serviceaccounts/token` subresource (TokenRequest): a signed, expiring JWT for a service account,
optionally bound to a pod or secret, which the server then accepts as that account's bearer token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver import codec
from kybernetes.apiserver.auth import TokenIssuer
from kybernetes.apiserver.rest import RequestContext, ResourceREST
from kybernetes.machinery import errors

if TYPE_CHECKING:
    from kybernetes.apiserver.handlers import ResourceHandlers

_BOUND = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}


def token_handler(issuer: TokenIssuer) -> Any:
    async def token(handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                    ctx: RequestContext, name: str) -> web.StreamResponse:
        from kybernetes.apiserver.handlers import json_response

        if request.method != "POST":
            raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
        body = handlers.check_kind(
            obj=codec.decode_body(body=await request.read(), content_type=request.headers.get("Content-Type")),
            info=info, kind="TokenRequest", api_version="authentication.k8s.io/v1",
        )
        sa = (await rest.get_cached(namespace=ctx.namespace, name=name)).obj
        spec = body.get("spec") or {}
        expiration = spec.get("expirationSeconds")
        if expiration is None:
            expiration = 3600
        if not isinstance(expiration, int) or isinstance(expiration, bool):
            raise errors.BadRequestError("spec.expirationSeconds must be an integer")
        bound = spec.get("boundObjectRef")
        if bound:
            resource = _BOUND.get(bound.get("kind", ""))
            if resource is None:
                raise errors.InvalidError.of(kind="TokenRequest", group="authentication.k8s.io", name=name,
                                             causes=[errors.not_supported("spec.boundObjectRef.kind",
                                                                          bound.get("kind"), list(_BOUND))])
            target = request.app["kyb.lookup"](resource)
            ns = "" if resource == "nodes" else ctx.namespace
            live = (await target.get_cached(namespace=ns, name=bound.get("name", ""))).obj
            if bound.get("uid") and bound["uid"] != live["metadata"].get("uid"):
                raise errors.ConflictError(
                    f'the UID in the bound object reference ({bound["uid"]}) does not match the UID in record. '
                    "The object might have been deleted and then recreated"
                )
            bound = {**bound, "uid": live["metadata"].get("uid")}
        token, expires = issuer.issue_token(
            namespace=ctx.namespace, sa_name=name, sa_uid=sa["metadata"]["uid"],
            audiences=spec.get("audiences") or None, expiration_seconds=expiration, bound_object=bound,
        )
        out_spec = dict(spec)
        out_spec["expirationSeconds"] = min(expiration, issuer.max_expiration_seconds)
        if not out_spec.get("audiences"):
            out_spec["audiences"] = list(issuer.default_audiences)
        if out_spec.get("boundObjectRef") is None:
            out_spec.pop("boundObjectRef", None)
        meta: dict[str, Any] = {"name": name, "namespace": ctx.namespace, "creationTimestamp": None}
        return json_response({
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": meta,
            "spec": out_spec, "status": {"token": token, "expirationTimestamp": expires},
        }, status=201)

    return token
