"""ResourceQuota usage: counts, compute of non-terminal pods, scopes, hard mirrored, writes only on change."""

from __future__ import annotations

from cluster_fake_api import drain, make_context

from kybernetes.api.models.core_v1 import (
    ConfigMap,
    Container,
    Pod,
    PodSpec,
    PodStatus,
    ResourceQuota,
    ResourceQuotaSpec,
    ResourceRequirements,
    Secret,
    Service,
    ServicePort,
    ServiceSpec,
)
from kybernetes.api.models.meta_v1 import ObjectMeta
from kybernetes.controllers import resourcequota
from kybernetes.controllers.resourcequota import usage

NS = "team"


def pod(name: str, *, cpu: str | None = None, memory: str | None = None, limit_cpu: str | None = None,
        phase: str = "Running", deadline: int | None = None, ns: str = NS) -> Pod:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    limits = {"cpu": limit_cpu} if limit_cpu else None
    container = Container(name="c", image="x", resources=ResourceRequirements(requests=requests or None, limits=limits))
    return Pod(metadata=ObjectMeta(name=name, namespace=ns),
               spec=PodSpec(containers=[container], active_deadline_seconds=deadline),
               status=PodStatus(phase=phase))


def quota(name: str, hard: dict[str, str], scopes: list[str] | None = None) -> ResourceQuota:
    return ResourceQuota(metadata=ObjectMeta(name=name, namespace=NS), spec=ResourceQuotaSpec(hard=hard, scopes=scopes))


async def test_counts_and_compute() -> None:
    client, ctx = make_context()
    ctrl = resourcequota.new(ctx)
    client.resource(Pod).add(pod("a", cpu="250m", memory="64Mi", limit_cpu="1"))
    client.resource(Pod).add(pod("b", cpu="500m", memory="64Mi"))
    client.resource(Pod).add(pod("done", cpu="4", phase="Succeeded"))  # terminal: not counted
    client.resource(Pod).add(pod("elsewhere", cpu="4", ns="other"))
    client.resource(ConfigMap).add(ConfigMap(metadata=ObjectMeta(name="cm1", namespace=NS)))
    client.resource(Secret).add(Secret(metadata=ObjectMeta(name="s1", namespace=NS)))
    client.resource(Service).add(Service(metadata=ObjectMeta(name="svc", namespace=NS), spec=ServiceSpec(
        type="NodePort", ports=[ServicePort(port=80), ServicePort(port=443)])))
    quotas = client.resource(ResourceQuota)
    quotas.add(quota("q", {
        "pods": "10", "count/pods": "10", "configmaps": "5", "secrets": "5", "services": "2",
        "services.nodeports": "4", "requests.cpu": "2", "cpu": "2", "requests.memory": "1Gi", "limits.cpu": "4",
        "limits.memory": "1Gi", "count/configmaps": "3", "unknown.example.com/thing": "1",
    }))
    await drain(ctrl.queue, ctrl.sync)
    status = quotas.objects[f"{NS}/q"].status
    assert status.used == {
        "pods": "2", "count/pods": "2", "configmaps": "1", "secrets": "1", "services": "1",
        "services.nodeports": "2", "requests.cpu": "750m", "cpu": "750m", "requests.memory": "128Mi",
        "limits.cpu": "1", "limits.memory": "0", "count/configmaps": "1",
    }
    assert status.hard["requests.memory"] == "1Gi" and status.hard["pods"] == "10"

    # A new config map replenishes the quota; nothing else changes, so an idle resync writes nothing.
    client.resource(ConfigMap).add(ConfigMap(metadata=ObjectMeta(name="cm2", namespace=NS)))
    await drain(ctrl.queue, ctrl.sync)
    assert quotas.objects[f"{NS}/q"].status.used["configmaps"] == "2"
    writes = len(client.writes)
    ctrl.queue.add(f"{NS}/q")
    await drain(ctrl.queue, ctrl.sync)
    assert len(client.writes) == writes

    # A pod deleted: usage drops.
    client.resource(Pod).remove("b", NS)
    await drain(ctrl.queue, ctrl.sync)
    assert quotas.objects[f"{NS}/q"].status.used["pods"] == "1"
    assert quotas.objects[f"{NS}/q"].status.used["requests.cpu"] == "250m"


async def test_scopes() -> None:
    client, ctx = make_context()
    ctrl = resourcequota.new(ctx)
    client.resource(Pod).add(pod("besteffort"))
    client.resource(Pod).add(pod("burst", cpu="100m"))
    client.resource(Pod).add(pod("job", cpu="100m", deadline=60))
    quotas = client.resource(ResourceQuota)
    quotas.add(quota("be", {"pods": "5"}, ["BestEffort"]))
    quotas.add(quota("term", {"pods": "5", "requests.cpu": "1"}, ["Terminating"]))
    quotas.add(quota("nonterm", {"pods": "5"}, ["NotTerminating", "NotBestEffort"]))
    await drain(ctrl.queue, ctrl.sync)
    assert quotas.objects[f"{NS}/be"].status.used == {"pods": "1"}
    assert quotas.objects[f"{NS}/term"].status.used == {"pods": "1", "requests.cpu": "100m"}
    assert quotas.objects[f"{NS}/nonterm"].status.used == {"pods": "1"}


def test_pod_requests_init_containers_and_overhead() -> None:
    p = Pod(metadata=ObjectMeta(name="p", namespace=NS), spec=PodSpec(
        containers=[Container(name="a", resources=ResourceRequirements(requests={"cpu": "100m"})),
                    Container(name="b", resources=ResourceRequirements(limits={"cpu": "200m"}))],
        init_containers=[Container(name="i", resources=ResourceRequirements(requests={"cpu": "1"}))],
        overhead={"cpu": "10m"},
    ))
    assert str(usage.pod_requests(p)["cpu"]) == "1010m"
    assert str(usage.pod_limits(p)["cpu"]) == "210m"
    assert usage.count_target("count/deployments.apps") == ("apps", "deployments")
    assert usage.count_target("count/pods") == ("", "pods")
    assert usage.count_target("pods") is None
