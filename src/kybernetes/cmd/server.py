"""`kyb server`: the API server (control plane) on the embedded SQLite store or etcd.

On first start it generates the cluster's PKI and an admin token into the data dir, then writes
`DIR/admin.kubeconfig` (client certificate) for kubectl. Beside the API server it runs the scheduler, the
controller-manager (given the CA to sign node certificates with) and the cluster DNS (on `--dns-listen`,
default the advertise address's port 53), each with its own client certificate, in ONE child process
(`kyb components`: one interpreter, one set of shared informers) restarted when it exits (`--disable`
leaves components out; with all of them disabled there is no child). It logs one line when ready and stops
cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
from pathlib import Path
from typing import Any

from kybernetes.api.bootstraptoken import SECRET_NAMESPACE
from kybernetes.apiserver.auth import (
    Pki,
    TokenIssuer,
    build_authenticator,
    ensure_admin_token,
    ensure_pki,
    issue_client_cert,
    server_ssl_context,
    split_sans,
    write_admin_kubeconfig,
)
from kybernetes.apiserver.auth.bootstrap import BootstrapTokenAuthenticator
from kybernetes.apiserver.auth.kubeconfig import write_kubeconfig
from kybernetes.apiserver.server import APIServer, ServerConfig, tls_site_factory
from kybernetes.cmd.runner import run_until_signalled, setup_logging
from kybernetes.cmd.supervisor import Child, components_argv, supervise
from kybernetes.storage.factory import open_store

log = logging.getLogger("kybernetes.server")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", required=True, type=Path, help="where the store, PKI and kubeconfig live")
    parser.add_argument("--listen", default="127.0.0.1:6443", help="HOST:PORT to serve HTTPS on")
    parser.add_argument("--datastore", default="sqlite", help="sqlite (default) or etcd://HOST:PORT[,HOST:PORT]")
    parser.add_argument("--advertise-address", default=None, help="address other components reach this server at")
    parser.add_argument("--service-cidr", default="10.96.0.0/12")
    parser.add_argument("--tls-san", action="append", default=[], help="extra serving-certificate SAN")
    parser.add_argument("--dns-listen", default="",
                        help="HOST:PORT the cluster DNS serves on, UDP and TCP (default: the advertise address, "
                             "port 53); pods reach it through the kube-dns Service at the tenth service address")
    parser.add_argument("--dns-upstream", default="",
                        help="resolvers the cluster DNS forwards other names to: addresses (ip[:port]) and/or "
                             "resolv.conf files, comma-separated (default: the DNS's own, /etc/resolv.conf)")
    parser.add_argument("--controller-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the controller-manager (e.g. node-monitor-grace-period=15s); repeatable")
    parser.add_argument("--disable", default="", help="components not to run beside the API server, comma-separated, or 'all': "
                        + ", ".join(COMPONENTS))


# Control-plane components `kyb server` runs in its child process, each a client of the API server with an
# identity of its own (the names Kubernetes gives them, so RBAC rules written for Kubernetes apply).
COMPONENTS: dict[str, str] = {
    "scheduler": "system:kube-scheduler",
    "controller-manager": "system:kube-controller-manager",
    "dns": "system:kube-dns",
}


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"error: --listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def prepare(args: argparse.Namespace) -> tuple[str, int, str, Path, Pki]:
    """Create the data dir, PKI, admin token and admin kubeconfig (blocking file work, before the loop)."""
    host, port = split_listen(args.listen)
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    advertise = args.advertise_address or (host if host not in ("0.0.0.0", "::") else "127.0.0.1")
    dns, ips = split_sans([host, advertise, *args.tls_san])
    pki = ensure_pki(pki_dir=data_dir / "pki", sans_dns=dns, sans_ip=ips)
    ensure_admin_token(path=data_dir / "tokens.csv")
    server_url = f"https://{advertise if ':' not in advertise else '[' + advertise + ']'}:{port}"
    write_admin_kubeconfig(path=data_dir / "admin.kubeconfig", server_url=server_url, pki=pki)
    for component, user in COMPONENTS.items():
        kubeconfig = data_dir / f"{component}.kubeconfig"
        if not kubeconfig.exists():
            cert, key = issue_client_cert(pki=pki, user=user, groups=[], days=365)
            write_kubeconfig(path=kubeconfig, server_url=server_url, ca_pem=pki.ca_pem(), cluster_name="kybernetes",
                             user=user, client_cert_pem=cert, client_key_pem=key)
    return host, port, advertise, data_dir, pki


def component_args(component: str, *, args: argparse.Namespace, advertise: str,
                   pki: Pki | None = None) -> list[str]:
    """Flags of a component beyond its kubeconfig: the DNS serves on the address pods can reach and is
    published at the service range's tenth address, as Kubernetes' kube-dns is; `--dns-upstream` and
    `--controller-option` pass through to the DNS and the controller-manager. The controller-manager signs
    certificate requests with the cluster CA (Kubernetes passes it --cluster-signing-*-file the same way)."""
    if component == "controller-manager":
        signing = ([f"--cluster-signing-cert-file={pki.ca_cert_path}", f"--cluster-signing-key-file={pki.ca_key_path}"]
                   if pki is not None else [])
        return [*signing, *(f"--option={item}" for item in args.controller_option)]
    if component != "dns":
        return []
    upstream = ["--upstream", args.dns_upstream] if args.dns_upstream else []
    listen = args.dns_listen or (f"[{advertise}]:53" if ":" in advertise else f"{advertise}:53")
    service_ip = str(ipaddress.ip_network(args.service_cidr, strict=False)[10])
    return ["--listen", listen, "--advertise-address", split_listen(listen)[0], "--service-ip", service_ip,
            *upstream]


async def serve(args: argparse.Namespace, host: str, port: int, advertise: str, data_dir: Path, pki: Pki) -> None:
    token_file = data_dir / "tokens.csv"

    store = open_store(datastore=args.datastore, data_dir=data_dir)
    config = ServerConfig(service_cidr=args.service_cidr, advertise_address=advertise, port=port)
    server: APIServer | None = None

    async def sa_uid(namespace: str, name: str) -> str | None:
        assert server is not None
        rest = server.lookup("serviceaccounts")
        if rest is None:
            return None
        found = rest.cache.get(rest.key(namespace=namespace, name=name))
        return found.obj["metadata"].get("uid") if found else None

    async def kube_system_secret(name: str, fresh: bool) -> dict[str, Any] | None:
        assert server is not None
        rest = server.lookup("secrets")
        if rest is None:
            return None
        if fresh:
            await rest.sync_cache()
        found = rest.cache.get(rest.key(namespace=SECRET_NAMESPACE, name=name))
        return found.obj if found else None

    authenticator, _ = build_authenticator(pki=pki, token_file=token_file, sa_lookup=sa_uid)
    # Bootstrap tokens (`kyb token create`), read from the Secrets they are stored in.
    authenticator.append(BootstrapTokenAuthenticator(lookup=kube_system_secret))
    issuer = TokenIssuer(private_key=pki.sa_private_key)
    server = APIServer(store=store, config=config, authenticator=authenticator, token_issuer=issuer)
    server.pod_proxy.use_pki(pki)  # the client certificate pods/log and pods/exec present to kubelets
    sites = tls_site_factory(host=host, port=port, ssl_context=server_ssl_context(pki))

    def ready() -> None:
        log.info("kyb server ready: serving https://%s:%d (datastore %s); KUBECONFIG=%s",
                 host, port, args.datastore, data_dir / "admin.kubeconfig")

    disabled = {c.strip() for c in args.disable.split(",") if c.strip()}
    if "all" in disabled:
        disabled = set(COMPONENTS)
    unknown = disabled - set(COMPONENTS)
    if unknown:
        raise SystemExit(f"error: --disable: unknown component(s) {', '.join(sorted(unknown))}")
    async with asyncio.TaskGroup() as tg:
        tg.create_task(server.run(sites=sites, on_ready=ready), name="apiserver")
        await server.ready.wait()
        running = {component: ["--kubeconfig", str(data_dir / f"{component}.kubeconfig"),
                               *component_args(component, args=args, advertise=advertise, pki=pki)]
                   for component in COMPONENTS if component not in disabled}
        if running:
            tg.create_task(supervise(Child("components", components_argv(running))), name="components")


def run(args: argparse.Namespace) -> int:
    setup_logging()
    run_until_signalled(serve(args, *prepare(args)))
    log.info("kyb server stopped")
    return 0
