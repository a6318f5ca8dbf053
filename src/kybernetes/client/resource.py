"""The verbs on one resource: `TypedResource[T]` (msgspec Structs) and `DynamicResource` (plain dicts).

Both share `ResourceClient`, which builds Kubernetes URLs from the resource registry entry
(`/api/v1/namespaces/<ns>/pods/<name>/status`, `/apis/apps/v1/deployments`) and speaks the query parameters
and bodies of the API (`labelSelector`, `continue`, `DeleteOptions`, patch content types, `fieldManager`).
The subclasses only decide how bodies become objects: the typed one decodes response bytes straight into the
Struct of the kind with a cached `msgspec.json.Decoder` (no intermediate dicts), and encodes Structs with
`msgspec.json.encode`; the dynamic one uses dicts.

Namespaces: for a namespaced resource, the single-object verbs need one (from the argument or, on create and
update, the object's metadata) and raise `ValueError` otherwise; `list`/`watch` with `namespace=None` span all
namespaces. Cluster-scoped resources ignore the argument.

`watch()` yields `WatchEvent`s (ADDED, MODIFIED, DELETED, BOOKMARK); an ERROR frame raises its `StatusError`
(typically `GoneError` when the resourceVersion is too old), exactly as a non-2xx answer would.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, Literal, TypeVar

import msgspec

from kybernetes.api import resources
from kybernetes.api.models import Model, model_for
from kybernetes.api.models.authentication_v1 import BoundObjectReference, TokenRequest, TokenRequestSpec
from kybernetes.api.models.autoscaling_v1 import Scale, ScaleSpec
from kybernetes.api.models.core_v1 import Binding, ObjectReference
from kybernetes.api.models.meta_v1 import DeleteOptions, ObjectMeta, Preconditions
from kybernetes.api.models.policy_v1 import Eviction
from kybernetes.api.resources import ResourceInfo
from kybernetes.api.schema import decode_object
from kybernetes.client.rest import Client, Params
from kybernetes.machinery.errors import StatusError

__all__ = [
    "PATCH_CONTENT_TYPES",
    "DynamicResource",
    "ObjectList",
    "PatchType",
    "ResourceClient",
    "TypedResource",
    "WatchEvent",
    "info_for_model",
]

T = TypeVar("T", bound=Model)
O = TypeVar("O")  # noqa: E741 - the object type a resource client hands out

PatchType = Literal["merge", "strategic", "json", "apply"]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is YAML, so the body is JSON
}
WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


@dataclass(slots=True)
class ObjectList(Generic[O]):
    """One list response: the items and the list's resourceVersion / continue token."""

    items: list[O]
    resource_version: str
    continue_: str = ""
    remaining_item_count: int | None = None


@dataclass(frozen=True, slots=True)
class WatchEvent(Generic[O]):
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: O


class _ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    continue_: str = msgspec.field(name="continue", default="")
    remainingItemCount: int | None = None


class _List(msgspec.Struct, Generic[O]):
    """Any `<Kind>List`: unknown fields (kind, apiVersion) are ignored."""

    metadata: _ListMeta | None = None
    items: list[O] | None = None


class _Frame(msgspec.Struct):
    type: str
    object: msgspec.Raw


class _Kind(msgspec.Struct):
    kind: str | None = None


_FRAME = msgspec.json.Decoder(_Frame)
_KIND = msgspec.json.Decoder(_Kind)
_DICT = msgspec.json.Decoder(dict[str, Any])
_DICT_LIST = msgspec.json.Decoder(_List[dict[str, Any]])


@cache
def _decoder(model: type) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(model)


@cache
def _list_decoder(model: type) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(_List[model])  # type: ignore[valid-type]


@cache
def info_for_model(model: type) -> ResourceInfo:
    """The served resource whose kind `model` is (`Pod` → core/v1 pods)."""
    for info in resources.RESOURCES:
        if model_for(info.group, info.version, info.kind) is model:
            return info
    raise ValueError(f"{model.__qualname__} is not the kind of any served resource")


def _bool(value: bool) -> str:
    return "true" if value else "false"


class ResourceClient(Generic[O]):
    """URL building and verbs for one resource; subclasses choose how objects are decoded and encoded."""

    def __init__(self, *, client: Client, info: ResourceInfo) -> None:
        self.client = client
        self.info = info
        base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
        self._base = base

    # -- codec hooks --------------------------------------------------------------------------------

    def decode(self, data: bytes | msgspec.Raw) -> O:
        raise NotImplementedError

    def decode_list(self, data: bytes) -> ObjectList[O]:
        raise NotImplementedError

    def encode(self, obj: O) -> bytes:
        raise NotImplementedError

    def identity(self, obj: O) -> tuple[str | None, str | None]:
        """(namespace, name) from the object's metadata."""
        raise NotImplementedError

    # -- paths ---------------------------------------------------------------------------------------

    def _namespace(self, namespace: str | None, *, required: bool) -> str | None:
        if not self.info.namespaced:
            return None
        if namespace is None and required:
            raise ValueError(f"{self.info.qualified} are namespaced: pass namespace=")
        return namespace

    def collection_path(self, *, namespace: str | None) -> str:
        if namespace:
            return f"{self._base}/namespaces/{namespace}/{self.info.plural}"
        return f"{self._base}/{self.info.plural}"

    def path(self, *, name: str, namespace: str | None, subresource: str = "") -> str:
        if not name:
            raise ValueError("name must not be empty")
        path = f"{self.collection_path(namespace=namespace)}/{name}"
        return f"{path}/{subresource}" if subresource else path

    @staticmethod
    def _write_params(*, field_manager: str | None, dry_run: bool) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if field_manager:
            params.append(("fieldManager", field_manager))
        if dry_run:
            params.append(("dryRun", "All"))
        return params

    # -- reads ---------------------------------------------------------------------------------------

    async def get(self, *, name: str, namespace: str | None = None, resource_version: str | None = None) -> O:
        params = {"resourceVersion": resource_version} if resource_version is not None else None
        ns = self._namespace(namespace, required=True)
        response = await self.client.request("GET", self.path(name=name, namespace=ns), params=params)
        return self.decode(response.body)

    async def list(
        self,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> ObjectList[O]:
        params: list[tuple[str, str]] = []
        if label_selector:
            params.append(("labelSelector", label_selector))
        if field_selector:
            params.append(("fieldSelector", field_selector))
        if limit:
            params.append(("limit", str(limit)))
        if continue_:
            params.append(("continue", continue_))
        if resource_version is not None:
            params.append(("resourceVersion", resource_version))
        if resource_version_match:
            params.append(("resourceVersionMatch", resource_version_match))
        ns = self._namespace(namespace, required=False)
        response = await self.client.request("GET", self.collection_path(namespace=ns), params=params)
        return self.decode_list(response.body)

    async def list_all(
        self,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        page_size: int = 500,
        resource_version: str | None = None,
    ) -> ObjectList[O]:
        """Every item, fetched in pages of `page_size`; the resourceVersion is the first page's (all pages
        are served at that revision)."""
        first = await self.list(
            namespace=namespace, label_selector=label_selector, field_selector=field_selector,
            limit=page_size, resource_version=resource_version,
        )
        items, token = first.items, first.continue_
        while token:
            page = await self.list(
                namespace=namespace, label_selector=label_selector, field_selector=field_selector,
                limit=page_size, continue_=token,
            )
            items.extend(page.items)
            token = page.continue_
        return ObjectList(items=items, resource_version=first.resource_version)

    async def watch(
        self,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        send_initial_events: bool = False,
    ) -> AsyncGenerator[WatchEvent[O], None]:
        """Stream changes after `resource_version` until the server ends the watch (see module docstring)."""
        params: list[tuple[str, str]] = [("watch", "1")]
        if resource_version is not None:
            params.append(("resourceVersion", resource_version))
        if label_selector:
            params.append(("labelSelector", label_selector))
        if field_selector:
            params.append(("fieldSelector", field_selector))
        if allow_bookmarks:
            params.append(("allowWatchBookmarks", "true"))
        if timeout_seconds is not None:
            params.append(("timeoutSeconds", str(timeout_seconds)))
        if send_initial_events:
            params.append(("sendInitialEvents", "true"))
            params.append(("resourceVersionMatch", "NotOlderThan"))
        ns = self._namespace(namespace, required=False)
        # The server ends a watch at timeoutSeconds (default 30 min) and sends bookmarks meanwhile; a read
        # that stalls well beyond that means a dead connection.
        read_timeout = float((timeout_seconds or 1800) + 60)
        lines = self.client.stream_lines(self.collection_path(namespace=ns), params=params, read_timeout=read_timeout)
        try:
            async for line in lines:
                frame = _FRAME.decode(line)
                if frame.type == "ERROR":
                    raise StatusError.from_status(_DICT.decode(frame.object))
                yield WatchEvent(type=frame.type, object=self.decode(frame.object))
        finally:
            await lines.aclose()

    # -- writes --------------------------------------------------------------------------------------

    async def create(
        self, obj: O, *, namespace: str | None = None, field_manager: str | None = None, dry_run: bool = False
    ) -> O:
        ns = self._namespace(namespace or self.identity(obj)[0], required=True)
        response = await self.client.request(
            "POST", self.collection_path(namespace=ns), body=self.encode(obj),
            params=self._write_params(field_manager=field_manager, dry_run=dry_run),
        )
        return self.decode(response.body)

    async def _put(self, obj: O, *, subresource: str, field_manager: str | None, dry_run: bool) -> O:
        namespace, name = self.identity(obj)
        ns = self._namespace(namespace, required=True)
        response = await self.client.request(
            "PUT", self.path(name=name or "", namespace=ns, subresource=subresource), body=self.encode(obj),
            params=self._write_params(field_manager=field_manager, dry_run=dry_run),
        )
        return self.decode(response.body)

    async def update(self, obj: O, *, field_manager: str | None = None, dry_run: bool = False) -> O:
        """PUT the whole object; its metadata.resourceVersion makes this a compare-and-swap."""
        return await self._put(obj, subresource="", field_manager=field_manager, dry_run=dry_run)

    async def update_status(self, obj: O, *, field_manager: str | None = None, dry_run: bool = False) -> O:
        return await self._put(obj, subresource="status", field_manager=field_manager, dry_run=dry_run)

    async def patch(
        self,
        *,
        name: str,
        patch: Any,
        namespace: str | None = None,
        type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool = False,
        subresource: str = "",
        dry_run: bool = False,
    ) -> O:
        """PATCH with a merge / strategic-merge / JSON patch, or server-side apply (`type="apply"`, which
        needs `field_manager`). `patch` is a dict, list, Struct, or already encoded bytes."""
        if type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {type!r}")
        if type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        body = patch if isinstance(patch, bytes) else msgspec.json.encode(patch)
        params = self._write_params(field_manager=field_manager, dry_run=dry_run)
        if force:
            params.append(("force", "true"))
        ns = self._namespace(namespace, required=True)
        response = await self.client.request(
            "PATCH", self.path(name=name, namespace=ns, subresource=subresource), body=body,
            content_type=PATCH_CONTENT_TYPES[type], params=params,
        )
        return self.decode(response.body)

    @staticmethod
    def _delete_body(
        *,
        propagation_policy: str | None,
        grace_period_seconds: int | None,
        preconditions: Preconditions | None,
        dry_run: bool,
    ) -> bytes:
        options = DeleteOptions(
            api_version="v1",
            kind="DeleteOptions",
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            preconditions=preconditions,
            dry_run=["All"] if dry_run else None,
        )
        return msgspec.json.encode(options)

    async def delete(
        self,
        *,
        name: str,
        namespace: str | None = None,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Preconditions | None = None,
        dry_run: bool = False,
    ) -> O | None:
        """Delete one object. Returns the object when the server answers with it (pods, or anything still
        held by finalizers), None when it answers with a Status."""
        ns = self._namespace(namespace, required=True)
        body = self._delete_body(
            propagation_policy=propagation_policy, grace_period_seconds=grace_period_seconds,
            preconditions=preconditions, dry_run=dry_run,
        )
        response = await self.client.request("DELETE", self.path(name=name, namespace=ns), body=body)
        if _KIND.decode(response.body).kind == "Status":
            return None
        return self.decode(response.body)

    async def delete_collection(
        self,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> None:
        params: list[tuple[str, str]] = []
        if label_selector:
            params.append(("labelSelector", label_selector))
        if field_selector:
            params.append(("fieldSelector", field_selector))
        body = self._delete_body(
            propagation_policy=propagation_policy, grace_period_seconds=grace_period_seconds,
            preconditions=None, dry_run=dry_run,
        )
        ns = self._namespace(namespace, required=False)
        await self.client.request("DELETE", self.collection_path(namespace=ns), params=params, body=body)

    # -- subresources --------------------------------------------------------------------------------

    def _require(self, subresource: str) -> None:
        if subresource not in self.info.subresources:
            raise ValueError(f"{self.info.qualified} have no {subresource} subresource")

    async def _post_sub(self, *, name: str, namespace: str | None, subresource: str, body: Model,
                        params: Params = None) -> bytes:
        self._require(subresource)
        ns = self._namespace(namespace, required=True)
        response = await self.client.request(
            "POST", self.path(name=name, namespace=ns, subresource=subresource),
            body=msgspec.json.encode(body), params=params,
        )
        return response.body

    async def get_scale(self, *, name: str, namespace: str | None = None) -> Scale:
        self._require("scale")
        ns = self._namespace(namespace, required=True)
        response = await self.client.request("GET", self.path(name=name, namespace=ns, subresource="scale"))
        return _decoder(Scale).decode(response.body)

    async def update_scale(self, *, name: str, replicas: int, namespace: str | None = None,
                           resource_version: str | None = None) -> Scale:
        """Set the replica count through `/scale` (a compare-and-swap when `resource_version` is given)."""
        self._require("scale")
        ns = self._namespace(namespace, required=True)
        scale = Scale(
            api_version="autoscaling/v1", kind="Scale",
            metadata=ObjectMeta(name=name, namespace=ns, resource_version=resource_version),
            spec=ScaleSpec(replicas=replicas),
        )
        response = await self.client.request(
            "PUT", self.path(name=name, namespace=ns, subresource="scale"), body=msgspec.json.encode(scale)
        )
        return _decoder(Scale).decode(response.body)

    async def bind(self, *, name: str, node: str, namespace: str | None = None, uid: str | None = None) -> None:
        """Bind a pod to a node (`pods/<name>/binding`), as a scheduler does."""
        binding = Binding(
            api_version="v1", kind="Binding",
            metadata=ObjectMeta(name=name, namespace=namespace, uid=uid),
            target=ObjectReference(api_version="v1", kind="Node", name=node),
        )
        await self._post_sub(name=name, namespace=namespace, subresource="binding", body=binding)

    async def evict(self, *, name: str, namespace: str | None = None,
                    grace_period_seconds: int | None = None, dry_run: bool = False) -> None:
        """Evict a pod through `pods/<name>/eviction` (honours PodDisruptionBudgets; 429 when one blocks)."""
        options = None
        if grace_period_seconds is not None or dry_run:
            options = DeleteOptions(grace_period_seconds=grace_period_seconds, dry_run=["All"] if dry_run else None)
        eviction = Eviction(
            api_version="policy/v1", kind="Eviction", metadata=ObjectMeta(name=name, namespace=namespace),
            delete_options=options,
        )
        await self._post_sub(name=name, namespace=namespace, subresource="eviction", body=eviction)

    async def create_token(
        self,
        *,
        name: str,
        namespace: str | None = None,
        audiences: builtins.list[str] | None = None,
        expiration_seconds: int | None = None,
        bound_object: BoundObjectReference | None = None,
    ) -> TokenRequest:
        """A token for service account `name` (`serviceaccounts/<name>/token`)."""
        request = TokenRequest(
            api_version="authentication.k8s.io/v1", kind="TokenRequest",
            spec=TokenRequestSpec(
                audiences=audiences or [], expiration_seconds=expiration_seconds, bound_object_ref=bound_object
            ),
        )
        body = await self._post_sub(name=name, namespace=namespace, subresource="token", body=request)
        return _decoder(TokenRequest).decode(body)


class TypedResource(ResourceClient[T]):
    """The verbs of one resource over its msgspec Struct (`client.resource(Pod)`)."""

    def __init__(self, *, client: Client, model: type[T]) -> None:
        super().__init__(client=client, info=info_for_model(model))
        self.model = model
        self._decoder = _decoder(model)
        self._list_decoder = _list_decoder(model)

    def decode(self, data: bytes | msgspec.Raw) -> T:
        try:
            return self._decoder.decode(data)
        except msgspec.ValidationError:
            return self._lenient(_DICT.decode(data))

    def _lenient(self, obj: Any) -> T:
        """The slow path for objects with fields our models do not know (a newer API server): those
        fields are dropped, as client-go drops them, instead of failing the informer or the call."""
        canonical, _unknown = decode_object(obj, self.model)
        return msgspec.convert(canonical, self.model)

    def decode_list(self, data: bytes) -> ObjectList[T]:
        try:
            decoded = self._list_decoder.decode(data)
        except msgspec.ValidationError:
            raw = _DICT_LIST.decode(data)
            decoded = _List(metadata=raw.metadata, items=[self._lenient(i) for i in raw.items or []])
        meta = decoded.metadata or _ListMeta()
        return ObjectList(
            items=decoded.items or [], resource_version=meta.resourceVersion, continue_=meta.continue_,
            remaining_item_count=meta.remainingItemCount,
        )

    def encode(self, obj: T) -> bytes:
        # List items come back without kind/apiVersion; the server wants them on writes.
        if getattr(obj, "kind", None) is None or getattr(obj, "api_version", None) is None:
            obj = msgspec.structs.replace(obj, api_version=self.info.api_version, kind=self.info.kind)
        return msgspec.json.encode(obj)

    def identity(self, obj: T) -> tuple[str | None, str | None]:
        meta = getattr(obj, "metadata", None)
        if meta is None:
            return None, None
        return meta.namespace, meta.name


class DynamicResource(ResourceClient[dict[str, Any]]):
    """The verbs of any resource (custom ones too) over plain dicts."""

    def __init__(
        self, *, client: Client, group: str, version: str, plural: str, namespaced: bool | None = None
    ) -> None:
        info = resources.lookup(group, version, plural)
        if info is None:
            info = ResourceInfo(
                group=group, version=version, kind="", plural=plural, singular=plural,
                namespaced=True if namespaced is None else namespaced,
                subresources=("status", "scale"),
            )
        super().__init__(client=client, info=info)

    def decode(self, data: bytes | msgspec.Raw) -> dict[str, Any]:
        return _DICT.decode(data)

    def decode_list(self, data: bytes) -> ObjectList[dict[str, Any]]:
        decoded = _DICT_LIST.decode(data)
        meta = decoded.metadata or _ListMeta()
        return ObjectList(
            items=decoded.items or [], resource_version=meta.resourceVersion, continue_=meta.continue_,
            remaining_item_count=meta.remainingItemCount,
        )

    def encode(self, obj: Mapping[str, Any]) -> bytes:
        if self.info.kind and ("kind" not in obj or "apiVersion" not in obj):
            obj = {"apiVersion": self.info.api_version, "kind": self.info.kind, **obj}
        return msgspec.json.encode(obj)

    def identity(self, obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
        meta = obj.get("metadata") or {}
        return meta.get("namespace"), meta.get("name")
