"""Pure pod-spec translations: argv merge, $(VAR) expansion, env sources, DNS, QoS, resources."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest

from kybernetes.api.models.core_v1 import ConfigMap, Container, Pod, Secret
from kybernetes.kubelet.agent.podspec import (
    EnvError,
    EnvSources,
    build_argv,
    container_resources,
    dns_config,
    expand,
    qos_class,
    resolve_env,
)
from kybernetes.kubelet.runtime.protocol import ImageConfig


def pod(spec: dict[str, Any], **meta: Any) -> Pod:
    return msgspec.convert({"metadata": {"name": "p", "namespace": "ns", "uid": "u1", **meta},
                            "spec": spec}, Pod)


IMAGE = ImageConfig(entrypoint=("/entry",), cmd=("default",))


@pytest.mark.parametrize(("command", "args", "want"), [
    (None, None, ("/entry", "default")),
    (["run"], None, ("run",)),
    (None, ["x", "$(A)"], ("/entry", "x", "1")),
    (["run"], ["$(A)", "$$(A)", "$(NOPE)"], ("run", "1", "$(A)", "$(NOPE)")),
])
def test_argv_rules(command: list[str] | None, args: list[str] | None, want: tuple[str, ...]) -> None:
    c = Container(name="c", image="i", command=command, args=args)
    assert build_argv(container=c, image=IMAGE, env={"A": "1"}) == want


def test_expand_edge_cases() -> None:
    assert expand("$(A", {"A": "1"}.get) == "$(A"
    assert expand("a$", lambda _: None) == "a$"
    assert expand("$$$(A)", {"A": "x"}.get) == "$x"


def test_env_sources_and_order() -> None:
    p = pod({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "64Mi"}}}]},
            labels={"app": "web"})
    c = msgspec.convert({"name": "c", "image": "i", "envFrom": [
        {"configMapRef": {"name": "cm"}}, {"prefix": "S_", "secretRef": {"name": "s"}},
        {"configMapRef": {"name": "absent", "optional": True}}],
        "env": [{"name": "X", "value": "$(K)-$(S_PW)"},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi",
                                                                   "containerName": "c"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "containerName": "c"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "K", "value": "override"}]}, Container)
    sources = EnvSources(
        config_maps={"cm": ConfigMap(data={"K": "v", "bad-key!": "skip"}), "absent": None},
        secrets={"s": Secret(data={"PW": base64.b64encode(b"pw").decode()})},
        node_allocatable={"cpu": "4"})
    env = dict(resolve_env(pod=p, container=c, sources=sources, base=[("KUBERNETES_SERVICE_HOST", "10.96.0.1")]))
    assert env["X"] == "v-pw" and env["K"] == "override" and env["S_PW"] == "pw"
    assert "bad-key!" not in env and env["MEM"] == "64" and env["CPU"] == "4" and env["APP"] == "web"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


def test_env_missing_reference_is_an_error() -> None:
    p = pod({"containers": [{"name": "c", "image": "i"}]})
    c = msgspec.convert({"name": "c", "env": [{"name": "A", "valueFrom": {
        "configMapKeyRef": {"name": "cm", "key": "missing"}}}]}, Container)
    with pytest.raises(EnvError, match="couldn't find key missing in ConfigMap ns/cm"):
        resolve_env(pod=p, container=c, sources=EnvSources(config_maps={"cm": ConfigMap(data={})}))


def test_dns_policies(tmp_path: Any) -> None:
    cluster = dns_config(pod=pod({"containers": []}))
    assert cluster is not None and cluster.servers == ("10.96.0.10",)
    assert cluster.searches == ("ns.svc.cluster.local", "svc.cluster.local", "cluster.local")
    assert cluster.options == ("ndots:5",)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 1.1.1.1\nsearch example.com\noptions edns0\n")
    host = dns_config(pod=pod({"containers": [], "dnsPolicy": "Default"}), host_resolv=str(resolv))
    assert host is not None and host.servers == ("1.1.1.1",) and host.searches == ("example.com",)
    custom = dns_config(pod=pod({"containers": [], "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]}}))
    assert custom is not None and custom.options == ("ndots:2",)


def test_qos_and_resources() -> None:
    assert qos_class(pod({"containers": [{"name": "c"}]})) == "BestEffort"
    g = pod({"containers": [{"name": "c", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}]})
    assert qos_class(g) == "Guaranteed"
    b = pod({"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]})
    assert qos_class(b) == "Burstable"
    assert g.spec is not None
    r = container_resources((g.spec.containers or [])[0], qos="Guaranteed")
    assert (r.cpu_shares, r.cpu_quota, r.memory_limit_bytes, r.oom_score_adj) == (512, 50_000, 1 << 30, -997)
