"""Validation of rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

RBAC objects use path-segment names (anything without '/', '%', and not '.' or '..'), rules need
verbs and (for resource rules) apiGroups + resources, and a binding's roleRef can never change.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.validation.rules import Obj, Rules
from kybernetes.machinery.errors import FieldError, invalid, not_supported, required
from kybernetes.machinery.validation import (
    child,
    index,
    is_path_segment_name,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_label_selector,
)

GROUP = "rbac.authorization.k8s.io"


def _validate_rule(rule: dict[str, Any], path: str, *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    if not rule.get("verbs"):
        errs.append(required(child(path, "verbs"), "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs") or []
    if urls:
        if namespaced:
            errs.append(invalid(child(path, "nonResourceURLs"), urls, "namespaced rules cannot apply to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            errs.append(invalid(child(path, "nonResourceURLs"), urls,
                                "rules cannot apply to both regular resources and non-resource URLs"))
        return errs
    if not rule.get("apiGroups"):
        errs.append(required(child(path, "apiGroups"), "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        errs.append(required(child(path, "resources"), "resource rules must supply at least one resource"))
    return errs


def _role(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(obj.get("rules") or []):
        errs.extend(_validate_rule(rule, index("rules", i), namespaced=True))
    return errs


def _cluster_role(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(obj.get("rules") or []):
        errs.extend(_validate_rule(rule, index("rules", i), namespaced=False))
    agg = obj.get("aggregationRule")
    if agg is not None:
        selectors = agg.get("clusterRoleSelectors") or []
        if not selectors:
            errs.append(required("aggregationRule.clusterRoleSelectors", "at least one clusterRoleSelector required "
                                                                         "if aggregationRule is non-nil"))
        for i, sel in enumerate(selectors):
            errs.extend(validate_label_selector(sel, index("aggregationRule.clusterRoleSelectors", i)))
    return errs


def _validate_subject(subject: dict[str, Any], path: str, *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    name = subject.get("name") or ""
    kind = subject.get("kind") or ""
    api_group = subject.get("apiGroup") or ""
    if not name:
        errs.append(required(child(path, "name")))
    if kind == "ServiceAccount":
        if name:
            errs.extend(invalid(child(path, "name"), name, m) for m in name_is_dns_subdomain(name, False))
        if api_group:
            errs.append(not_supported(child(path, "apiGroup"), api_group, [""]))
        if not namespaced and not subject.get("namespace"):
            errs.append(required(child(path, "namespace")))
        elif subject.get("namespace"):
            errs.extend(invalid(child(path, "namespace"), subject["namespace"], m)
                        for m in name_is_dns_label(subject["namespace"], False))
    elif kind in ("User", "Group"):
        if api_group != GROUP:
            errs.append(not_supported(child(path, "apiGroup"), api_group, [GROUP]))
        if kind == "Group" and name:
            errs.extend(invalid(child(path, "name"), name, m) for m in is_path_segment_name(name))
    else:
        errs.append(not_supported(child(path, "kind"), kind, ["ServiceAccount", "User", "Group"]))
    return errs


def _binding(obj: Obj, *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    ref = obj.get("roleRef") or {}
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("apiGroup") != GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [GROUP]))
    if ref.get("kind") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    name = ref.get("name") or ""
    if not name:
        errs.append(required("roleRef.name"))
    else:
        errs.extend(invalid("roleRef.name", name, m) for m in is_path_segment_name(name))
    for i, subject in enumerate(obj.get("subjects") or []):
        errs.extend(_validate_subject(subject, index("subjects", i), namespaced=namespaced))
    return errs


def _role_binding(obj: Obj, version: str) -> list[FieldError]:
    return _binding(obj, namespaced=True)


def _cluster_role_binding(obj: Obj, version: str) -> list[FieldError]:
    return _binding(obj, namespaced=False)


def _role_ref_immutable(new: Obj, old: Obj, version: str) -> list[FieldError]:
    if (new.get("roleRef") or {}) != (old.get("roleRef") or {}):
        return [invalid("roleRef", new.get("roleRef"), "cannot change roleRef")]
    return []


def _path_segment(name: str, prefix: bool) -> list[str]:
    return is_path_segment_name(name, prefix)


RULES: dict[str, Rules] = {
    "Role": Rules(name=_path_segment, body=_role),
    "ClusterRole": Rules(name=_path_segment, body=_cluster_role),
    "RoleBinding": Rules(name=_path_segment, body=_role_binding, update=_role_ref_immutable),
    "ClusterRoleBinding": Rules(name=_path_segment, body=_cluster_role_binding, update=_role_ref_immutable),
}
