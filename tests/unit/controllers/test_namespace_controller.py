"""The namespace controller on a fake client and a fake content deleter: Kubernetes' conditions, the retry
after half the estimate while content remains, the finalize call once empty; and the deleter's resource
choice."""

from __future__ import annotations

import json

from fakeclient_core import FakeClient

from kybernetes.api.models.core_v1 import Namespace, NamespaceSpec, NamespaceStatus
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.client import FakeClock
from kybernetes.controllers.namespace import NamespaceController, conditions_for
from kybernetes.controllers.namespace.deleter import DeletionResult, deletable_resources


class FakeDeleter:
    def __init__(self, results: list[DeletionResult]) -> None:
        self.results = results
        self.calls: list[str] = []

    async def delete_content(self, *, namespace: str) -> DeletionResult:
        self.calls.append(namespace)
        return self.results.pop(0)


def terminating(name: str = "doomed", *, finalizers: list[str] | None = None) -> Namespace:
    return Namespace(
        metadata=ObjectMeta(name=name, uid="uid-ns", deletion_timestamp="2026-01-01T00:00:00Z"),
        spec=NamespaceSpec(finalizers=finalizers if finalizers is not None else ["kubernetes"]),
        status=NamespaceStatus(phase="Terminating"),
    )


def test_deletable_resources_pods_first_and_namespaced_only() -> None:
    infos = deletable_resources()
    assert (infos[0].group, infos[0].plural) == ("", "pods")
    names = {(i.group, i.plural) for i in infos}
    assert ("", "configmaps") in names and ("apps", "deployments") in names
    assert ("", "nodes") not in names and ("", "namespaces") not in names
    assert ("authorization.k8s.io", "localsubjectaccessreviews") not in names
    assert len([i for i in infos if i.plural == "horizontalpodautoscalers"]) == 1


def test_conditions_worded_as_kubernetes() -> None:
    conds = conditions_for(DeletionResult(remaining={"pods.": 2, "configmaps.": 1}, finalizers={"example.com/x": 1}))
    assert conds["NamespaceContentRemaining"] == (
        "True", "SomeResourcesRemain", "Some resources are remaining: configmaps. has 1 resource instances, "
        "pods. has 2 resource instances",
    )
    assert conds["NamespaceFinalizersRemaining"] == (
        "True", "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances",
    )
    assert conds["NamespaceDeletionContentFailure"][:2] == ("False", "ContentDeleted")
    done = conditions_for(DeletionResult())
    assert done["NamespaceContentRemaining"] == ("False", "ContentRemoved", "All content successfully removed")


async def test_remaining_content_requeues_then_finalizes() -> None:
    client = FakeClient()
    clock = FakeClock()
    await client.resource(Namespace).create(terminating())
    deleter = FakeDeleter([
        DeletionResult(remaining={"pods.": 1}, estimate=30.0),
        DeletionResult(),
    ])
    controller = NamespaceController(client=client, deleter=deleter, clock=clock)  # type: ignore[arg-type]
    await controller.sync("doomed")
    assert client.requests == []
    ns = client.objects[("namespaces", "", "doomed")]
    conds = {c.type: (c.status, c.reason) for c in ns.status.conditions}
    assert conds["NamespaceContentRemaining"] == ("True", "SomeResourcesRemain")
    assert controller.queue.get_nowait() is None
    clock.advance(15.9)
    assert controller.queue.get_nowait() is None
    clock.advance(0.2)  # 30 / 2 + 1 seconds later
    assert controller.queue.get_nowait() == "doomed"
    await controller.sync("doomed")
    [(method, path, body)] = client.requests
    assert (method, path) == ("PUT", "/api/v1/namespaces/doomed/finalize")
    sent = json.loads(body or b"{}")
    assert sent["spec"]["finalizers"] == [] and sent["metadata"]["name"] == "doomed"
    ns = client.objects[("namespaces", "", "doomed")]
    conds = {c.type: (c.status, c.reason) for c in ns.status.conditions}
    assert conds["NamespaceContentRemaining"] == ("False", "ContentRemoved")


async def test_not_deleting_or_already_finalized_is_left_alone() -> None:
    client = FakeClient()
    await client.resource(Namespace).create(Namespace(metadata=ObjectMeta(name="live")))
    await client.resource(Namespace).create(terminating("other", finalizers=["example.com/mine"]))
    deleter = FakeDeleter([])
    controller = NamespaceController(client=client, deleter=deleter, clock=FakeClock())  # type: ignore[arg-type]
    await controller.sync("live")
    await controller.sync("other")
    await controller.sync("missing")
    assert deleter.calls == [] and client.requests == []


async def test_other_finalizers_are_kept_when_finalizing() -> None:
    client = FakeClient()
    await client.resource(Namespace).create(terminating(finalizers=["kubernetes", "example.com/mine"]))
    controller = NamespaceController(client=client, deleter=FakeDeleter([DeletionResult()]), clock=FakeClock())  # type: ignore[arg-type]
    await controller.sync("doomed")
    sent = json.loads(client.requests[0][2] or b"{}")
    assert sent["spec"]["finalizers"] == ["example.com/mine"]
