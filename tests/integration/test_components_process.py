"""`kyb server` with every component: ONE child process (`kyb components`) running the controller-manager,
the scheduler and the DNS over shared informers, each with its own Lease and identity. A Deployment's pods
are created (controller-manager) and bound (scheduler), the DNS publishes kube-dns, the components' ready
lines are in the log; killed, the child is restarted by the server and works again."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import ServerProcess
from kybernetes.api.models.apps_v1 import Deployment, DeploymentSpec
from kybernetes.api.models.coordination_v1 import Lease
from kybernetes.api.models.core_v1 import (
    Container,
    Namespace,
    Node,
    NodeCondition,
    NodeStatus,
    Pod,
    PodSpec,
    PodTemplateSpec,
    Service,
)
from kybernetes.api.models.meta_v1 import LabelSelector, ObjectMeta
from kybernetes.client import Client, load_config
from polling import wait_for


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    proc = ServerProcess(components=("scheduler", "controller-manager", "dns"),
                         extra_args=("--dns-listen", "127.0.0.1:0", "--dns-upstream", "127.0.0.1:9")).start()
    try:
        yield proc
    finally:
        proc.stop()


def children(pid: int) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace").split("\0")
            out[int(child)] = [a for a in cmd if a]
    return out


def the_child(server: ServerProcess) -> int:
    assert server.proc is not None
    found = children(server.proc.pid)
    assert len(found) == 1, found
    pid, argv = next(iter(found.items()))
    rest = argv[argv.index("kybernetes.cli.main") + 1:]
    assert rest[0] == "components"
    assert sorted([rest[1], *(rest[i + 1] for i, a in enumerate(rest) if a == "--")]) == \
        ["controller-manager", "dns", "scheduler"]
    return pid


async def deployment_runs(client: Client, name: str) -> None:
    """A Deployment of 2 gets its pods (controllers) and they are bound (scheduler)."""
    namespace = f"c-{uuid.uuid4().hex[:8]}"
    await client.resource(Namespace).create(Namespace(metadata=ObjectMeta(name=namespace)))
    labels = {"app": name}
    await client.resource(Deployment).create(Deployment(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=DeploymentSpec(replicas=2, selector=LabelSelector(match_labels=labels), template=PodTemplateSpec(
            metadata=ObjectMeta(labels=labels),
            spec=PodSpec(containers=[Container(name="c", image="busybox")], termination_grace_period_seconds=0),
        )),
    ))

    async def bound() -> bool:
        pods = (await client.resource(Pod).list(namespace=namespace, label_selector=f"app={name}")).items
        return len(pods) == 2 and all(p.spec is not None and p.spec.node_name == "n1" for p in pods)

    await wait_for(f"deployment {name}'s pods bound", bound)


async def test_one_child_runs_every_component(server: ServerProcess) -> None:
    pid = the_child(server)
    async with Client(load_config(kubeconfig=str(server.kubeconfig), component="components-test")) as client:
        alloc: dict[str, str | int | float] = {"cpu": "4", "memory": "8Gi", "pods": "110"}
        nodes = client.resource(Node)
        created = await nodes.create(Node(metadata=ObjectMeta(name="n1", labels={"kubernetes.io/hostname": "n1"})))
        await nodes.update_status(Node(metadata=created.metadata, status=NodeStatus(
            allocatable=alloc, capacity=alloc, conditions=[NodeCondition(type="Ready", status="True")])))

        await deployment_runs(client, "first")

        async def published() -> Service | None:
            found = await client.resource(Service).list(namespace="kube-system")
            return next((s for s in found.items if s.metadata and s.metadata.name == "kube-dns"), None)

        await wait_for("kube-dns published", published)

        leases = client.resource(Lease)
        holders = {name: (await leases.get(name=name, namespace="kube-system")).spec
                   for name in ("kube-scheduler", "kube-controller-manager")}
        assert all(spec is not None and spec.holder_identity for spec in holders.values())
        log = server.log_path.read_text() if server.log_path else ""
        for line in ("leading as", "controllers running:", "kyb dns: zone", "started components"):
            assert line in log, line

        # Killed, the one child comes back (the server's supervisor) and schedules again.
        os.kill(pid, signal.SIGKILL)

        async def restarted() -> int | None:
            assert server.proc is not None
            found = children(server.proc.pid)
            return next((p for p in found if p != pid), None)

        await wait_for("the components restarted", restarted)
        assert the_child(server) != pid
        await deployment_runs(client, "second")
