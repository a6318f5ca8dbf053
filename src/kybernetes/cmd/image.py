"""`kyb image`: the node's image store from the command line (air-gapped loading, listing, pulling).

- `kyb image import FILE [--tag REF]...`: load an OCI image layout (directory or tar) or a `docker save`
  archive into the store, with its tags; no registry needed.
- `kyb image list`: the images in the store (tags, id, size).
- `kyb image pull REF [--mirror REGISTRY=URL]... [--insecure HOST]... [--username U --password P]`.
- `kyb image rm REF`: remove an image and the layers no other image uses.

All take `--data-dir` (default `$KYB_DATA_DIR`, else /var/lib/kybernetes/agent): the node's data directory,
the same the agent uses, so images imported here are seen by the kubelet.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from rich.console import Console

from kybernetes.kubelet.images import ArchiveError, ImageServiceConfig, LocalImageService, parse_reference
from kybernetes.kubelet.images.manifest import ManifestError
from kybernetes.kubelet.images.unpack import LayerError
from kybernetes.kubelet.runtime.protocol import ImagePullError, RegistryAuth

DEFAULT_DATA_DIR = "/var/lib/kybernetes/agent"  # where `kyb agent` (and the node of `kyb up`) keeps its images


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KYB_DATA_DIR", DEFAULT_DATA_DIR)),
                        help="the node's data directory (default $KYB_DATA_DIR or /var/lib/kybernetes/agent)")
    sub = parser.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", parents=[common], help="load an OCI layout (dir or tar) or a docker-save archive")
    imp.add_argument("file", type=Path)
    imp.add_argument("--tag", action="append", default=[], help="also tag the (single) image as REF")
    sub.add_parser("list", parents=[common], help="list images in the store")
    pull = sub.add_parser("pull", parents=[common], help="pull an image from a registry")
    pull.add_argument("image")
    pull.add_argument("--mirror", action="append", default=[], metavar="REGISTRY=URL",
                      help="try URL before REGISTRY (e.g. docker.io=http://127.0.0.1:5000); repeatable")
    pull.add_argument("--insecure", action="append", default=[], metavar="HOST[:PORT]",
                      help="speak plain HTTP to this registry")
    pull.add_argument("--username", default="")
    pull.add_argument("--password", default="")
    rm = sub.add_parser("rm", parents=[common], help="remove an image")
    rm.add_argument("image")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1000
    return f"{value:.1f}GB"


async def _run(args: argparse.Namespace) -> int:
    config = ImageServiceConfig()
    if args.image_command == "pull":
        mirrors: dict[str, list[str]] = {}
        for item in args.mirror:
            registry, sep, url = item.partition("=")
            if not sep:
                print(f"error: --mirror wants REGISTRY=URL, got {item!r}", file=sys.stderr)
                return 2
            mirrors.setdefault(registry, []).append(url)
        config = ImageServiceConfig(mirrors=mirrors, insecure=list(args.insecure))
    # A spinner on a terminal while the long steps run (nothing when stderr is piped); results go to stdout.
    progress = Console(stderr=True, highlight=False)
    async with LocalImageService(data_dir=args.data_dir, config=config) as service:
        if args.image_command == "import":
            with progress.status(f"importing {args.file}…"):
                refs = await service.import_archive(path=args.file, tags=args.tag)
            for ref in refs:
                print(f"imported {', '.join(ref.repo_tags) or '<untagged>'} {ref.id}")
        elif args.image_command == "list":
            print(f"{'IMAGE':<60} {'ID':<20} SIZE")
            for ref in await service.list_images():
                for tag in ref.repo_tags or ("<none>",):
                    print(f"{tag:<60} {ref.id.removeprefix('sha256:')[:12]:<20} {_size(ref.size)}")
        elif args.image_command == "pull":
            auth = RegistryAuth(username=args.username, password=args.password) if args.username else None
            with progress.status(f"pulling {parse_reference(args.image)}…"):
                ref = await service.pull_image(image=args.image, auth=auth)
            print(f"{parse_reference(args.image)} {ref.repo_digest} {ref.id}")
        elif args.image_command == "rm":
            found = await service.image_status(image=args.image)
            if found is None:
                print(f"error: no image {args.image}", file=sys.stderr)
                return 1
            await service.remove_image(image=args.image)
            print(f"removed {found.id}")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except (ImagePullError, ArchiveError, ManifestError, LayerError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
