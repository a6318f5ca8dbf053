"""NamespaceLifecycle: objects are created only in namespaces that exist and are not terminating, and
the namespaces the system relies on cannot be deleted."""

from __future__ import annotations

from typing import Any

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver.admission import Lookup
from kybernetes.apiserver.rest import RequestContext
from kybernetes.machinery import errors

IMMORTAL = frozenset({"default", "kube-system", "kube-public"})


class NamespaceLifecycle:
    def __init__(self, *, lookup: Lookup) -> None:
        self.lookup = lookup

    async def admit(
        self, *, ctx: RequestContext, info: ResourceInfo, operation: str, obj: dict[str, Any] | None,
        old: dict[str, Any] | None, subresource: str,
    ) -> None:
        if info.plural == "namespaces" and not info.group:
            if operation == "DELETE" and old is not None and old["metadata"].get("name") in IMMORTAL:
                name = old["metadata"]["name"]
                raise errors.ForbiddenError(
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                    kind="namespaces", name=name,
                )
            return
        if operation != "CREATE" or not info.namespaced or obj is None:
            return
        namespaces = self.lookup("namespaces")
        if namespaces is None:
            return
        ns = obj["metadata"].get("namespace", "")
        try:
            found = await namespaces.get_cached(namespace="", name=ns)
        except errors.NotFoundError:
            raise errors.NotFoundError(f'namespaces "{ns}" not found', kind="namespaces", name=ns) from None
        namespace = found.obj  # decoded on demand: once
        if namespace["metadata"].get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
            name = obj["metadata"].get("name") or obj["metadata"].get("generateName", "")
            raise errors.ForbiddenError(
                f'{info.qualified} "{name}" is forbidden: unable to create new content in namespace {ns} '
                "because it is being terminated",
                group=info.group, kind=info.plural, name=name,
            )
