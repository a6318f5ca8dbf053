"""The PersistentVolume binder on the in-memory API: matching rules, the binding writes, pre-binding,
default and WaitForFirstConsumer classes, reclaim policies, protection finalizers, the hostpath provisioner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from cluster_fake_api import FakeClient, drain, make_context, recorded_events

from kybernetes.api.models.core_v1 import (
    HostPathVolumeSource,
    Node,
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
    PodSpec,
    PodStatus,
    Volume,
    VolumeNodeAffinity,
    VolumeResourceRequirements,
)
from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta
from kybernetes.api.models.storage_v1 import StorageClass
from kybernetes.controllers import persistentvolume
from kybernetes.controllers.persistentvolume import (
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_SELECTED_NODE,
    PV_PROTECTION,
    PVC_PROTECTION,
    PersistentVolumeController,
)
from kybernetes.controllers.persistentvolume.matching import default_class, find_match
from kybernetes.machinery.timefmt import now_rfc3339

NS = "data"


def pv(name: str, size: str = "1Gi", *, modes: tuple[str, ...] = ("ReadWriteOnce",), klass: str = "",
       labels: dict[str, str] | None = None, policy: str = "Retain", path: str = "/srv/x", node: str = "",
       mode: str | None = None, claim_ref: ObjectReference | None = None) -> PersistentVolume:
    affinity = None
    if node:
        affinity = VolumeNodeAffinity(required=NodeSelector(node_selector_terms=[NodeSelectorTerm(
            match_expressions=[NodeSelectorRequirement(key="kubernetes.io/hostname", operator="In",
                                                       values=[node])])]))
    return PersistentVolume(
        metadata=ObjectMeta(name=name, labels=labels),
        spec=PersistentVolumeSpec(capacity={"storage": size}, access_modes=list(modes), storage_class_name=klass,
                                  persistent_volume_reclaim_policy=policy, volume_mode=mode,
                                  host_path=HostPathVolumeSource(path=path), node_affinity=affinity,
                                  claim_ref=claim_ref))


def pvc(name: str, size: str = "1Gi", *, modes: tuple[str, ...] = ("ReadWriteOnce",), klass: str | None = "",
        selector: dict[str, str] | None = None, volume_name: str | None = None,
        mode: str | None = None) -> PersistentVolumeClaim:
    return PersistentVolumeClaim(
        metadata=ObjectMeta(name=name, namespace=NS),
        spec=PersistentVolumeClaimSpec(
            access_modes=list(modes), storage_class_name=klass, volume_name=volume_name, volume_mode=mode,
            resources=VolumeResourceRequirements(requests={"storage": size}),
            selector=LabelSelector(match_labels=selector) if selector is not None else None))


def pod(name: str, claim: str, *, node: str = "", phase: str = "Running") -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace=NS),
               spec=PodSpec(node_name=node or None, volumes=[Volume(
                   name="v", persistent_volume_claim=PersistentVolumeClaimVolumeSource(claim_name=claim))]),
               status=PodStatus(phase=phase))


def storage_class(name: str, *, default: bool = False, wait: bool = False,
                  provisioner: str = "kubernetes.io/no-provisioner", reclaim: str | None = None) -> StorageClass:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else None
    return StorageClass(metadata=ObjectMeta(name=name, annotations=annotations), provisioner=provisioner,
                        reclaim_policy=reclaim,
                        volume_binding_mode="WaitForFirstConsumer" if wait else "Immediate")


def setup(**options: str) -> tuple[FakeClient, PersistentVolumeController, Any]:
    client, ctx = make_context(options)
    return client, persistentvolume.new(ctx), ctx


def claim_of(client: FakeClient, name: str) -> Any:
    return client.resource(PersistentVolumeClaim).objects[f"{NS}/{name}"]


def volume_of(client: FakeClient, name: str) -> Any:
    return client.resource(PersistentVolume).objects[name]


def events(ctx: Any) -> list[tuple[str, str, str]]:
    return recorded_events(ctx.recorder("persistentvolume-controller"))


async def test_binds_smallest_fitting_volume_with_all_fields() -> None:
    client, ctrl, _ = setup()
    for volume in (pv("big", "10Gi"), pv("small", "500Mi"), pv("fits", "2Gi"), pv("rox", "1Gi", modes=("ReadOnlyMany",))):
        client.resource(PersistentVolume).add(volume)
    client.resource(PersistentVolumeClaim).add(pvc("c", "1Gi"))
    await drain(ctrl.queue, ctrl.sync)
    claim, volume = claim_of(client, "c"), volume_of(client, "fits")
    assert claim.spec.volume_name == "fits"
    assert claim.status.phase == "Bound" and claim.status.capacity == {"storage": "2Gi"}
    assert claim.status.access_modes == ["ReadWriteOnce"]
    assert claim.metadata.annotations[ANN_BIND_COMPLETED] == "yes"
    assert claim.metadata.annotations[ANN_BOUND_BY_CONTROLLER] == "yes"
    assert claim.metadata.finalizers == [PVC_PROTECTION]
    assert volume.spec.claim_ref.name == "c" and volume.spec.claim_ref.uid == claim.metadata.uid
    assert volume.status.phase == "Bound" and volume.metadata.annotations[ANN_BOUND_BY_CONTROLLER] == "yes"
    assert volume.metadata.finalizers == [PV_PROTECTION]
    assert {volume_of(client, n).status.phase for n in ("big", "small", "rox")} == {"Available"}


def test_matching_rules() -> None:
    volumes = [pv("gold", "5Gi", klass="gold"), pv("labelled", "5Gi", labels={"tier": "fast"}),
               pv("block", "1Gi", mode="Block"), pv("rwx", "3Gi", modes=("ReadWriteMany", "ReadWriteOnce"))]
    assert find_match(claim=pvc("a", klass="gold"), volumes=volumes).metadata.name == "gold"  # type: ignore[union-attr]
    assert find_match(claim=pvc("a", selector={"tier": "fast"}), volumes=volumes).metadata.name == "labelled"  # type: ignore[union-attr]
    assert find_match(claim=pvc("a", mode="Block"), volumes=volumes).metadata.name == "block"  # type: ignore[union-attr]
    assert find_match(claim=pvc("a", modes=("ReadWriteMany",)), volumes=volumes).metadata.name == "rwx"  # type: ignore[union-attr]
    assert find_match(claim=pvc("a", "4Gi"), volumes=volumes).metadata.name == "labelled"  # type: ignore[union-attr]
    assert find_match(claim=pvc("a", "6Gi"), volumes=volumes) is None
    assert find_match(claim=pvc("a", klass="silver"), volumes=volumes) is None
    # a volume pre-bound to the claim wins over a smaller one, whatever its class
    claim = pvc("mine", "1Gi")
    prebound = pv("pre", "8Gi", klass="other", claim_ref=ObjectReference(namespace=NS, name="mine"))
    taken = pv("taken", "1Gi", claim_ref=ObjectReference(namespace=NS, name="someone-else"))
    assert find_match(claim=claim, volumes=[pv("tiny", "1Gi"), taken, prebound]).metadata.name == "pre"  # type: ignore[union-attr]
    # node affinity matters only when a node is given (delayed binding)
    local = pv("local", node="n1")
    assert find_match(claim=claim, volumes=[local]) is not None
    assert find_match(claim=claim, volumes=[local], node=Node(metadata=ObjectMeta(
        name="n2", labels={"kubernetes.io/hostname": "n2"}))) is None


def test_default_class_newest_wins() -> None:
    old = storage_class("old", default=True)
    old.metadata.creation_timestamp = "2024-01-01T00:00:00Z"  # type: ignore[union-attr]
    new = storage_class("new", default=True)
    new.metadata.creation_timestamp = "2025-01-01T00:00:00Z"  # type: ignore[union-attr]
    assert default_class([old, new, storage_class("plain")]).metadata.name == "new"  # type: ignore[union-attr]
    assert default_class([storage_class("plain")]) is None


async def test_claim_without_class_gets_default_and_empty_class_does_not() -> None:
    client, ctrl, _ = setup()
    client.resource(StorageClass).add(storage_class("standard", default=True))
    client.resource(PersistentVolume).add(pv("std", klass="standard"))
    client.resource(PersistentVolume).add(pv("none", klass=""))
    client.resource(PersistentVolumeClaim).add(pvc("nil", klass=None))
    client.resource(PersistentVolumeClaim).add(pvc("empty", klass=""))
    await drain(ctrl.queue, ctrl.sync)
    assert claim_of(client, "nil").spec.storage_class_name == "standard"
    assert claim_of(client, "nil").spec.volume_name == "std"
    assert claim_of(client, "empty").spec.volume_name == "none"


async def test_unmatched_claim_stays_pending_with_event() -> None:
    client, ctrl, ctx = setup()
    client.resource(PersistentVolumeClaim).add(pvc("lonely", "1Ti"))
    client.resource(PersistentVolumeClaim).add(pvc("classy", klass="missing"))
    await drain(ctrl.queue, ctrl.sync)
    assert claim_of(client, "lonely").status.phase == "Pending"
    got = events(ctx)
    assert ("Warning", "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set") in got
    assert ("Warning", "ProvisioningFailed", 'storageclass.storage.k8s.io "missing" not found') in got
    # a volume appearing later is picked up
    client.resource(PersistentVolume).add(pv("huge", "2Ti"))
    await drain(ctrl.queue, ctrl.sync)
    assert claim_of(client, "lonely").status.phase == "Bound"


async def test_volume_name_prebinding() -> None:
    client, ctrl, ctx = setup()
    client.resource(PersistentVolume).add(pv("small", "1Gi"))
    client.resource(PersistentVolume).add(pv("chosen", "5Gi"))
    client.resource(PersistentVolumeClaim).add(pvc("c", volume_name="chosen"))
    await drain(ctrl.queue, ctrl.sync)
    claim = claim_of(client, "c")
    assert claim.status.phase == "Bound" and claim.spec.volume_name == "chosen"
    assert ANN_BOUND_BY_CONTROLLER not in claim.metadata.annotations  # the user chose the volume
    assert volume_of(client, "chosen").metadata.annotations[ANN_BOUND_BY_CONTROLLER] == "yes"
    # a second claim naming the same volume waits, with the reason
    client.resource(PersistentVolumeClaim).add(pvc("late", volume_name="chosen"))
    client.resource(PersistentVolumeClaim).add(pvc("ghost", volume_name="nope"))
    await drain(ctrl.queue, ctrl.sync)
    assert claim_of(client, "late").status.phase == "Pending"
    got = events(ctx)
    assert ("Warning", "FailedBinding", 'volume "chosen" already bound to a different claim.') in got
    assert ("Warning", "FailedBinding", 'volume "nope" not found') in got


async def test_claim_ref_prebinding_on_the_volume() -> None:
    client, ctrl, _ = setup()
    client.resource(PersistentVolume).add(pv("tiny", "1Gi"))
    client.resource(PersistentVolume).add(pv("reserved", "9Gi", claim_ref=ObjectReference(namespace=NS, name="c")))
    await drain(ctrl.queue, ctrl.sync)
    assert volume_of(client, "reserved").status.phase == "Available"  # its claim does not exist yet
    client.resource(PersistentVolumeClaim).add(pvc("c"))
    await drain(ctrl.queue, ctrl.sync)
    claim = claim_of(client, "c")
    assert claim.spec.volume_name == "reserved"
    assert volume_of(client, "reserved").spec.claim_ref.uid == claim.metadata.uid
    assert ANN_BOUND_BY_CONTROLLER not in (volume_of(client, "reserved").metadata.annotations or {})


async def _bind_then_delete_claim(client: FakeClient, ctrl: PersistentVolumeController, volume: PersistentVolume) -> None:
    client.resource(PersistentVolume).add(volume)
    client.resource(PersistentVolumeClaim).add(pvc("c"))
    await drain(ctrl.queue, ctrl.sync)
    assert claim_of(client, "c").status.phase == "Bound"
    client.resource(PersistentVolumeClaim).remove("c", NS)
    await drain(ctrl.queue, ctrl.sync)


async def test_reclaim_retain_releases() -> None:
    client, ctrl, _ = setup()
    await _bind_then_delete_claim(client, ctrl, pv("keep", policy="Retain"))
    assert volume_of(client, "keep").status.phase == "Released"
    # a new claim of the same name does not get the released volume back (uid differs)
    again = pvc("c")
    again.metadata.uid = "uid-second"  # type: ignore[union-attr]
    client.resource(PersistentVolumeClaim).add(again)
    await drain(ctrl.queue, ctrl.sync)
    assert claim_of(client, "c").status.phase == "Pending"


async def test_reclaim_delete_removes_volume_and_dir_only_with_flag(tmp_path: Path) -> None:
    kept, removed = tmp_path / "kept", tmp_path / "removed"
    kept.mkdir()
    removed.mkdir()
    client, ctrl, _ = setup()
    await _bind_then_delete_claim(client, ctrl, pv("gone", policy="Delete", path=str(kept)))
    assert "gone" not in client.resource(PersistentVolume).objects and kept.is_dir()
    client, ctrl, _ = setup(**{"pv-delete-hostpath": "true"})
    await _bind_then_delete_claim(client, ctrl, pv("gone", policy="Delete", path=str(removed)))
    assert "gone" not in client.resource(PersistentVolume).objects and not removed.exists()


async def test_reclaim_recycle_is_refused() -> None:
    client, ctrl, ctx = setup()
    await _bind_then_delete_claim(client, ctrl, pv("old", policy="Recycle"))
    volume = volume_of(client, "old")
    assert volume.status.phase == "Failed"
    assert any(reason == "VolumeFailedRecycle" for _, reason, _ in events(ctx))


async def test_claim_protection_waits_for_pods() -> None:
    client, ctrl, _ = setup()
    client.resource(PersistentVolume).add(pv("v"))
    client.resource(PersistentVolumeClaim).add(pvc("c"))
    client.resource(Pod).add(pod("user", "c", node="n1"))
    await drain(ctrl.queue, ctrl.sync)
    claim = claim_of(client, "c")
    assert claim.metadata.finalizers == [PVC_PROTECTION]
    deleting = msgspec.structs.replace(claim, metadata=msgspec.structs.replace(
        claim.metadata, deletion_timestamp=now_rfc3339()))
    client.resource(PersistentVolumeClaim).put(deleting)
    await drain(ctrl.queue, ctrl.sync)
    assert claim_of(client, "c").metadata.finalizers == [PVC_PROTECTION]  # the pod still runs
    client.resource(Pod).put(pod("user", "c", node="n1", phase="Succeeded"))
    await drain(ctrl.queue, ctrl.sync)
    assert not claim_of(client, "c").metadata.finalizers


async def test_volume_protection_while_bound() -> None:
    client, ctrl, _ = setup()
    client.resource(PersistentVolume).add(pv("v"))
    client.resource(PersistentVolumeClaim).add(pvc("c"))
    await drain(ctrl.queue, ctrl.sync)
    volume = volume_of(client, "v")
    client.resource(PersistentVolume).put(msgspec.structs.replace(volume, metadata=msgspec.structs.replace(
        volume.metadata, deletion_timestamp=now_rfc3339())))
    await drain(ctrl.queue, ctrl.sync)
    assert volume_of(client, "v").metadata.finalizers == [PV_PROTECTION]
    client.resource(PersistentVolumeClaim).remove("c", NS)
    await drain(ctrl.queue, ctrl.sync)
    assert not volume_of(client, "v").metadata.finalizers


async def test_wait_for_first_consumer_binds_on_the_pods_node() -> None:
    client, ctrl, ctx = setup()
    client.resource(StorageClass).add(storage_class("local", wait=True))
    client.resource(Node).add(Node(metadata=ObjectMeta(name="n2", labels={"kubernetes.io/hostname": "n2"})))
    client.resource(PersistentVolume).add(pv("on-n1", klass="local", node="n1"))
    client.resource(PersistentVolume).add(pv("on-n2", "5Gi", klass="local", node="n2"))
    client.resource(PersistentVolumeClaim).add(pvc("c", klass="local"))
    await drain(ctrl.queue, ctrl.sync)
    assert claim_of(client, "c").status.phase == "Pending" and not claim_of(client, "c").spec.volume_name
    assert ("Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding") in events(ctx)
    client.resource(Pod).add(pod("unscheduled", "c"))
    await drain(ctrl.queue, ctrl.sync)
    assert not claim_of(client, "c").spec.volume_name
    client.resource(Pod).put(pod("unscheduled", "c", node="n2"))
    await drain(ctrl.queue, ctrl.sync)
    claim = claim_of(client, "c")
    assert claim.metadata.annotations[ANN_SELECTED_NODE] == "n2"
    assert claim.spec.volume_name == "on-n2" and claim.status.phase == "Bound"


async def test_lost_claim() -> None:
    client, ctrl, ctx = setup()
    client.resource(PersistentVolume).add(pv("v"))
    client.resource(PersistentVolumeClaim).add(pvc("c"))
    await drain(ctrl.queue, ctrl.sync)
    client.resource(PersistentVolume).remove("v")
    await drain(ctrl.queue, ctrl.sync)
    assert claim_of(client, "c").status.phase == "Lost"
    assert any(reason == "ClaimLost" for _, reason, _ in events(ctx))


async def test_hostpath_provisioner(tmp_path: Path) -> None:
    client, ctrl, ctx = setup(**{"hostpath-provisioner-root": str(tmp_path)})
    client.resource(StorageClass).add(storage_class("hostpath", provisioner="kybernetes.io/hostpath"))
    client.resource(PersistentVolumeClaim).add(pvc("c", "2Gi", klass="hostpath"))
    await drain(ctrl.queue, ctrl.sync)
    claim = claim_of(client, "c")
    name = f"pvc-{claim.metadata.uid}"
    assert claim.status.phase == "Bound" and claim.spec.volume_name == name
    volume = volume_of(client, name)
    assert volume.spec.persistent_volume_reclaim_policy == "Delete" and volume.spec.capacity == {"storage": "2Gi"}
    assert (tmp_path / name).is_dir()
    assert any(reason == "ProvisioningSucceeded" for _, reason, _ in events(ctx))
    client.resource(PersistentVolumeClaim).remove("c", NS)
    await drain(ctrl.queue, ctrl.sync)
    assert name not in client.resource(PersistentVolume).objects and not (tmp_path / name).exists()
