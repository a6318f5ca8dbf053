"""The CSR approver (`csrapproving`): node client certificates for joining and renewing nodes.

`decide(csr)` is the whole policy (pure, see the package docstring): it answers the reason to approve, or
None to leave the request alone. `sync(name)` applies it: an undecided request with an approval reason gets
an `Approved` condition through the `approval` subresource.
"""

from __future__ import annotations

import logging

from kybernetes.api.bootstraptoken import GROUP as BOOTSTRAPPERS
from kybernetes.api.bootstraptoken import USER_PREFIX as BOOTSTRAP_USER_PREFIX
from kybernetes.api.certificates import (
    APPROVED,
    DENIED,
    SIGNER_KUBELET_CLIENT,
    RequestError,
    common_name,
    kubelet_client_problems,
    parse_request,
)
from kybernetes.api.models.certificates_v1 import CertificateSigningRequest
from kybernetes.client import Client, Clock, Informer, WorkQueue
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.certificates import conditions, name_of, put_subresource
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.common.wire import wire
from kybernetes.machinery.errors import NotFoundError
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["APPROVE_MESSAGE", "CSRApprover", "decide", "new"]

log = logging.getLogger(__name__)

APPROVE_REASON = "AutoApproved"
APPROVE_MESSAGE = "Auto approving kubelet client certificate after SubjectAccessReview."


def decide(csr: CertificateSigningRequest) -> str | None:
    """Why to approve `csr` ("nodeclient": a bootstrapping node, "selfnodeclient": a node renewing), or None."""
    spec = csr.spec
    if spec is None or spec.signer_name != SIGNER_KUBELET_CLIENT or not spec.request:
        return None
    decided = conditions(csr)
    if APPROVED in decided or DENIED in decided:
        return None
    try:
        request = parse_request(spec.request)
    except RequestError:
        return None
    if kubelet_client_problems(csr=request, usages=list(spec.usages or [])):
        return None
    user = spec.username or ""
    if user.startswith(BOOTSTRAP_USER_PREFIX) and BOOTSTRAPPERS in (spec.groups or []):
        return "nodeclient"
    if user == common_name(request):
        return "selfnodeclient"
    return None


class CSRApprover:
    name = "csrapproving"

    def __init__(self, *, client: Client, csrs: Informer[CertificateSigningRequest], clock: Clock) -> None:
        self.client = client
        self.csrs = csrs
        self.queue = WorkQueue(name=self.name, clock=clock)
        csrs.add_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new))

    def _enqueue(self, csr: CertificateSigningRequest) -> None:
        if name_of(csr):
            self.queue.add(name_of(csr))

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    async def sync(self, name: str) -> None:
        csr = self.csrs.get(name)
        if csr is None:
            return
        why = decide(csr)
        if why is None:
            return
        obj = wire(csr)
        status = obj.setdefault("status", {})
        now = now_rfc3339()
        status["conditions"] = [*(status.get("conditions") or []), {
            "type": APPROVED, "status": "True", "reason": APPROVE_REASON, "message": APPROVE_MESSAGE,
            "lastUpdateTime": now, "lastTransitionTime": now,
        }]
        try:
            await put_subresource(client=self.client, obj=obj, subresource="approval")
        except NotFoundError:
            return
        log.info("approved certificate signing request %s (%s, %s)", name, why, csr.spec.username if csr.spec else "")


def new(ctx: ControllerContext) -> CSRApprover:
    return CSRApprover(client=ctx.client, csrs=ctx.informers.informer(CertificateSigningRequest), clock=ctx.clock)
