"""Writing kubeconfig files for the cluster's users, and a minimal reader for our own tools and tests.

The writer produces the standard `apiVersion: v1, kind: Config` document with every credential inlined as
base64 (`certificate-authority-data`, `client-certificate-data`, `client-key-data`) so the file is self
contained and can be copied to another machine; the real kubectl and the official Python client load it
unchanged. Files are written 0600 through a temporary file and a rename.

The reader resolves only what a client needs to connect for the current (or a named) context: server URL, CA,
client certificate and key (inline data or file paths, relative to the kubeconfig's directory as kubectl
resolves them), bearer token (or token file), namespace and `insecure-skip-tls-verify`. It does not merge
several files (`KUBECONFIG=a:b`), run exec plugins or auth providers. It depends on nothing else in the
server so the client library can take it over.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kybernetes.apiserver.auth.pki import Pki


@dataclass(frozen=True, slots=True)
class KubeConfig:
    """What one context of a kubeconfig says about reaching the cluster."""

    context: str
    cluster: str
    user: str
    server: str
    namespace: str = "default"
    ca_data: bytes | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context: trusts `ca_data` (or the system store) and presents the client certificate."""
        context = ssl.create_default_context(cadata=self.ca_data.decode() if self.ca_data else None)
        if self.insecure_skip_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert_data and self.client_key_data:
            # `load_cert_chain` takes only paths; a private temporary directory holds the PEMs for the call.
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
                cert.write_bytes(self.client_cert_data)
                key.write_bytes(self.client_key_data)
                context.load_cert_chain(cert, key)
        return context


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


def load_kubeconfig(path: Path, *, context: str | None = None) -> KubeConfig:
    """Read the current (or the named) context of one kubeconfig file."""
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a kubeconfig")
    context_name = context or document.get("current-context") or ""
    if not context_name:
        raise ValueError(f"{path}: no current-context")
    ctx = _named(document, "contexts", context_name, "context", path)
    cluster_name, user_name = ctx.get("cluster", ""), ctx.get("user", "")
    cluster = _named(document, "clusters", cluster_name, "cluster", path)
    user = _named(document, "users", user_name, "user", path) if user_name else {}
    base = path.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _resolve(base, user["tokenFile"]).read_text().strip()
    return KubeConfig(
        context=context_name,
        cluster=cluster_name,
        user=user_name,
        server=cluster.get("server", ""),
        namespace=ctx.get("namespace") or "default",
        ca_data=_data(base, cluster, "certificate-authority"),
        client_cert_data=_data(base, user, "client-certificate"),
        client_key_data=_data(base, user, "client-key"),
        token=token or None,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name") or None,
    )


def _named(document: dict[str, Any], section: str, name: str, key: str, path: Path) -> dict[str, Any]:
    for entry in document.get(section) or []:
        if entry.get("name") == name:
            value = entry.get(key) or {}
            if not isinstance(value, dict):
                raise ValueError(f"{path}: {section} entry {name!r} is malformed")
            return value
    raise ValueError(f"{path}: no {section[:-1]} named {name!r}")


def _data(base: Path, section: dict[str, Any], field: str) -> bytes | None:
    # Inline `<field>-data` wins over the `<field>` path, as in kubectl.
    inline = section.get(f"{field}-data")
    if inline:
        return base64.b64decode(inline)
    file_name = section.get(field)
    if file_name:
        return _resolve(base, file_name).read_bytes()
    return None


def _resolve(base: Path, file_name: str) -> Path:
    candidate = Path(file_name).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


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
