"""`kyb agent`: the node agent (kubelet) as its own process, a client of any Kubernetes-compatible server.

`kyb agent --kubeconfig FILE | --server URL --token T --node-name N --data-dir DIR [--runtime runc|fake]
[--pod-cidr CIDR] [--registry-mirror REGISTRY=URL]... [--insecure-registry HOST[:PORT]]...
[--bridge NAME --netns-prefix P --cgroup-root PATH] [--container-log-max-size 10Mi --container-log-max-files 5]`: registers the Node, keeps its Lease fresh and runs
the pods bound to it (see `kybernetes.kubelet.agent`). Stops cleanly on SIGTERM/SIGINT; containers keep
running and are re-adopted by the next start.

Pod network (runc): with `--pod-cidr` the bridge uses that range from the start, whatever the Node says
(explicit wins: a node outside any controller's cluster CIDR still works). Without it the agent waits for
the node-ipam controller to set the Node's `spec.podCIDR` and builds the pod network then; pods bound
before that get a FailedCreatePodSandBox event ("no pod network") and are retried as soon as the range
arrives. hostNetwork pods run either way. Images live in `<data-dir>/images`, the store that
`kyb image import --data-dir <data-dir>` fills.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import ssl
from pathlib import Path
from typing import Any

from kybernetes.client import Client, ClientConfig, load_config
from kybernetes.cmd.runner import run_until_signalled, setup_logging
from kybernetes.kubelet.agent import Agent, AgentOptions, WorkerOptions
from kybernetes.kubelet.images.registry import ImageServiceConfig
from kybernetes.kubelet.runtime.protocol import ImageService, Runtime

log = logging.getLogger("kybernetes.agent")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--server", default=None, help="API server URL (with --token)")
    parser.add_argument("--token", default=None,
                        help="bootstrap token from `kyb token create` (joins the node: it gets a client certificate "
                             "and keeps it in <data-dir>/kubelet.kubeconfig), or any bearer token (with --server)")
    parser.add_argument("--certificate-authority", default=None, help="CA file for --server")
    parser.add_argument("--ca-cert-hash", default=None, metavar="sha256:HEX",
                        help="accept the server's CA only if its public key has this hash (`kyb token create "
                             "--print-join-command` prints it)")
    parser.add_argument("--node-name", default=socket.gethostname(), help="this node's name (default: hostname)")
    parser.add_argument("--data-dir", default="/var/lib/kybernetes/agent", help="pods, volumes, images, logs")
    parser.add_argument("--runtime", choices=("runc", "fake"), default="runc")
    parser.add_argument("--pod-cidr", default="",
                        help="pod address range (default: the Node's spec.podCIDR, set by the node-ipam controller)")
    parser.add_argument("--registry-mirror", action="append", default=[], metavar="REGISTRY=URL",
                        help="pull REGISTRY's images from URL first (e.g. docker.io=http://127.0.0.1:5000); repeatable")
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                        help="speak plain HTTP to this registry; repeatable")
    parser.add_argument("--bridge", default="kyb0", help="the pods' Linux bridge (at most 15 characters)")
    parser.add_argument("--netns-prefix", default="kyb",
                        help="prefix of pod network namespaces and host veths (at most 8 characters)")
    parser.add_argument("--cgroup-root", default="/kubepods", help="parent cgroup of every pod")
    parser.add_argument("--cluster-cidr", default="10.244.0.0/16",
                        help="every node's pod ranges: pod traffic leaving it is masqueraded")
    parser.add_argument("--no-proxy", dest="proxy", action="store_false",
                        help="do not run the Service proxy in this process (run `kyb proxy` instead)")
    parser.add_argument("--node-ip", default="", help="InternalIP to report (default: the route to the server)")
    parser.add_argument("--kubelet-port", type=int, default=10250,
                        help="port of the kubelet's HTTPS server (logs, exec); 0 picks a free one")
    parser.add_argument("--container-log-max-size", default="10Mi",
                        help="rotate a container's log once it is this large (a quantity, e.g. 10Mi; 0: never)")
    parser.add_argument("--container-log-max-files", type=int, default=5,
                        help="log files kept per container, the live one included (at least 2)")
    parser.add_argument("--container-log-monitor-interval", type=float, default=10.0, metavar="SECONDS",
                        help="how often container log sizes are checked for rotation")


async def _join(args: argparse.Namespace) -> None:
    """With a bootstrap token: the node's own kubeconfig (made on the first start, reused afterwards)
    becomes `--kubeconfig`; see `kybernetes.kubelet.bootstrap`."""
    from kybernetes.api.bootstraptoken import is_token
    from kybernetes.kubelet.bootstrap import BootstrapOptions, ensure_kubelet_kubeconfig, kubeconfig_path

    own = kubeconfig_path(Path(args.data_dir))
    if args.kubeconfig:
        return
    if args.server and args.token and is_token(args.token):
        path = await ensure_kubelet_kubeconfig(BootstrapOptions(
            server=args.server, token=args.token, node_name=args.node_name, data_dir=Path(args.data_dir),
            ca_file=args.certificate_authority, ca_cert_hash=args.ca_cert_hash))
        args.kubeconfig, args.server, args.token = str(path), None, None
    elif not args.server and await asyncio.to_thread(own.exists):
        args.kubeconfig = str(own)


def _config(args: argparse.Namespace) -> ClientConfig:
    if args.server:
        context = ssl.create_default_context(cafile=args.certificate_authority)
        if not args.certificate_authority:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return ClientConfig(server=args.server, ssl_context=context, token=args.token, component="kubelet")
    return load_config(kubeconfig=args.kubeconfig, component="kubelet")


def _ca_pem(args: argparse.Namespace) -> bytes:
    """The cluster CA for pods' ca.crt when no kube-root-ca.crt ConfigMap exists."""
    if args.certificate_authority:
        return Path(args.certificate_authority).read_bytes()
    try:
        import base64

        import yaml

        from kybernetes.client.kubeconfig import load_kubeconfig

        del load_kubeconfig
        path = args.kubeconfig
        if not path:
            return b""
        doc: Any = yaml.safe_load(Path(path).read_text())
        cluster = (doc.get("clusters") or [{}])[0].get("cluster", {})
        if cluster.get("certificate-authority-data"):
            return base64.b64decode(cluster["certificate-authority-data"])
        if cluster.get("certificate-authority"):
            return Path(cluster["certificate-authority"]).read_bytes()
    except (OSError, ValueError, AttributeError, ImportError):
        pass
    return b""


def _image_config(args: argparse.Namespace) -> ImageServiceConfig:
    mirrors: dict[str, list[str]] = {}
    for item in args.registry_mirror:
        registry, sep, url = item.partition("=")
        if not sep or not registry or not url:
            raise SystemExit(f"kyb agent: --registry-mirror wants REGISTRY=URL, got {item!r}")
        mirrors.setdefault(registry, []).append(url)
    return ImageServiceConfig(mirrors=mirrors, insecure=list(args.insecure_registry))


class _Node:
    """The runtime and image service of this node, and the pod network once its range is known."""

    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args, self.data_dir = args, data_dir
        self.runc: Any = None  # the RuncRuntime, whose network `set_pod_cidr` fills in
        self.pod_cidr: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.runtime, self.images = self._build()

    def _build(self) -> tuple[Runtime, ImageService]:
        args = self.args
        if args.runtime == "fake":
            from kybernetes.kubelet.runtime.fake import FakeImageService, FakeRuntime

            return FakeRuntime(), FakeImageService()
        from kybernetes.kubelet.images import LocalImageService
        from kybernetes.kubelet.runtime.runc import RuncRuntime

        self.runc = RuncRuntime(state_dir=self.data_dir / "runtime", network=None, cgroup_root=args.cgroup_root)
        if args.pod_cidr:
            self.set_pod_cidr(args.pod_cidr, explicit=True)
        return self.runc, LocalImageService(data_dir=self.data_dir, config=_image_config(args))

    def set_pod_cidr(self, cidr: str, *, explicit: bool = False) -> None:
        if self.runc is None:
            return
        if self.runc.network is not None:
            if not explicit and cidr != self.args.pod_cidr:
                log.warning("node spec.podCIDR %s ignored: --pod-cidr %s is in use", cidr, self.args.pod_cidr)
            return
        from kybernetes.kubelet.network import PodNetwork

        self.runc.network = PodNetwork(pod_cidr=cidr, bridge=self.args.bridge, prefix=self.args.netns_prefix,
                                       state_dir=self.data_dir / "network")
        log.info("pod network: bridge %s, %s", self.args.bridge, cidr)
        self.pod_cidr.set_result(cidr)

    async def run_network(self, client: Client) -> None:
        """Routes to the other nodes' pods, masquerade for this node's pods once their range is known, and
        the Service proxy (`kyb proxy` in this process, its table named after the netns prefix)."""
        if self.runc is None:
            return
        from kybernetes.kubelet.network.routes import NodeRoutes, follow_nodes

        routes = NodeRoutes(node_name=self.args.node_name, cluster_cidr=self.args.cluster_cidr,
                            table=f"{self.args.netns_prefix}-node")
        async with asyncio.TaskGroup() as tg:
            tg.create_task(follow_nodes(client=client, routes=routes), name="kubelet-node-routes")
            if self.args.proxy:
                tg.create_task(self._run_proxy(client), name="kubelet-proxy")
            cidr = await self.pod_cidr
            try:
                await routes.masquerade(pod_cidr=cidr)
            except OSError as e:  # pods still reach each other; only traffic leaving the cluster is affected
                log.error("no masquerade for pods leaving the cluster: %s", e)

    async def _run_proxy(self, client: Client) -> None:
        from kybernetes.client import SharedInformerFactory
        from kybernetes.proxy import Nft, Proxier, ProxyOptions, RulesetConfig

        factory = SharedInformerFactory(client=client)
        options = ProxyOptions(node_name=self.args.node_name,
                               ruleset=RulesetConfig(table=f"{self.args.netns_prefix}-proxy",
                                                     cluster_cidr=self.args.cluster_cidr))
        proxier = Proxier(informers=factory, applier=Nft(), options=options)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(factory.run(), name="kubelet-proxy-informers")
            await proxier.run()


def _log_max_size(text: str) -> int:
    from kybernetes.machinery.quantity import parse_quantity, to_int

    try:
        parse_quantity(text)
        return max(0, to_int(text))
    except (ValueError, TypeError) as e:
        raise SystemExit(f"kyb agent: --container-log-max-size wants a quantity such as 10Mi, got {text!r}") from e


async def serve(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    await _join(args)
    node = _Node(args, data_dir)
    workers = WorkerOptions(cgroup_root=args.cgroup_root)
    async with Client(_config(args)) as client:
        agent = Agent(client=client, node_name=args.node_name, runtime=node.runtime, images=node.images,
                      data_dir=data_dir, on_pod_cidr=node.set_pod_cidr,
                      options=AgentOptions(host_ip=args.node_ip, ca_pem=_ca_pem(args), workers=workers,
                                           kubelet_port=args.kubelet_port,
                                           log_max_size=_log_max_size(args.container_log_max_size),
                                           log_max_files=max(2, args.container_log_max_files),
                                           log_rotate_interval=max(0.1, args.container_log_monitor_interval)))
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(node.run_network(client), name="kubelet-network")
                await agent.run()
        finally:
            aclose = getattr(node.images, "aclose", None)
            if aclose is not None:
                await aclose()


def run(args: argparse.Namespace) -> int:
    import sys

    from kybernetes.kubelet.bootstrap import BootstrapError

    setup_logging()
    try:
        run_until_signalled(serve(args))
    except BootstrapError as e:
        print(f"kyb agent: {e}", file=sys.stderr)
        return 1
    log.info("kyb agent stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kyb agent")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
