"""PATCH in all four of Kubernetes' forms, on top of the generic update flow.

- `application/json-patch+json` (RFC 6902), `application/merge-patch+json` (RFC 7386) and
  `application/strategic-merge-patch+json` (merge keys from the OpenAPI schema) are applied to the stored
  object; the result is decoded like a PUT body and goes through the same update path, so a patch is
  retried on a concurrent write unless it pins `metadata.resourceVersion`.
- `application/apply-patch+yaml` is server-side apply: the body is the manager's whole intent; fields it
  no longer names are removed if no one else owns them, and fields another manager owns with a different
  value conflict (409) unless `force=true`. Applying to a missing object creates it.

The schema for strategic merge and for field ownership is the served OpenAPI v2 `definitions`, the same
document kubectl reads, so the server and the client agree on merge keys.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import TYPE_CHECKING, Any

from kybernetes.api.resources import ResourceInfo
from kybernetes.api.schema import definitions
from kybernetes.apiserver import codec
from kybernetes.apiserver.rest import RequestContext, ResourceREST, now_rfc3339
from kybernetes.machinery import errors, managedfields
from kybernetes.machinery import patch as patches

if TYPE_CHECKING:
    from kybernetes.apiserver.handlers import ResourceHandlers


def _definitions() -> dict[str, Any]:
    return definitions()


@cache
def _definition_names() -> dict[tuple[str, str, str], str]:
    names: dict[tuple[str, str, str], str] = {}
    for name, schema in _definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            names[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = name
    return names


def definition_name(info: ResourceInfo) -> str:
    name = _definition_names().get((info.group, info.version, info.kind))
    if name is None:
        raise errors.InternalError(f"no schema for {info.kind}")
    return name


@cache
def patch_schema(info: ResourceInfo) -> patches.OpenAPIPatchSchema:
    return patches.OpenAPIPatchSchema.for_definition(_definitions(), definition_name(info))


@cache
def field_schema(info: ResourceInfo) -> managedfields.OpenAPIFieldSchema:
    return managedfields.OpenAPIFieldSchema.for_definition(_definitions(), definition_name(info))


def managed_fields_updater(info: ResourceInfo) -> Any:
    """The `ResourceREST.managed_fields` hook: record Update operations (Apply records its own)."""

    def update(*, old: dict[str, Any] | None, new: dict[str, Any], manager: str, operation: str,
               subresource: str) -> dict[str, Any]:
        if operation == "Apply":
            return new
        return managedfields.update(old=old, new=new, manager=manager, api_version=info.group_version,
                                    schema=field_schema(info), now=now_rfc3339(), operation=operation,
                                    subresource=subresource, in_place=True)

    return update


def _apply_patch(*, info: ResourceInfo, patch_type: str, current: dict[str, Any], patch: Any) -> Any:
    if patch_type == codec.JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.BadRequestError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        return patches.apply_json_patch(current, patch)
    if not isinstance(patch, dict):
        raise errors.BadRequestError("the body of the request must be a JSON object for this patch type")
    if patch_type == codec.MERGE_PATCH:
        return _merge_into(current, patch)
    return patches.apply_strategic_merge_patch(current, patch, patch_schema(info))


def _merge_into(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge of `patch` into `target`, in place: `target` is the update's own decode of the current
    object, so the copy `patches.apply_merge_patch` makes of it (most of a status patch's cost) is not
    needed. Values taken from `patch` are copied, since a retry applies the same patch again."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            below = target.get(key)
            target[key] = _merge_into(below if isinstance(below, dict) else {}, value)
        else:
            target[key] = copy.deepcopy(value) if isinstance(value, list) else value
    return target


def _pins_resource_version(patch: Any) -> bool:
    if isinstance(patch, list):
        return any(isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion" for op in patch)
    meta = patch.get("metadata") if isinstance(patch, dict) else None
    return isinstance(meta, dict) and bool(meta.get("resourceVersion"))


async def patch_object(
    *, handlers: ResourceHandlers, rest: ResourceREST, ctx: RequestContext, name: str, patch_type: str,
    patch: Any, subresource: str, force: bool,
) -> tuple[dict[str, Any], bool]:
    info = rest.info
    if patch_type == codec.APPLY_PATCH_YAML:
        return await _server_side_apply(handlers=handlers, rest=rest, ctx=ctx, name=name, config=patch,
                                        subresource=subresource, force=force)

    async def transform(current: dict[str, Any]) -> dict[str, Any]:
        patched = _apply_patch(info=info, patch_type=patch_type, current=current, patch=patch)
        patched = handlers.check_kind(obj=patched, info=info)
        if not _pins_resource_version(patch):
            # A patch that does not name a resourceVersion applies to whatever is current (and is retried
            # on a concurrent write); one that names it is a precondition.
            patched["metadata"].pop("resourceVersion", None)
        return rest.decode(obj=patched, ctx=ctx)

    return await rest.update(ctx=ctx, name=name, transform=transform, subresource=subresource)


async def _server_side_apply(
    *, handlers: ResourceHandlers, rest: ResourceREST, ctx: RequestContext, name: str, config: Any,
    subresource: str, force: bool,
) -> tuple[dict[str, Any], bool]:
    info = rest.info
    config = handlers.check_kind(obj=config, info=info)
    meta = config.setdefault("metadata", {})
    if meta.get("name") and meta["name"] != name:
        raise errors.BadRequestError(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    meta["name"] = name
    if info.namespaced:
        if meta.get("namespace") and meta["namespace"] != ctx.namespace:
            raise errors.BadRequestError(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = ctx.namespace
    config = rest.decode(obj=config, ctx=ctx)

    def applied(live: dict[str, Any] | None) -> dict[str, Any]:
        return managedfields.apply(live=live, config=copy.deepcopy(config), manager=ctx.field_manager,
                                   api_version=info.group_version, force=force, schema=field_schema(info),
                                   now=now_rfc3339(), subresource=subresource)

    async def transform(current: dict[str, Any]) -> dict[str, Any]:
        return applied(current)

    async def create_missing() -> dict[str, Any]:
        if subresource:
            raise rest._not_found(name)
        obj = applied(None)
        obj.get("metadata", {}).pop("resourceVersion", None)
        rest_copy = copy.copy(rest)
        rest_copy.managed_fields = None  # apply already recorded ownership
        return await rest_copy.create(ctx=ctx, obj=obj)

    return await rest.update(ctx=ctx, name=name, transform=transform, subresource=subresource,
                             create_missing=create_missing, operation="Apply")
