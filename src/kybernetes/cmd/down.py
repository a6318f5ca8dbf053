"""`kyb down [--data-dir DIR] [--keep-data]`: stop a `kyb up` and remove every trace of it from the machine.

In order: the running `kyb up` (from its pid file: SIGTERM, which stops its node and control plane in turn,
then SIGKILL after a grace period) and any `kyb` component still running for DIR; then the node's traces,
found by the names recorded in DIR/up.json (`kybernetes.kubelet.cleanup.clean_node`: containers, conmon,
mounts, cgroups, pod network namespaces and veths, the bridge, routes, nft tables); then, unless
`--keep-data`, the data dir and the cluster's entries in the kubeconfig `kyb up` merged them into. With
`--keep-data` the next `kyb up` brings the same cluster back and recreates its pods.

Idempotent: with nothing left it says so and exits 0. It exits 1 when something could not be removed,
listing what.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from kybernetes.cmd.up import DEFAULT_DATA_DIR
from kybernetes.cmd.up_kubeconfig import KubeconfigError, unmerge_kubeconfig
from kybernetes.cmd.up_state import UpSettings, kyb_up_pid, stop_processes, stray_processes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the data dir kyb up used")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the cluster's data (objects, certificates, images) for the next kyb up")


def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("kyb down: error: kyb down removes containers and network devices and must run as root: "
              "sudo kyb down", file=sys.stderr)
        return 1
    data_dir: Path = args.data_dir.resolve()
    settings = UpSettings.load(data_dir=data_dir)
    if settings is None:
        if data_dir.exists() and not args.keep_data and (data_dir / "version.json").exists():
            shutil.rmtree(data_dir, ignore_errors=True)
        print(f"kyb down: nothing to do: no kyb up cluster in {data_dir}")
        return 0

    pid = kyb_up_pid(data_dir=data_dir)
    if pid is not None:
        print(f"kyb down: stopping kyb up (pid {pid})", flush=True)
        stop_processes([pid], grace=60)
    strays = stray_processes(data_dir=data_dir)
    if strays:
        stop_processes(strays, grace=20)

    from kybernetes.kubelet.cleanup import clean_node

    left = clean_node(traces=settings.traces(data_dir=data_dir), keep_data=args.keep_data)
    if not args.keep_data:
        shutil.rmtree(data_dir, ignore_errors=True)
        if settings.kubeconfig:
            try:
                if unmerge_kubeconfig(path=Path(settings.kubeconfig), name=settings.context):
                    print(f"kyb down: removed context {settings.context!r} from {settings.kubeconfig}")
            except KubeconfigError as e:
                print(f"kyb down: warning: kubeconfig left as it is: {e}", file=sys.stderr)
    remaining = {kind: items for kind, items in left.items() if items}
    if remaining:
        print(f"kyb down: error: could not remove {remaining}", file=sys.stderr)
        return 1
    kept = f"; data kept in {data_dir}" if args.keep_data else f"; {data_dir} removed"
    print(f"kyb down: cluster stopped, node cleaned up (containers, mounts, cgroups, network){kept}")
    return 0
