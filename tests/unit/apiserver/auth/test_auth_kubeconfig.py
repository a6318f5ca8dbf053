"""Kubeconfig writing (shape, permissions) and our minimal reader."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from kybernetes.apiserver.auth.kubeconfig import load_kubeconfig, render_kubeconfig, write_admin_kubeconfig
from kybernetes.apiserver.auth.pki import Pki


def test_admin_kubeconfig_shape(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "admin.conf"
    write_admin_kubeconfig(path=path, server_url="https://127.0.0.1:6443", pki=pki)

    assert path.stat().st_mode & 0o777 == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Config"
    assert doc["current-context"] == "kybernetes"
    assert doc["contexts"] == [{"name": "kybernetes", "context": {"cluster": "kybernetes", "user": "admin"}}]
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == pki.ca_pem()
    user = doc["users"][0]
    assert user["name"] == "admin"
    assert base64.b64decode(user["user"]["client-certificate-data"]) == pki.admin_cert_path.read_bytes()
    assert base64.b64decode(user["user"]["client-key-data"]) == pki.admin_key_path.read_bytes()
    assert "token" not in user["user"]


def test_reader_round_trip(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "admin.conf"
    write_admin_kubeconfig(path=path, server_url="https://10.0.0.1:6443", pki=pki, cluster_name="c1", user="root")
    config = load_kubeconfig(path)
    assert (config.context, config.cluster, config.user) == ("c1", "c1", "root")
    assert config.server == "https://10.0.0.1:6443"
    assert config.namespace == "default"
    assert config.ca_data == pki.ca_pem()
    assert config.client_cert_data == pki.admin_cert_path.read_bytes()
    assert config.client_key_data == pki.admin_key_path.read_bytes()
    assert config.token is None

    write_admin_kubeconfig(path=path, server_url="https://10.0.0.1:6443", pki=pki, token="abc")
    config = load_kubeconfig(path)
    assert config.token == "abc" and config.client_cert_data is None and config.client_key_data is None


def test_reader_resolves_files_relative_to_the_kubeconfig(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(pki.ca_pem())
    (tmp_path / "token").write_text("tok-from-file\n")
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "b",
        "clusters": [{"name": "cl", "cluster": {"server": "https://h:1", "certificate-authority": "certs/ca.crt"}}],
        "users": [{"name": "u", "user": {"tokenFile": str(tmp_path / "token")}}],
        "contexts": [
            {"name": "a", "context": {"cluster": "cl", "user": "u"}},
            {"name": "b", "context": {"cluster": "cl", "user": "u", "namespace": "kube-system"}},
        ],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))

    config = load_kubeconfig(path)
    assert config.context == "b" and config.namespace == "kube-system"
    assert config.ca_data == pki.ca_pem()
    assert config.token == "tok-from-file"
    assert load_kubeconfig(path, context="a").namespace == "default"
    with pytest.raises(ValueError, match="no context named 'zzz'"):
        load_kubeconfig(path, context="zzz")


def test_render_refuses_half_a_key_pair() -> None:
    with pytest.raises(ValueError):
        render_kubeconfig(server_url="https://h", ca_pem=b"x", cluster_name="c", user="u", client_cert_pem=b"c")
