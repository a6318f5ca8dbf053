"""`kyb top pods|nodes [NAME] [-n NS | -A] [-l SEL] [--containers]`: CPU and memory from metrics.k8s.io.

The API server serves `metrics.k8s.io/v1beta1` PodMetrics and NodeMetrics (usage from the kubelets'
summaries). Pods print `NAME CPU(cores) MEMORY(bytes)` (summed over containers, or one row per container
with `--containers`), nodes also `CPU(%)` and `MEMORY(%)` of their allocatable. CPU is in millicores
(`10m`, rounded up as kubectl's MilliValue), memory in whole MiB (`8Mi`). As in kubectl every column, the
last too, is padded, and an empty answer is `error: metrics not available yet` (or `No resources found`
when there are no pods at all).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kybernetes.cli.context import CliContext, CliError, add_connection_flags
from kybernetes.cli.printers import align
from kybernetes.machinery import quantity

__all__ = ["add_arguments", "cpu_text", "memory_text", "run", "run_top"]

METRICS = "/apis/metrics.k8s.io/v1beta1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=("pods", "pod", "po", "nodes", "node", "no"), help="pods or nodes")
    parser.add_argument("name", nargs="?", default="", help="one pod or node")
    parser.add_argument("-l", "--selector", default="", help="label selector")
    parser.add_argument("--containers", action="store_true", help="pods: one row per container")
    parser.add_argument("--no-headers", action="store_true", help="no header line")
    add_connection_flags(parser, all_namespaces=True)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_top(ctx, args=args))


def cpu_text(milli: int) -> str:
    return f"{milli}m"


def memory_text(value: int) -> str:
    return f"{value // (1024 * 1024)}Mi"


def _usage(usage: dict[str, Any]) -> tuple[int, int]:
    return quantity.to_milli(usage.get("cpu", "0")), quantity.to_int(usage.get("memory", "0"))


def _table(rows: list[list[str]], *, header: list[str], no_headers: bool) -> str:
    # kubectl ends every cell with a tab, so the last column is padded like the others.
    return align([[*row, ""] for row in (rows if no_headers else [header, *rows])])


async def _items(ctx: CliContext, path: str, *, name: str, selector: str) -> list[dict[str, Any]]:
    if name:
        return [(await ctx.client.request("GET", f"{path}/{name}")).json()]
    params = [("labelSelector", selector)] if selector else []
    items: list[dict[str, Any]] = (await ctx.client.request("GET", path, params=params)).json().get("items") or []
    return items


async def run_top(ctx: CliContext, *, args: argparse.Namespace) -> int:
    if args.kind.startswith("no"):
        return await _nodes(ctx, args=args)
    return await _pods(ctx, args=args)


async def _nodes(ctx: CliContext, *, args: argparse.Namespace) -> int:
    metrics = await _items(ctx, f"{METRICS}/nodes", name=args.name, selector=args.selector)
    if not metrics:
        raise CliError("metrics not available yet")
    nodes = {n["metadata"]["name"]: n for n in
             (await ctx.client.request("GET", "/api/v1/nodes")).json().get("items") or []}
    rows = []
    for m in metrics:
        name = m["metadata"]["name"]
        cpu, memory = _usage(m.get("usage") or {})
        allocatable = ((nodes.get(name) or {}).get("status") or {}).get("allocatable") or {}
        cpu_total = quantity.to_milli(allocatable.get("cpu", "0"))
        mem_total = quantity.to_int(allocatable.get("memory", "0"))
        rows.append([
            name, cpu_text(cpu), f"{cpu * 100 // cpu_total if cpu_total else 0}%",
            memory_text(memory), f"{memory * 100 // mem_total if mem_total else 0}%",
        ])
    header = ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    sys.stdout.write(_table(rows, header=header, no_headers=args.no_headers))
    return 0


async def _pods(ctx: CliContext, *, args: argparse.Namespace) -> int:
    namespace = ctx.list_namespace()
    path = f"{METRICS}/namespaces/{namespace}/pods" if namespace else f"{METRICS}/pods"
    metrics = await _items(ctx, path, name=args.name, selector=args.selector)
    if not metrics:
        pods_path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
        pods = (await ctx.client.request("GET", pods_path, params=[("limit", "1")])).json().get("items")
        if not pods:
            print(f"No resources found in {namespace} namespace." if namespace else "No resources found",
                  file=sys.stderr)
            return 0
        raise CliError("metrics not available yet")
    rows = []
    for m in metrics:
        meta = m.get("metadata") or {}
        lead = [meta.get("namespace", "")] if ctx.all_namespaces else []
        containers = m.get("containers") or []
        if args.containers:
            for c in containers:
                cpu, memory = _usage(c.get("usage") or {})
                rows.append([*lead, meta.get("name", ""), c.get("name", ""), cpu_text(cpu), memory_text(memory)])
            continue
        usage = [_usage(c.get("usage") or {}) for c in containers]
        rows.append([*lead, meta.get("name", ""), cpu_text(sum(u[0] for u in usage)),
                     memory_text(sum(u[1] for u in usage))])
    header = [*(["NAMESPACE"] if ctx.all_namespaces else []), "NAME",
              *(["NAME"] if args.containers else []), "CPU(cores)", "MEMORY(bytes)"]
    if args.containers:
        header[len(header) - 4] = "POD"
    sys.stdout.write(_table(rows, header=header, no_headers=args.no_headers))
    return 0
