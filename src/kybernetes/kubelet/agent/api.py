"""The agent's view of the cluster (`AgentAPI`), over `kybernetes.client` only.

One pod informer (`fieldSelector=spec.nodeName=<node>`), plain GETs for the ConfigMaps, Secrets and
ServiceAccounts a pod needs when its containers start (short-lived caches: a missing object is looked up
again at the next attempt), TokenRequests bound to the pod (cached until 80 % of their lifetime), the
cluster CA (the `kube-root-ca.crt` ConfigMap, else the CA the agent was given), the `kubernetes` Service
for KUBERNETES_SERVICE_HOST/PORT, pod status as a merge patch of `pods/status`, the final pod delete
(grace 0, uid precondition), and Events through an `EventRecorder`.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Sequence
from typing import Any

from kybernetes.api.models.authentication_v1 import BoundObjectReference
from kybernetes.api.models.core_v1 import ConfigMap, Pod, Secret, Service, ServiceAccount
from kybernetes.api.models.meta_v1 import Preconditions
from kybernetes.client import REAL_CLOCK, Client, Clock, EventRecorder, Informer
from kybernetes.kubelet.images import InvalidReference, auth_from_docker_config, parse_reference
from kybernetes.kubelet.runtime.protocol import RegistryAuth
from kybernetes.machinery.errors import NotFoundError
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["FIELD_MANAGER", "AgentAPI"]

FIELD_MANAGER = "kubelet"


class AgentAPI:
    def __init__(self, *, client: Client, node_name: str, clock: Clock = REAL_CLOCK, ca_pem: bytes = b"") -> None:
        self.client, self.node_name, self.clock = client, node_name, clock
        self._pods_api = client.resource(Pod)
        self.pods: Informer[Pod] = Informer(resource=self._pods_api, field_selector=f"spec.nodeName={node_name}",
                                            clock=clock)
        self.recorder = EventRecorder(client=client, component="kubelet", host=node_name, clock=clock)
        self._ca_pem = ca_pem
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._service_env: tuple[list[tuple[str, str]], float] | None = None
        self._allocatable: dict[str, str] = {}

    # ---- node facts (set by the node manager) ---------------------------------------------------------

    def set_allocatable(self, allocatable: dict[str, str]) -> None:
        self._allocatable = dict(allocatable)

    def allocatable(self) -> dict[str, str]:
        return self._allocatable

    def now_rfc3339(self) -> str:
        return now_rfc3339()

    # ---- reads ---------------------------------------------------------------------------------------

    async def config_map(self, *, namespace: str, name: str) -> ConfigMap | None:
        try:
            return await self.client.resource(ConfigMap).get(name=name, namespace=namespace)
        except NotFoundError:
            return None

    async def secret(self, *, namespace: str, name: str) -> Secret | None:
        try:
            return await self.client.resource(Secret).get(name=name, namespace=namespace)
        except NotFoundError:
            return None

    async def service_account(self, *, namespace: str, name: str) -> ServiceAccount | None:
        try:
            return await self.client.resource(ServiceAccount).get(name=name, namespace=namespace)
        except NotFoundError:
            return None

    async def pull_auths(self, *, namespace: str, names: Sequence[str], image: str) -> list[RegistryAuth]:
        """Credentials for `image`'s registry from the pod's imagePullSecrets, in order."""
        try:
            host = parse_reference(image).domain
        except InvalidReference:
            return []
        auths: list[RegistryAuth] = []
        for name in names:
            secret = await self.secret(namespace=namespace, name=name)
            if secret is None:
                continue
            raw = (secret.data or {}).get(".dockerconfigjson") or (secret.data or {}).get(".dockercfg")
            if raw:
                with contextlib.suppress(ValueError, TypeError):
                    auth = auth_from_docker_config(base64.b64decode(raw), host)
                    if auth is not None:
                        auths.append(auth)
        return auths

    async def ca_pem(self, *, namespace: str) -> bytes:
        cm = await self.config_map(namespace=namespace, name="kube-root-ca.crt")
        if cm is not None and (cm.data or {}).get("ca.crt"):
            return (cm.data or {})["ca.crt"].encode()
        return self._ca_pem

    async def token(self, *, namespace: str, service_account: str, pod_name: str, pod_uid: str, audience: str,
                    seconds: int) -> str:
        key = (pod_uid, service_account, audience)
        cached = self._tokens.get(key)
        now = self.clock.now()
        if cached is not None and now < cached[1]:
            return cached[0]
        result = await self.client.resource(ServiceAccount).create_token(
            name=service_account, namespace=namespace, audiences=[audience] if audience else None,
            expiration_seconds=seconds,
            bound_object=BoundObjectReference(api_version="v1", kind="Pod", name=pod_name, uid=pod_uid),
        )
        token = (result.status.token if result.status is not None else None) or ""
        # Refreshed at 80 % of its lifetime, as the kubelet's token manager does.
        self._tokens[key] = (token, now + seconds * 0.8)
        return token

    def forget_tokens(self, *, pod_uid: str) -> None:
        for key in [k for k in self._tokens if k[0] == pod_uid]:
            del self._tokens[key]

    async def service_env(self) -> list[tuple[str, str]]:
        """KUBERNETES_SERVICE_HOST/PORT (and the docker-link style KUBERNETES_PORT_* variables)."""
        now = self.clock.now()
        if self._service_env is not None and now < self._service_env[1]:
            return self._service_env[0]
        env: list[tuple[str, str]] = []
        try:
            svc = await self.client.resource(Service).get(name="kubernetes", namespace="default")
        except NotFoundError:
            svc = None
        if svc is not None and svc.spec is not None and svc.spec.cluster_ip and svc.spec.ports:
            ip, port = svc.spec.cluster_ip, svc.spec.ports[0].port
            env = [("KUBERNETES_SERVICE_HOST", ip), ("KUBERNETES_SERVICE_PORT", str(port)),
                   ("KUBERNETES_SERVICE_PORT_HTTPS", str(port)), ("KUBERNETES_PORT", f"tcp://{ip}:{port}"),
                   (f"KUBERNETES_PORT_{port}_TCP", f"tcp://{ip}:{port}"),
                   (f"KUBERNETES_PORT_{port}_TCP_PROTO", "tcp"), (f"KUBERNETES_PORT_{port}_TCP_PORT", str(port)),
                   (f"KUBERNETES_PORT_{port}_TCP_ADDR", ip)]
        self._service_env = (env, now + 60)
        return env

    # ---- writes --------------------------------------------------------------------------------------

    async def patch_pod_status(self, *, namespace: str, name: str, status: dict[str, Any]) -> None:
        with contextlib.suppress(NotFoundError):
            await self._pods_api.patch(name=name, namespace=namespace, patch={"status": status}, type="merge",
                                       subresource="status", field_manager=FIELD_MANAGER)

    async def delete_pod(self, *, namespace: str, name: str, uid: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self._pods_api.delete(name=name, namespace=namespace, grace_period_seconds=0,
                                        preconditions=Preconditions(uid=uid))

    async def event(self, *, pod: Pod, reason: str, message: str, warning: bool = False,
                    field_path: str = "") -> None:
        del field_path  # the recorder references the pod itself
        self.recorder.event(pod, type="Warning" if warning else "Normal", reason=reason, message=message)
