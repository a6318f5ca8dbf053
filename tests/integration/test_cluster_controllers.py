"""The cluster controllers (node lifecycle, node IPAM, horizontal pod autoscaler, disruption, resource
quota) in-process against a real `kyb server` of their own (node taints must not leak into other suites):
a node whose Lease stops being renewed goes Unknown, is tainted unreachable and loses its pods; nodes get
unique pod CIDRs; an autoscaler fed by a test metrics source scales a Deployment through /scale; a budget's
status follows its pods and the eviction subresource refuses what it does not allow; quota usage counts
pods and config maps."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from cluster import ServerProcess
from kybernetes.api.models.apps_v1 import Deployment, DeploymentSpec
from kybernetes.api.models.autoscaling_v2 import (
    CrossVersionObjectReference,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpec,
    MetricSpec,
    MetricTarget,
    ResourceMetricSource,
)
from kybernetes.api.models.coordination_v1 import Lease, LeaseSpec
from kybernetes.api.models.core_v1 import (
    ConfigMap,
    Container,
    Event,
    Namespace,
    Node,
    NodeCondition,
    NodeStatus,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    ResourceQuota,
    ResourceQuotaSpec,
    ResourceRequirements,
    Toleration,
)
from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta
from kybernetes.api.models.policy_v1 import PodDisruptionBudget, PodDisruptionBudgetSpec
from kybernetes.client import Client, SharedInformerFactory, load_config
from kybernetes.controllers import disruption, nodeipam, nodelifecycle, podautoscaler, resourcequota
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.podautoscaler import StaticMetricsSource
from kybernetes.machinery.errors import ConflictError, NotFoundError, TooManyRequestsError
from kybernetes.machinery.timefmt import now_rfc3339, now_rfc3339_micro

OPTIONS = {
    "node-monitor-grace-period": "2s",
    "node-startup-grace-period": "2s",
    "node-monitor-period": "0.2s",
    "horizontal-pod-autoscaler-sync-period": "0.5",
    "resource-quota-sync-period": "5",
}


@pytest.fixture(scope="module")
def own_server() -> Iterator[ServerProcess]:
    proc = ServerProcess().start()
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.asynccontextmanager
async def controllers(server: ServerProcess, metrics: StaticMetricsSource) -> AsyncIterator[Client]:
    async with Client(load_config(kubeconfig=server.kubeconfig, component="controller-manager")) as client:
        ctx = ControllerContext(client=client, informers=SharedInformerFactory(client=client), options=dict(OPTIONS))
        built = [nodelifecycle.new(ctx), nodeipam.new(ctx), podautoscaler.new(ctx, metrics=metrics),
                 disruption.new(ctx), resourcequota.new(ctx)]
        tasks: list[asyncio.Task[None]] = []
        try:
            tasks.append(asyncio.create_task(ctx.informers.run()))
            await asyncio.wait_for(ctx.informers.wait_synced(), 20)
            tasks += [asyncio.create_task(r.run()) for r in ctx.recorders.values()]
            tasks += [asyncio.create_task(c.run(workers=2)) for c in built]
            yield client
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def wait_for(check: Callable[[], Awaitable[Any]], *, timeout: float = 20.0, what: str = "condition") -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def ready_node(name: str) -> Node:
    now = now_rfc3339()
    return Node(metadata=ObjectMeta(name=name), status=NodeStatus(conditions=[NodeCondition(
        type="Ready", status="True", reason="KubeletReady", message="kubelet is posting ready status",
        last_heartbeat_time=now, last_transition_time=now)]))


async def register_node(client: Client, name: str) -> None:
    nodes = client.resource(Node)
    current = await nodes.create(ready_node(name))
    while True:
        # The controllers under test write the node too (its podCIDR), so a pinned update may be stale.
        try:
            await nodes.update_status(
                current.__class__(metadata=current.metadata, spec=current.spec, status=ready_node(name).status))
            break
        except ConflictError:
            current = await nodes.get(name=name)
    await client.resource(Lease).create(Lease(
        metadata=ObjectMeta(name=name, namespace="kube-node-lease"),
        spec=LeaseSpec(holder_identity=name, lease_duration_seconds=40, renew_time=now_rfc3339_micro())))


async def heartbeat(client: Client, name: str) -> None:
    """What a kubelet does: renew the node's Lease (often) and keep Ready fresh."""
    leases = client.resource(Lease)
    while True:
        lease = await leases.get(name=name, namespace="kube-node-lease")
        await leases.update(lease.__class__(metadata=lease.metadata, spec=LeaseSpec(
            holder_identity=name, lease_duration_seconds=40, renew_time=now_rfc3339_micro())))
        await asyncio.sleep(0.3)


async def namespace(client: Client) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await client.resource(Namespace).create(Namespace(metadata=ObjectMeta(name=name)))
    return name


def ready_status() -> PodStatus:
    return PodStatus(phase="Running", conditions=[PodCondition(type="Ready", status="True")])


async def make_pod(client: Client, ns: str, name: str, *, labels: dict[str, str], node: str | None = None,
                   tolerations: list[Toleration] | None = None, cpu: str = "100m", ready: bool = True) -> Pod:
    pods = client.resource(Pod)
    pod = await pods.create(Pod(
        metadata=ObjectMeta(name=name, namespace=ns, labels=labels),
        spec=PodSpec(node_name=node, tolerations=tolerations, containers=[Container(
            name="c", image="busybox", resources=ResourceRequirements(requests={"cpu": cpu}))]),
    ))
    if ready:
        pod = await pods.update_status(pod.__class__(metadata=pod.metadata, spec=pod.spec, status=ready_status()))
    return pod


async def gone_or_deleting(client: Client, ns: str, name: str) -> bool:
    try:
        pod = await client.resource(Pod).get(name=name, namespace=ns)
    except NotFoundError:
        return True
    return bool(pod.metadata and pod.metadata.deletion_timestamp)


async def test_silent_node_is_tainted_and_its_pods_evicted(own_server: ServerProcess) -> None:
    metrics = StaticMetricsSource()
    async with controllers(own_server, metrics) as client:
        ns = await namespace(client)
        suffix = uuid.uuid4().hex[:6]
        silent, alive = f"silent-{suffix}", f"alive-{suffix}"
        await register_node(client, silent)
        await register_node(client, alive)
        beat = asyncio.create_task(heartbeat(client, alive))
        try:
            unreachable = "node.kubernetes.io/unreachable"
            # The API server's DefaultTolerationSeconds admission gives this one 300 s on a lost node.
            plain = await make_pod(client, ns, "plain", labels={"app": "x"}, node=silent)
            assert any(t.key == unreachable and t.toleration_seconds == 300 for t in plain.spec.tolerations or [])
            await make_pod(client, ns, "patient", labels={"app": "x"}, node=silent, tolerations=[
                Toleration(key=unreachable, operator="Exists", effect="NoExecute", toleration_seconds=3)])
            await make_pod(client, ns, "stays", labels={"app": "x"}, node=alive)

            async def tainted() -> Node | None:
                node = await client.resource(Node).get(name=silent)
                keys = {(t.key, t.effect) for t in (node.spec.taints if node.spec else None) or []}
                return node if (unreachable, "NoExecute") in keys else None

            node = await wait_for(tainted, what="the unreachable taint")
            ready = next(c for c in node.status.conditions if c.type == "Ready")
            assert (ready.status, ready.reason, ready.message) == (
                "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
            assert not await gone_or_deleting(client, ns, "patient")  # still within its tolerationSeconds
            await wait_for(lambda: gone_or_deleting(client, ns, "patient"), timeout=10,
                           what="the tolerating pod evicted after tolerationSeconds")
            assert not await gone_or_deleting(client, ns, "plain")  # 300 s to go
            assert not await gone_or_deleting(client, ns, "stays")
            alive_node = await client.resource(Node).get(name=alive)
            assert not (alive_node.spec.taints if alive_node.spec else None)

            # A NoExecute taint nobody tolerates (an admin draining the node): its pods go at once.
            await client.resource(Node).patch(name=alive, patch={"spec": {"taints": [
                {"key": "example.com/maintenance", "effect": "NoExecute"}]}})
            await wait_for(lambda: gone_or_deleting(client, ns, "stays"), timeout=10,
                           what="the untolerating pod evicted")
            await client.resource(Node).patch(name=alive, patch={"spec": {"taints": None}})

            # The node comes back (its kubelet posts Ready again and renews): the taints are removed.
            current = await client.resource(Node).get(name=silent)
            await client.resource(Node).update_status(
                current.__class__(metadata=current.metadata, spec=current.spec, status=ready_node(silent).status))
            back = asyncio.create_task(heartbeat(client, silent))
            try:
                async def untainted() -> bool:
                    node = await client.resource(Node).get(name=silent)
                    return not (node.spec.taints if node.spec else None)

                await wait_for(untainted, what="the taints removed")
            finally:
                back.cancel()
        finally:
            beat.cancel()


async def test_nodes_get_unique_pod_cidrs(own_server: ServerProcess) -> None:
    async with controllers(own_server, StaticMetricsSource()) as client:
        names = [f"ipam-{uuid.uuid4().hex[:6]}" for _ in range(3)]
        for name in names:
            await client.resource(Node).create(Node(metadata=ObjectMeta(name=name)))

        async def cidrs() -> list[str] | None:
            found = [(await client.resource(Node).get(name=n)).spec for n in names]
            if all(s is not None and s.pod_cidr for s in found):
                return [s.pod_cidr for s in found if s is not None and s.pod_cidr]
            return None

        got = await wait_for(cidrs, what="pod CIDRs")
        assert len(set(got)) == 3
        all_nodes = (await client.resource(Node).list()).items
        assigned = [n.spec.pod_cidr for n in all_nodes if n.spec and n.spec.pod_cidr]
        assert len(assigned) == len(set(assigned))  # unique across every node of the cluster
        for cidr in got:
            assert ipaddress.ip_network(cidr).subnet_of(ipaddress.ip_network("10.244.0.0/16"))


async def test_autoscaler_scales_a_deployment_through_scale(own_server: ServerProcess) -> None:
    metrics = StaticMetricsSource()
    async with controllers(own_server, metrics) as client:
        ns = await namespace(client)
        labels = {"app": "web"}
        await client.resource(Deployment).create(Deployment(
            metadata=ObjectMeta(name="web", namespace=ns),
            spec=DeploymentSpec(replicas=2, selector=LabelSelector(match_labels=labels), template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=[Container(name="c", image="busybox")]))),
        ))
        for i in range(2):
            await make_pod(client, ns, f"web-{i}", labels=labels)
            metrics.set_usage(namespace=ns, pod=f"web-{i}", usage={"cpu": "100m"})
        await client.resource(HorizontalPodAutoscaler).create(HorizontalPodAutoscaler(
            metadata=ObjectMeta(name="web", namespace=ns),
            spec=HorizontalPodAutoscalerSpec(
                scale_target_ref=CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name="web"),
                min_replicas=1, max_replicas=10,
                metrics=[MetricSpec(type="Resource", resource=ResourceMetricSource(
                    name="cpu", target=MetricTarget(type="Utilization", average_utilization=50)))]),
        ))

        async def scaled() -> bool:
            dep = await client.resource(Deployment).get(name="web", namespace=ns)
            return dep.spec is not None and dep.spec.replicas == 4

        await wait_for(scaled, what="the deployment scaled to 4")

        async def status() -> Any:
            hpa = await client.resource(HorizontalPodAutoscaler).get(name="web", namespace=ns)
            return hpa.status if hpa.status and hpa.status.desired_replicas == 4 else None

        st = await wait_for(status, what="the autoscaler's status")
        assert st.current_metrics[0].resource.current.average_utilization == 100
        assert {c.type for c in st.conditions} == {"AbleToScale", "ScalingActive", "ScalingLimited"}

        async def event() -> list[Event]:
            events = (await client.resource(Event).list(namespace=ns)).items
            return [e for e in events if e.reason == "SuccessfulRescale"]

        found = await wait_for(event, what="the SuccessfulRescale event")
        assert found[0].message == "New size: 4; reason: cpu resource utilization (percentage of request) above target"


async def test_budget_status_and_eviction(own_server: ServerProcess) -> None:
    async with controllers(own_server, StaticMetricsSource()) as client:
        ns = await namespace(client)
        labels = {"app": "db"}
        for i in range(2):
            await make_pod(client, ns, f"db-{i}", labels=labels)
        await make_pod(client, ns, "db-unready", labels=labels, ready=False)
        pdbs = client.resource(PodDisruptionBudget)
        await pdbs.create(PodDisruptionBudget(
            metadata=ObjectMeta(name="db", namespace=ns),
            spec=PodDisruptionBudgetSpec(min_available=2, selector=LabelSelector(match_labels=labels))))

        async def status(allowed: int) -> Any:
            pdb = await pdbs.get(name="db", namespace=ns)
            st = pdb.status
            return st if st and st.observed_generation == pdb.metadata.generation and \
                st.disruptions_allowed == allowed and st.expected_pods == 3 else None

        st = await wait_for(lambda: status(0), what="the budget's status")
        assert (st.current_healthy, st.desired_healthy) == (2, 2)
        assert st.conditions[0].reason == "InsufficientPods"
        with pytest.raises(TooManyRequestsError):
            await client.resource(Pod).evict(name="db-0", namespace=ns)

        pdb = await pdbs.get(name="db", namespace=ns)
        await pdbs.update(pdb.__class__(metadata=pdb.metadata, spec=PodDisruptionBudgetSpec(
            min_available=1, selector=LabelSelector(match_labels=labels))))
        await wait_for(lambda: status(1), what="one disruption allowed")
        await client.resource(Pod).evict(name="db-0", namespace=ns)
        assert await gone_or_deleting(client, ns, "db-0")


async def test_quota_counts_pods_and_config_maps(own_server: ServerProcess) -> None:
    async with controllers(own_server, StaticMetricsSource()) as client:
        ns = await namespace(client)
        quotas = client.resource(ResourceQuota)
        await quotas.create(ResourceQuota(metadata=ObjectMeta(name="q", namespace=ns), spec=ResourceQuotaSpec(
            hard={"pods": "10", "configmaps": "10", "requests.cpu": "2"})))
        await make_pod(client, ns, "a", labels={"x": "y"}, cpu="250m")
        await make_pod(client, ns, "b", labels={"x": "y"}, cpu="500m")
        await client.resource(ConfigMap).create(ConfigMap(metadata=ObjectMeta(name="cm", namespace=ns)))

        async def used() -> dict[str, Any] | None:
            expected_cms = len((await client.resource(ConfigMap).list(namespace=ns)).items)
            q = await quotas.get(name="q", namespace=ns)
            want = {"pods": "2", "configmaps": str(expected_cms), "requests.cpu": "750m"}
            return q.status.used if q.status and q.status.used == want else None

        await wait_for(used, what="quota usage")
        q = await quotas.get(name="q", namespace=ns)
        assert q.status.hard == {"pods": "10", "configmaps": "10", "requests.cpu": "2"}
        await client.resource(Pod).delete(name="a", namespace=ns, grace_period_seconds=0)

        async def dropped() -> bool:
            q = await quotas.get(name="q", namespace=ns)
            return bool(q.status and q.status.used and q.status.used.get("pods") == "1")

        await wait_for(dropped, what="usage to drop after a delete")
