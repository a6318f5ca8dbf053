"""`kyb node cordon|uncordon|drain NAME`: take a machine out of service and back, as kubectl does.

    kyb node cordon NAME          spec.unschedulable=true     → node/NAME cordoned
    kyb node uncordon NAME        spec.unschedulable=false    → node/NAME uncordoned
    kyb node drain NAME [--ignore-daemonsets] [--delete-emptydir-data] [--force] [--timeout 0s]
                        [--grace-period -1] [--retry-interval 5s]

Drain cordons the node, then evicts every pod bound to it through the Eviction API, so PodDisruptionBudgets
are respected: an eviction a budget refuses (429) is retried every `--retry-interval` (kubectl's 5 s) until
the budget allows it or `--timeout` runs out (0: wait forever). Which pods may go follows kubectl: mirror
pods are skipped; DaemonSet pods block the drain unless `--ignore-daemonsets` (then they stay); pods with
emptyDir volumes block unless `--delete-emptydir-data`; pods no controller owns block unless `--force`;
finished pods always go. An evicted pod counts once it is gone (or replaced by a new one of the same name).

Messages are kubectl's: `evicting pod ns/name`, `pod/name evicted`, `node/NAME drained`; a drain that cannot
proceed prints kubectl's error and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from kybernetes.api.bootstraptoken import parse_ttl
from kybernetes.client import Client
from kybernetes.cmd.adminconfig import CommandError, add_kubeconfig_flag, admin_config, run_admin
from kybernetes.machinery.errors import NotFoundError, TooManyRequestsError

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="node_command", metavar="cordon|uncordon|drain", required=True)
    for name, text in (("cordon", "mark the node unschedulable"), ("uncordon", "mark the node schedulable")):
        p = sub.add_parser(name, help=text)
        p.add_argument("name", metavar="NAME")
        add_kubeconfig_flag(p)
    drain = sub.add_parser("drain", help="cordon the node and evict its pods")
    drain.add_argument("name", metavar="NAME")
    drain.add_argument("--ignore-daemonsets", action="store_true", help="leave DaemonSet-managed pods be")
    drain.add_argument("--delete-emptydir-data", action="store_true",
                       help="evict pods with emptyDir volumes (their data is lost)")
    drain.add_argument("--force", action="store_true", help="evict pods no controller owns too")
    drain.add_argument("--timeout", default="0s", help="give up after this long (e.g. 2m; 0: never)")
    drain.add_argument("--grace-period", type=int, default=-1,
                       help="seconds each pod gets to stop (-1: the pod's own terminationGracePeriodSeconds)")
    drain.add_argument("--retry-interval", default="5s",
                       help="wait between evictions a disruption budget refuses")
    add_kubeconfig_flag(drain)


def run(args: argparse.Namespace) -> int:
    return run_admin(_main(args))


async def _main(args: argparse.Namespace) -> int:
    async with Client(admin_config(args.kubeconfig, component="kyb-node")) as client:
        if args.node_command in ("cordon", "uncordon"):
            print(await set_unschedulable(client=client, name=args.name, value=args.node_command == "cordon"))
            return 0
        return await drain(client=client, args=args)


async def set_unschedulable(*, client: Client, name: str, value: bool) -> str:
    """Cordon (`value`) or uncordon the node; kubectl's message."""
    path = f"/api/v1/nodes/{name}"
    node = (await client.request("GET", path)).json()
    verb = "cordoned" if value else "uncordoned"
    if bool((node.get("spec") or {}).get("unschedulable")) == value:
        return f"node/{name} already {verb}"
    patch = {"spec": {"unschedulable": True if value else None}}
    await client.request("PATCH", path, body=json.dumps(patch).encode(),
                         content_type="application/strategic-merge-patch+json")
    return f"node/{name} {verb}"


def classify(pods: list[dict[str, Any]], *, ignore_daemonsets: bool, delete_emptydir_data: bool,
             force: bool) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(pods to evict, warnings, errors) for the pods on a node, by kubectl's filters."""
    evict: list[dict[str, Any]] = []
    warnings: dict[str, list[str]] = {}
    problems: dict[str, list[str]] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        ref = f"{meta.get('namespace')}/{meta.get('name')}"
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            evict.append(pod)
            continue
        controller = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        if controller is not None and controller.get("kind") == "DaemonSet":
            if ignore_daemonsets:
                warnings.setdefault("ignoring DaemonSet-managed Pods", []).append(ref)
            else:
                problems.setdefault("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)",
                                    []).append(ref)
            continue
        blocked = False
        if any("emptyDir" in v for v in (pod.get("spec") or {}).get("volumes") or []):
            if delete_emptydir_data:
                warnings.setdefault("deleting Pods with local storage", []).append(ref)
            else:
                problems.setdefault("cannot delete Pods with local storage (use --delete-emptydir-data to override)",
                                    []).append(ref)
                blocked = True
        if controller is None:
            if force:
                warnings.setdefault("deleting Pods that declare no controller", []).append(ref)
            else:
                problems.setdefault("cannot delete Pods that declare no controller (use --force to override)",
                                    []).append(ref)
                blocked = True
        if not blocked:
            evict.append(pod)
    return (evict, [f"{k}: {', '.join(v)}" for k, v in warnings.items()],
            [f"{k}: {', '.join(v)}" for k, v in problems.items()])


async def drain(*, client: Client, args: argparse.Namespace) -> int:
    name = args.name
    try:
        timeout = parse_ttl(args.timeout)
        retry = parse_ttl(args.retry_interval)
    except ValueError as e:
        raise CommandError(str(e)) from None
    deadline = time.monotonic() + timeout.total_seconds() if timeout else None
    print(await set_unschedulable(client=client, name=name, value=True), flush=True)
    listed = await client.request("GET", "/api/v1/pods", params={"fieldSelector": f"spec.nodeName={name}"})
    evict, warnings, problems = classify(listed.json().get("items") or [], ignore_daemonsets=args.ignore_daemonsets,
                                         delete_emptydir_data=args.delete_emptydir_data, force=args.force)
    if problems:
        _pending(name, f"[{', '.join(problems)}]")
        return 1
    for warning in warnings:
        print(f"Warning: {warning}", file=sys.stderr, flush=True)
    grace = None if args.grace_period < 0 else args.grace_period
    try:
        await asyncio.gather(*(
            _evict(client=client, pod=pod, grace=grace, retry=retry.total_seconds() if retry else 5.0,
                   deadline=deadline) for pod in evict
        ))
    except TimeoutError as e:
        _pending(name, str(e))
        return 1
    print(f"node/{name} drained", flush=True)
    return 0


def _pending(name: str, error: str) -> None:
    print(f'error: unable to drain node "{name}" due to error: {error}, continuing command...\n'
          f"There are pending nodes to be drained:\n {name}", file=sys.stderr, flush=True)


async def _evict(*, client: Client, pod: dict[str, Any], grace: int | None, retry: float,
                 deadline: float | None) -> None:
    meta = pod["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid")
    path = f"/api/v1/namespaces/{namespace}/pods/{name}"
    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
                            "metadata": {"name": name, "namespace": namespace}}
    if grace is not None:
        body["deleteOptions"] = {"gracePeriodSeconds": grace}
    print(f"evicting pod {namespace}/{name}", flush=True)
    while True:
        try:
            await client.request("POST", f"{path}/eviction", body=json.dumps(body).encode())
            break
        except NotFoundError:
            break
        except TooManyRequestsError as e:
            _check_deadline(deadline, f"drain did not complete within the timeout: evicting pod {namespace}/{name}")
            print(f'error when evicting pods/"{name}" -n "{namespace}" (will retry after {retry:g}s): {e.message}',
                  file=sys.stderr, flush=True)
            await asyncio.sleep(retry)
    while True:
        try:
            current = (await client.request("GET", path)).json()
        except NotFoundError:
            break
        if current.get("metadata", {}).get("uid") != uid:
            break
        _check_deadline(deadline, f"drain did not complete within the timeout: waiting for pod {namespace}/{name}")
        await asyncio.sleep(0.5)
    print(f"pod/{name} evicted", flush=True)


def _check_deadline(deadline: float | None, message: str) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError(message)
