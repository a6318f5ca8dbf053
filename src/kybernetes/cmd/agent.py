"""`kyb agent`: the node agent (kubelet) as its own process, a client of any Kubernetes-compatible server.

`kyb agent --kubeconfig FILE | --server URL --token T --node-name N --data-dir DIR [--runtime runc|fake]
[--pod-cidr CIDR]`: registers the Node, keeps its Lease fresh and runs the pods bound to it (see
`kybernetes.kubelet.agent`). Stops cleanly on SIGTERM/SIGINT; containers keep running and are re-adopted by
the next start.
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
from kybernetes.kubelet.agent import Agent, AgentOptions
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
    parser.add_argument("--pod-cidr", default="", help="pod address range when no controller assigns one")
    parser.add_argument("--node-ip", default="", help="InternalIP to report (default: the route to the server)")


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


def _runtime(args: argparse.Namespace, data_dir: Path) -> tuple[Runtime, ImageService]:
    if args.runtime == "fake":
        try:
            from kybernetes.kubelet.runtime.fake import FakeImageService, FakeRuntime

            return FakeRuntime(), FakeImageService()
        except ImportError:
            from kybernetes.kubelet.agent.fakes import FakeImages
            from kybernetes.kubelet.agent.fakes import FakeRuntime as MinimalFakeRuntime

            return MinimalFakeRuntime(), FakeImages()
    from kybernetes.kubelet.images import LocalImageService
    from kybernetes.kubelet.network import PodNetwork
    from kybernetes.kubelet.runtime.runc import RuncRuntime

    network = PodNetwork(pod_cidr=args.pod_cidr or "10.244.0.0/24", state_dir=data_dir / "network")
    return RuncRuntime(state_dir=data_dir / "runtime", network=network), LocalImageService(data_dir=data_dir / "images")


async def serve(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    runtime, images = _runtime(args, data_dir)
    async with Client(_config(args)) as client:
        agent = Agent(client=client, node_name=args.node_name, runtime=runtime, images=images, data_dir=data_dir,
                      options=AgentOptions(host_ip=args.node_ip, ca_pem=_ca_pem(args)))
        await agent.run()


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
