"""Reviews: objects that are created, answered and never stored.

- SelfSubjectReview (`kubectl auth whoami`): the requester's user info.
- TokenReview: whether a bearer token authenticates, and as whom (what webhook authenticators ask).
- SelfSubjectAccessReview / SubjectAccessReview / LocalSubjectAccessReview / SelfSubjectRulesReview
  (`kubectl auth can-i`): answered by the server's authorizer. Until RBAC arrives the authorizer allows
  everything, and the answers say so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver import codec
from kybernetes.apiserver.auth import AuthenticatorChain, UserInfo
from kybernetes.apiserver.rest import RequestContext
from kybernetes.machinery import errors

ALLOW_ALL_REASON = "no authorization is configured: every request is allowed"
ReviewHandler = Callable[[web.Request, ResourceInfo, RequestContext], Awaitable[web.StreamResponse]]


def _user_info(user: UserInfo) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return info


async def _body(request: web.Request, info: ResourceInfo) -> dict[str, Any]:
    from kybernetes.apiserver.handlers import ResourceHandlers

    raw = codec.decode_body(body=await request.read(), content_type=request.headers.get("Content-Type"))
    return ResourceHandlers.check_kind(obj=raw, info=info)


def _answer(body: dict[str, Any], status: dict[str, Any]) -> web.StreamResponse:
    from kybernetes.apiserver.handlers import json_response

    body["status"] = status
    body.setdefault("metadata", {})["creationTimestamp"] = None
    return json_response(body, status=201)


def review_handlers(*, authenticator: AuthenticatorChain | None) -> dict[str, ReviewHandler]:
    async def self_subject_review(request: web.Request, info: ResourceInfo, ctx: RequestContext) -> web.StreamResponse:
        body = await _body(request, info)
        return _answer(body, {"userInfo": _user_info(ctx.user)})

    async def token_review(request: web.Request, info: ResourceInfo, ctx: RequestContext) -> web.StreamResponse:
        body = await _body(request, info)
        token = (body.get("spec") or {}).get("token")
        if not token:
            raise errors.InvalidError.of(kind="TokenReview", group=info.group, name="",
                                         causes=[errors.required("spec.token")])
        status: dict[str, Any] = {"authenticated": False}
        if authenticator is not None:
            try:
                user = await authenticator.authenticate(
                    request_headers={"Authorization": f"Bearer {token}"}, peer_cert=None)
            except errors.UnauthorizedError:
                user = None
            if user is not None and not user.is_anonymous:
                status = {"authenticated": True, "user": _user_info(user)}
        return _answer(body, status)

    async def access_review(request: web.Request, info: ResourceInfo, ctx: RequestContext) -> web.StreamResponse:
        body = await _body(request, info)
        return _answer(body, {"allowed": True, "reason": ALLOW_ALL_REASON})

    async def rules_review(request: web.Request, info: ResourceInfo, ctx: RequestContext) -> web.StreamResponse:
        body = await _body(request, info)
        return _answer(body, {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        })

    return {
        "selfsubjectreviews.authentication.k8s.io": self_subject_review,
        "tokenreviews.authentication.k8s.io": token_review,
        "selfsubjectaccessreviews.authorization.k8s.io": access_review,
        "subjectaccessreviews.authorization.k8s.io": access_review,
        "localsubjectaccessreviews.authorization.k8s.io": access_review,
        "selfsubjectrulesreviews.authorization.k8s.io": rules_review,
    }
