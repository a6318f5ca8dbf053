"""Resource names as kubectl users type them, resolved to served resources.

`resolve_type("po")` gives core/v1 pods: plural, singular, short name or kind in any case, optionally with
the group (`deployments.apps`). `parse_targets(["pods,svc"])`, `parse_targets(["deploy/web", "svc/web"])`
and `parse_targets(["pod", "a", "b"])` give `Target`s (a resource and the names asked for, none meaning
"list"); `all` expands to the `all` category in the order `kubectl get all` prints it.

`for_object(client, api_version, kind)` finds the resource of a manifest's object: from the built-in
registry, else from the server's discovery document (a server with other kinds than ours).
"""

from __future__ import annotations

from dataclasses import dataclass

from kybernetes.api import resources
from kybernetes.api.resources import ResourceInfo
from kybernetes.cli.context import CliError
from kybernetes.client import APIConnectionError, Client
from kybernetes.machinery.errors import StatusError

__all__ = [
    "Target",
    "collection_path",
    "for_object",
    "kind_prefix",
    "object_path",
    "parse_targets",
    "resolve_type",
]

# `kubectl get all` prints these, in this order (the `all` category of a Kubernetes server).
ALL_ORDER = ("pods", "services", "daemonsets", "deployments", "replicasets", "statefulsets",
             "horizontalpodautoscalers", "cronjobs", "jobs", "replicationcontrollers")


@dataclass(frozen=True)
class Target:
    info: ResourceInfo
    names: tuple[str, ...] = ()


def resolve_type(name: str) -> ResourceInfo:
    """The preferred served resource named `name`, or kubectl's "doesn't have a resource type" error."""
    found = resources.resolve(name)
    if found:
        return found[0]
    lowered = name.lower()
    for info in resources.METRICS_RESOURCES:
        if lowered in (f"{info.plural}.{info.group}", f"{info.kind.lower()}", f"{info.kind.lower()}.{info.group}"):
            return info
    raise CliError(f'the server doesn\'t have a resource type "{name}"')


def _expand(types: str) -> list[ResourceInfo]:
    out: list[ResourceInfo] = []
    for part in types.split(","):
        if not part:
            continue
        if part.lower() == "all":
            by_plural = {r.plural: r for r in resources.RESOURCES if "all" in r.categories and r.preferred}
            out.extend(by_plural[p] for p in ALL_ORDER if p in by_plural)
        else:
            out.append(resolve_type(part))
    return out


def parse_targets(words: list[str]) -> list[Target]:
    """kubectl's `TYPE[,TYPE...] [NAME...]` or `TYPE/NAME [TYPE/NAME...]` (not mixed)."""
    if not words:
        raise CliError("You must specify the type of resource to get.")
    if any("/" in w for w in words):
        if not all("/" in w for w in words):
            raise CliError("there is no need to specify a resource type as a separate argument when passing "
                           "arguments in resource/name form (e.g. 'kyb get resource/<resource_name>' instead "
                           "of 'kyb get resource resource/<resource_name>'")
        targets: list[Target] = []
        for word in words:
            kind, _, name = word.partition("/")
            if not name:
                raise CliError(f"arguments in resource/name form must have a single resource and name: {word}")
            info = resolve_type(kind)
            # Consecutive names of one type are asked in one go, as kubectl groups them.
            if targets and targets[-1].info == info:
                targets[-1] = Target(info, (*targets[-1].names, name))
            else:
                targets.append(Target(info, (name,)))
        return targets
    infos = _expand(words[0])
    names = tuple(words[1:])
    if names and len(infos) > 1:
        return [Target(info, names) for info in infos]
    return [Target(info, names) for info in infos]


def kind_prefix(info: ResourceInfo) -> str:
    """`pod`, `deployment.apps`: how kubectl names a kind before `/name` and in messages."""
    kind = info.kind.lower()
    return f"{kind}.{info.group}" if info.group else kind


async def for_object(client: Client, *, api_version: str, kind: str) -> ResourceInfo:
    """The resource serving objects of `kind` in `api_version`."""
    group, _, version = api_version.rpartition("/")
    info = resources.by_kind(group, version, kind)
    if info is not None:
        return info
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    try:
        document = (await client.request("GET", path)).json()
    except (StatusError, APIConnectionError):
        document = {}  # not served: the error below says so
    for entry in document.get("resources") or []:
        if entry.get("kind") == kind and "/" not in entry.get("name", ""):
            return ResourceInfo(
                group=group, version=version, kind=kind, plural=entry["name"],
                singular=entry.get("singularName") or kind.lower(), namespaced=bool(entry.get("namespaced")),
                short_names=tuple(entry.get("shortNames") or ()),
            )
    raise CliError(f'resource mapping not found for kind "{kind}" in version "{api_version}"; '
                   "ensure CRDs are installed first")


def collection_path(info: ResourceInfo, *, namespace: str | None) -> str:
    """`/api/v1/namespaces/ns/pods`, `/apis/apps/v1/deployments` (all namespaces, or cluster-scoped)."""
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    if info.namespaced and namespace:
        return f"{base}/namespaces/{namespace}/{info.plural}"
    return f"{base}/{info.plural}"


def object_path(info: ResourceInfo, *, name: str, namespace: str | None, subresource: str = "") -> str:
    path = f"{collection_path(info, namespace=namespace)}/{name}"
    return f"{path}/{subresource}" if subresource else path
