"""Node authorization: what a node may read (the authorizer) and write (NodeRestriction)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kybernetes.api.resources import lookup
from kybernetes.apiserver.admission.noderestriction import NodeRestriction
from kybernetes.apiserver.auth.authn import UserInfo
from kybernetes.apiserver.auth.nodeauthorizer import NodeAuthorizer, node_of, pod_references
from kybernetes.apiserver.requestinfo import parse_request_info
from kybernetes.apiserver.rest import RequestContext
from kybernetes.machinery.errors import ForbiddenError

NODE_A = UserInfo(name="system:node:a", groups=("system:nodes", "system:authenticated"))
ADMIN = UserInfo(name="kubernetes-admin", groups=("system:masters",))


@dataclass
class _Cached:
    key: str
    obj: dict[str, Any]
    namespace: str
    fields: dict[str, str]


@dataclass
class _Cache:
    objects: dict[str, _Cached] = field(default_factory=dict)

    def list(self, *, namespace: str | None, predicate: Any) -> list[_Cached]:
        return [o for o in self.objects.values()
                if (namespace is None or o.namespace == namespace) and (predicate is None or predicate(o))]

    def get(self, key: str) -> _Cached | None:
        return self.objects.get(key)


@dataclass
class _Rest:
    cache: _Cache = field(default_factory=_Cache)
    synced: int = 0

    async def sync_cache(self) -> None:
        self.synced += 1

    def key(self, *, namespace: str, name: str) -> str:
        return f"{namespace}/{name}"

    def add(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.cache.objects[f"{meta['namespace']}/{meta['name']}"] = _Cached(
            key=meta["name"], obj=obj, namespace=meta["namespace"],
            fields={"spec.nodeName": obj.get("spec", {}).get("nodeName", "")})


POD = {
    "metadata": {"name": "web", "namespace": "ns"},
    "spec": {
        "nodeName": "a", "serviceAccountName": "web-sa", "imagePullSecrets": [{"name": "pull"}],
        "volumes": [{"name": "s", "secret": {"secretName": "vol-secret"}},
                    {"name": "c", "configMap": {"name": "vol-cm"}},
                    {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "e", "ephemeral": {"volumeClaimTemplate": {}}},
                    {"name": "p", "projected": {"sources": [{"secret": {"name": "proj-secret"}},
                                                            {"configMap": {"name": "proj-cm"}}]}}],
        "containers": [{"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "env-secret"}}},
                                             {"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "env-cm"}}}],
                        "envFrom": [{"secretRef": {"name": "from-secret"}}, {"configMapRef": {"name": "from-cm"}}]}],
        "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-secret"}}]}],
    },
}


def test_pod_references() -> None:
    refs = pod_references(POD)
    assert refs.secrets == {"pull", "vol-secret", "proj-secret", "env-secret", "from-secret", "init-secret"}
    assert refs.configmaps == {"vol-cm", "proj-cm", "env-cm", "from-cm"}
    assert refs.claims == {"data", "web-e"}
    assert refs.service_accounts == {"web-sa"}


def test_node_identity() -> None:
    assert node_of(NODE_A) == "a"
    assert node_of(UserInfo(name="system:node:a", groups=())) is None  # not in system:nodes
    assert node_of(UserInfo(name="alice", groups=("system:nodes",))) is None


def _authorizer() -> tuple[NodeAuthorizer, _Rest, _Rest]:
    pods, claims = _Rest(), _Rest()
    pods.add(POD)
    pods.add({"metadata": {"name": "elsewhere", "namespace": "ns"},
              "spec": {"nodeName": "b", "volumes": [{"name": "s", "secret": {"secretName": "b-secret"}}]}})
    claims.add({"metadata": {"name": "data", "namespace": "ns"}, "spec": {"volumeName": "pv-1"}})
    table = {"pods": pods, "persistentvolumeclaims": claims}
    return NodeAuthorizer(lookup=lambda q: table.get(q)), pods, claims  # type: ignore[arg-type,return-value]


async def _check(authorizer: NodeAuthorizer, method: str, path: str, user: UserInfo = NODE_A) -> str | None:
    ri = parse_request_info(method=method, path=path, watch=False)
    try:
        await authorizer.authorize(user=user, ri=ri)
    except ForbiddenError as e:
        assert e.code == 403
        return e.message
    return None


@pytest.mark.parametrize("path", [
    "/api/v1/namespaces/ns/secrets/vol-secret", "/api/v1/namespaces/ns/secrets/env-secret",
    "/api/v1/namespaces/ns/configmaps/proj-cm", "/api/v1/namespaces/ns/configmaps/kube-root-ca.crt",
    "/api/v1/namespaces/other/configmaps/kube-root-ca.crt", "/api/v1/namespaces/ns/persistentvolumeclaims/data",
    "/api/v1/persistentvolumes/pv-1", "/api/v1/namespaces/ns/pods", "/api/v1/nodes/b",
    "/apis/apps/v1/namespaces/ns/deployments",
])
async def test_node_reads_what_its_pods_use(path: str) -> None:
    authorizer, _, _ = _authorizer()
    assert await _check(authorizer, "GET", path) is None


async def test_node_refused_other_data() -> None:
    authorizer, pods, _ = _authorizer()
    message = await _check(authorizer, "GET", "/api/v1/namespaces/ns/secrets/b-secret")
    assert message == ('secrets "b-secret" is forbidden: User "system:node:a" cannot get resource "secrets" in API '
                       "group \"\" in the namespace \"ns\": no relationship found between node 'a' and this object")
    assert pods.synced == 1  # a miss is checked again against a caught-up cache
    assert await _check(authorizer, "GET", "/api/v1/namespaces/other/secrets/vol-secret")  # another namespace
    assert await _check(authorizer, "GET", "/api/v1/persistentvolumes/pv-2")
    listed = await _check(authorizer, "GET", "/api/v1/secrets")
    assert listed is not None and listed.startswith(
        'secrets is forbidden: User "system:node:a" cannot list resource "secrets" in API group "" at the cluster scope')
    assert await _check(authorizer, "PUT", "/api/v1/namespaces/ns/secrets/vol-secret")
    assert await _check(authorizer, "POST", "/api/v1/namespaces/ns/configmaps")
    # Another user is not looked at.
    assert await _check(authorizer, "GET", "/api/v1/secrets", user=ADMIN) is None


async def test_node_tokens_only_for_its_pods_service_accounts() -> None:
    authorizer, _, _ = _authorizer()
    assert await _check(authorizer, "POST", "/api/v1/namespaces/ns/serviceaccounts/web-sa/token") is None
    message = await _check(authorizer, "POST", "/api/v1/namespaces/ns/serviceaccounts/default/token")
    assert message is not None and 'cannot create resource "serviceaccounts/token"' in message


async def _admit(*, plural: str, operation: str, obj: dict[str, Any] | None, old: dict[str, Any] | None,
                 subresource: str = "", group: str = "", user: UserInfo = NODE_A) -> str | None:
    info = lookup(group, "v1", plural)
    assert info is not None
    try:
        await NodeRestriction().admit(ctx=RequestContext(user=user), info=info, operation=operation, obj=obj, old=old,
                                      subresource=subresource)
    except ForbiddenError as e:
        return e.message
    return None


def _node(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}}


def _pod(node: str, **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "annotations": annotations}, "spec": {"nodeName": node}}


async def test_node_restriction_nodes() -> None:
    assert await _admit(plural="nodes", operation="CREATE", obj=_node("a"), old=None) is None
    assert await _admit(plural="nodes", operation="UPDATE", obj=_node("a"), old=_node("a"), subresource="status") is None
    assert await _admit(plural="nodes", operation="UPDATE", obj=_node("b"), old=_node("b")) == (
        'nodes "b" is forbidden: node "a" is not allowed to modify node "b"')
    assert await _admit(plural="nodes", operation="CREATE", obj=_node("b"), old=None) == (
        'nodes "b" is forbidden: node "a" is not allowed to modify node "b"')
    assert await _admit(plural="nodes", operation="DELETE", obj=None, old=_node("b")) == (
        'nodes "b" is forbidden: node "a" is not allowed to delete node "b"')
    assert await _admit(plural="nodes", operation="UPDATE", obj=_node("b"), old=_node("b"), user=ADMIN) is None


async def test_node_restriction_pods_and_leases() -> None:
    assert await _admit(plural="pods", operation="UPDATE", obj=_pod("a"), old=_pod("a"), subresource="status") is None
    assert await _admit(plural="pods", operation="DELETE", obj=None, old=_pod("a")) is None
    assert await _admit(plural="pods", operation="CREATE", obj=_pod("a", **{"kubernetes.io/config.mirror": "x"}),
                        old=None) is None
    assert "can only update pod status for pods with spec.nodeName set to itself" in (
        await _admit(plural="pods", operation="UPDATE", obj=_pod("b"), old=_pod("b"), subresource="status") or "")
    assert "can only update pod status" in (
        await _admit(plural="pods", operation="UPDATE", obj=_pod("a"), old=_pod("a")) or "")
    assert "can only delete pods with spec.nodeName set to itself" in (
        await _admit(plural="pods", operation="DELETE", obj=None, old=_pod("b")) or "")
    assert "can only create mirror pods" in (await _admit(plural="pods", operation="CREATE", obj=_pod("a"), old=None)
                                             or "")
    lease = {"metadata": {"name": "a", "namespace": "kube-node-lease"}}
    other = {"metadata": {"name": "b", "namespace": "kube-node-lease"}}
    assert await _admit(plural="leases", group="coordination.k8s.io", operation="UPDATE", obj=lease, old=lease) is None
    assert "can only access node lease with the same name" in (await _admit(
        plural="leases", group="coordination.k8s.io", operation="UPDATE", obj=other, old=other) or "")
