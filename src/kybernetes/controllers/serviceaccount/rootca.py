"""The root CA publisher: a `kube-root-ca.crt` ConfigMap in every namespace, key `ca.crt` = the cluster CA,
so pods can verify the API server (projected service account volumes mount it).

The CA bundle is the one this controller itself trusts to reach the API server: the `root-ca-file` option
(Kubernetes' `--root-ca-file`) when set, else the certificate authorities of the client's TLS context
(built from the kubeconfig's certificate-authority data or the in-cluster ca.crt).

Only ConfigMaps named `kube-root-ca.crt` are watched (a field-selected informer): deleting one, or
changing its data, enqueues its namespace, and so does a namespace appearing. The sync creates the map, or
puts the CA and the description annotation back when they differ; terminating namespaces are skipped.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import msgspec

from kybernetes.api.models.core_v1 import ConfigMap, Namespace
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import Client, Clock, Informer, WorkQueue
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.serviceaccount import namespace_active
from kybernetes.machinery.errors import AlreadyExistsError, ForbiddenError, NotFoundError

__all__ = ["CONFIGMAP_NAME", "DESCRIPTION", "DESCRIPTION_ANNOTATION", "RootCACertPublisher", "cluster_ca", "new"]

CONFIGMAP_NAME = "kube-root-ca.crt"
DATA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as "
    "the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of "
    "Kubernetes clusters."
)


def cluster_ca(*, client: Client, ca_file: str | None = None) -> str:
    """The PEM bundle this client trusts for the API server (see the module docstring)."""
    if ca_file:
        return Path(ca_file).read_text()
    data = getattr(client.config, "ca_data", None)
    if data:
        return data.decode() if isinstance(data, bytes) else str(data)
    context: ssl.SSLContext | None = client.config.ssl_context
    if context is None:
        return ""
    certs = context.get_ca_certs(binary_form=True)
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in certs)


class RootCACertPublisher:
    name = "root-ca-cert-publisher"

    def __init__(
        self, *, client: Client, namespaces: Informer[Namespace], configmaps: Informer[ConfigMap], ca: str,
        clock: Clock,
    ) -> None:
        self.client = client
        self.namespaces = namespaces
        self.configmaps = configmaps
        self.ca = ca
        self.queue = WorkQueue(name="root-ca-cert-publisher", clock=clock)
        namespaces.add_handler(on_add=self._namespace_changed, on_update=lambda old, new: self._namespace_changed(new))
        configmaps.add_handler(on_update=self._configmap_updated, on_delete=self._configmap_deleted)

    def _namespace_changed(self, ns: Namespace) -> None:
        if ns.metadata is not None and ns.metadata.name:
            self.queue.add(ns.metadata.name)

    def _configmap_deleted(self, cm: ConfigMap) -> None:
        meta = cm.metadata
        if meta is not None and meta.name == CONFIGMAP_NAME and meta.namespace:
            self.queue.add(meta.namespace)

    def _configmap_updated(self, old: ConfigMap, new: ConfigMap) -> None:
        if (new.data or {}) != {DATA_KEY: self.ca} or _description(new) != DESCRIPTION:
            self._configmap_deleted(new)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    async def sync(self, namespace: str) -> None:
        if not self.ca or not namespace_active(self.namespaces.get(namespace)):
            return
        data = {DATA_KEY: self.ca}
        current = self.configmaps.get(f"{namespace}/{CONFIGMAP_NAME}")
        configmaps = self.client.resource(ConfigMap)
        try:
            if current is None:
                await configmaps.create(ConfigMap(
                    metadata=ObjectMeta(
                        name=CONFIGMAP_NAME, namespace=namespace, annotations={DESCRIPTION_ANNOTATION: DESCRIPTION}
                    ),
                    data=data,
                ))
                return
            if current.data == data and _description(current) == DESCRIPTION:
                return
            meta = current.metadata or ObjectMeta()
            annotations = {**(meta.annotations or {}), DESCRIPTION_ANNOTATION: DESCRIPTION}
            await configmaps.update(msgspec.structs.replace(
                current, data=data, metadata=msgspec.structs.replace(meta, annotations=annotations)
            ))
        except AlreadyExistsError:
            return  # our cache has not seen it yet; its add or a later change brings us back if it differs
        except (ForbiddenError, NotFoundError):
            return  # the namespace began terminating, or is gone


def _description(cm: ConfigMap) -> str | None:
    return ((cm.metadata.annotations if cm.metadata else None) or {}).get(DESCRIPTION_ANNOTATION)


def new(ctx: ControllerContext) -> RootCACertPublisher:
    return RootCACertPublisher(
        client=ctx.client,
        namespaces=ctx.informers.informer(Namespace),
        configmaps=ctx.informers.informer(ConfigMap, field_selector=f"metadata.name={CONFIGMAP_NAME}"),
        ca=cluster_ca(client=ctx.client, ca_file=ctx.options.get("root-ca-file")),
        clock=ctx.clock,
    )
