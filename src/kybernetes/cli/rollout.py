"""`kyb rollout status|history|undo|restart TYPE/NAME` for Deployments (restart also for DaemonSets and
StatefulSets).

* `status` follows the Deployment (a watch on it) and prints kubectl's messages as they change:
  `Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...` until
  `deployment "web" successfully rolled out` (exit 0), or the progress deadline is exceeded (exit 1). On a
  terminal a progress bar shows the available replicas of the new revision meanwhile. `--watch=false` prints
  the current state once; `--timeout` bounds the wait.
* `history` lists the revisions (the `deployment.kubernetes.io/revision` of each owned ReplicaSet) with
  their `kubernetes.io/change-cause`; `--revision N` prints that revision's pod template.
* `undo [--to-revision N]` puts the pod template of revision N (default: the one before the current) back
  into the Deployment (a JSON patch replacing `spec.template`), which the controller rolls out as a new
  revision.
* `restart` stamps `kubectl.kubernetes.io/restartedAt` on the pod template, which rolls every pod.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

import msgspec
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from kybernetes.cli.context import CliContext, CliError, add_connection_flags, stream_frames
from kybernetes.cli.delete import parse_bool
from kybernetes.cli.describe import Out
from kybernetes.cli.describers import owned_replica_sets, write_pod_template
from kybernetes.cli.kinds import Target, kind_prefix, object_path, parse_targets
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["REVISION", "add_arguments", "revision_of", "run", "status_message"]

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("status", "history", "undo", "restart"), help="what to do")
    parser.add_argument("resources", nargs="+", metavar="TYPE/NAME", help="deployment/web or deployment web")
    parser.add_argument("--revision", type=int, default=0, help="history: the revision to show; status: wait for it")
    parser.add_argument("--to-revision", type=int, default=0, help="undo: the revision to go back to (0: previous)")
    parser.add_argument("-w", "--watch", nargs="?", const=True, default=True, type=parse_bool,
                        help="status: wait until the rollout ends (default true)")
    parser.add_argument("--timeout", type=float, default=0, help="status: seconds to wait (0: forever)")
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    return context.run(args, lambda ctx: run_rollout(ctx, args=args))


def revision_of(obj: dict[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def status_message(deploy: dict[str, Any]) -> tuple[str, bool]:
    """kubectl's rollout status line for a Deployment, and whether the rollout is done.

    Raises CliError when the progress deadline was exceeded."""
    meta, spec, status = deploy.get("metadata") or {}, deploy.get("spec") or {}, deploy.get("status") or {}
    name = meta.get("name", "")
    if meta.get("generation", 0) > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            raise CliError(f'deployment "{name}" exceeded its progress deadline')
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    prefix = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < wanted:
        return f"{prefix}{updated} out of {wanted} new replicas have been updated...", False
    if total > updated:
        return f"{prefix}{total - updated} old replicas are pending termination...", False
    if available < updated:
        return f"{prefix}{available} of {updated} updated replicas are available...", False
    return f'deployment "{name}" successfully rolled out', True


def _deployment_target(args: argparse.Namespace, *, allow: tuple[str, ...] = ("Deployment",)) -> tuple[Target, str]:
    targets = parse_targets(args.resources)
    if len(targets) != 1 or len(targets[0].names) != 1:
        raise CliError("rollout needs exactly one TYPE/NAME")
    target = targets[0]
    if target.info.kind not in allow:
        raise CliError(f"no {args.action} support for {target.info.kind.lower()}s")
    return target, target.names[0]


async def run_rollout(ctx: CliContext, *, args: argparse.Namespace) -> int:
    if args.action == "restart":
        return await _restart(ctx, args=args)
    target, name = _deployment_target(args)
    path = object_path(target.info, name=name, namespace=ctx.namespace)
    deploy = (await ctx.client.request("GET", path)).json()
    if args.action == "status":
        return await _status(ctx, path=path, deploy=deploy, args=args)
    if args.action == "history":
        return await _history(ctx, deploy=deploy, target=target, revision=args.revision)
    return await _undo(ctx, deploy=deploy, path=path, target=target, to_revision=args.to_revision)


async def _status(ctx: CliContext, *, path: str, deploy: dict[str, Any], args: argparse.Namespace) -> int:
    message, done = status_message(deploy)
    if done or not args.watch:
        print(message)
        return 0
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                        transient=True, console=None) if sys.stdout.isatty() else None
    last = ""

    def show(current: dict[str, Any], text: str) -> None:
        nonlocal last
        if text != last:
            if progress is not None:
                progress.console.print(text)
            else:
                print(text, flush=True)
            last = text
        if progress is not None and bar is not None:
            status = current.get("status") or {}
            wanted = (current.get("spec") or {}).get("replicas", 1) or 1
            progress.update(bar, total=wanted, completed=min(status.get("availableReplicas", 0), wanted),
                            description=f"{(current.get('metadata') or {}).get('name', '')} available")

    collection, _, name = path.rpartition("/")
    with progress if progress is not None else contextlib.nullcontext():
        bar = progress.add_task("rollout", total=None) if progress is not None else None
        show(deploy, message)
        try:
            async with asyncio.timeout(args.timeout if args.timeout > 0 else None):
                while True:
                    rv = (deploy.get("metadata") or {}).get("resourceVersion", "")
                    params = [("watch", "1"), ("fieldSelector", f"metadata.name={name}"), ("resourceVersion", rv)]
                    async with contextlib.aclosing(stream_frames(ctx.client, collection, params=params)) as frames:
                        async for line in frames:
                            frame = msgspec.json.decode(line)
                            if frame.get("type") not in ("ADDED", "MODIFIED"):
                                if frame.get("type") == "DELETED":
                                    raise CliError(f'deployment "{name}" was deleted')
                                continue
                            deploy = frame["object"]
                            message, done = status_message(deploy)
                            show(deploy, message)
                            if done:
                                return 0
                    deploy = (await ctx.client.request("GET", path)).json()  # the watch ended: re-read, resume
        except TimeoutError:
            raise CliError("timed out waiting for the condition") from None


async def _history(ctx: CliContext, *, deploy: dict[str, Any], target: Target, revision: int) -> int:
    ref = f"{kind_prefix(target.info)}/{target.names[0]}"
    owned = sorted(await owned_replica_sets(ctx.client, deploy), key=revision_of)
    if revision:
        found = next((rs for rs in owned if revision_of(rs) == revision), None)
        if found is None:
            raise CliError("unable to find the specified revision")
        out = Out()
        write_pod_template(out, (found.get("spec") or {}).get("template") or {})
        print(f"{ref} with revision #{revision}")
        print("\n".join(out.lines))
        print()
        return 0
    from kybernetes.cli.printers import tabwrite

    lines = ["REVISION\tCHANGE-CAUSE"]
    for rs in owned:
        cause = ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE) or "<none>"
        lines.append(f"{revision_of(rs)}\t{cause}")
    sys.stdout.write(f"{ref} \n" + tabwrite("\n".join(lines) + "\n", padding=2) + "\n")
    return 0


def _clean_template(template: dict[str, Any]) -> dict[str, Any]:
    meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"}
    meta["labels"] = labels
    return {**template, "metadata": meta}


async def _undo(ctx: CliContext, *, deploy: dict[str, Any], path: str, target: Target, to_revision: int) -> int:
    ref = f"{kind_prefix(target.info)}/{target.names[0]}"
    name = target.names[0]
    owned = sorted(await owned_replica_sets(ctx.client, deploy), key=revision_of)
    if to_revision:
        chosen = next((rs for rs in owned if revision_of(rs) == to_revision), None)
        if chosen is None:
            raise CliError(f"unable to find specified revision {to_revision} in history")
    else:
        current = revision_of(deploy)
        previous = [rs for rs in owned if revision_of(rs) and revision_of(rs) != current]
        if not previous:
            raise CliError(f'no rollout history found for deployment "{name}"')
        chosen = previous[-1]
    template = _clean_template((chosen.get("spec") or {}).get("template") or {})
    current_template = _clean_template((deploy.get("spec") or {}).get("template") or {})
    if template == current_template:
        print(f"{ref} skipped rollback (current template already matches revision {revision_of(chosen)})")
        return 0
    patch: list[dict[str, Any]] = [{"op": "replace", "path": "/spec/template", "value": template}]
    cause = ((chosen.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
    if cause:
        patch.append({"op": "add", "path": "/metadata/annotations/" + CHANGE_CAUSE.replace("/", "~1"),
                      "value": cause})
    await ctx.client.request("PATCH", path, body=msgspec.json.encode(patch),
                             content_type="application/json-patch+json")
    print(f"{ref} rolled back")
    return 0


async def _restart(ctx: CliContext, *, args: argparse.Namespace) -> int:
    target, name = _deployment_target(args, allow=("Deployment", "DaemonSet", "StatefulSet"))
    path = object_path(target.info, name=name, namespace=ctx.namespace)
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_rfc3339()}}}}}
    await ctx.client.request("PATCH", path, body=msgspec.json.encode(patch),
                             content_type="application/strategic-merge-patch+json")
    print(f"{kind_prefix(target.info)}/{name} restarted")
    return 0
