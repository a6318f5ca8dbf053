"""The service account controller and the root CA publisher on fake caches."""

from __future__ import annotations

import ssl
from pathlib import Path
from types import SimpleNamespace

from fakeclient_core import FakeClient

from kybernetes.api.models.core_v1 import ConfigMap, Namespace, NamespaceStatus, ServiceAccount
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import FakeClock, SharedInformerFactory
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.serviceaccount import new as new_sa
from kybernetes.controllers.serviceaccount.rootca import CONFIGMAP_NAME, DESCRIPTION, cluster_ca
from kybernetes.controllers.serviceaccount.rootca import new as new_rootca

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _ctx(client: FakeClient, **options: str) -> ControllerContext:
    return ControllerContext(client=client, informers=SharedInformerFactory(client=client),  # type: ignore[arg-type]
                             clock=FakeClock(), options=dict(options))


def ns(name: str, phase: str = "Active") -> Namespace:
    return Namespace(metadata=ObjectMeta(name=name), status=NamespaceStatus(phase=phase))


async def test_default_account_created_once_and_recreated() -> None:
    client = FakeClient()
    controller = new_sa(_ctx(client))
    controller.namespaces.store.upsert(ns("team"))
    await controller.sync("team")
    sa = client.objects[("serviceaccounts", "team", "default")]
    controller.accounts.store.upsert(sa)
    await controller.sync("team")
    assert client.writes("serviceaccounts") == [("create", "serviceaccounts", "team", "default")]
    # deleted: the handler enqueues the namespace, the sync creates it again
    controller.accounts.store.remove("team/default")
    del client.objects[("serviceaccounts", "team", "default")]
    controller._account_deleted(sa)
    assert controller.queue.get_nowait() == "team"
    await controller.sync("team")
    assert ("serviceaccounts", "team", "default") in client.objects


async def test_terminating_namespace_and_stale_cache() -> None:
    client = FakeClient()
    controller = new_sa(_ctx(client))
    controller.namespaces.store.upsert(ns("going", phase="Terminating"))
    await controller.sync("going")
    assert client.calls == []
    controller.namespaces.store.upsert(ns("team"))
    await client.resource(ServiceAccount).create(ServiceAccount(metadata=ObjectMeta(name="default", namespace="team")))
    await controller.sync("team")  # AlreadyExists from a cache that lags: success
    assert len(client.writes("serviceaccounts")) == 2


async def test_root_ca_configmap_created_and_repaired(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(CA)
    client = FakeClient()
    controller = new_rootca(_ctx(client, **{"root-ca-file": str(ca_file)}))
    controller.namespaces.store.upsert(ns("team"))
    await controller.sync("team")
    cm = client.objects[("configmaps", "team", CONFIGMAP_NAME)]
    assert cm.data == {"ca.crt": CA}
    assert cm.metadata.annotations["kubernetes.io/description"] == DESCRIPTION
    tampered = ConfigMap(metadata=ObjectMeta(name=CONFIGMAP_NAME, namespace="team", resource_version=cm.metadata.resource_version,
                                             labels={"keep": "me"}), data={"ca.crt": "bogus"})
    client.objects[("configmaps", "team", CONFIGMAP_NAME)] = tampered
    controller.configmaps.store.upsert(tampered)
    controller._configmap_updated(cm, tampered)
    assert controller.queue.get_nowait() == "team"
    await controller.sync("team")
    fixed = client.objects[("configmaps", "team", CONFIGMAP_NAME)]
    assert fixed.data == {"ca.crt": CA} and fixed.metadata.labels == {"keep": "me"}


def test_cluster_ca_from_the_client_tls_context() -> None:
    here = Path(ssl.get_default_verify_paths().cafile or "")
    if not here.exists():
        return
    context = ssl.create_default_context(cafile=str(here))
    client = SimpleNamespace(config=SimpleNamespace(ssl_context=context))
    pem = cluster_ca(client=client)  # type: ignore[arg-type]
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
