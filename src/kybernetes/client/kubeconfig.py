"""Reading kubeconfig files the way kubectl does.

`load_kubeconfig(path, context=...)` resolves one context into a `KubeConfig`: server URL, CA, client
certificate and key, bearer token, namespace, `insecure-skip-tls-verify` and `tls-server-name`.

Where the configuration comes from (kubectl's loading rules):

* an explicit path (or several, joined by `os.pathsep`, or a list);
* else `$KUBECONFIG`, a `os.pathsep`-separated list of files that are *merged*: for `current-context` and
  for each named cluster, user and context the first file that defines it wins; files that do not exist are
  skipped;
* else `~/.kube/config`.

Credentials may be inline (`certificate-authority-data`, base64, which wins) or file paths
(`certificate-authority`), and a path is relative to the directory of the file that named it. A user's
`token` wins over `tokenFile`. Exec plugins and auth providers are not run.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KubeConfig", "KubeConfigError", "default_kubeconfig_paths", "load_kubeconfig"]


class KubeConfigError(ValueError):
    """A kubeconfig that cannot be used (missing, malformed, or naming what it does not define)."""


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
    token_file: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    # Whether the context named a namespace itself (kubectl's "explicit namespace").
    namespace_explicit: bool = False

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context: trusts `ca_data` (or the system store) and presents the client certificate."""
        context = ssl.create_default_context(cadata=self.ca_data.decode() if self.ca_data else None)
        if self.insecure_skip_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert_data and self.client_key_data:
            load_client_cert(context, cert_pem=self.client_cert_data, key_pem=self.client_key_data)
        return context


def load_client_cert(context: ssl.SSLContext, *, cert_pem: bytes, key_pem: bytes) -> None:
    """Present `cert_pem`/`key_pem` from `context`."""
    # `load_cert_chain` takes only paths; a private temporary directory holds the PEMs for the call.
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        context.load_cert_chain(cert, key)


def default_kubeconfig_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """`$KUBECONFIG` split on `os.pathsep` (empty entries dropped), else `[~/.kube/config]`."""
    env = os.environ if environ is None else environ
    listed = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [Path("~/.kube/config").expanduser()]


def load_kubeconfig(
    path: Path | str | Sequence[Path | str] | None = None,
    *,
    context: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> KubeConfig:
    """Resolve the current (or the named) context of the kubeconfig at `path` (see the module docstring)."""
    paths = _paths(path, environ)
    merged = _merge(paths)
    if merged.sources == 0:
        raise KubeConfigError(f"no kubeconfig found (looked at {', '.join(str(p) for p in paths)})")
    context_name = context or merged.current_context
    if not context_name:
        raise KubeConfigError(f"{merged.where()}: no current-context")
    ctx, _ = merged.get("contexts", context_name, "context")
    cluster_name, user_name = str(ctx.get("cluster", "")), str(ctx.get("user", ""))
    cluster, cluster_base = merged.get("clusters", cluster_name, "cluster")
    user, user_base = merged.get("users", user_name, "user") if user_name else ({}, cluster_base)
    token = user.get("token") or None
    token_file = user.get("tokenFile") or None
    if token_file:
        token_file = str(_resolve(user_base, token_file))
        if not token:
            token = Path(token_file).read_text().strip()
    namespace = ctx.get("namespace") or ""
    return KubeConfig(
        context=context_name,
        cluster=cluster_name,
        user=user_name,
        server=str(cluster.get("server", "")),
        namespace=namespace or "default",
        ca_data=_data(cluster_base, cluster, "certificate-authority"),
        client_cert_data=_data(user_base, user, "client-certificate"),
        client_key_data=_data(user_base, user, "client-key"),
        token=token,
        token_file=token_file,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name") or None,
        namespace_explicit=bool(namespace),
    )


def _paths(path: Path | str | Sequence[Path | str] | None, environ: Mapping[str, str] | None) -> list[Path]:
    if path is None:
        return default_kubeconfig_paths(environ)
    if isinstance(path, Path):
        return [path.expanduser()]
    if isinstance(path, str):
        return [Path(p).expanduser() for p in path.split(os.pathsep) if p]
    return [Path(p).expanduser() for p in path]


class _Merged:
    """Named entries from several files; the first file to define a name wins (kubectl's merge)."""

    def __init__(self) -> None:
        self.current_context = ""
        self.sections: dict[str, dict[str, tuple[dict[str, Any], Path]]] = {
            "clusters": {},
            "users": {},
            "contexts": {},
        }
        self.files: list[Path] = []
        self.sources = 0

    def where(self) -> str:
        return ":".join(str(p) for p in self.files) or "kubeconfig"

    def get(self, section: str, name: str, key: str) -> tuple[dict[str, Any], Path]:
        try:
            return self.sections[section][name]
        except KeyError:
            raise KubeConfigError(f"{self.where()}: no {section[:-1]} named {name!r}") from None


def _merge(paths: list[Path]) -> _Merged:
    merged = _Merged()
    merged.files = paths
    for path in paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue  # kubectl skips listed files that do not exist
        merged.sources += 1
        try:
            document = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise KubeConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(document, dict):
            raise KubeConfigError(f"{path}: not a kubeconfig")
        if not merged.current_context and document.get("current-context"):
            merged.current_context = str(document["current-context"])
        base = path.parent
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in document.get(section) or []:
                if not isinstance(entry, dict) or "name" not in entry:
                    raise KubeConfigError(f"{path}: malformed {section} entry")
                value = entry.get(key) or {}
                if not isinstance(value, dict):
                    raise KubeConfigError(f"{path}: {section} entry {entry['name']!r} is malformed")
                merged.sections[section].setdefault(str(entry["name"]), (value, base))
    return merged


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
