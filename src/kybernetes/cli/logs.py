"""`kyb logs POD|TYPE/NAME [-c C] [-f] [--tail N] [--previous] [--timestamps] [--since-time T]`.

The API server's `pods/<name>/log` is streamed to stdout as it arrives (with `-f` until the container
stops or the user interrupts). `TYPE/NAME` for a workload (deploy/web, rs/..., sts/..., ds/..., job/...) picks
one of its pods, the way kubectl does: the pods its selector matches, running and ready ones first. Without
`-c`, a pod with several containers shows the one its `kubectl.kubernetes.io/default-container` annotation
names, else the first, saying so on stderr (`Defaulted container "a" out of: a, b`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kybernetes.cli.context import CliContext, CliError, add_connection_flags, open_stream, split_name
from kybernetes.cli.kinds import object_path, resolve_type
from kybernetes.machinery.labels import selector_from_api

__all__ = ["add_arguments", "choose_container", "pod_for", "run", "run_logs"]

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pod", metavar="POD|TYPE/NAME", help="the pod (or a workload: deploy/web)")
    parser.add_argument("-c", "--container", default="", help="the container (default: the pod's default)")
    parser.add_argument("-f", "--follow", action="store_true", help="keep streaming as the container writes")
    parser.add_argument("--tail", type=int, default=-1, help="only the last N lines (-1: all)")
    parser.add_argument("-p", "--previous", action="store_true", help="the previous instance of the container")
    parser.add_argument("--timestamps", action="store_true", help="prefix each line with its RFC 3339 time")
    parser.add_argument("--since-time", default="", help="only lines written at or after this RFC 3339 time")
    parser.add_argument("--limit-bytes", type=int, default=0, help="at most this many bytes")
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_logs(ctx, args=args))


def _rank(pod: dict[str, Any]) -> tuple[int, int, str]:
    """Running and ready pods first (kubectl's choice for `logs deploy/x`), then by age, oldest first."""
    status = pod.get("status") or {}
    running = status.get("phase") == "Running"
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return (0 if running else 1, 0 if ready else 1, str((pod.get("metadata") or {}).get("creationTimestamp", "")))


async def pod_for(ctx: CliContext, *, target: str) -> dict[str, Any]:
    """The pod `target` names: `POD`, `pod/POD`, or one pod of a workload or service (`deploy/web`)."""
    kind, name = split_name(target)
    if not kind or resolve_type(kind).kind == "Pod":
        pod: dict[str, Any] = (await ctx.client.request(
            "GET", f"/api/v1/namespaces/{ctx.namespace}/pods/{name}")).json()
        return pod
    info = resolve_type(kind)
    owner = (await ctx.client.request("GET", object_path(info, name=name, namespace=ctx.namespace))).json()
    spec = owner.get("spec") or {}
    raw = spec.get("selector")
    if info.kind == "Service":
        selector = ",".join(f"{k}={v}" for k, v in sorted((raw or {}).items()))
    else:
        selector = str(selector_from_api(raw)) if raw else ""
    if not selector:
        raise CliError(f"cannot find the pods of {info.kind.lower()}/{name}: it has no selector")
    listed = (await ctx.client.request("GET", f"/api/v1/namespaces/{ctx.namespace}/pods",
                                       params=[("labelSelector", selector)])).json()
    pods = sorted(listed.get("items") or [], key=_rank)
    if not pods:
        raise CliError(f"no pods found for {info.kind.lower()}/{name} (selector {selector})")
    return pods[0]


def choose_container(pod: dict[str, Any], *, requested: str) -> str:
    """`requested`, else the annotated default, else the first container (announced on stderr)."""
    if requested:
        return requested
    containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    if len(containers) <= 1:
        return containers[0] if containers else ""
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    if annotated in containers:
        return str(annotated)
    print(f'Defaulted container "{containers[0]}" out of: {", ".join(containers)}', file=sys.stderr)
    return containers[0]


async def run_logs(ctx: CliContext, *, args: argparse.Namespace) -> int:
    pod = await pod_for(ctx, target=args.pod)
    name = (pod.get("metadata") or {}).get("name", "")
    container = choose_container(pod, requested=args.container)
    params: list[tuple[str, str]] = []
    if container:
        params.append(("container", container))
    if args.follow:
        params.append(("follow", "true"))
    if args.tail >= 0:
        params.append(("tailLines", str(args.tail)))
    if args.previous:
        params.append(("previous", "true"))
    if args.timestamps:
        params.append(("timestamps", "true"))
    if args.since_time:
        params.append(("sinceTime", args.since_time))
    if args.limit_bytes > 0:
        params.append(("limitBytes", str(args.limit_bytes)))
    out = sys.stdout.buffer
    try:
        async for chunk in open_stream(ctx.client, f"/api/v1/namespaces/{ctx.namespace}/pods/{name}/log",
                                       params=params):
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        return 130
    return 0
