"""CertificateSigningRequests: their strategy, and the `approval` subresource, as Kubernetes serves them.

Three ways to write a CSR, each with its own rules:

* the main resource — on create the server records who asks (`spec.username`, `uid`, `groups`, `extra`
  from the authenticated user, whatever the client sent) and starts with an empty status; afterwards the
  spec and the status are immutable there (metadata may change);
* `status` — the signer's: `status.certificate` may be set once, and only on an Approved request that is
  not Denied; conditions other than Approved/Denied (Failed, say) may be added; Approved and Denied are kept
  from the stored object;
* `approval` — the approver's (`kubectl certificate approve|deny`): only `status.conditions` change; Approved
  and Denied exclude each other, and no Approved, Denied or Failed condition may be removed.

Conditions get `lastUpdateTime` / `lastTransitionTime` filled in by the server when a writer leaves them out.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kybernetes.api.certificates import (
    APPROVED,
    DENIED,
    FAILED,
    KEY_USAGES,
    RequestError,
    decode_bytes_field,
    parse_request,
)
from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver.registry.strategy import Strategy
from kybernetes.apiserver.rest import RequestContext, ResourceREST, now_rfc3339
from kybernetes.machinery import errors

if TYPE_CHECKING:
    from kybernetes.apiserver.handlers import ResourceHandlers

_SIGNER_NAME = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_USER_FIELDS = ("username", "uid", "groups", "extra")
_DECISIONS = (APPROVED, DENIED)


def validate_spec(obj: dict[str, Any]) -> list[errors.FieldError]:
    """The request, signer name, usages and expiration of a new CSR."""
    spec = obj.get("spec") or {}
    causes: list[errors.FieldError] = []
    request = spec.get("request")
    if not request:
        causes.append(errors.required("spec.request"))
    else:
        try:
            parse_request(request)
        except RequestError as e:
            causes.append(errors.invalid("spec.request", "<omitted>", str(e)))
    signer = spec.get("signerName")
    if not signer:
        causes.append(errors.required("spec.signerName"))
    elif not _SIGNER_NAME.match(signer) or len(signer) > 571:
        causes.append(errors.invalid(
            "spec.signerName", signer, "must be a fully qualified domain and path of the form 'example.com/signer-name'"
        ))
    usages = spec.get("usages")
    if not usages:
        causes.append(errors.required("spec.usages"))
    else:
        seen: set[str] = set()
        for i, usage in enumerate(usages):
            if usage not in KEY_USAGES:
                causes.append(errors.not_supported(f"spec.usages[{i}]", usage, list(KEY_USAGES)))
            elif usage in seen:
                causes.append(errors.duplicate(f"spec.usages[{i}]", usage))
            seen.add(usage)
    expiration = spec.get("expirationSeconds")
    if expiration is not None and (not isinstance(expiration, int) or expiration < 600):
        causes.append(errors.invalid("spec.expirationSeconds", expiration, "may not specify a duration less than 600 seconds (10 minutes)"))
    return causes


def validate_conditions(*, new: dict[str, Any], old: dict[str, Any] | None) -> list[errors.FieldError]:
    """Approved and Denied exclude each other, are "True", appear once; a decision or failure stays."""
    causes: list[errors.FieldError] = []
    conditions = (new.get("status") or {}).get("conditions") or []
    seen: set[str] = set()
    for i, c in enumerate(conditions):
        kind = c.get("type")
        if not kind:
            causes.append(errors.required(f"status.conditions[{i}].type"))
            continue
        if kind in seen:
            causes.append(errors.duplicate(f"status.conditions[{i}].type", kind))
        seen.add(kind)
        if kind in _DECISIONS and c.get("status") not in ("True", None, ""):
            causes.append(errors.not_supported(f"status.conditions[{i}].status", c.get("status"), ["True"]))
    if APPROVED in seen and DENIED in seen:
        causes.append(errors.invalid("status.conditions", conditions, "Approved and Denied conditions are mutually exclusive"))
    if old is not None:
        before = {c.get("type") for c in (old.get("status") or {}).get("conditions") or []}
        for kind in (APPROVED, DENIED, FAILED):
            if kind in before and kind not in seen:
                causes.append(errors.forbidden("status.conditions", f"updates may not remove a condition of type {kind!r}"))
    return causes


def _fill_timestamps(*, new: dict[str, Any], old: dict[str, Any]) -> None:
    now = now_rfc3339()
    previous = {c.get("type"): c for c in (old.get("status") or {}).get("conditions") or []}
    for c in (new.get("status") or {}).get("conditions") or []:
        c.setdefault("status", "True")
        if not c.get("lastUpdateTime"):
            c["lastUpdateTime"] = now
        if not c.get("lastTransitionTime"):
            before = previous.get(c.get("type"))
            same = before is not None and before.get("status") == c.get("status")
            c["lastTransitionTime"] = (before or {}).get("lastTransitionTime") if same else None
            c["lastTransitionTime"] = c["lastTransitionTime"] or now


class CertificateSigningRequestStrategy(Strategy):
    def __init__(self, info: ResourceInfo) -> None:
        super().__init__(info)
        self.tracks_generation = False

    def prepare_for_create(self, *, obj: dict[str, Any]) -> None:
        super().prepare_for_create(obj=obj)
        spec = obj.setdefault("spec", {})
        for key in _USER_FIELDS:
            spec.pop(key, None)

    async def before_create(self, *, ctx: RequestContext, obj: dict[str, Any]) -> None:
        # Who asked is the authenticated user, never what the body claims.
        spec = obj.setdefault("spec", {})
        user = ctx.user
        spec["username"] = user.name
        if user.uid:
            spec["uid"] = user.uid
        if user.groups:
            spec["groups"] = list(user.groups)
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra.items()}

    def validate(self, *, obj: dict[str, Any]) -> list[errors.FieldError]:
        return [*super().validate(obj=obj), *validate_spec(obj)]

    def prepare_for_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_for_update(new=new, old=old)
        new["spec"] = copy.deepcopy(old.get("spec") or {})

    def validate_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> list[errors.FieldError]:
        return super().validate_update(new=new, old=old)

    def prepare_for_status_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_for_status_update(new=new, old=old)
        # Approval and denial belong to the approval subresource: keep the stored ones.
        status = new.setdefault("status", {})
        kept = [c for c in (old.get("status") or {}).get("conditions") or [] if c.get("type") in _DECISIONS]
        others = [c for c in status.get("conditions") or [] if c.get("type") not in _DECISIONS]
        if kept or others:
            status["conditions"] = [*kept, *others]
        else:
            status.pop("conditions", None)
        _fill_timestamps(new=new, old=old)

    def validate_status_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> list[errors.FieldError]:
        causes = validate_conditions(new=new, old=old)
        certificate = (new.get("status") or {}).get("certificate")
        previous = (old.get("status") or {}).get("certificate")
        if certificate != previous:
            decided = {c.get("type") for c in (new.get("status") or {}).get("conditions") or []}
            if previous:
                causes.append(errors.forbidden("status.certificate", "updates may not modify existing certificate content"))
            elif APPROVED not in decided or DENIED in decided:
                causes.append(errors.forbidden("status.certificate",
                                               "certificate may only be set when the request is approved"))
            elif not _is_pem_certificates(certificate):
                causes.append(errors.invalid("status.certificate", "<certificate data>",
                                             "must contain at least one CERTIFICATE PEM block"))
        return causes


class ApprovalStrategy(CertificateSigningRequestStrategy):
    """Writes through `approval`: only status.conditions change."""

    def prepare_for_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> None:
        conditions = (new.get("status") or {}).get("conditions")
        metadata = new.get("metadata") or {}
        new.clear()
        new.update(copy.deepcopy(old))
        new["metadata"] = metadata
        status = new.setdefault("status", {})
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        _fill_timestamps(new=new, old=old)

    def validate_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> list[errors.FieldError]:
        return [*super().validate_update(new=new, old=old), *validate_conditions(new=new, old=old)]


def _is_pem_certificates(value: Any) -> bool:
    try:
        pem = decode_bytes_field(value)
    except (RequestError, TypeError):
        return False
    return b"-----BEGIN CERTIFICATE-----" in pem


async def approval(handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                   ctx: RequestContext, name: str) -> web.StreamResponse:
    """GET / PUT / PATCH `certificatesigningrequests/<name>/approval`."""
    from kybernetes.apiserver.handlers import json_response

    if request.method in ("GET", "HEAD"):
        found = await rest.get_cached(namespace=ctx.namespace, name=name)
        return json_response(rest.present_bytes(found))
    # The same store and cache, written with the approval rules.
    approval_rest = dataclasses.replace(rest, strategy=ApprovalStrategy(rest.info))
    if request.method == "PUT":
        return await handlers.replace(request, approval_rest, ctx, name, subresource="approval")
    if request.method == "PATCH":
        return await handlers.patch(request, approval_rest, ctx, name, subresource="approval")
    raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
