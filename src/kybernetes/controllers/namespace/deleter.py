"""Deleting everything in one namespace, one resource at a time, and telling what is left.

For each served namespaced resource that can be deleted and listed (pods first): a `deletecollection`
with background propagation (the namespace goes as a whole, so nothing should be orphaned), or, where the
resource has no `deletecollection`, a delete of each listed object; then a list of what remains. The
result is what the controller's conditions and its retry timing are made of:

* `remaining` — `"<resource>.<group>"` → objects still present (`pods.` for core, as Kubernetes writes it);
* `finalizers` — finalizer → objects it still holds;
* `estimate` — seconds until the rest should be gone: the longest pod grace period, or 15 s when
  finalizers hold objects (Kubernetes' guess for finalizers to run);
* `errors` — one line per resource that failed.

A resource the server answers 404/405 for is remembered as not supporting the verb, as Kubernetes does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kybernetes.api.resources import ResourceInfo
from kybernetes.client import Client
from kybernetes.controllers.garbagecollector.metadata import (
    MetadataResource,
    PartialObject,
    watchable_resources,
)
from kybernetes.machinery.errors import MethodNotAllowedError, NotFoundError, StatusError

__all__ = ["FINALIZER_ESTIMATE_SECONDS", "ContentDeleter", "DeletionResult", "deletable_resources"]

log = logging.getLogger(__name__)

FINALIZER_ESTIMATE_SECONDS = 15.0
DEFAULT_POD_GRACE = 30


@dataclass
class DeletionResult:
    remaining: dict[str, int] = field(default_factory=dict)
    finalizers: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    estimate: float = 0.0


def deletable_resources() -> list[ResourceInfo]:
    """Namespaced resources with delete (or deletecollection) and list, pods first."""
    found = [
        info for info in watchable_resources(namespaced_only=True, exclude_events=False)
        if "list" in info.verbs and ({"delete", "deletecollection"} & set(info.verbs))
    ]
    found.sort(key=lambda info: not (info.group == "" and info.plural == "pods"))
    return found


def _label(info: ResourceInfo) -> str:
    return f"{info.plural}.{info.group}"


class ContentDeleter:
    def __init__(self, *, client: Client, resources: list[ResourceInfo]) -> None:
        self.client = client
        self.resources = resources
        self._clients = {info: MetadataResource(client=client, info=info) for info in resources}
        self._unsupported: set[tuple[str, ResourceInfo]] = set()

    async def delete_content(self, *, namespace: str) -> DeletionResult:
        result = DeletionResult()
        for info in self.resources:
            try:
                await self._delete_resource(info=info, namespace=namespace, result=result)
            except StatusError as e:
                result.errors.append(f"{_label(info)}: {e.message}")
        return result

    async def _delete_resource(self, *, info: ResourceInfo, namespace: str, result: DeletionResult) -> None:
        resource = self._clients[info]
        collected = False
        if "deletecollection" in info.verbs and ("deletecollection", info) not in self._unsupported:
            try:
                await resource.delete_collection(namespace=namespace, propagation_policy="Background")
                collected = True
            except (MethodNotAllowedError, NotFoundError):
                self._unsupported.add(("deletecollection", info))
        if ("list", info) in self._unsupported:
            return
        try:
            items = (await resource.list_all(namespace=namespace)).items
        except (MethodNotAllowedError, NotFoundError):
            self._unsupported.add(("list", info))
            return
        if not collected:
            for item in items:
                if item.metadata.deletion_timestamp:
                    continue
                try:
                    await resource.delete(name=item.metadata.name, namespace=namespace, propagation_policy="Background")
                except NotFoundError:
                    continue
            items = (await resource.list_all(namespace=namespace)).items
        if not items:
            return
        result.remaining[_label(info)] = len(items)
        estimate = 0.0
        holders: dict[str, int] = {}
        for item in items:
            for finalizer in item.metadata.finalizers:
                holders[finalizer] = holders.get(finalizer, 0) + 1
            if info.group == "" and info.plural == "pods":
                estimate = max(estimate, float(_grace(item)))
        for name, count in holders.items():
            result.finalizers[name] = result.finalizers.get(name, 0) + count
        if estimate == 0.0:
            if holders:
                estimate = FINALIZER_ESTIMATE_SECONDS
            else:
                result.errors.append(
                    f"unexpected items still remain in namespace: {namespace} for gvr: "
                    f"{info.group}/{info.version}, Resource={info.plural}"
                )
        result.estimate = max(result.estimate, estimate)


def _grace(pod: PartialObject) -> int:
    grace = pod.metadata.deletion_grace_period_seconds
    if grace is None:
        return DEFAULT_POD_GRACE
    return max(grace, 1)
