"""API discovery: /api, /apis, per-group and per-group-version documents, and aggregated discovery.

kubectl first asks /api and /apis for aggregated discovery (`apidiscovery.k8s.io/v2`, everything in two
answers) and falls back to the legacy documents (/api, /apis, then one request per group-version). Both
are built once from the resource table and served as ready bytes with an ETag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from kybernetes.api.resources import RESOURCES, ResourceInfo, subresource_info

_encode = msgspec.json.Encoder().encode

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def _storage_version_hash(info: ResourceInfo) -> str:
    digest = hashlib.sha256(f"{info.group}/{info.version}/{info.kind}".encode()).digest()
    import base64

    return base64.b64encode(digest[:8]).decode()


def _api_resource(info: ResourceInfo) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        main["shortNames"] = list(info.short_names)
    if info.categories:
        main["categories"] = list(info.categories)
    if "create" in info.verbs and "list" in info.verbs:
        main["storageVersionHash"] = _storage_version_hash(info)
    out = [main]
    for sub in info.subresources:
        s = subresource_info(info, sub)
        entry: dict[str, Any] = {
            "name": f"{info.plural}/{sub}",
            "singularName": "",
            "namespaced": info.namespaced,
            "kind": s.kind,
            "verbs": list(s.verbs),
        }
        if s.group != info.group or s.version != info.version:
            entry["group"] = s.group
            entry["version"] = s.version
        out.append(entry)
    return out


def _aggregated_resource(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subs = []
    for sub in info.subresources:
        s = subresource_info(info, sub)
        subs.append({
            "subresource": sub,
            "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
            "verbs": list(s.verbs),
        })
    if subs:
        entry["subresources"] = subs
    return entry


@dataclass(frozen=True)
class Document:
    body: bytes
    etag: str
    content_type: str = "application/json"


def _doc(obj: Any, content_type: str = "application/json") -> Document:
    body = _encode(obj)
    return Document(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', content_type)


class Discovery:
    """Every discovery document, computed once."""

    def __init__(self, *, resources: Iterable[ResourceInfo] = RESOURCES, server_address: str) -> None:
        self.resources = tuple(resources)
        by_gv: dict[tuple[str, str], list[ResourceInfo]] = {}
        for r in self.resources:
            by_gv.setdefault((r.group, r.version), []).append(r)
        groups: dict[str, list[str]] = {}
        preferred: dict[str, str] = {}
        for r in self.resources:
            versions = groups.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
            if r.preferred:
                preferred.setdefault(r.group, r.version)
        self.group_versions: dict[tuple[str, str], Document] = {}
        for (group, version), infos in by_gv.items():
            gv = f"{group}/{version}" if group else version
            items: list[dict[str, Any]] = []
            for info in sorted(infos, key=lambda i: i.plural):
                items.extend(_api_resource(info))
            self.group_versions[(group, version)] = _doc(
                {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}
            )
        self.api = _doc({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        })
        named = [g for g in groups if g]
        self.groups: dict[str, Document] = {}
        group_list = []
        for g in named:
            gv_entries = [{"groupVersion": f"{g}/{v}", "version": v} for v in _ordered(groups[g], preferred.get(g))]
            entry = {"name": g, "versions": gv_entries, "preferredVersion": gv_entries[0]}
            group_list.append(entry)
            self.groups[g] = _doc({"kind": "APIGroup", "apiVersion": "v1", **entry})
        self.apis = _doc({"kind": "APIGroupList", "apiVersion": "v1", "groups": group_list})
        self.aggregated_api = {ct: self._aggregated([""], groups, preferred, by_gv, ct)
                               for ct in (AGGREGATED_V2, AGGREGATED_V2BETA1)}
        self.aggregated_apis = {ct: self._aggregated(named, groups, preferred, by_gv, ct)
                                for ct in (AGGREGATED_V2, AGGREGATED_V2BETA1)}

    @staticmethod
    def _aggregated(
        names: list[str], groups: dict[str, list[str]], preferred: dict[str, str],
        by_gv: dict[tuple[str, str], list[ResourceInfo]], content_type: str,
    ) -> Document:
        version = "v2" if content_type == AGGREGATED_V2 else "v2beta1"
        items = []
        for g in names:
            versions = []
            for v in _ordered(groups[g], preferred.get(g)):
                infos = sorted(by_gv[(g, v)], key=lambda i: i.plural)
                versions.append({"version": v, "resources": [_aggregated_resource(i) for i in infos],
                                 "freshness": "Current"})
            items.append({"metadata": {"name": g, "creationTimestamp": None}, "versions": versions})
        return _doc(
            {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
             "metadata": {}, "items": items},
            content_type,
        )


def _ordered(versions: list[str], preferred: str | None) -> list[str]:
    if preferred in versions:
        return [preferred, *(v for v in versions if v != preferred)]
    return list(versions)


def wants_aggregated(accept: str) -> str | None:
    """The aggregated-discovery content type the client asked for, if any (kubectl asks v2 first)."""
    for clause in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip() for p in clause.split(";")[1:] if "=" in p}
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
            if params.get("v") == "v2":
                return AGGREGATED_V2
            if params.get("v") == "v2beta1":
                return AGGREGATED_V2BETA1
    return None
