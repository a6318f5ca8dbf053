"""The generic REST flow for one resource: create, get, list, update, patch, delete, watch.

Storage, concurrency and the wire live here; whatever differs by kind is asked of the resource's
`Strategy`. The order of a write mirrors Kubernetes':

  decode (types, unknown fields) → prepare (strategy) → defaults → mutating admission → validate
  → validating admission → managedFields → store (compare-and-swap) → response

Objects are stored without `metadata.resourceVersion`; it is the store revision of the key and is set on
every object read back. Reads go through the resource's watch cache after it has caught up with the
store's current revision, so a client always reads its own writes. Nothing here mutates a cached object:
writes start from a fresh decode of the cached or stored bytes. An update starts from the watch cache's copy
and compares-and-swaps on its revision; the cache may lag the store, so whenever that attempt fails or
cannot be trusted the update is redone from a store read (see `ResourceREST.update`).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver.auth.authn import UserInfo
from kybernetes.apiserver.registry.strategy import Strategy
from kybernetes.apiserver.watchcache import CachedObject, WatchCache
from kybernetes.machinery import errors
from kybernetes.storage import ConflictError as StoreConflict
from kybernetes.storage import KeyExistsError, KeyNotFoundError, Store

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

# Kubernetes' alphabet for generateName suffixes: no vowels (no words), no confusable characters.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RequestContext:
    """What the flow needs to know about the request beyond the object."""

    user: UserInfo
    namespace: str = ""
    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"  # Ignore | Warn | Strict
    warnings: list[str] = field(default_factory=list)


class Admission(Protocol):
    """Admission seam: mutate (may change `obj`), then validate (may only refuse)."""

    async def admit(
        self, *, ctx: RequestContext, info: ResourceInfo, operation: str, obj: dict[str, Any] | None,
        old: dict[str, Any] | None, subresource: str,
    ) -> None: ...


ObjectDecoder = Callable[..., dict[str, Any]]
ManagedFieldsUpdater = Callable[..., dict[str, Any]]


def _prune_empty_metadata(meta: dict[str, Any]) -> None:
    """Empty maps and lists in metadata are dropped, as Kubernetes' JSON (omitempty) drops them: removing the
    last label leaves no `labels: {}` behind."""
    for k in ("labels", "annotations", "finalizers", "ownerReferences"):
        if k in meta and not meta[k]:
            del meta[k]


class _Retry(Exception):
    """An update attempt lost its compare-and-swap to a concurrent write: read the store again."""


class _StaleCache(Exception):
    """An update attempt started from the watch cache cannot be trusted: redo it from the store."""


def _older_than(pinned: str | None, revision: int) -> bool:
    """Whether a client-pinned resourceVersion is certainly stale given a cached revision of the object
    (the store's is at least as new). A malformed one can never match."""
    if not pinned:
        return False
    try:
        return int(pinned) < revision
    except ValueError:
        return True


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(_NAME_ALPHABET) for _ in range(n))


@dataclass(eq=False)
class ResourceREST:
    info: ResourceInfo
    strategy: Strategy
    store: Store
    cache: WatchCache
    # decode(obj=dict, ctx=RequestContext) -> canonical dict: type check + unknown-field policy.
    decode: ObjectDecoder
    admission: list[Admission]
    # update_managed_fields(old=, new=, manager=, operation=, subresource=) -> new with managedFields
    managed_fields: ManagedFieldsUpdater | None = None
    # Conversion between the served version and the stored one (None: this version is stored).
    to_storage: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    from_storage: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # decode_json(JSON bytes) -> what `decode` would return, in one pass, or None when the body is anything
    # but a well-formed object of the model (the caller then decodes it and calls `decode`, which has the
    # messages). None here: always the two steps.
    decode_json: Callable[[bytes], dict[str, Any] | None] | None = None

    def present(self, obj: dict[str, Any]) -> dict[str, Any]:
        """An object as this version serves it."""
        return obj if self.from_storage is None else self.from_storage(obj)

    def present_bytes(self, cached: CachedObject) -> bytes:
        return cached.data if self.from_storage is None else _encode(self.from_storage(cached.obj))

    def _stored_form(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj if self.to_storage is None else self.to_storage(obj)

    # ---- keys ---------------------------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return f"/registry/{self.info.storage_prefix}/"

    def key(self, *, namespace: str, name: str) -> str:
        if self.info.namespaced:
            return f"{self.prefix}{namespace}/{name}"
        return f"{self.prefix}{name}"

    def _not_found(self, name: str) -> errors.NotFoundError:
        return errors.NotFoundError.of(resource=self.info.plural, group=self.info.group, name=name)

    def _with_rv(self, value: bytes, rv: int) -> dict[str, Any]:
        obj: dict[str, Any] = _decode(value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        return obj

    @staticmethod
    def _stored_bytes(obj: dict[str, Any]) -> bytes:
        meta = obj["metadata"]
        rv = meta.pop("resourceVersion", None)
        try:
            return _encode(obj)
        finally:
            if rv is not None:
                meta["resourceVersion"] = rv

    async def _admit(
        self, *, ctx: RequestContext, operation: str, obj: dict[str, Any] | None, old: dict[str, Any] | None,
        subresource: str = "",
    ) -> None:
        for plugin in self.admission:
            await plugin.admit(ctx=ctx, info=self.info, operation=operation, obj=obj, old=old,
                               subresource=subresource)

    def _invalid(self, name: str, causes: list[errors.FieldError]) -> errors.InvalidError:
        return errors.InvalidError.of(kind=self.info.kind, group=self.info.group, name=name, causes=causes)

    # ---- reads --------------------------------------------------------------------------------------

    async def sync_cache(self) -> None:
        """Wait until the cache holds every write the store has committed (read-your-writes)."""
        await self.cache.wait_for_revision(await self.store.current_revision())

    async def get_cached(self, *, namespace: str, name: str, consistent: bool = True) -> CachedObject:
        if consistent:
            await self.sync_cache()
        found = self.cache.get(self.key(namespace=namespace, name=name))
        if found is None:
            raise self._not_found(name)
        return found

    async def get_fresh(self, *, namespace: str, name: str) -> tuple[dict[str, Any], int]:
        """The stored object, decoded anew (safe to modify), with its mod revision."""
        kv = await self.store.get(key=self.key(namespace=namespace, name=name))
        if kv is None:
            raise self._not_found(name)
        return self._with_rv(kv.value, kv.mod_revision), kv.mod_revision

    # ---- create -------------------------------------------------------------------------------------

    def _check_namespace(self, *, ctx: RequestContext, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if self.info.namespaced:
            ns = meta.get("namespace") or ""
            if ns and ns != ctx.namespace:
                raise errors.BadRequestError(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ctx.namespace
        else:
            meta.pop("namespace", None)

    async def create(self, *, ctx: RequestContext, obj: dict[str, Any], subresource: str = "",
                     decoded: bool = False) -> dict[str, Any]:
        """Create `obj`; `decoded` says it already went through `decode` (or `decode_json`)."""
        obj = self._stored_form(obj if decoded else self.decode(obj=obj, ctx=ctx))
        meta = obj.setdefault("metadata", {})
        self._check_namespace(ctx=ctx, obj=obj)
        generate = not meta.get("name") and meta.get("generateName")
        # A name clash retries with the object as it was: its bytes, since an attempt changes it in place
        # (and a decode is far cheaper than a deep copy).
        pristine = _encode(obj) if generate else b""
        for attempt in range(8):
            candidate = _decode(pristine) if attempt else obj
            cmeta = candidate["metadata"]
            if generate:
                cmeta["name"] = cmeta["generateName"][: 63 - 5] + random_suffix()
            try:
                return self.present(await self._create_once(ctx=ctx, obj=candidate, subresource=subresource))
            except errors.AlreadyExistsError:
                if not generate or attempt == 7:
                    raise
        raise AssertionError("unreachable")

    async def _create_once(self, *, ctx: RequestContext, obj: dict[str, Any], subresource: str) -> dict[str, Any]:
        meta = obj["metadata"]
        _prune_empty_metadata(meta)
        for server_field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(server_field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        self.strategy.prepare_for_create(obj=obj)
        self.strategy.default(obj=obj)
        await self._admit(ctx=ctx, operation="CREATE", obj=obj, old=None, subresource=subresource)
        causes = self.strategy.validate(obj=obj)
        if causes:
            raise self._invalid(meta.get("name") or meta.get("generateName", ""), causes)
        if self.managed_fields is not None:
            obj = self.managed_fields(old=None, new=obj, manager=ctx.field_manager, operation="Update",
                                      subresource="")
        key = self.key(namespace=meta.get("namespace", ""), name=meta["name"])
        if self.cache.get(key) is not None:
            # Checked before allocating anything, so a duplicate never touches another object's
            # allocations (the store's create-if-absent below still decides races).
            raise errors.AlreadyExistsError.of(resource=self.info.plural, group=self.info.group, name=meta["name"])
        await self.strategy.before_create(ctx=ctx, obj=obj)
        if ctx.dry_run:
            await self.strategy.after_create_failed(ctx=ctx, obj=obj)
            return obj
        try:
            kv = await self.store.create(key=key, value=self._stored_bytes(obj))
        except KeyExistsError:
            await self.strategy.after_create_failed(ctx=ctx, obj=obj)
            raise errors.AlreadyExistsError.of(resource=self.info.plural, group=self.info.group,
                                               name=meta["name"]) from None
        except BaseException:
            await self.strategy.after_create_failed(ctx=ctx, obj=obj)
            raise
        meta["resourceVersion"] = str(kv.mod_revision)
        return obj

    # ---- update -------------------------------------------------------------------------------------

    def _updates_from_cache(self, ctx: RequestContext) -> bool:
        """Whether an update may start from the watch cache's copy of the object.

        Not for a dry run (its answer must reflect the store, and nothing would confirm it there), nor for
        a kind whose strategy has side effects before the write (a Service's port allocations): an attempt
        on a stale copy is redone, and those side effects are not undone between attempts."""
        return not ctx.dry_run and type(self.strategy).before_update is Strategy.before_update

    async def update(
        self,
        *,
        ctx: RequestContext,
        name: str,
        transform: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
        subresource: str = "",
        create_missing: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        operation: str = "Update",
    ) -> tuple[dict[str, Any], bool]:
        """Read-modify-write with compare-and-swap. `transform(current)` returns the desired object
        (already decoded and type-checked); a client-pinned resourceVersion that is stale gives 409, an
        unpinned one retries on a concurrent write. Returns (object, created).

        The first attempt starts from the watch cache (no store read, no thread-pool hop); the cache may
        lag the store, so that attempt counts only when the compare-and-swap on the cached revision
        succeeds. Anything that could be an artefact of a stale copy — a conflict, a pinned
        resourceVersion newer than the cached one, an error from the transform or validation, a no-op, a
        key the store no longer has — sends the update to the store, and every later attempt reads the
        store, as before."""
        key = self.key(namespace=ctx.namespace, name=name)
        cached = self.cache.get(key) if self._updates_from_cache(ctx) else None
        if cached is not None:
            warned = len(ctx.warnings)
            try:
                return await self._update_once(
                    ctx=ctx, name=name, key=key, old=_decode(cached.data), current=_decode(cached.data),
                    revision=cached.rv, from_cache=True, transform=transform, subresource=subresource,
                    operation=operation,
                )
            except _StaleCache:
                # Warnings of the abandoned attempt (unknown fields) are given again by the next one.
                del ctx.warnings[warned:]
        while True:
            kv = await self.store.get(key=key)
            if kv is None:
                if create_missing is not None:
                    return await create_missing(), True
                raise self._not_found(name)
            try:
                return await self._update_once(
                    ctx=ctx, name=name, key=key, old=self._with_rv(kv.value, kv.mod_revision),
                    current=self._with_rv(kv.value, kv.mod_revision), revision=kv.mod_revision,
                    from_cache=False, transform=transform, subresource=subresource, operation=operation,
                )
            except _Retry:
                continue

    async def _update_once(
        self,
        *,
        ctx: RequestContext,
        name: str,
        key: str,
        old: dict[str, Any],
        current: dict[str, Any],
        revision: int,
        from_cache: bool,
        transform: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
        subresource: str,
        operation: str,
    ) -> tuple[dict[str, Any], bool]:
        """One attempt of `update` on `old` at `revision` (`current` is a second, private decode of the same
        object for the transform: two decodes cost far less than one deep copy). Raises `_Retry` when the
        compare-and-swap lost to a concurrent write, `_StaleCache` when an attempt from the cache must be
        redone from the store."""
        pinned: str | None = None
        try:
            new = self._stored_form(await transform(self.present(current)))
            new_meta = new.setdefault("metadata", {})
            pinned = new_meta.get("resourceVersion")
            if pinned and pinned != old["metadata"]["resourceVersion"]:
                raise errors.ConflictError.stale(resource=self.info.plural, group=self.info.group, name=name)
            if new_meta.get("name", name) != name:
                raise errors.BadRequestError(
                    f'the name of the object ({new_meta.get("name")}) does not match the name on the URL ({name})'
                )
            if self.info.namespaced and new_meta.get("namespace", ctx.namespace) != ctx.namespace:
                raise errors.BadRequestError(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            new_meta["name"] = name
            if self.info.namespaced:
                new_meta["namespace"] = ctx.namespace
            self._keep_server_metadata(new=new, old=old)
            if subresource == "status":
                self.strategy.prepare_for_status_update(new=new, old=old)
            else:
                self.strategy.prepare_for_update(new=new, old=old)
            self.strategy.default(obj=new)
            await self._admit(ctx=ctx, operation="UPDATE", obj=new, old=old, subresource=subresource)
            causes = (
                self.strategy.validate_status_update(new=new, old=old)
                if subresource == "status"
                else self.strategy.validate_update(new=new, old=old)
            )
            if causes:
                raise self._invalid(name, causes)
        except errors.StatusError:
            # A pinned resourceVersion older than the cached one is stale in the store too (the cache only
            # lags); any other failure may come from the cache's lag and is decided by the store.
            if from_cache and not _older_than(pinned, revision):
                raise _StaleCache from None
            raise
        new_meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        _prune_empty_metadata(new_meta)
        # An apply that only adds an owner (same values, new manager) still has to be stored.
        if self._same(new, old, compare_managed_fields=operation == "Apply"):
            if from_cache:
                raise _StaleCache  # nothing to write, so nothing confirms that the cached copy is current
            return self.present(old), False
        if self.managed_fields is not None:
            new = self.managed_fields(old=old, new=new, manager=ctx.field_manager, operation=operation,
                                      subresource=subresource)
        if ctx.dry_run:
            return self.present(new), False
        if subresource != "status":
            await self.strategy.before_update(ctx=ctx, new=new, old=old)
        meta = new["metadata"]
        if (meta.get("deletionTimestamp") and not meta.get("finalizers")
                and not meta.get("deletionGracePeriodSeconds")
                and not self.strategy.keep_for_finalization(obj=new)):
            # The last finalizer is gone from an object being deleted (and no grace period is still
            # running — a terminating pod's status updates must not end it early): it goes now.
            try:
                deleted = await self._delete_now(name=name, namespace=ctx.namespace, expected=revision)
            except errors.NotFoundError:
                if from_cache:
                    raise _StaleCache from None
                raise
            if deleted is None:
                raise _StaleCache if from_cache else _Retry
            await self.strategy.after_delete(ctx=ctx, obj=new)
            return self.present(deleted), False
        try:
            stored = await self.store.update(key=key, value=self._stored_bytes(new), expected_revision=revision)
        except StoreConflict:
            if from_cache:
                raise _StaleCache from None
            if pinned:
                raise errors.ConflictError.stale(resource=self.info.plural, group=self.info.group,
                                                 name=name) from None
            raise _Retry from None
        except KeyNotFoundError:
            if from_cache:
                raise _StaleCache from None
            raise self._not_found(name) from None
        meta["resourceVersion"] = str(stored.mod_revision)
        if subresource != "status":
            await self.strategy.after_update(ctx=ctx, new=new, old=old)
        return self.present(new), False

    @staticmethod
    def _keep_server_metadata(*, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Fields only the server sets survive any update."""
        nm, om = new["metadata"], old["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in om:
                nm[k] = om[k]
            else:
                nm.pop(k, None)
        nm.pop("selfLink", None)
        if "managedFields" not in nm and "managedFields" in om:
            nm["managedFields"] = om["managedFields"]
        # Finalizers may not be added once deletion started (Kubernetes: forbidden); removals are fine.
        if om.get("deletionTimestamp"):
            added = set(nm.get("finalizers") or []) - set(om.get("finalizers") or [])
            if added:
                raise errors.InvalidError(
                    f"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {sorted(added)}",
                    causes=[errors.forbidden("metadata.finalizers",
                                             f"no new finalizers can be added if the object is being deleted, found new finalizers {sorted(added)}")],
                )

    @staticmethod
    def _same(a: dict[str, Any], b: dict[str, Any], *, compare_managed_fields: bool = False) -> bool:
        """Equal apart from managedFields (unless asked): a no-op write is not stored (no new resourceVersion)."""
        if a.keys() != b.keys():
            return False
        for k in a:
            if k == "metadata":
                if compare_managed_fields:
                    if a[k] != b[k]:
                        return False
                    continue
                am = {x: y for x, y in a[k].items() if x != "managedFields"}
                bm = {x: y for x, y in b[k].items() if x != "managedFields"}
                if am != bm:
                    return False
            elif a[k] != b[k]:
                return False
        return True

    # ---- delete -------------------------------------------------------------------------------------

    async def _delete_now(self, *, name: str, namespace: str, expected: int) -> dict[str, Any] | None:
        try:
            gone = await self.store.delete(key=self.key(namespace=namespace, name=name), expected_revision=expected)
        except StoreConflict:
            return None
        except KeyNotFoundError:
            raise self._not_found(name) from None
        return self._with_rv(gone.value, gone.mod_revision)

    async def delete(
        self, *, ctx: RequestContext, name: str, options: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Delete per `options` (a DeleteOptions dict). Returns (object, still_present)."""
        while True:
            obj, rev = await self.get_fresh(namespace=ctx.namespace, name=name)
            meta = obj["metadata"]
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise errors.ConflictError(
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta.get('uid')}",
                    kind=self.info.plural, group=self.info.group, name=name,
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise errors.ConflictError(
                    f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {meta['resourceVersion']}",
                    kind=self.info.plural, group=self.info.group, name=name,
                )
            await self._admit(ctx=ctx, operation="DELETE", obj=None, old=obj)
            finalizers = list(meta.get("finalizers") or [])
            policy = options.get("propagationPolicy")
            if policy is None and options.get("orphanDependents") is not None:
                policy = "Orphan" if options["orphanDependents"] else "Background"
            if policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            elif policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            requested = options.get("gracePeriodSeconds")
            grace = self.strategy.grace_period(obj=obj, requested=requested)
            keep = self.strategy.keep_for_finalization(obj=obj)
            if not finalizers and grace == 0 and not keep:
                if ctx.dry_run:
                    return self.present(obj), False
                gone = await self._delete_now(name=name, namespace=ctx.namespace, expected=rev)
                if gone is None:
                    continue
                await self.strategy.after_delete(ctx=ctx, obj=gone)
                return self.present(gone), False
            # Graceful or finalized: mark the object; the kubelet or the finalizers' owners finish it.
            now = datetime.now(UTC)
            deadline = (now + timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")
            if meta.get("deletionTimestamp"):
                current = meta.get("deletionGracePeriodSeconds")
                if current is not None and grace < current:
                    meta["deletionTimestamp"] = deadline
                    meta["deletionGracePeriodSeconds"] = grace
                elif finalizers == list(meta.get("finalizers") or []):
                    return self.present(obj), True
            else:
                meta["deletionTimestamp"] = deadline
                meta["deletionGracePeriodSeconds"] = grace
                if self.strategy.tracks_generation:
                    meta["generation"] = meta.get("generation", 1) + 1
            if finalizers:
                meta["finalizers"] = finalizers
            if ctx.dry_run:
                return self.present(obj), True
            try:
                stored = await self.store.update(
                    key=self.key(namespace=ctx.namespace, name=name),
                    value=self._stored_bytes(obj), expected_revision=rev,
                )
            except (StoreConflict, KeyNotFoundError):
                continue
            meta["resourceVersion"] = str(stored.mod_revision)
            return self.present(obj), True
