"""Pods: their strategy (status on create, graceful deletion) and the binding and eviction subresources.

A pod that has been scheduled is deleted gracefully: it gets a deletionTimestamp and its grace period,
and the kubelet removes it once its containers have stopped (or at once with gracePeriodSeconds=0).
A pod that never reached a node, or that has finished, is deleted at once, as Kubernetes does.
Binding sets `spec.nodeName` exactly once; eviction is a delete that first asks the pod's disruption
budgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver.registry.strategy import Strategy
from kybernetes.apiserver.rest import RequestContext, ResourceREST, now_rfc3339
from kybernetes.machinery import errors
from kybernetes.machinery.labels import selector_from_api

if TYPE_CHECKING:
    from kybernetes.apiserver.handlers import ResourceHandlers


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits (Kubernetes' rules)."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        requests = res.get("requests") or {}
        limits = res.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            lim = limits.get(name)
            if lim is None:
                guaranteed = False
            elif name in requests and str(requests[name]) != str(lim):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class PodStrategy(Strategy):
    def prepare_for_create(self, *, obj: dict[str, Any]) -> None:
        super().prepare_for_create(obj=obj)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}

    def prepare_for_status_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_for_status_update(new=new, old=old)
        # qosClass is fixed at creation.
        if "qosClass" in (old.get("status") or {}):
            new.setdefault("status", {})["qosClass"] = old["status"]["qosClass"]

    def grace_period(self, *, obj: dict[str, Any], requested: int | None) -> int:
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return requested
        return int(spec.get("terminationGracePeriodSeconds", 30))


async def binding(handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                  ctx: RequestContext, name: str) -> web.StreamResponse:
    from kybernetes.apiserver.handlers import json_response

    if request.method != "POST":
        raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
    body = handlers.check_kind(obj=await _json(request), info=info, kind="Binding", api_version="v1")
    target = body.get("target") or {}
    node = target.get("name")
    causes = []
    if not node:
        causes.append(errors.required("target.name"))
    if target.get("kind") not in (None, "", "Node"):
        causes.append(errors.not_supported("target.kind", target.get("kind"), ["Node"]))
    if causes:
        raise errors.InvalidError.of(kind="Binding", group="", name=name, causes=causes)

    async def transform(pod: dict[str, Any]) -> dict[str, Any]:
        meta = pod["metadata"]
        want_uid = (body.get("metadata") or {}).get("uid")
        if want_uid and want_uid != meta.get("uid"):
            raise errors.ConflictError(f'Operation cannot be fulfilled on pods/binding "{name}": '
                                       f"the UID in the binding ({want_uid}) does not match the pod")
        if meta.get("deletionTimestamp"):
            raise errors.ConflictError(f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is being deleted, cannot be assigned to a host')
        spec = pod.setdefault("spec", {})
        if spec.get("nodeName"):
            raise errors.ConflictError(
                f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is already assigned to node "{spec["nodeName"]}"'
            )
        spec["nodeName"] = node
        for k, v in ((body.get("metadata") or {}).get("annotations") or {}).items():
            meta.setdefault("annotations", {})[k] = v
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": now_rfc3339()})
        status["conditions"] = conditions
        return pod

    # Binding writes spec.nodeName and the PodScheduled condition together, bypassing the
    # status/spec split of the main resource (Kubernetes' binding REST does the same).
    rest_binding = _BindingREST.of(rest)
    await rest_binding.update(ctx=ctx, name=name, transform=transform, subresource="binding")
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                          "code": 201}, status=201)


class _BindingStrategy(PodStrategy):
    def prepare_for_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Keep what the binding transform produced."""

    def validate_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> list[errors.FieldError]:
        return []


class _BindingREST(ResourceREST):
    @classmethod
    def of(cls, rest: ResourceREST) -> _BindingREST:
        return cls(info=rest.info, strategy=_BindingStrategy(rest.info), store=rest.store, cache=rest.cache,
                   decode=rest.decode, admission=[], managed_fields=rest.managed_fields)


async def eviction(handlers: ResourceHandlers, request: web.Request, info: ResourceInfo, rest: ResourceREST,
                   ctx: RequestContext, name: str) -> web.StreamResponse:
    """Delete a pod unless a PodDisruptionBudget that selects it allows no disruption (429)."""
    from kybernetes.apiserver.handlers import json_response

    if request.method != "POST":
        raise errors.MethodNotAllowedError("the server does not allow this method on the requested resource")
    body = handlers.check_kind(obj=await _json(request), info=info, kind="Eviction", api_version="policy/v1")
    pod = (await rest.get_cached(namespace=ctx.namespace, name=name)).obj
    phase = (pod.get("status") or {}).get("phase")
    pdbs = request.app["kyb.lookup"]("poddisruptionbudgets.policy")
    if phase not in ("Succeeded", "Failed") and pdbs is not None and not pod["metadata"].get("deletionTimestamp"):
        await pdbs.sync_cache()
        for o in pdbs.cache.list(namespace=ctx.namespace, predicate=None):
            pdb = o.obj  # decoded on demand: once
            selector = selector_from_api((pdb.get("spec") or {}).get("selector"))
            if selector.empty or not selector.matches(pod["metadata"].get("labels")):
                continue
            allowed = (pdb.get("status") or {}).get("disruptionsAllowed", 0)
            if allowed <= 0:
                raise errors.TooManyRequestsError(
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    causes=[errors.FieldError("", "DisruptionBudget",
                                              f"The disruption budget {o.name} needs {allowed} healthy pods "
                                              "and has 0 currently")],
                )
    options = body.get("deleteOptions") or {}
    await rest.delete(ctx=ctx, name=name, options=options)
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                          "code": 201}, status=201)


async def _json(request: web.Request) -> Any:
    from kybernetes.apiserver import codec

    return codec.decode_body(body=await request.read(), content_type=request.headers.get("Content-Type"))
