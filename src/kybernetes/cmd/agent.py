"""`kyb agent`: the node agent (kubelet) as its own process, a client of any Kubernetes-compatible server.

`kyb agent --kubeconfig FILE | --server URL --token T --node-name N --data-dir DIR [--runtime runc|fake]
[--pod-cidr CIDR] [--registry-mirror REGISTRY=URL]... [--insecure-registry HOST[:PORT]]...
[--bridge NAME --netns-prefix P --cgroup-root PATH]`: registers the Node, keeps its Lease fresh and runs
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
    parser.add_argument("--token", default=None, help="bearer token (with --server)")
    parser.add_argument("--certificate-authority", default=None, help="CA file for --server")
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
    parser.add_argument("--node-ip", default="", help="InternalIP to report (default: the route to the server)")
    parser.add_argument("--kubelet-port", type=int, default=10250,
                        help="port of the kubelet's HTTPS server (logs, exec); 0 picks a free one")


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


async def serve(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    node = _Node(args, data_dir)
    workers = WorkerOptions(cgroup_root=args.cgroup_root)
    async with Client(_config(args)) as client:
        agent = Agent(client=client, node_name=args.node_name, runtime=node.runtime, images=node.images,
                      data_dir=data_dir, on_pod_cidr=node.set_pod_cidr,
                      options=AgentOptions(host_ip=args.node_ip, ca_pem=_ca_pem(args), workers=workers,
                                           kubelet_port=args.kubelet_port))
        try:
            await agent.run()
        finally:
            aclose = getattr(node.images, "aclose", None)
            if aclose is not None:
                await aclose()


def run(args: argparse.Namespace) -> int:
    setup_logging()
    run_until_signalled(serve(args))
    log.info("kyb agent stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kyb agent")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
