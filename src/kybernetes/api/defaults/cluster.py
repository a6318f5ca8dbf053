"""Defaults for the remaining groups: rbac, autoscaling (HPA v1/v2), storage, scheduling, discovery,
networking."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"


def _subjects(obj: Obj) -> None:
    for subject in obj.get("subjects") or []:
        if subject.get("apiGroup"):
            continue
        if subject.get("kind") == "ServiceAccount":
            subject.setdefault("apiGroup", "")
        elif subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP


def _binding(obj: Obj) -> None:
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    _subjects(obj)


def _scale_up_rules(rules: dict[str, Any] | None) -> dict[str, Any]:
    rules = dict(rules or {})
    rules.setdefault("stabilizationWindowSeconds", 0)
    rules.setdefault("selectPolicy", "Max")
    if rules.get("policies") is None:
        rules["policies"] = [{"type": "Pods", "value": 4, "periodSeconds": 15},
                             {"type": "Percent", "value": 100, "periodSeconds": 15}]
    return rules


def _scale_down_rules(rules: dict[str, Any] | None) -> dict[str, Any]:
    rules = dict(rules or {})
    rules.setdefault("stabilizationWindowSeconds", 300)
    rules.setdefault("selectPolicy", "Max")
    if rules.get("policies") is None:
        rules["policies"] = [{"type": "Percent", "value": 100, "periodSeconds": 15}]
    return rules


def hpa(obj: Obj, version: str) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if version == "v1":
        return
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _scale_up_rules(behavior.get("scaleUp"))
        behavior["scaleDown"] = _scale_down_rules(behavior.get("scaleDown"))


def _storage_class(obj: Obj) -> None:
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def _priority_class(obj: Obj) -> None:
    obj.setdefault("preemptionPolicy", "PreemptLowerPriority")


def _endpoint_slice(obj: Obj) -> None:
    for port in obj.get("ports") or []:
        port.setdefault("name", "")
        port.setdefault("protocol", "TCP")


def _network_policy(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    for section in ("ingress", "egress"):
        for rule in spec.get(section) or []:
            for port in rule.get("ports") or []:
                port.setdefault("protocol", "TCP")
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


BY_GROUP_KIND = {
    (RBAC_GROUP, "RoleBinding"): _binding,
    (RBAC_GROUP, "ClusterRoleBinding"): _binding,
    ("storage.k8s.io", "StorageClass"): _storage_class,
    ("scheduling.k8s.io", "PriorityClass"): _priority_class,
    ("discovery.k8s.io", "EndpointSlice"): _endpoint_slice,
    ("networking.k8s.io", "NetworkPolicy"): _network_policy,
}
