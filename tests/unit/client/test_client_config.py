"""Finding the cluster: kubeconfig reading (inline data vs files, relative paths, token files, contexts),
$KUBECONFIG merging with kubectl's first-wins rule, ~/.kube/config, and the in-cluster service account."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from kybernetes.client import ConfigError, KubeConfigError, load_config, load_kubeconfig


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def config_doc(*, name: str, server: str, current: str | None = None, user: dict[str, Any] | None = None,
               namespace: str | None = None, cluster: dict[str, Any] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": name, "user": user or {"token": f"tok-{name}"}}],
        "contexts": [{"name": name, "context": context}],
    }
    if current:
        doc["current-context"] = current
    return doc


def test_inline_data_and_files_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_bytes(b"CA-FILE")
    (tmp_path / "token").write_text("file-token\n")
    path = write(tmp_path / "config", config_doc(
        name="c", server="https://h:6443", current="c", namespace="team",
        cluster={"certificate-authority": "certs/ca.pem", "tls-server-name": "api.local"},
        user={"tokenFile": "token", "client-certificate-data": b64(b"CERT"), "client-key-data": b64(b"KEY")},
    ))
    config = load_kubeconfig(path)
    assert config.server == "https://h:6443" and config.namespace == "team" and config.namespace_explicit
    assert config.ca_data == b"CA-FILE" and config.client_cert_data == b"CERT" and config.client_key_data == b"KEY"
    assert config.token == "file-token" and config.token_file == str(tmp_path / "token")
    assert config.tls_server_name == "api.local"


def test_kubeconfig_merge_first_file_wins(tmp_path: Path) -> None:
    first = write(tmp_path / "a", config_doc(name="one", server="https://one", current="one"))
    second_doc = config_doc(name="two", server="https://two", current="two")
    second_doc["clusters"].append({"name": "one", "cluster": {"server": "https://shadowed"}})
    second = write(tmp_path / "b", second_doc)
    env = {"KUBECONFIG": os.pathsep.join([str(tmp_path / "missing"), str(first), str(second)])}
    config = load_kubeconfig(environ=env)
    assert config.context == "one" and config.server == "https://one"
    other = load_kubeconfig(environ=env, context="two")
    assert other.server == "https://two" and other.token == "tok-two" and other.namespace == "default"
    with pytest.raises(KubeConfigError, match="no context named 'zzz'"):
        load_kubeconfig(environ=env, context="zzz")


def test_load_config_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(tmp_path / "explicit", config_doc(name="e", server="https://explicit/", current="e"))
    env_file = write(tmp_path / "env", config_doc(name="v", server="http://env", current="v"))
    home = tmp_path / "home"
    write(home / ".kube" / "config", config_doc(name="h", server="http://home", current="h"))
    monkeypatch.setenv("HOME", str(home))
    config = load_config(kubeconfig=str(explicit), component="sched")
    assert config.server == "https://explicit" and config.token == "tok-e" and config.ssl_context is not None
    assert config.agent().endswith("(sched)")
    assert load_config(environ={"KUBECONFIG": str(env_file)}).server == "http://env"
    assert load_config(environ={}).server == "http://home"


def test_in_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "namespace").write_text("kube-system")
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    config = load_config(environ=env, service_account_dir=sa)
    assert config.server == "https://[fd00::1]:443"
    assert config.token == "sa-token" and config.namespace == "kube-system"
    assert config.token_file == str(sa / "token")
    with pytest.raises(ConfigError, match="not running in a cluster"):
        load_config(environ={}, service_account_dir=sa)
