"""The StatefulSet controller over the in-memory API: ordered creation waiting for Running+Ready, stable
names, hostname/subdomain, PVCs from volumeClaimTemplates before the pod, scale-down from the highest
ordinal, Parallel management, RollingUpdate with partition, revisions in status."""

from __future__ import annotations

from typing import Any

import msgspec
from workload_fakes import Harness

from kybernetes.api.models.apps_v1 import StatefulSet
from kybernetes.api.models.core_v1 import PersistentVolumeClaim, Pod
from kybernetes.controllers.statefulset import StatefulSetController

NS = "ns"


def statefulset(replicas: int = 3, image: str = "nginx:1", **spec: Any) -> StatefulSet:
    body = {"metadata": {"name": "web", "namespace": NS}, "spec": {
        "replicas": replicas, "serviceName": "nginx", "podManagementPolicy": "OrderedReady",
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {"metadata": {"labels": {"app": "nginx"}},
                     "spec": {"containers": [{"name": "nginx", "image": image,
                                              "volumeMounts": [{"name": "www", "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "revisionHistoryLimit": 10, **spec}}
    return msgspec.convert(body, StatefulSet)


def build(h: Harness) -> StatefulSetController:
    h.use_recorder("statefulset-controller")
    return StatefulSetController(ctx=h.ctx, wall=h.wall)


def names(h: Harness) -> list[str]:
    return h.cluster.names_of(Pod)


async def ready(h: Harness, name: str) -> None:
    h.cluster.pod_state(f"{NS}/{name}", phase="Running", ready=True, node="n1")
    await h.settle()


def status(h: Harness) -> dict[str, Any]:
    return msgspec.to_builtins(h.cluster.get(StatefulSet, f"{NS}/web").status)


async def test_ordered_creation_waits_for_ready() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(StatefulSet, statefulset())
    async with h.running(c, queues=[c.queue]):
        assert names(h) == ["web-0"]
        assert h.cluster.names_of(PersistentVolumeClaim) == ["www-web-0"]
        # The claim was created before the pod.
        creates = [(kind, name) for verb, kind, name in h.cluster.writes if verb == "create" and kind != "ControllerRevision"]
        assert creates[:2] == [("PersistentVolumeClaim", "www-web-0"), ("Pod", "web-0")]
        pod = h.cluster.get(Pod, f"{NS}/web-0")
        assert (pod.spec.hostname, pod.spec.subdomain) == ("web-0", "nginx")
        assert pod.metadata.labels["statefulset.kubernetes.io/pod-name"] == "web-0"
        assert pod.metadata.labels["apps.kubernetes.io/pod-index"] == "0"
        rev = pod.metadata.labels["controller-revision-hash"]
        assert rev.startswith("web-")
        (vol,) = pod.spec.volumes
        assert (vol.name, vol.persistent_volume_claim.claim_name) == ("www", "www-web-0")
        claim = h.cluster.get(PersistentVolumeClaim, f"{NS}/www-web-0")
        assert claim.metadata.labels == {"app": "nginx"} and claim.spec.resources.requests == {"storage": "1Gi"}

        h.cluster.pod_state(f"{NS}/web-0", phase="Running", ready=False, node="n1")
        await h.settle()
        assert names(h) == ["web-0"]  # Running but not Ready: wait
        await ready(h, "web-0")
        assert names(h) == ["web-0", "web-1"]
        await ready(h, "web-1")
        await ready(h, "web-2")
        assert names(h) == ["web-0", "web-1", "web-2"]
        assert h.cluster.names_of(PersistentVolumeClaim) == ["www-web-0", "www-web-1", "www-web-2"]
        st = status(h)
        assert (st["replicas"], st["readyReplicas"], st["availableReplicas"], st["currentReplicas"],
                st["updatedReplicas"]) == (3, 3, 3, 3, 3)
        assert st["currentRevision"] == st["updateRevision"] == rev
        assert "create Pod web-0 in StatefulSet web successful" in [e.message for e in h.recorder.events]
        assert "create Claim www-web-0 Pod web-0 in StatefulSet web success" in [e.message for e in h.recorder.events]

        # Scale down: highest ordinal first, one at a time; claims are retained.
        h.cluster.put(StatefulSet, statefulset(replicas=1))
        await h.settle()
        assert names(h) == ["web-0"]
        deletes = [name for verb, kind, name in h.cluster.writes if verb == "delete" and kind == "Pod"]
        assert deletes == ["web-2", "web-1"]
        assert h.cluster.names_of(PersistentVolumeClaim) == ["www-web-0", "www-web-1", "www-web-2"]


async def test_parallel_creates_all_at_once() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(StatefulSet, statefulset(podManagementPolicy="Parallel"))
    async with h.running(c, queues=[c.queue]):
        assert names(h) == ["web-0", "web-1", "web-2"]


async def test_failed_pod_is_recreated() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(StatefulSet, statefulset(replicas=1))
    async with h.running(c, queues=[c.queue]):
        uid = h.cluster.get(Pod, f"{NS}/web-0").metadata.uid
        h.cluster.pod_state(f"{NS}/web-0", phase="Failed")
        await h.settle()
        pod = h.cluster.get(Pod, f"{NS}/web-0")
        assert pod is not None and pod.metadata.uid != uid


async def test_rolling_update_from_highest_ordinal_with_partition() -> None:
    h = Harness()
    c = build(h)
    h.cluster.put(StatefulSet, statefulset())
    async with h.running(c, queues=[c.queue]):
        for n in ("web-0", "web-1", "web-2"):
            await ready(h, n)
        old_rev = status(h)["currentRevision"]
        h.cluster.put(StatefulSet, statefulset(image="nginx:2", updateStrategy={
            "type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))
        await h.settle()
        # web-2 was deleted and recreated at the new revision; wait for it before touching web-1.
        assert names(h) == ["web-0", "web-1", "web-2"]
        new_rev = status(h)["updateRevision"]
        assert new_rev != old_rev
        assert h.cluster.get(Pod, f"{NS}/web-2").spec.containers[0].image == "nginx:2"
        assert h.cluster.get(Pod, f"{NS}/web-1").spec.containers[0].image == "nginx:1"
        await ready(h, "web-2")
        assert h.cluster.get(Pod, f"{NS}/web-1").spec.containers[0].image == "nginx:2"
        await ready(h, "web-1")
        # The partition keeps web-0 at the old revision.
        assert h.cluster.get(Pod, f"{NS}/web-0").spec.containers[0].image == "nginx:1"
        st = status(h)
        assert st["currentRevision"] == old_rev and st["updatedReplicas"] == 2 and st["currentReplicas"] == 1


async def test_scale_down_with_when_scaled_delete_hands_claims_to_pods() -> None:
    h = Harness()
    c = build(h)
    policy = {"whenDeleted": "Delete", "whenScaled": "Delete"}
    h.cluster.put(StatefulSet, statefulset(replicas=2, persistentVolumeClaimRetentionPolicy=policy))
    async with h.running(c, queues=[c.queue]):
        await ready(h, "web-0")
        await ready(h, "web-1")
        claim = h.cluster.get(PersistentVolumeClaim, f"{NS}/www-web-1")
        assert [r.kind for r in claim.metadata.owner_references] == ["StatefulSet"]
        h.cluster.put(StatefulSet, statefulset(replicas=1, persistentVolumeClaimRetentionPolicy=policy))
        await h.settle()
        assert names(h) == ["web-0"]
        claim = h.cluster.get(PersistentVolumeClaim, f"{NS}/www-web-1")
        assert sorted(r.kind for r in claim.metadata.owner_references) == ["Pod", "StatefulSet"]
