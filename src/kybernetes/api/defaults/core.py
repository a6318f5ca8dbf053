"""Defaults for core ("" group) kinds other than the pod spec: Service, Namespace, Secret, Node, PV,
PVC, Endpoints, ReplicationController, PodTemplate, LimitRange."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.defaults.pod import default_pod, default_pod_template

Obj = dict[str, Any]


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    svc_type = spec["type"]
    if spec["sessionAffinity"] == "ClientIP":
        cfg = spec.setdefault("sessionAffinityConfig", {})
        client_ip = cfg.setdefault("clientIP", {})
        client_ip.setdefault("timeoutSeconds", 10800)
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if svc_type in ("NodePort", "LoadBalancer") and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if svc_type != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        # Single-stack IPv4 cluster: what the service IP allocator would settle on.
        headless_without_selector = spec.get("clusterIP") == "None" and not spec.get("selector")
        spec.setdefault("ipFamilyPolicy", "RequireDualStack" if headless_without_selector else "SingleStack")
        spec.setdefault("ipFamilies", ["IPv4"])
    if svc_type == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def _namespace(obj: Obj) -> None:
    name = (obj.get("metadata") or {}).get("name")
    if name:
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels.setdefault("kubernetes.io/metadata.name", name)
    spec = obj.setdefault("spec", {})
    # Kubernetes adds the finalizer on create only; an update (it carries the stored uid) keeps what it has,
    # so that the namespace controller's removal of the finalizer is not undone.
    if not (obj.get("metadata") or {}).get("uid"):
        spec.setdefault("finalizers", ["kubernetes"])
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Active")


def _secret(obj: Obj) -> None:
    if not obj.get("type"):
        obj["type"] = "Opaque"


def _node(obj: Obj) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and status.get("capacity") and status.get("allocatable") is None:
        status["allocatable"] = copy.deepcopy(status["capacity"])


def _pv(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def default_pvc(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _endpoints(obj: Obj) -> None:
    for subset in obj.get("subsets") or []:
        for port in subset.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _rc(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    template = spec.get("template")
    template_labels = ((template or {}).get("metadata") or {}).get("labels") or {}
    if template_labels:
        if not spec.get("selector"):
            spec["selector"] = dict(template_labels)
        meta = obj.setdefault("metadata", {})
        if not meta.get("labels"):
            meta["labels"] = dict(template_labels)
    spec.setdefault("replicas", 1)
    default_pod_template(template)


def _pod_template(obj: Obj) -> None:
    default_pod_template(obj.get("template"))


def _limit_range(obj: Obj) -> None:
    for item in (obj.get("spec") or {}).get("limits") or []:
        if item.get("type") != "Container":
            continue
        default = dict(item.get("default") or {})
        default_request = dict(item.get("defaultRequest") or {})
        # An unset default limit falls back to max; an unset default request to the default limit, then min.
        for name, value in (item.get("max") or {}).items():
            default.setdefault(name, value)
        for name, value in default.items():
            default_request.setdefault(name, value)
        for name, value in (item.get("min") or {}).items():
            default_request.setdefault(name, value)
        if default:
            item["default"] = default
        if default_request:
            item["defaultRequest"] = default_request


DEFAULTERS = {
    "Pod": default_pod,
    "Service": _service,
    "Namespace": _namespace,
    "Secret": _secret,
    "Node": _node,
    "PersistentVolume": _pv,
    "PersistentVolumeClaim": default_pvc,
    "Endpoints": _endpoints,
    "ReplicationController": _rc,
    "PodTemplate": _pod_template,
    "LimitRange": _limit_range,
}
