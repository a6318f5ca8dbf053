"""How a client reaches the cluster: `ClientConfig`, and `load_config` to find one.

`load_config()` follows kubectl's order: an explicit kubeconfig path, else `$KUBECONFIG` (merged), else
`~/.kube/config`, else the in-cluster service account (`/var/run/secrets/kubernetes.io/serviceaccount/`
`token`, `ca.crt`, `namespace`, with `KUBERNETES_SERVICE_HOST` / `KUBERNETES_SERVICE_PORT`).

A token that comes from a file (in-cluster, or a kubeconfig `tokenFile`) is re-read when the file changes,
because bound service account tokens are rotated on disk while the process runs.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kybernetes import __version__
from kybernetes.client.kubeconfig import (
    KubeConfig,
    KubeConfigError,
    default_kubeconfig_paths,
    load_kubeconfig,
)

__all__ = ["SERVICE_ACCOUNT_DIR", "ClientConfig", "ConfigError", "load_config", "load_incluster_config"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(KubeConfigError):
    """No usable configuration was found."""


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Everything `Client` needs; build one with `load_config` or by hand (tests)."""

    server: str
    ssl_context: ssl.SSLContext | None = None
    token: str | None = None
    token_file: str | None = None
    namespace: str = "default"
    component: str = "client"
    user_agent: str | None = None
    # Client-side rate limit; None leaves it off (the API server has its own priority and fairness).
    qps: float | None = None
    burst: int = 100
    # Seconds for one ordinary (non-watch) request, including reading the body.
    timeout: float = 60.0
    # Retries of one request after 429/5xx with Retry-After, or a connection failure.
    max_retries: int = 5
    tls_server_name: str | None = None
    # Connection pool size (aiohttp's per-host limit).
    max_connections: int = 100
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def agent(self) -> str:
        return self.user_agent or f"kybernetes/{__version__} ({self.component})"

    def with_component(self, component: str) -> ClientConfig:
        return replace(self, component=component)

    @classmethod
    def from_kubeconfig(cls, kubeconfig: KubeConfig, **overrides: object) -> ClientConfig:
        server = kubeconfig.server.rstrip("/")
        context = kubeconfig.ssl_context() if server.startswith("https") else None
        values: dict[str, object] = {
            "server": server,
            "ssl_context": context,
            "token": kubeconfig.token,
            "token_file": kubeconfig.token_file,
            "namespace": kubeconfig.namespace,
            "tls_server_name": kubeconfig.tls_server_name,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def load_config(
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    component: str = "client",
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> ClientConfig:
    """Find the cluster: explicit kubeconfig, `$KUBECONFIG`, `~/.kube/config`, then in-cluster."""
    env = os.environ if environ is None else environ
    if kubeconfig is not None:
        return ClientConfig.from_kubeconfig(load_kubeconfig(kubeconfig, context=context), component=component)
    paths = default_kubeconfig_paths(env)
    if any(p.exists() for p in paths):
        return ClientConfig.from_kubeconfig(
            load_kubeconfig(paths, context=context, environ=env), component=component
        )
    if env.get("KUBERNETES_SERVICE_HOST") and (service_account_dir / "token").exists():
        return load_incluster_config(environ=env, service_account_dir=service_account_dir, component=component)
    raise ConfigError(
        "no cluster configuration: no kubeconfig at " + ", ".join(str(p) for p in paths)
        + " and not running in a cluster (KUBERNETES_SERVICE_HOST unset)"
    )


def load_incluster_config(
    *,
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    component: str = "client",
) -> ClientConfig:
    """The pod's service account: token and CA from the mounted secret, server from the service env vars."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("KUBERNETES_SERVICE_HOST is not set: not running in a cluster")
    token_path = service_account_dir / "token"
    try:
        token = token_path.read_text().strip()
    except OSError as e:
        raise ConfigError(f"in-cluster token unreadable: {e}") from None
    ca_path = service_account_dir / "ca.crt"
    context = ssl.create_default_context(cafile=str(ca_path) if ca_path.exists() else None)
    namespace_path = service_account_dir / "namespace"
    namespace = namespace_path.read_text().strip() if namespace_path.exists() else "default"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return ClientConfig(
        server=f"https://{host}:{port}",
        ssl_context=context,
        token=token,
        token_file=str(token_path),
        namespace=namespace or "default",
        component=component,
    )
