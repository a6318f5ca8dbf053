"""NodeRestriction: a node (`system:node:<name>` in `system:nodes`) writes only what is its own.

As Kubernetes' admission plugin of that name, for writes by a node:

* Node objects — only its own: create, update (any subresource) and delete of another node is refused with
  `node "a" is not allowed to modify node "b"`;
* Leases — only its own heartbeat, `kube-node-lease/<name>`;
* Pods — create only mirror pods (annotation `kubernetes.io/config.mirror`) bound to itself; update only the
  status of pods bound to it; delete (and so evict) only pods bound to it;
* everything else (Events, CertificateSigningRequests for its own renewal, ...) passes: the rest of
  authorization is allow-all, and what a node may read is the node authorizer's (`auth.nodeauthorizer`).

Other users are not looked at.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver.auth.nodeauthorizer import node_of
from kybernetes.apiserver.rest import RequestContext
from kybernetes.machinery import errors

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
NODE_LEASE_NAMESPACE = "kube-node-lease"


class NodeRestriction:
    async def admit(
        self, *, ctx: RequestContext, info: ResourceInfo, operation: str, obj: dict[str, Any] | None,
        old: dict[str, Any] | None, subresource: str,
    ) -> None:
        node = node_of(ctx.user)
        if node is None:
            return
        if not info.group and info.plural == "nodes":
            self._node(node=node, operation=operation, obj=obj, old=old)
        elif not info.group and info.plural == "pods":
            self._pod(node=node, operation=operation, obj=obj, old=old, subresource=subresource)
        elif info.group == "coordination.k8s.io" and info.plural == "leases":
            self._lease(node=node, obj=obj if obj is not None else old, info=info)

    @staticmethod
    def _node(*, node: str, operation: str, obj: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        name = _name(obj if obj is not None else old)
        if name != node:
            verb = "delete" if operation == "DELETE" else "modify"
            raise errors.ForbiddenError(
                f'nodes "{name}" is forbidden: node "{node}" is not allowed to {verb} node "{name}"',
                kind="nodes", name=name,
            )

    @staticmethod
    def _pod(*, node: str, operation: str, obj: dict[str, Any] | None, old: dict[str, Any] | None,
             subresource: str) -> None:
        target = obj if operation == "CREATE" else old
        name = _name(target)
        bound = ((target or {}).get("spec") or {}).get("nodeName")

        def refuse(message: str) -> errors.ForbiddenError:
            return errors.ForbiddenError(f'pods "{name}" is forbidden: {message}', kind="pods", name=name)

        if operation == "CREATE":
            annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
            if MIRROR_ANNOTATION not in annotations:
                raise refuse(f'pod does not have "{MIRROR_ANNOTATION}" annotation, '
                             f'node "{node}" can only create mirror pods')
            if bound != node:
                raise refuse(f'node "{node}" can only create pods with spec.nodeName set to itself')
        elif operation == "UPDATE":
            if subresource != "status":
                raise refuse(f'node "{node}" can only update pod status')
            if bound != node:
                raise refuse(f'node "{node}" can only update pod status for pods with spec.nodeName set to itself')
        elif operation == "DELETE" and bound != node:
            raise refuse(f'node "{node}" can only delete pods with spec.nodeName set to itself')

    @staticmethod
    def _lease(*, node: str, obj: dict[str, Any] | None, info: ResourceInfo) -> None:
        meta = (obj or {}).get("metadata") or {}
        name = meta.get("name", "")
        if meta.get("namespace") != NODE_LEASE_NAMESPACE:
            raise errors.ForbiddenError(
                f'{info.qualified} "{name}" is forbidden: can only access leases in the '
                f'"{NODE_LEASE_NAMESPACE}" system namespace', group=info.group, kind=info.plural, name=name,
            )
        if name != node:
            raise errors.ForbiddenError(
                f'{info.qualified} "{name}" is forbidden: can only access node lease with the same name as '
                "the requesting node", group=info.group, kind=info.plural, name=name,
            )


def _name(obj: dict[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("name", ""))
