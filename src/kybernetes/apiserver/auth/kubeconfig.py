"""Writing kubeconfig files for the cluster's users (reading them is the client library's:
`kybernetes.client.kubeconfig`, re-exported here).

The writer produces the standard `apiVersion: v1, kind: Config` document with every credential inlined as
base64 (`certificate-authority-data`, `client-certificate-data`, `client-key-data`) so the file is self
contained and can be copied to another machine; the real kubectl and the official Python client load it
unchanged. Files are written 0600 through a temporary file and a rename.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from kybernetes.apiserver.auth.pki import Pki
from kybernetes.client.kubeconfig import KubeConfig, load_kubeconfig

__all__ = ["KubeConfig", "load_kubeconfig", "render_kubeconfig", "write_admin_kubeconfig", "write_kubeconfig"]


def write_admin_kubeconfig(
    *,
    path: Path,
    server_url: str,
    pki: Pki,
    cluster_name: str = "kybernetes",
    user: str = "admin",
    token: str | None = None,
) -> None:
    """Write a kubeconfig for the cluster admin: the admin client certificate, or `token` when one is given."""
    if token is None:
        write_kubeconfig(
            path=path, server_url=server_url, ca_pem=pki.ca_pem(), cluster_name=cluster_name, user=user,
            client_cert_pem=pki.admin_cert_path.read_bytes(), client_key_pem=pki.admin_key_path.read_bytes(),
        )
    else:
        write_kubeconfig(
            path=path, server_url=server_url, ca_pem=pki.ca_pem(), cluster_name=cluster_name, user=user,
            token=token,
        )


def write_kubeconfig(
    *,
    path: Path,
    server_url: str,
    ca_pem: bytes,
    cluster_name: str,
    user: str,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    token: str | None = None,
    namespace: str | None = None,
) -> None:
    """Write a single-context kubeconfig whose context (named `cluster_name`) is current."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, render_kubeconfig(
        server_url=server_url, ca_pem=ca_pem, cluster_name=cluster_name, user=user,
        client_cert_pem=client_cert_pem, client_key_pem=client_key_pem, token=token, namespace=namespace,
    ).encode())


def render_kubeconfig(
    *,
    server_url: str,
    ca_pem: bytes,
    cluster_name: str,
    user: str,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    token: str | None = None,
    namespace: str | None = None,
) -> str:
    """The YAML text of a single-context kubeconfig (see `write_kubeconfig`)."""
    if (client_cert_pem is None) != (client_key_pem is None):
        raise ValueError("a client certificate needs its key and the other way round")
    credentials: dict[str, str] = {}
    if client_cert_pem is not None and client_key_pem is not None:
        credentials["client-certificate-data"] = _b64(client_cert_pem)
        credentials["client-key-data"] = _b64(client_key_pem)
    if token is not None:
        credentials["token"] = token
    context: dict[str, str] = {"cluster": cluster_name, "user": user}
    if namespace:
        context["namespace"] = namespace
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": {
            "server": server_url, "certificate-authority-data": _b64(ca_pem),
        }}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": cluster_name, "context": context}],
        "current-context": cluster_name,
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
