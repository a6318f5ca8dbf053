"""The OpenAPI documents the API server publishes: `/openapi/v2` and `/openapi/v3[/<group-version>]`.

kubectl reads them for `kubectl explain`, for strategic-merge patches in `kubectl apply` (patch strategies
and merge keys) and to decide whether the server validates fields itself (it looks for a `fieldValidation`
query parameter on the PATCH operation of the kind). So the documents carry:
- definitions/schemas named as Kubernetes names them (`io.k8s.api.core.v1.Pod`), with descriptions and the
  `x-kubernetes-*` extensions (group-version-kind, patch strategy / merge key, list type / map keys), from
  `api/data/definitions.json` — written by `scripts/gen_models.py` from the same source as the models, and
  checked against them by the unit tests;
- paths for every served resource (`api.resources`) with Kubernetes' operations, parameters, responses,
  `x-kubernetes-action` and `x-kubernetes-group-version-kind`.

Each document is built once, on first request, and cached as encoded bytes. The v3 index lists every
group-version with a content hash, so clients cache the per-group-version documents.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec

from kybernetes.api.resources import RESOURCES, ResourceInfo, by_group_version, subresource_info
from kybernetes.api.schema import _definitions

_DEF_PREFIX_V2 = "#/definitions/"
_DEF_PREFIX_V3 = "#/components/schemas/"
_TITLE = "Kubernetes"
_VERSION = "unversioned"
_BEARER = {
    "description": "Bearer Token authentication",
    "in": "header",
    "name": "authorization",
    "type": "apiKey",
}


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[-1])
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _closure(names: set[str]) -> list[str]:
    """`names` and every definition they reference, sorted."""
    defs = _definitions()
    seen: set[str] = set()
    stack = sorted(names)
    while stack:
        name = stack.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(defs[name], found)
        stack.extend(sorted(found - seen))
    return sorted(seen)


# --- operations (one neutral description, rendered as v2 and v3) ---------------------------------------


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str  # query | path | body
    type: str = "string"  # for query/path
    schema: str = ""  # definition name, for body
    required: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    action: str
    operation_id: str
    description: str
    tag: str
    gvk: dict[str, str]
    parameters: tuple[Parameter, ...]
    responses: tuple[tuple[str, str], ...]  # (code, definition)
    consumes: tuple[str, ...] = ("*/*",)
    produces: tuple[str, ...] = ("application/json", "application/yaml")


def _q(name: str, typ: str, description: str) -> Parameter:
    return Parameter(name, "query", typ, description=description)


_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_STATUS = _META + "Status"
_PRETTY = _q("pretty", "string", "If 'true', then the output is pretty printed.")
_NAMESPACE = Parameter(
    "namespace",
    "path",
    required=True,
    description="object name and auth scope, such as for teams and projects",
)
_DRY_RUN = _q(
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. "
    "Valid values are: - All: all dry run stages will be processed",
)
_FIELD_MANAGER = _q(
    "fieldManager",
    "string",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
)
_FIELD_VALIDATION = _q(
    "fieldValidation",
    "string",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing "
    "unknown or duplicate fields. Valid values are: - Ignore - Warn (the default) - Strict",
)
_FORCE = _q(
    "force",
    "boolean",
    'Force is going to "force" Apply requests. It must be unset for non-apply patch requests.',
)
_LIST = (
    _q("allowWatchBookmarks", "boolean", 'allowWatchBookmarks requests watch events with type "BOOKMARK".'),
    _q(
        "continue",
        "string",
        "The continue option should be set when retrieving more results from the server.",
    ),
    _q(
        "fieldSelector",
        "string",
        "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
    ),
    _q(
        "labelSelector",
        "string",
        "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
    ),
    _q("limit", "integer", "limit is a maximum number of responses to return for a list call."),
    _q(
        "resourceVersion",
        "string",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    _q(
        "resourceVersionMatch",
        "string",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    _q("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
    _q("timeoutSeconds", "integer", "Timeout for the list/watch call."),
    _q(
        "watch",
        "boolean",
        "Watch for changes to the described resources and return them as a stream of add, update, "
        "and remove notifications.",
    ),
)
_DELETE = (
    _q("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
    _q("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy."),
    _q(
        "propagationPolicy",
        "string",
        "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'.",
    ),
)
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
# What we encode: JSON and YAML (no protobuf/CBOR), and JSON watch streams.
_LIST_PRODUCES = ("application/json", "application/yaml", "application/json;stream=watch")


def _body(definition: str, required: bool = True) -> Parameter:
    return Parameter("body", "body", schema=definition, required=required)


def _go_group(group: str) -> str:
    """`rbac.authorization.k8s.io` -> `RbacAuthorization`, `` -> `Core` (operation ids)."""
    if not group:
        return "Core"
    return "".join(p[:1].upper() + p[1:] for p in group.removesuffix(".k8s.io").split("."))


def _tag(group: str, version: str) -> str:
    name = _go_group(group)
    return f"{name[:1].lower()}{name[1:]}_{version}"


def _definition_of(group: str, version: str, kind: str) -> str:
    for name, schema in _definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if (gvk.get("group"), gvk.get("version"), gvk.get("kind")) == (group, version, kind):
                return str(name)
    raise KeyError(f"no definition for {group}/{version} {kind}")


def _resource_operations(info: ResourceInfo) -> list[tuple[str, Operation, tuple[Parameter, ...]]]:
    """(path, operation, path-level parameters) for one resource and its subresources."""
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    prefix = f"{base}/namespaces/{{namespace}}" if info.namespaced else base
    scope = "Namespaced" if info.namespaced else ""
    gv = _go_group(info.group) + info.version[:1].upper() + info.version[1:]
    tag = _tag(info.group, info.version)
    gvk = {"group": info.group, "kind": info.kind, "version": info.version}
    obj = _definition_of(info.group, info.version, info.kind)
    ns_params: tuple[Parameter, ...] = (_NAMESPACE,) if info.namespaced else ()
    name_param = Parameter("name", "path", required=True, description=f"name of the {info.kind}")
    collection = f"{prefix}/{info.plural}"
    item = f"{collection}/{{name}}"
    verbs = set(info.verbs)
    out: list[tuple[str, Operation, tuple[Parameter, ...]]] = []

    def add(path: str, params: tuple[Parameter, ...], op: Operation) -> None:
        out.append((path, op, params))

    write = (_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION)
    coll_params = (*ns_params, _PRETTY)
    item_params = (name_param, *ns_params, _PRETTY)
    if "list" in verbs:
        lst = _definition_of(info.group, info.version, info.list_kind)
        add(
            collection,
            coll_params,
            Operation(
                "get",
                "list",
                f"list{gv}{scope}{info.kind}",
                f"list or watch objects of kind {info.kind}",
                tag,
                gvk,
                _LIST,
                (("200", lst),),
                produces=_LIST_PRODUCES,
            ),
        )
        if info.namespaced:
            add(
                f"{base}/{info.plural}",
                (*_LIST, _PRETTY),
                Operation(
                    "get",
                    "list",
                    f"list{gv}{info.kind}ForAllNamespaces",
                    f"list or watch objects of kind {info.kind}",
                    tag,
                    gvk,
                    (),
                    (("200", lst),),
                    produces=_LIST_PRODUCES,
                ),
            )
    if "create" in verbs:
        add(
            collection,
            coll_params,
            Operation(
                "post",
                "post",
                f"create{gv}{scope}{info.kind}",
                f"create a {info.kind}",
                tag,
                gvk,
                (_body(obj), *write),
                (("200", obj), ("201", obj), ("202", obj)),
            ),
        )
    if "deletecollection" in verbs:
        add(
            collection,
            coll_params,
            Operation(
                "delete",
                "deletecollection",
                f"deleteCollection{gv}{scope}{info.kind}",
                f"delete collection of {info.kind}",
                tag,
                gvk,
                (_body(_META + "DeleteOptions", False), _DRY_RUN, *_LIST[1:7], *_DELETE, _LIST[8]),
                (("200", _STATUS),),
            ),
        )
    if "get" in verbs:
        add(
            item,
            item_params,
            Operation(
                "get",
                "get",
                f"read{gv}{scope}{info.kind}",
                f"read the specified {info.kind}",
                tag,
                gvk,
                (),
                (("200", obj),),
            ),
        )
    if "update" in verbs:
        add(
            item,
            item_params,
            Operation(
                "put",
                "put",
                f"replace{gv}{scope}{info.kind}",
                f"replace the specified {info.kind}",
                tag,
                gvk,
                (_body(obj), *write),
                (("200", obj), ("201", obj)),
            ),
        )
    if "patch" in verbs:
        add(
            item,
            item_params,
            Operation(
                "patch",
                "patch",
                f"patch{gv}{scope}{info.kind}",
                f"partially update the specified {info.kind}",
                tag,
                gvk,
                (_body(_META + "Patch"), *write, _FORCE),
                (("200", obj), ("201", obj)),
                consumes=_PATCH_TYPES,
            ),
        )
    if "delete" in verbs:
        deleted = obj if info.delete_returns_object else _STATUS
        add(
            item,
            item_params,
            Operation(
                "delete",
                "delete",
                f"delete{gv}{scope}{info.kind}",
                f"delete a {info.kind}",
                tag,
                gvk,
                (_body(_META + "DeleteOptions", False), _DRY_RUN, *_DELETE),
                (("200", deleted), ("202", deleted)),
            ),
        )
    for sub in info.subresources:
        s = subresource_info(info, sub)
        sub_gvk = {"group": s.group, "kind": s.kind, "version": s.version}
        if sub in _STREAMING:
            for path_, params_, op_ in _streaming_ops(info=info, sub=sub, item=f"{item}/{sub}", gv=gv, scope=scope,
                                                      tag=tag, sub_gvk=sub_gvk, ns_params=ns_params):
                add(path_, params_, op_)
            continue
        try:
            sub_obj = _definition_of(s.group, s.version, s.kind)
        except KeyError:
            continue  # subresources without a body schema of their own
        path = f"{item}/{sub}"
        title = sub[:1].upper() + sub[1:]
        suffix = f"{info.kind}{title}"
        if "get" in s.verbs:
            add(
                path,
                item_params,
                Operation(
                    "get",
                    "get",
                    f"read{gv}{scope}{suffix}",
                    f"read {sub} of the specified {info.kind}",
                    tag,
                    sub_gvk,
                    (),
                    (("200", sub_obj),),
                ),
            )
        if "update" in s.verbs:
            add(
                path,
                item_params,
                Operation(
                    "put",
                    "put",
                    f"replace{gv}{scope}{suffix}",
                    f"replace {sub} of the specified {info.kind}",
                    tag,
                    sub_gvk,
                    (_body(sub_obj), *write),
                    (("200", sub_obj), ("201", sub_obj)),
                ),
            )
        if "patch" in s.verbs:
            add(
                path,
                item_params,
                Operation(
                    "patch",
                    "patch",
                    f"patch{gv}{scope}{suffix}",
                    f"partially update {sub} of the specified {info.kind}",
                    tag,
                    sub_gvk,
                    (_body(_META + "Patch"), *write, _FORCE),
                    (("200", sub_obj), ("201", sub_obj)),
                    consumes=_PATCH_TYPES,
                ),
            )
        if "create" in s.verbs:
            add(
                path,
                item_params,
                Operation(
                    "post",
                    "post",
                    f"create{gv}{scope}{suffix}",
                    f"create {sub} of a {info.kind}",
                    tag,
                    sub_gvk,
                    (_body(sub_obj), *write),
                    (("200", sub_obj), ("201", sub_obj), ("202", sub_obj)),
                ),
            )
    return out


@cache
def operations() -> tuple[list[tuple[str, Operation]], dict[str, list[Parameter]]]:
    """Every (path, operation) served, and each path's path-level parameters."""
    ops: list[tuple[str, Operation]] = []
    path_params: dict[str, list[Parameter]] = {}
    for info in RESOURCES:
        for path, op, params in _resource_operations(info):
            ops.append((path, op))
            path_params.setdefault(path, list(params))
    return ops, path_params


# --- streaming subresources: pods/log (a read returning text) and the connect-style exec/attach/portforward

_STREAMING = ("log", "exec", "attach", "portforward")
_BOOL = "boolean"
_CONNECT_PARAMS: dict[str, tuple[Parameter, ...]] = {
    "exec": (
        _q("command", "string", "Command is the remote command to execute. argv array. Not executed within a shell."),
        _q("container", "string", "Container in which to execute the command. Defaults to only container if there is "
           "only one container in the pod."),
        _q("stderr", _BOOL, "Redirect the standard error stream of the pod for this call."),
        _q("stdin", _BOOL, "Redirect the standard input stream of the pod for this call. Defaults to false."),
        _q("stdout", _BOOL, "Redirect the standard output stream of the pod for this call."),
        _q("tty", _BOOL, "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false."),
    ),
    "attach": (
        _q("container", "string", "The container in which to execute the command. Defaults to only container if "
           "there is only one container in the pod."),
        _q("stderr", _BOOL, "Stderr if true indicates that stderr is to be redirected for the attach call. "
           "Defaults to true."),
        _q("stdin", _BOOL, "Stdin if true, redirects the standard input stream of the pod for this call. "
           "Defaults to false."),
        _q("stdout", _BOOL, "Stdout if true indicates that stdout is to be redirected for the attach call. "
           "Defaults to true."),
        _q("tty", _BOOL, "TTY if true indicates that a tty will be allocated for the attach call. This is passed "
           "through the container runtime so the tty is allocated on the worker node by the container runtime. "
           "Defaults to false."),
    ),
    "portforward": (_q("ports", "integer", "List of ports to forward Required when using WebSockets"),),
}
_LOG_PARAMS = (
    _q("container", "string", "The container for which to stream logs. Defaults to only container if there is "
       "one container in the pod."),
    _q("follow", _BOOL, "Follow the log stream of the pod. Defaults to false."),
    _q("limitBytes", "integer", "If set, the number of bytes to read from the server before terminating the log "
       "output. This may not display a complete final line of logging, and may return slightly more or slightly "
       "less than the specified limit."),
    _q("previous", _BOOL, "Return previous terminated container logs. Defaults to false."),
    _q("sinceSeconds", "integer", "A relative time in seconds before the current time from which to show logs. "
       "If this value precedes the time a pod was started, only logs since the pod start will be returned. If "
       "this value is in the future, no logs will be returned. Only one of sinceSeconds or sinceTime may be "
       "specified."),
    _q("tailLines", "integer", "If set, the number of lines from the end of the logs to show. If not specified, "
       "logs are shown from the creation of the container or sinceSeconds or sinceTime"),
    _q("timestamps", _BOOL, "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of "
       "log output. Defaults to false."),
)


def _streaming_ops(*, info: ResourceInfo, sub: str, item: str, gv: str, scope: str, tag: str,
                   sub_gvk: dict[str, str], ns_params: tuple[Parameter, ...],
                   ) -> list[tuple[str, tuple[Parameter, ...], Operation]]:
    """Kubernetes' operations for a pod's log (a `get` answering text) and its connect-style subresources
    (`connect` GET and POST, answering whatever the upgraded stream carries)."""
    title = sub[:1].upper() + sub[1:]
    if sub == "log":
        name = Parameter("name", "path", required=True, description=f"name of the {info.kind}")
        op = Operation("get", "get", f"read{gv}{scope}{info.kind}{title}", f"read log of the specified {info.kind}",
                       tag, sub_gvk, _LOG_PARAMS, (("200", ""),),
                       produces=("text/plain", "application/json", "application/yaml"))
        return [(item, (name, *ns_params, _PRETTY), op)]
    name = Parameter("name", "path", required=True, description=f"name of the {sub_gvk['kind']}")
    params = (*_CONNECT_PARAMS[sub], name, *ns_params)
    return [(item, params, Operation(method, "connect", f"connect{gv}{verb}{scope}{info.kind}{title}",
                                     f"connect {method.upper()} requests to {sub} of {info.kind}", tag, sub_gvk,
                                     (), (("200", ""),), produces=("*/*",)))
            for method, verb in (("get", "Get"), ("post", "Post"))]


# --- v2 ------------------------------------------------------------------------------------------------


def _param_v2(p: Parameter) -> dict[str, Any]:
    out: dict[str, Any] = {"description": p.description, "in": p.location, "name": p.name}
    if p.location == "body":
        out["schema"] = {"$ref": _DEF_PREFIX_V2 + p.schema}
    else:
        out["type"] = p.type
        out["uniqueItems"] = True
    if p.required:
        out["required"] = True
    return out


def _op_v2(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code, definition in op.responses:
        schema = {"$ref": _DEF_PREFIX_V2 + definition} if definition else {"type": "string"}
        responses[code] = {"description": _REASONS[code], "schema": schema}
    responses["401"] = {"description": "Unauthorized"}
    out: dict[str, Any] = {
        "consumes": list(op.consumes),
        "description": op.description,
        "operationId": op.operation_id,
        "produces": list(op.produces),
        "responses": responses,
        "schemes": ["https"],
        "tags": [op.tag],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": op.gvk,
    }
    if op.parameters:
        out["parameters"] = [_param_v2(p) for p in op.parameters]
    return out


_REASONS = {"200": "OK", "201": "Created", "202": "Accepted"}


def _paths_v2(ops: list[tuple[str, Operation]], path_params: dict[str, list[Parameter]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, op in ops:
        item = paths.setdefault(path, {})
        item[op.method] = _op_v2(op)
        if "parameters" not in item:
            item["parameters"] = [_param_v2(p) for p in path_params[path]]
    return paths


@cache
def openapi_v2() -> bytes:
    """The swagger 2.0 document of everything served (JSON)."""
    ops, path_params = operations()
    definitions = _definitions()
    used: set[str] = set()
    for _, op in ops:
        used.update(d for _, d in op.responses if d)
        used.update(p.schema for p in op.parameters if p.location == "body")
    names = _closure(used | set(definitions))
    doc = {
        "definitions": {name: definitions[name] for name in names},
        "info": {"title": _TITLE, "version": _VERSION},
        "paths": _paths_v2(ops, path_params),
        "security": [{"BearerToken": []}],
        "securityDefinitions": {"BearerToken": _BEARER},
        "swagger": "2.0",
    }
    return msgspec.json.encode(doc)


# --- v3 ------------------------------------------------------------------------------------------------


def _schema_v3(node: Any) -> Any:
    """A v2 schema as OpenAPI 3.0 writes it: refs into components; a `$ref` with siblings becomes
    `allOf: [{$ref}]` (3.0 ignores siblings of `$ref`), as Kubernetes' v3 documents do."""
    if isinstance(node, list):
        return [_schema_v3(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _schema_v3(v) for k, v in node.items() if k != "$ref"}
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = _DEF_PREFIX_V3 + ref.rsplit("/", 1)[-1]
        if out:
            out["allOf"] = [{"$ref": target}]
        else:
            out["$ref"] = target
    return out


def _param_v3(p: Parameter) -> dict[str, Any]:
    out: dict[str, Any] = {"description": p.description, "in": p.location, "name": p.name}
    if p.required:
        out["required"] = True
    out["schema"] = {"type": p.type, "uniqueItems": True}
    return out


def _op_v3(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code, definition in op.responses:
        schema = {"$ref": _DEF_PREFIX_V3 + definition} if definition else {"type": "string"}
        responses[code] = {
            "content": {mime: {"schema": schema} for mime in op.produces},
            "description": _REASONS[code],
        }
    responses["401"] = {"description": "Unauthorized"}
    out: dict[str, Any] = {
        "description": op.description,
        "operationId": op.operation_id,
        "responses": responses,
        "tags": [op.tag],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": op.gvk,
    }
    params = [_param_v3(p) for p in op.parameters if p.location != "body"]
    if params:
        out["parameters"] = params
    body = next((p for p in op.parameters if p.location == "body"), None)
    if body is not None:
        out["requestBody"] = {
            "content": {mime: {"schema": {"$ref": _DEF_PREFIX_V3 + body.schema}} for mime in op.consumes},
            "required": body.required,
        }
    return out


def _group_version_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@cache
def _v3_documents() -> dict[str, bytes]:
    ops, path_params = operations()
    definitions = _definitions()
    by_gv: dict[str, list[tuple[str, Operation]]] = {}
    for path, op in ops:
        key = path.lstrip("/").split("/namespaces/{namespace}", 1)[0]
        key = "/".join(key.split("/")[:2] if key.startswith("api/") else key.split("/")[:3])
        by_gv.setdefault(key, []).append((path, op))
    docs: dict[str, bytes] = {}
    for gv, infos in by_group_version().items():
        group, version = gv.split("/") if "/" in gv else ("", gv)
        gv_path = _group_version_path(group, version)
        gv_ops = by_gv.get(gv_path, [])
        used: set[str] = set()
        for info in infos:
            used.update(
                n for n in definitions if _has_gvk(definitions[n], info.group, info.version, info.kind)
            )
        for _, op in gv_ops:
            used.update(d for _, d in op.responses if d)
            used.update(p.schema for p in op.parameters if p.location == "body")
        paths: dict[str, Any] = {}
        for path, op in gv_ops:
            item = paths.setdefault(path, {})
            item[op.method] = _op_v3(op)
            if "parameters" not in item:
                item["parameters"] = [_param_v3(p) for p in path_params[path]]
        doc = {
            "components": {
                "schemas": {name: _schema_v3(definitions[name]) for name in _closure(used)},
                "securitySchemes": {"BearerToken": _BEARER},
            },
            "info": {"title": _TITLE, "version": _VERSION},
            "openapi": "3.0.0",
            "paths": paths,
            "security": [{"BearerToken": []}],
        }
        docs[gv_path] = msgspec.json.encode(doc)
    return docs


def _has_gvk(schema: dict[str, Any], group: str, version: str, kind: str) -> bool:
    return any(
        g.get("group") == group and g.get("version") == version and g.get("kind") in (kind, kind + "List")
        for g in schema.get("x-kubernetes-group-version-kind", [])
    )


def openapi_v3_hash(group_version_path: str) -> str | None:
    """The content hash of one v3 document (what the index puts in `?hash=`), or None if not served."""
    return _v3_hashes().get(group_version_path)


@cache
def _v3_hashes() -> dict[str, str]:
    return {gv: hashlib.sha512(doc).hexdigest().upper() for gv, doc in _v3_documents().items()}


@cache
def openapi_v3_index() -> bytes:
    """`{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}, ...}}`."""
    paths = {
        gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
        for gv, digest in sorted(_v3_hashes().items())
    }
    return msgspec.json.encode({"paths": paths})


def openapi_v3(group_version_path: str) -> bytes | None:
    """The OpenAPI 3.0 document of `api/v1` or `apis/<group>/<version>`, or None if not served."""
    return _v3_documents().get(group_version_path.strip("/"))
