"""Node authorization (simplified Kubernetes Node authorizer): a node reads only what its pods need.

A request from `system:node:<name>` in group `system:nodes` is a node's. For the kinds that hold data pods
consume — Secrets, ConfigMaps, PersistentVolumeClaims (and the PersistentVolumes bound to those claims) —
and for service-account tokens, a node may only:

* `get` one that a pod bound to it (`spec.nodeName`) refers to: volumes (secret, configMap, projected
  sources, persistentVolumeClaim, ephemeral claims `<pod>-<volume>`), env / envFrom references, image pull
  secrets; for PersistentVolumes, the volume of such a claim; plus the `kube-root-ca.crt` ConfigMap every
  namespace carries (the agent mounts it as pods' `ca.crt`);
* update the status of such a claim;
* create a token (`serviceaccounts/<sa>/token`) for a service account a pod bound to it runs as.

Listing, watching or writing any of them is refused, as the Node authorizer refuses it. Everything else
stays allow-all here (writes to Nodes, Leases and Pods are checked by the NodeRestriction admission plugin);
other users are not looked at. Refusals are 403 with Kubernetes' wording.

The graph is the pods watch cache, scanned per request in the pod's namespace (cheap next to a node's
request rate); a miss is retried once after the cache caught up with the store, so a pod bound a moment
ago already counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kybernetes.api.certificates import NODES_GROUP, node_name_of
from kybernetes.apiserver.auth.authn import UserInfo
from kybernetes.apiserver.requestinfo import RequestInfo
from kybernetes.machinery import errors

if TYPE_CHECKING:
    from kybernetes.apiserver.rest import ResourceREST

Lookup = Callable[[str], "ResourceREST | None"]

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
_GUARDED = frozenset({"secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes"})


def node_of(user: UserInfo) -> str | None:
    """The node a user is (`system:node:<name>` in `system:nodes`), or None."""
    if NODES_GROUP not in user.groups:
        return None
    return node_name_of(user.name)


@dataclass
class PodReferences:
    """What one pod refers to, by kind (names within the pod's namespace)."""

    secrets: set[str] = field(default_factory=set)
    configmaps: set[str] = field(default_factory=set)
    claims: set[str] = field(default_factory=set)
    service_accounts: set[str] = field(default_factory=set)


def pod_references(pod: dict[str, Any]) -> PodReferences:
    """Every Secret, ConfigMap, claim and service account `pod` uses."""
    refs = PodReferences()
    spec = pod.get("spec") or {}
    refs.service_accounts.add(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    for ref in spec.get("imagePullSecrets") or []:
        if ref.get("name"):
            refs.secrets.add(ref["name"])
    pod_name = (pod.get("metadata") or {}).get("name", "")
    for volume in spec.get("volumes") or []:
        _volume_references(volume, pod_name=pod_name, refs=refs)
    for container in _containers(spec):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            _add(refs.secrets, (source.get("secretKeyRef") or {}).get("name"))
            _add(refs.configmaps, (source.get("configMapKeyRef") or {}).get("name"))
        for env_from in container.get("envFrom") or []:
            _add(refs.secrets, (env_from.get("secretRef") or {}).get("name"))
            _add(refs.configmaps, (env_from.get("configMapRef") or {}).get("name"))
    return refs


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _add(names: set[str], name: Any) -> None:
    if isinstance(name, str) and name:
        names.add(name)


def _volume_references(volume: dict[str, Any], *, pod_name: str, refs: PodReferences) -> None:
    _add(refs.secrets, (volume.get("secret") or {}).get("secretName"))
    _add(refs.configmaps, (volume.get("configMap") or {}).get("name"))
    _add(refs.claims, (volume.get("persistentVolumeClaim") or {}).get("claimName"))
    if volume.get("ephemeral") is not None:
        refs.claims.add(f"{pod_name}-{volume.get('name', '')}")
    for source in (volume.get("projected") or {}).get("sources") or []:
        _add(refs.secrets, (source.get("secret") or {}).get("name"))
        _add(refs.configmaps, (source.get("configMap") or {}).get("name"))
    # Volume plugins that carry a secret reference of their own (CSI, CephFS, iSCSI, ...).
    for plugin in volume.values():
        if isinstance(plugin, dict):
            for key in ("secretRef", "nodePublishSecretRef"):
                _add(refs.secrets, (plugin.get(key) or {}).get("name"))


def forbidden(*, user: str, ri: RequestInfo, reason: str) -> errors.ForbiddenError:
    """A 403 in the authorizer's words: `secrets "s" is forbidden: User "u" cannot get resource ...`."""
    resource = f"{ri.resource}/{ri.subresource}" if ri.subresource else ri.resource
    qualified = f"{ri.resource}.{ri.group}" if ri.group else ri.resource
    subject = f'{qualified} "{ri.name}"' if ri.name else qualified
    scope = f'in the namespace "{ri.namespace}"' if ri.namespace else "at the cluster scope"
    message = (f'{subject} is forbidden: User "{user}" cannot {ri.verb} resource "{resource}" '
               f'in API group "{ri.group}" {scope}: {reason}')
    return errors.ForbiddenError(message, group=ri.group, kind=ri.resource, name=ri.name)


class NodeAuthorizer:
    def __init__(self, *, lookup: Lookup) -> None:
        self.lookup = lookup

    async def authorize(self, *, user: UserInfo, ri: RequestInfo) -> None:
        """Raise ForbiddenError when node `user` may not do `ri`; return for everyone and everything else."""
        node = node_of(user)
        if node is None or not ri.is_resource_request or ri.group:
            return
        token = ri.resource == "serviceaccounts" and ri.subresource == "token"
        if ri.resource not in _GUARDED and not token:
            return
        if token:
            if ri.verb != "create":
                raise forbidden(user=user.name, ri=ri, reason="can only create tokens for individual service accounts")
            if not await self._related(node=node, namespace=ri.namespace, kind="service_accounts", name=ri.name):
                raise forbidden(user=user.name, ri=ri, reason=self._no_relationship(node))
            return
        claim_status = ri.resource == "persistentvolumeclaims" and ri.subresource == "status"
        if not ri.name or not (ri.verb == "get" or (claim_status and ri.verb in ("update", "patch"))):
            raise forbidden(user=user.name, ri=ri, reason=f"node '{node}' cannot {ri.verb} this resource")
        if ri.subresource and not claim_status:
            raise forbidden(user=user.name, ri=ri, reason=self._no_relationship(node))
        if ri.resource == "configmaps" and ri.name == ROOT_CA_CONFIGMAP:
            return
        if ri.resource == "persistentvolumes":
            allowed = await self._volume_related(node=node, name=ri.name)
        else:
            kind = {"secrets": "secrets", "configmaps": "configmaps", "persistentvolumeclaims": "claims"}[ri.resource]
            allowed = await self._related(node=node, namespace=ri.namespace, kind=kind, name=ri.name)
        if not allowed:
            raise forbidden(user=user.name, ri=ri, reason=self._no_relationship(node))

    @staticmethod
    def _no_relationship(node: str) -> str:
        return f"no relationship found between node '{node}' and this object"

    async def _pods(self, *, node: str, namespace: str | None, fresh: bool) -> list[dict[str, Any]]:
        pods = self.lookup("pods")
        if pods is None:
            return []
        if fresh:
            await pods.sync_cache()
        found = pods.cache.list(namespace=namespace, predicate=lambda o: o.fields.get("spec.nodeName") == node)
        return [o.obj for o in found]

    async def _related(self, *, node: str, namespace: str, kind: str, name: str) -> bool:
        for fresh in (False, True):
            for pod in await self._pods(node=node, namespace=namespace, fresh=fresh):
                if name in getattr(pod_references(pod), kind):
                    return True
        return False

    async def _volume_related(self, *, node: str, name: str) -> bool:
        claims = self.lookup("persistentvolumeclaims")
        if claims is None:
            return False
        for fresh in (False, True):
            for pod in await self._pods(node=node, namespace=None, fresh=fresh):
                namespace = (pod.get("metadata") or {}).get("namespace", "")
                for claim in pod_references(pod).claims:
                    found = claims.cache.get(claims.key(namespace=namespace, name=claim))
                    if found is not None and (found.obj.get("spec") or {}).get("volumeName") == name:
                        return True
        return False
