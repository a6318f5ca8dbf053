"""PodWorkers driven directly with a fake clock, a stub API and the in-memory runtime: CrashLoopBackOff
timing (immediate first restart, then 10 s doubling to the cap) and the resulting container status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from kybernetes.api.models.core_v1 import Pod, PodStatus
from kybernetes.client import FakeClock, WorkQueue
from kybernetes.kubelet.agent.fakes import FakeImages, FakeRuntime
from kybernetes.kubelet.agent.pods import PodWorkers, WorkerOptions


class StubAPI:
    def __init__(self, pod: Pod) -> None:
        self.store = {"ns/p": pod}
        self.deleted: list[str] = []
        self.events: list[str] = []
        self.pods = self

    def get(self, key: str) -> Pod | None:
        return self.store.get(key)

    async def service_account(self, **_: Any) -> None:
        return None

    async def config_map(self, **_: Any) -> None:
        return None

    async def secret(self, **_: Any) -> None:
        return None

    async def token(self, **_: Any) -> str:
        return "a.b.c"

    async def ca_pem(self, **_: Any) -> bytes:
        return b"CA"

    def allocatable(self) -> dict[str, str]:
        return {"cpu": "2", "memory": "1Gi"}

    async def pull_auths(self, **_: Any) -> list[Any]:
        return []

    async def service_env(self) -> list[tuple[str, str]]:
        return [("KUBERNETES_SERVICE_HOST", "10.96.0.1")]

    async def event(self, *, reason: str, **_: Any) -> None:
        self.events.append(reason)

    def now_rfc3339(self) -> str:
        return "2026-01-01T00:00:00Z"

    async def patch_pod_status(self, *, namespace: str, name: str, status: dict[str, Any]) -> None:
        pod = self.store[f"{namespace}/{name}"]
        self.store[f"{namespace}/{name}"] = msgspec.structs.replace(pod, status=msgspec.convert(status, PodStatus))

    async def delete_pod(self, *, namespace: str, name: str, uid: str) -> None:
        self.deleted.append(f"{namespace}/{name}")
        self.store.pop(f"{namespace}/{name}", None)


def make(tmp_path: Path, spec: dict[str, Any]) -> tuple[PodWorkers, StubAPI, FakeRuntime, FakeClock]:
    pod = msgspec.convert({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
                           "spec": {"nodeName": "n", **spec}}, Pod)
    api, runtime, clock = StubAPI(pod), FakeRuntime(), FakeClock()
    workers = PodWorkers(api=api, runtime=runtime, images=FakeImages(), queue=WorkQueue(clock=clock),  # type: ignore[arg-type]
                         clock=clock, data_dir=tmp_path, node_name="n", host_ip="192.0.2.1",
                         options=WorkerOptions(resync_seconds=1))
    return workers, api, runtime, clock


def read_dir(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in path.iterdir() if not p.name.startswith("..")}


def status_of(api: StubAPI) -> dict[str, Any]:
    pod = api.store["ns/p"]
    result: dict[str, Any] = msgspec.to_builtins(pod.status)["containerStatuses"][0]
    return result


async def test_crash_loop_backoff_doubles_to_cap(tmp_path: Path) -> None:
    workers, api, runtime, clock = make(tmp_path, {"containers": [{"name": "c", "image": "i", "command": ["false"]}]})
    await workers.sync("ns/p")  # attempt 0 starts and exits 1
    await workers.sync("ns/p")  # first restart is immediate: attempt 1
    assert status_of(api)["restartCount"] == 1
    delays = []
    for _ in range(7):
        await workers.sync("ns/p")
        s = status_of(api)
        assert s["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert s["lastState"]["terminated"]["exitCode"] == 1
        message = s["state"]["waiting"]["message"]
        delays.append(float(message.split()[1].rstrip("s")))
        clock.advance(delays[-1] - 0.5)
        await workers.sync("ns/p")  # still backing off
        assert status_of(api)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        clock.advance(0.5)
        await workers.sync("ns/p")  # restarted (and crashed again)
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    assert status_of(api)["restartCount"] == 8
    assert sum(1 for c in runtime.containers.values() if c.config.name == "c") <= 2  # old attempts removed


async def test_on_failure_success_completes(tmp_path: Path) -> None:
    workers, api, _, _ = make(tmp_path, {"restartPolicy": "OnFailure",
                                         "containers": [{"name": "c", "image": "i", "command": ["true"]}]})
    await workers.sync("ns/p")
    pod = api.store["ns/p"]
    assert pod.status is not None and pod.status.phase == "Succeeded"
    ready = next(c for c in pod.status.conditions or [] if c.type == "Ready")
    assert ready.status == "False" and ready.reason == "PodCompleted"


async def test_token_volume_mounted_by_default(tmp_path: Path) -> None:
    workers, _, runtime, _ = make(tmp_path, {"containers": [{"name": "c", "image": "i"}]})
    await workers.sync("ns/p")
    (c,) = runtime.containers.values()
    (mount,) = c.config.mounts
    assert mount.container_path == "/var/run/secrets/kubernetes.io/serviceaccount"
    assert read_dir(Path(mount.host_path)) == {"token": "a.b.c", "ca.crt": "CA", "namespace": "ns"}
    assert dict(c.config.env)["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
