"""VolumeBinding on filled informer caches: bound volumes' node affinity, delayed (WaitForFirstConsumer)
claims that need a fitting free volume on the node, and the claims that reject a pod everywhere."""

from __future__ import annotations

from typing import Any

from scheduler_fakes import node, node_info, pod

from kybernetes.api.models.core_v1 import (
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    ObjectReference,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource,
    PersistentVolumeSpec,
    Pod,
    Volume,
    VolumeNodeAffinity,
    VolumeResourceRequirements,
)
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.api.models.storage_v1 import StorageClass
from kybernetes.client import SharedInformerFactory
from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.framework import Code, CycleState
from kybernetes.scheduler.nodeinfo import PodInfo
from kybernetes.scheduler.plugins import default_plugins
from kybernetes.scheduler.plugins.volumebinding import (
    REASON_BIND_CONFLICT,
    REASON_NODE_CONFLICT,
    REASON_UNBOUND_IMMEDIATE,
    VolumeBinding,
)

HOST = "kubernetes.io/hostname"


class _NoClient:
    """Enough of a Client to build informers whose stores the tests fill (nothing is listed)."""

    def resource(self, model: type) -> Any:
        from types import SimpleNamespace

        from kybernetes.client.resource import info_for_model

        return SimpleNamespace(info=info_for_model(model))


def plugin(*objects: Any) -> tuple[VolumeBinding, list[int]]:
    factory = SharedInformerFactory(client=_NoClient())  # type: ignore[arg-type]
    calls: list[int] = []
    vb = VolumeBinding(informers=factory, on_change=lambda: calls.append(1))
    for obj in objects:
        informer = {PersistentVolumeClaim: vb.claims, PersistentVolume: vb.volumes, StorageClass: vb.classes}[type(obj)]
        informer.store.upsert(obj)  # type: ignore[union-attr]
    return vb, calls


def claim(name: str, *, klass: str = "", volume: str = "", size: str = "1Gi",
          annotations: dict[str, str] | None = None) -> PersistentVolumeClaim:
    return PersistentVolumeClaim(
        metadata=ObjectMeta(name=name, namespace="default", uid=f"uid-{name}", annotations=annotations),
        spec=PersistentVolumeClaimSpec(storage_class_name=klass, volume_name=volume or None,
                                       access_modes=["ReadWriteOnce"],
                                       resources=VolumeResourceRequirements(requests={"storage": size})))


def local_pv(name: str, on: str, *, klass: str = "local", size: str = "1Gi",
             claim_ref: ObjectReference | None = None) -> PersistentVolume:
    return PersistentVolume(metadata=ObjectMeta(name=name), spec=PersistentVolumeSpec(
        storage_class_name=klass, capacity={"storage": size}, access_modes=["ReadWriteOnce"], claim_ref=claim_ref,
        node_affinity=VolumeNodeAffinity(required=NodeSelector(node_selector_terms=[NodeSelectorTerm(
            match_expressions=[NodeSelectorRequirement(key=HOST, operator="In", values=[on])])]))))


def delayed(name: str = "local", provisioner: str = "kubernetes.io/no-provisioner") -> StorageClass:
    return StorageClass(metadata=ObjectMeta(name=name), provisioner=provisioner,
                        volume_binding_mode="WaitForFirstConsumer")


def with_claims(*names: str) -> PodInfo:
    p: Pod = pod("p")
    assert p.spec is not None
    p.spec.volumes = [Volume(name=n, persistent_volume_claim=PersistentVolumeClaimVolumeSource(claim_name=n))
                      for n in names]
    return PodInfo(p)


def verdicts(vb: VolumeBinding, p: PodInfo, *nodes: str) -> dict[str, str]:
    state = CycleState()
    status = vb.pre_filter(state=state, pod=p, snapshot=Snapshot())
    assert status is None, status
    out = {}
    for name in nodes:
        result = vb.filter(state, p, node_info(node(name, labels={HOST: name})))
        out[name] = result.message if result is not None else "ok"
    return out


def test_pods_without_claims_are_skipped_and_default_list_has_the_plugin() -> None:
    vb, _ = plugin()
    assert vb.pre_filter(state=CycleState(), pod=PodInfo(pod("p")), snapshot=Snapshot()).code == Code.SKIP  # type: ignore[union-attr]
    assert VolumeBinding().pre_filter(state=CycleState(), pod=with_claims("c"), snapshot=Snapshot()).code == Code.SKIP  # type: ignore[union-attr]
    assert any(isinstance(p, VolumeBinding) for p in default_plugins())


def test_bound_volume_node_affinity() -> None:
    pv = local_pv("pv", "n2", claim_ref=ObjectReference(namespace="default", name="c", uid="uid-c"))
    vb, _ = plugin(claim("c", klass="local", volume="pv"), pv)
    assert verdicts(vb, with_claims("c"), "n1", "n2") == {"n1": REASON_NODE_CONFLICT, "n2": "ok"}


def test_claims_that_reject_everywhere() -> None:
    vb, _ = plugin(claim("immediate", klass="fast"), claim("gone-pv", volume="nope"))
    for names, message in ((("missing",), 'persistentvolumeclaim "missing" not found'),
                           (("immediate",), REASON_UNBOUND_IMMEDIATE),
                           (("gone-pv",), "bound to non-existent pv")):
        status = vb.pre_filter(state=CycleState(), pod=with_claims(*names), snapshot=Snapshot())
        assert status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert message in status.message


def test_delayed_claim_needs_a_fitting_free_volume_on_the_node() -> None:
    taken = ObjectReference(namespace="default", name="other", uid="uid-other")
    vb, _ = plugin(delayed(), claim("c", klass="local", size="5Gi"),
                   local_pv("small-n1", "n1", size="1Gi"), local_pv("n2", "n2", size="10Gi"),
                   local_pv("taken-n3", "n3", size="10Gi", claim_ref=taken))
    assert verdicts(vb, with_claims("c"), "n1", "n2", "n3") == {
        "n1": REASON_BIND_CONFLICT, "n2": "ok", "n3": REASON_BIND_CONFLICT}
    # two claims of one pod cannot share the one volume on n2
    vb, _ = plugin(delayed(), claim("a", klass="local"), claim("b", klass="local"), local_pv("only", "n2"))
    assert verdicts(vb, with_claims("a", "b"), "n2") == {"n2": REASON_BIND_CONFLICT}


def test_delayed_claim_with_selected_node_or_provisioner() -> None:
    vb, _ = plugin(delayed(), claim("c", klass="local", annotations={"volume.kubernetes.io/selected-node": "n1"}),
                   local_pv("a", "n1"), local_pv("b", "n2"))
    assert verdicts(vb, with_claims("c"), "n1", "n2") == {"n1": "ok", "n2": REASON_BIND_CONFLICT}
    vb, _ = plugin(delayed("dyn", provisioner="kybernetes.io/hostpath"), claim("c", klass="dyn"))
    assert verdicts(vb, with_claims("c"), "n1") == {"n1": "ok"}


def test_claim_and_volume_changes_requeue() -> None:
    vb, calls = plugin()
    assert vb.volumes is not None
    vb.volumes._added(local_pv("new", "n1"))
    assert calls == [1]
