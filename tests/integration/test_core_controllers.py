"""The core controllers in-process against a real `kyb server`, driven with the real kubectl where a user
would: namespace deletion empties and removes the namespace; new namespaces get `default` and
`kube-root-ca.crt`; the garbage collector's background, foreground and orphan cascades; Endpoints and
EndpointSlices following pod readiness with named ports; the pod GC removing pods of a deleted node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from cluster import ServerProcess
from kybernetes.api.models.apps_v1 import Deployment, DeploymentSpec
from kybernetes.api.models.core_v1 import (
    ConfigMap,
    Container,
    ContainerPort,
    Endpoints,
    Namespace,
    Node,
    Pod,
    PodSpec,
    PodTemplateSpec,
    Secret,
    Service,
    ServiceAccount,
    ServicePort,
    ServiceSpec,
)
from kybernetes.api.models.discovery_v1 import EndpointSlice
from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta, OwnerReference
from kybernetes.client import Client, SharedInformerFactory, load_config
from kybernetes.controllers import (
    endpoints,
    endpointslice,
    garbagecollector,
    namespace,
    podgc,
    serviceaccount,
)
from kybernetes.controllers.base import Controller, ControllerContext
from kybernetes.controllers.serviceaccount import rootca
from kybernetes.machinery.errors import NotFoundError

pytestmark = pytest.mark.usefixtures("kubectl_available")

Factory = Callable[[ControllerContext], Controller]
ALL: list[Factory] = [
    namespace.new, serviceaccount.new, rootca.new, garbagecollector.new, endpoints.new, endpointslice.new, podgc.new,
]
OPTIONS = {"pod-gc-period": "0.2", "pod-gc-quarantine": "0.5"}


@contextlib.asynccontextmanager
async def running(server: ServerProcess, factories: list[Factory] = ALL) -> AsyncIterator[Client]:
    """The controllers, each on its own, running until the block ends (as the controller-manager runs them)."""
    async with Client(load_config(kubeconfig=str(server.kubeconfig), component="core-controllers-test")) as client:
        ctx = ControllerContext(client=client, informers=SharedInformerFactory(client=client), options=dict(OPTIONS))
        controllers = [factory(ctx) for factory in factories]
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(ctx.informers.run())]
            await ctx.informers.wait_synced()
            tasks += [tg.create_task(c.run(workers=2)) for c in controllers]
            try:
                yield client
            finally:
                for task in tasks:
                    task.cancel()


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 20.0, what: str = "") -> Any:
    """Poll `check` until it returns something truthy (or stops raising AssertionError/NotFoundError)."""
    deadline = time.monotonic() + within
    while True:
        try:
            result = await check()
            if result:
                return result
        except (AssertionError, NotFoundError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


async def gone(client: Client, model: type[Any], name: str, namespace: str | None = None) -> bool:
    try:
        await client.resource(model).get(name=name, namespace=namespace)
    except NotFoundError:
        return True
    return False


async def kubectl(server: ServerProcess, *args: str) -> str:
    result = await asyncio.to_thread(server.kubectl, *args, timeout=90)
    return result.stdout


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def new_namespace(client: Client) -> str:
    name = unique("core")
    await client.resource(Namespace).create(Namespace(metadata=ObjectMeta(name=name)))
    return name


# ---- namespace lifecycle, service accounts, root CA ---------------------------------------------------------


async def test_namespace_deletion_removes_content_then_namespace(server: ServerProcess) -> None:
    async with running(server) as client:
        ns = await new_namespace(client)
        for i in range(3):
            await client.resource(ConfigMap).create(ConfigMap(metadata=ObjectMeta(name=f"cm-{i}", namespace=ns)))
        await client.resource(Secret).create(Secret(metadata=ObjectMeta(name="s", namespace=ns), string_data={"k": "v"}))
        labels = {"app": "web"}
        await client.resource(Deployment).create(Deployment(
            metadata=ObjectMeta(name="web", namespace=ns),
            spec=DeploymentSpec(
                replicas=1, selector=LabelSelector(match_labels=labels),
                template=PodTemplateSpec(metadata=ObjectMeta(labels=labels),
                                         spec=PodSpec(containers=[Container(name="c", image="nginx")])),
            ),
        ))
        await client.resource(Pod).create(Pod(metadata=ObjectMeta(name="p", namespace=ns),
                                              spec=PodSpec(containers=[Container(name="c", image="nginx")])))
        await eventually(lambda: client.resource(ServiceAccount).get(name="default", namespace=ns))
        out = await kubectl(server, "delete", "namespace", ns, "--timeout=60s")
        assert f'namespace "{ns}" deleted' in out
        assert await gone(client, Namespace, ns)
        assert not (await client.resource(ConfigMap).list(namespace=ns)).items


async def test_terminating_namespace_reports_content_held_by_finalizers(server: ServerProcess) -> None:
    async with running(server, [namespace.new]) as client:
        ns = await new_namespace(client)
        await client.resource(ConfigMap).create(ConfigMap(
            metadata=ObjectMeta(name="held", namespace=ns, finalizers=["example.com/hold"])
        ))
        await client.resource(Namespace).delete(name=ns)

        async def conditions() -> dict[str, str]:
            got = await client.resource(Namespace).get(name=ns)
            conditions = (got.status.conditions if got.status else None) or []
            found = {c.type or "": c.message or "" for c in conditions if c.status == "True"}
            return found if "NamespaceFinalizersRemaining" in found else {}

        found = await eventually(conditions, what="namespace conditions")
        assert found["NamespaceContentRemaining"] == "Some resources are remaining: configmaps. has 1 resource instances"
        assert found["NamespaceFinalizersRemaining"] == (
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
        await client.resource(ConfigMap).patch(name="held", namespace=ns, patch={"metadata": {"finalizers": None}})
        # The controller looks again after half of its 15 s estimate for finalizers.
        await eventually(lambda: gone(client, Namespace, ns), within=30, what="namespace gone")


async def test_new_namespace_gets_default_account_and_root_ca(server: ServerProcess) -> None:
    ca = (server.data_dir / "pki" / "ca.crt").read_text()
    async with running(server, [serviceaccount.new, rootca.new]) as client:
        ns = await new_namespace(client)
        await eventually(lambda: client.resource(ServiceAccount).get(name="default", namespace=ns))
        cm = await eventually(lambda: client.resource(ConfigMap).get(name="kube-root-ca.crt", namespace=ns))
        assert (cm.data or {})["ca.crt"].strip() == ca.strip()
        await client.resource(ServiceAccount).delete(name="default", namespace=ns)
        await client.resource(ConfigMap).delete(name="kube-root-ca.crt", namespace=ns)

        async def both_back() -> bool:
            await client.resource(ServiceAccount).get(name="default", namespace=ns)
            await client.resource(ConfigMap).get(name="kube-root-ca.crt", namespace=ns)
            return True

        await eventually(both_back, what="default account and root CA recreated")


# ---- garbage collector ---------------------------------------------------------------------------------


async def owner_with_dependents(client: Client, ns: str, *, block: bool = False) -> ConfigMap:
    owner = await client.resource(ConfigMap).create(ConfigMap(metadata=ObjectMeta(name="owner", namespace=ns)))
    assert owner.metadata is not None
    ref = OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid,
                         block_owner_deletion=block or None)
    for i in range(2):
        await client.resource(Secret).create(Secret(
            metadata=ObjectMeta(name=f"dep-{i}", namespace=ns, owner_references=[ref]), string_data={"k": "v"},
        ))
    return owner


async def test_background_cascade(server: ServerProcess) -> None:
    async with running(server, [garbagecollector.new]) as client:
        ns = await new_namespace(client)
        await owner_with_dependents(client, ns)
        await kubectl(server, "delete", "configmap", "owner", "-n", ns)

        async def dependents_gone() -> bool:
            return all([await gone(client, Secret, f"dep-{i}", ns) for i in range(2)])

        await eventually(dependents_gone, what="dependents deleted")


async def test_foreground_cascade(server: ServerProcess) -> None:
    async with running(server, [garbagecollector.new]) as client:
        ns = await new_namespace(client)
        await owner_with_dependents(client, ns, block=True)
        await kubectl(server, "delete", "configmap", "owner", "-n", ns, "--cascade=foreground", "--timeout=60s")
        assert await gone(client, ConfigMap, "owner", ns)
        for i in range(2):
            assert await gone(client, Secret, f"dep-{i}", ns)


async def test_orphan_cascade(server: ServerProcess) -> None:
    async with running(server, [garbagecollector.new]) as client:
        ns = await new_namespace(client)
        await owner_with_dependents(client, ns)
        await kubectl(server, "delete", "configmap", "owner", "-n", ns, "--cascade=orphan", "--timeout=60s")
        assert await gone(client, ConfigMap, "owner", ns)
        for i in range(2):
            dep = await client.resource(Secret).get(name=f"dep-{i}", namespace=ns)
            assert dep.metadata is not None and not dep.metadata.owner_references


async def test_dependent_of_missing_owner_is_collected(server: ServerProcess) -> None:
    async with running(server, [garbagecollector.new]) as client:
        ns = await new_namespace(client)
        ref = OwnerReference(api_version="v1", kind="ConfigMap", name="never", uid=str(uuid.uuid4()))
        await client.resource(Secret).create(Secret(metadata=ObjectMeta(name="stray", namespace=ns, owner_references=[ref])))
        await eventually(lambda: gone(client, Secret, "stray", ns), what="stray dependent deleted")


# ---- endpoints and endpoint slices -----------------------------------------------------------------------


async def set_pod_status(client: Client, ns: str, name: str, *, ip: str, ready: bool) -> None:
    status = {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    await client.resource(Pod).patch(name=name, namespace=ns, subresource="status", patch={"status": status})


async def test_endpoints_follow_pod_readiness(server: ServerProcess) -> None:
    async with running(server, [endpoints.new, endpointslice.new]) as client:
        ns = await new_namespace(client)
        await client.resource(Service).create(Service(
            metadata=ObjectMeta(name="web", namespace=ns),
            spec=ServiceSpec(selector={"app": "web"},
                             ports=[ServicePort(name="http", port=80, target_port="web", protocol="TCP")]),
        ))
        for i, port in enumerate((8080, 9090)):
            await client.resource(Pod).create(Pod(
                metadata=ObjectMeta(name=f"web-{i}", namespace=ns, labels={"app": "web"}),
                spec=PodSpec(containers=[Container(name="c", image="nginx",
                                                   ports=[ContainerPort(name="web", container_port=port)])]),
            ))
            await set_pod_status(client, ns, f"web-{i}", ip=f"10.1.0.{i + 1}", ready=True)

        async def ready_addresses() -> dict[int, list[str]]:
            ep = await client.resource(Endpoints).get(name="web", namespace=ns)
            out = {(s.ports or [])[0].port or 0: [a.ip or "" for a in s.addresses or []] for s in ep.subsets or []}
            return out if out == {8080: ["10.1.0.1"], 9090: ["10.1.0.2"]} else {}

        await eventually(ready_addresses, what="both pods ready in Endpoints")
        await set_pod_status(client, ns, "web-0", ip="10.1.0.1", ready=False)

        async def not_ready() -> bool:
            ep = await client.resource(Endpoints).get(name="web", namespace=ns)
            by_port = {(s.ports or [])[0].port: s for s in ep.subsets or []}
            s = by_port.get(8080)
            return s is not None and not s.addresses and [a.ip for a in s.not_ready_addresses or []] == ["10.1.0.1"]

        await eventually(not_ready, what="web-0 under notReadyAddresses")

        async def slice_conditions() -> dict[str, bool | None]:
            slices = (await client.resource(EndpointSlice).list(
                namespace=ns, label_selector="kubernetes.io/service-name=web")).items
            found = {e.target_ref.name or "": e.conditions.ready for s in slices for e in s.endpoints or []
                     if e.target_ref and e.conditions}
            return found if found == {"web-0": False, "web-1": True} else {}

        await eventually(slice_conditions, what="EndpointSlice conditions")
        out = json.loads(await kubectl(server, "get", "endpointslices", "-n", ns, "-o", "json"))
        ports = sorted(p["port"] for item in out["items"] for p in item.get("ports") or [])
        assert ports == [8080, 9090]
        for item in out["items"]:
            assert item["addressType"] == "IPv4"
            assert item["metadata"]["ownerReferences"][0]["kind"] == "Service"


# ---- pod GC ----------------------------------------------------------------------------------------------


async def test_pods_of_a_deleted_node_are_removed(server: ServerProcess) -> None:
    async with running(server, [podgc.new]) as client:
        ns = await new_namespace(client)
        node = unique("node")
        await client.resource(Node).create(Node(metadata=ObjectMeta(name=node)))
        await client.resource(Pod).create(Pod(
            metadata=ObjectMeta(name="bound", namespace=ns),
            spec=PodSpec(node_name=node, containers=[Container(name="c", image="nginx")]),
        ))
        await asyncio.sleep(0.5)  # the pod outlives a few GC passes while its node exists
        assert not await gone(client, Pod, "bound", ns)
        await kubectl(server, "delete", "node", node)
        await eventually(lambda: gone(client, Pod, "bound", ns), what="pod of deleted node removed")
