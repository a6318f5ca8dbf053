"""Per-resource strategy: what differs between kinds in the generic create / update / delete flow.

The generic REST flow (`apiserver.rest`) owns storage, concurrency and wire handling; a strategy decides
what a kind does at each step: which fields the server resets on create, what the main resource and the
status subresource may change, when `generation` moves, how long a graceful delete lasts, and any extra
work around a write (allocating a Service's ClusterIP, say). Defaults and validation are pure functions in
`kybernetes.api.defaults` / `kybernetes.api.validation`, called through here.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kybernetes.api.defaults import apply_defaults
from kybernetes.api.resources import ResourceInfo
from kybernetes.api.validation import validate_create, validate_status_update, validate_update
from kybernetes.machinery.errors import FieldError

if TYPE_CHECKING:
    from kybernetes.apiserver.rest import RequestContext


# Kinds whose spec changes move metadata.generation (everything with a spec, as Kubernetes strategies do).
_NO_GENERATION = frozenset(
    {"ConfigMap", "Secret", "ServiceAccount", "Endpoints", "EndpointSlice", "Event", "Role", "ClusterRole",
     "RoleBinding", "ClusterRoleBinding", "StorageClass", "PriorityClass", "ControllerRevision", "Lease",
     "Service", "Namespace", "Node", "PersistentVolume", "PersistentVolumeClaim", "ResourceQuota", "LimitRange",
     "IngressClass"}
)


class Strategy:
    """The default strategy; subclasses override what their kind needs."""

    def __init__(self, info: ResourceInfo) -> None:
        self.info = info
        self.has_status = "status" in info.subresources
        self.tracks_generation = info.kind not in _NO_GENERATION

    # ---- create ------------------------------------------------------------------------------------

    def prepare_for_create(self, *, obj: dict[str, Any]) -> None:
        """Reset what a client may not set on create."""
        if self.has_status:
            # A client cannot set status on create; Kubernetes answers with an empty one.
            obj["status"] = {}
        if self.tracks_generation:
            obj["metadata"]["generation"] = 1

    def default(self, *, obj: dict[str, Any]) -> None:
        apply_defaults(group=self.info.group, version=self.info.version, kind=self.info.kind, obj=obj)

    def validate(self, *, obj: dict[str, Any]) -> list[FieldError]:
        return validate_create(
            group=self.info.group, version=self.info.version, kind=self.info.kind, obj=obj,
            namespaced=self.info.namespaced,
        )

    async def before_create(self, *, ctx: RequestContext, obj: dict[str, Any]) -> None:
        """Side effects that must hold before the object is stored (allocations)."""

    async def after_create_failed(self, *, ctx: RequestContext, obj: dict[str, Any]) -> None:
        """Undo `before_create` when the write did not happen."""

    # ---- update ------------------------------------------------------------------------------------

    def prepare_for_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> None:
        """The main resource keeps the stored status; a spec change moves generation."""
        if self.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if self.tracks_generation:
            gen = old["metadata"].get("generation", 1)
            new["metadata"]["generation"] = gen + 1 if self._spec_changed(new, old) else gen

    def _spec_changed(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        ignore = {"metadata", "status", "apiVersion", "kind"}
        keys = (set(new) | set(old)) - ignore
        if any(new.get(k) != old.get(k) for k in keys):
            return True
        # A deletion that starts also moves generation, as Kubernetes does.
        return bool(new["metadata"].get("deletionTimestamp")) and not old["metadata"].get("deletionTimestamp")

    def prepare_for_status_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> None:
        """The status subresource changes status (and annotations, as Kubernetes' status strategies
        allow — controllers record e.g. a Deployment's revision that way); everything else is taken from
        the stored object."""
        status = new.get("status")
        annotations = new.get("metadata", {}).get("annotations")
        kept = copy.deepcopy(old)
        if status is None:
            kept.pop("status", None)
        else:
            kept["status"] = status
        if annotations:
            kept["metadata"]["annotations"] = annotations
        else:
            kept["metadata"].pop("annotations", None)
        new.clear()
        new.update(kept)

    async def before_update(self, *, ctx: RequestContext, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Side effects that must hold before an update is stored (allocations a change needs)."""

    async def after_update(self, *, ctx: RequestContext, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Release what the previous version held and the new one does not."""

    def validate_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
        return validate_update(
            group=self.info.group, version=self.info.version, kind=self.info.kind, new=new, old=old,
            namespaced=self.info.namespaced,
        )

    def validate_status_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
        return validate_status_update(
            group=self.info.group, version=self.info.version, kind=self.info.kind, new=new, old=old,
            namespaced=self.info.namespaced,
        )

    # ---- delete ------------------------------------------------------------------------------------

    def grace_period(self, *, obj: dict[str, Any], requested: int | None) -> int:
        """Seconds of graceful deletion; 0 deletes at once (unless finalizers hold the object)."""
        return 0

    def keep_for_finalization(self, *, obj: dict[str, Any]) -> bool:
        """Whether a deleted object must stay (marked) beyond metadata.finalizers: namespaces wait for
        their spec.finalizers. May mark the object (e.g. status.phase=Terminating)."""
        return False

    async def after_delete(self, *, ctx: RequestContext, obj: dict[str, Any]) -> None:
        """Release what the object held (allocations)."""


class NodeStrategy(Strategy):
    """Nodes keep the status they are created with: a kubelet registers its node with capacity,
    addresses and conditions in one create, as Kubernetes allows."""

    def prepare_for_create(self, *, obj: dict[str, Any]) -> None:
        status = obj.get("status")
        super().prepare_for_create(obj=obj)
        if status:
            obj["status"] = status
