"""Turn a request path and method into what it asks for: group, version, namespace, resource, name, verb.

The Kubernetes URL space:
  /api/v1/<resource>[/<name>[/<subresource>]]                          cluster-scoped or all namespaces
  /api/v1/namespaces/<ns>/<resource>[/<name>[/<subresource>]]          namespaced
  /apis/<group>/<version>/...                                          the same below a named group
  /api/v1/namespaces/<name>[/<subresource>]                            the namespace object itself
The verb follows Kubernetes' names: get, list, watch (list with ?watch=true), create, update, patch, delete,
deletecollection.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestInfo:
    is_resource_request: bool
    path: str
    verb: str = ""
    api_prefix: str = ""  # "api" or "apis"
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    parts: tuple[str, ...] = ()


_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "GET": "get", "HEAD": "get"}


def parse_request_info(*, method: str, path: str, watch: bool) -> RequestInfo:
    parts = tuple(p for p in path.split("/") if p)
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo(False, path, verb=method.lower(), parts=parts)
    prefix = parts[0]
    rest = parts[1:]
    group = ""
    if prefix == "apis":
        if not rest:
            return RequestInfo(False, path, verb="get", api_prefix=prefix, parts=parts)
        group, rest = rest[0], rest[1:]
    if not rest:
        return RequestInfo(False, path, verb="get", api_prefix=prefix, group=group, parts=parts)
    version, rest = rest[0], rest[1:]
    if not rest:
        return RequestInfo(False, path, verb="get", api_prefix=prefix, group=group, version=version, parts=parts)

    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) >= 2:
        # /api/v1/namespaces/<name>: the namespace object itself.
        namespace = rest[1]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = "/".join(rest[2:]) if len(rest) > 2 else ""
    if resource == "namespaces" and namespace and len(rest) >= 2:
        # namespaces/<name>[/<sub>]: the namespace is the object, not a scope.
        name = rest[1]
        subresource = "/".join(rest[2:])
        namespace = name

    verb = _METHOD_VERBS.get(method, method.lower())
    if method in ("GET", "HEAD"):
        if watch:
            verb = "watch"
        elif not name:
            verb = "list"
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    return RequestInfo(
        True,
        path,
        verb=verb,
        api_prefix=prefix,
        group=group,
        version=version,
        namespace=namespace,
        resource=resource,
        name=name,
        subresource=subresource,
        parts=parts,
    )
