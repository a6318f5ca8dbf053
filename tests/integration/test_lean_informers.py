"""Lean informers against a real `kyb server`: the shared factory's cache holds pods without managedFields,
and an update or status update sent from such a cached object keeps the server's managedFields (the server
keeps the live ones when the request carries none) while recording the writer's own entry."""

from __future__ import annotations

import asyncio

import msgspec

from cluster import ServerProcess
from kybernetes.api.models.core_v1 import Container, Pod, PodCondition, PodSpec, PodStatus
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import Client, SharedInformerFactory, load_config


def _managers(pod: Pod) -> set[tuple[str, str]]:
    assert pod.metadata is not None
    return {(e.manager or "", e.subresource or "") for e in pod.metadata.managed_fields or []}


async def test_writes_from_a_cache_without_managed_fields_keep_the_servers(server: ServerProcess,
                                                                          namespace: str) -> None:
    async with Client(load_config(kubeconfig=str(server.kubeconfig), component="lean-test")) as client:
        pods = client.resource(Pod)
        created = await pods.create(Pod(
            metadata=ObjectMeta(name="lean", namespace=namespace, labels={"app": "lean"}),
            spec=PodSpec(containers=[Container(name="c", image="busybox")], scheduler_name="nobody"),
        ), field_manager="creator")
        assert _managers(created) == {("creator", "")}

        factory = SharedInformerFactory(client=client)
        informer = factory.informer(Pod, namespace=namespace)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(factory.run())
            await asyncio.wait_for(informer.wait_synced(), 10)
            cached = informer.get(f"{namespace}/lean")
            assert cached is not None and cached.metadata is not None
            assert cached.metadata.managed_fields is None and cached.metadata.labels == {"app": "lean"}

            # An update of the cached object by another manager: the creator's entry survives.
            meta = msgspec.structs.replace(cached.metadata, labels={"app": "lean", "tier": "x"})
            updated = await pods.update(msgspec.structs.replace(cached, metadata=meta), field_manager="labeller")
            assert _managers(updated) == {("creator", ""), ("labeller", "")}

            # A status update of the (newer) cached object, as the simulator and kubelets send them.
            async def cached_rv() -> Pod:
                while True:
                    pod = informer.get(f"{namespace}/lean")
                    assert pod is not None and pod.metadata is not None
                    if pod.metadata.resource_version == updated.metadata.resource_version:  # type: ignore[union-attr]
                        return pod
                    await asyncio.sleep(0.01)

            fresh = await asyncio.wait_for(cached_rv(), 10)
            assert fresh.metadata is not None and fresh.metadata.managed_fields is None
            status = PodStatus(phase="Pending", conditions=[PodCondition(type="PodScheduled", status="False")])
            written = await pods.update_status(msgspec.structs.replace(fresh, status=status), field_manager="sim")
            assert _managers(written) == {("creator", ""), ("labeller", ""), ("sim", "status")}

            got = await pods.get(name="lean", namespace=namespace)
            assert _managers(got) == _managers(written)
            task.cancel()
