"""Metadata-only access to any served resource: what the garbage collector and the namespace controller
need to know about objects they do not otherwise understand.

`MetadataResource` is a `ResourceClient` whose objects are `PartialObject`s: the response bodies are full
objects (the server's watch has no metadata-only form), but msgspec decodes only the few metadata fields
declared here and skips the rest without building it, so a cache of every object in the cluster stays
small — name, namespace, uid, resourceVersion, ownerReferences, finalizers, deletion fields.

`resource_for(api_version, kind)` maps an ownerReference's coordinates to the served resource (any served
version of the group when the exact one is not served, as Kubernetes' REST mapper does for its
preferred version).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from kybernetes.api import resources
from kybernetes.api.resources import ResourceInfo
from kybernetes.client import Client
from kybernetes.client.resource import ObjectList, ResourceClient

__all__ = ["MetadataResource", "PartialMeta", "PartialObject", "PartialOwner", "resource_for", "watchable_resources"]


class PartialOwner(msgspec.Struct, frozen=True):
    api_version: str = msgspec.field(name="apiVersion", default="")
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None
    block_owner_deletion: bool | None = msgspec.field(name="blockOwnerDeletion", default=None)


class PartialMeta(msgspec.Struct, frozen=True):
    """Attribute names as in `ObjectMeta` (snake_case), so the client's store and index helpers read it."""

    name: str = ""
    namespace: str | None = None
    uid: str = ""
    resource_version: str = msgspec.field(name="resourceVersion", default="")
    owner_references: tuple[PartialOwner, ...] = msgspec.field(name="ownerReferences", default=())
    finalizers: tuple[str, ...] = ()
    deletion_timestamp: str | None = msgspec.field(name="deletionTimestamp", default=None)
    deletion_grace_period_seconds: int | None = msgspec.field(name="deletionGracePeriodSeconds", default=None)


class PartialObject(msgspec.Struct, frozen=True):
    """Only the metadata of an object (and which resource it came from, set by the client)."""

    metadata: PartialMeta = PartialMeta()


class _PartialList(msgspec.Struct):
    metadata: dict[str, Any] | None = None
    items: list[PartialObject] | None = None


_DECODER = msgspec.json.Decoder(PartialObject)
_LIST_DECODER = msgspec.json.Decoder(_PartialList)


class MetadataResource(ResourceClient[PartialObject]):
    """The verbs of one resource, decoding objects down to their metadata (writes are patches)."""

    def __init__(self, *, client: Client, info: ResourceInfo) -> None:
        super().__init__(client=client, info=info)

    def decode(self, data: bytes | msgspec.Raw) -> PartialObject:
        return _DECODER.decode(data)

    def decode_list(self, data: bytes) -> ObjectList[PartialObject]:
        decoded = _LIST_DECODER.decode(data)
        meta = decoded.metadata or {}
        return ObjectList(
            items=decoded.items or [], resource_version=str(meta.get("resourceVersion", "")),
            continue_=str(meta.get("continue", "")), remaining_item_count=meta.get("remainingItemCount"),
        )

    def encode(self, obj: PartialObject) -> bytes:
        raise TypeError("metadata-only objects cannot be written whole; patch them")

    def identity(self, obj: PartialObject) -> tuple[str | None, str | None]:
        return obj.metadata.namespace, obj.metadata.name


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, sep, version = api_version.rpartition("/")
    return (group, version) if sep else ("", api_version)


@cache
def resource_for(api_version: str, kind: str) -> ResourceInfo | None:
    """The served resource for (apiVersion, kind), preferring the exact version."""
    group, version = _split_api_version(api_version)
    exact = resources.by_kind(group, version, kind)
    if exact is not None and not exact.virtual:
        return exact
    candidates = [r for r in resources.RESOURCES if r.group == group and r.kind == kind and not r.virtual]
    candidates.sort(key=lambda r: (not r.preferred, not r.storage_version))
    return candidates[0] if candidates else None


def watchable_resources(*, namespaced_only: bool = False, exclude_events: bool = True) -> list[ResourceInfo]:
    """One resource per stored kind that can be listed, watched and deleted (the stored version; Events
    left out as Kubernetes' garbage collector leaves them out)."""
    seen: dict[str, ResourceInfo] = {}
    for info in resources.RESOURCES:
        if info.virtual or not {"list", "watch", "delete"} <= set(info.verbs):
            continue
        if namespaced_only and not info.namespaced:
            continue
        if exclude_events and info.kind == "Event":
            continue
        current = seen.get(info.storage_prefix)
        if current is None or (info.storage_version and not current.storage_version):
            seen[info.storage_prefix] = info
    return list(seen.values())
