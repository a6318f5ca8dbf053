"""Field-selector fields per resource: what `--field-selector` can match, as Kubernetes defines them.

Every resource selects on `metadata.name`, and namespaced ones on `metadata.namespace`; some kinds add a
few more (pods: `spec.nodeName`, `status.phase`, ...; events: `involvedObject.*`, `reason`, ...). Values are
rendered as Kubernetes renders them from its Go types: a missing string is `""`, a missing bool `"false"`,
a missing integer `"0"` (so `status.successful=0` selects Jobs without successes, as it does there).

`selectable_fields()` works on the wire dict; `supported_fields()` lists the field labels a selector may use,
so the API server can answer `field label not supported` for anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kybernetes.api.resources import ResourceInfo


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _str(obj: dict[str, Any], *path: str) -> str:
    value = _get(obj, *path)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bool(obj: dict[str, Any], *path: str) -> str:
    return "true" if _get(obj, *path) is True else "false"


def _int(obj: dict[str, Any], *path: str) -> str:
    value = _get(obj, *path)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


def _pod_ip(obj: dict[str, Any]) -> str:
    # Kubernetes selects on the first of status.podIPs (podIP mirrors it).
    ips = _get(obj, "status", "podIPs")
    if isinstance(ips, list) and ips and isinstance(ips[0], dict) and ips[0].get("ip"):
        return str(ips[0]["ip"])
    return _str(obj, "status", "podIP")


def _pod(obj: dict[str, Any]) -> dict[str, str]:
    return {
        "spec.nodeName": _str(obj, "spec", "nodeName"),
        "spec.restartPolicy": _str(obj, "spec", "restartPolicy"),
        "spec.schedulerName": _str(obj, "spec", "schedulerName"),
        "spec.serviceAccountName": _str(obj, "spec", "serviceAccountName"),
        "spec.hostNetwork": _bool(obj, "spec", "hostNetwork"),
        "status.phase": _str(obj, "status", "phase"),
        "status.podIP": _pod_ip(obj),
        "status.nominatedNodeName": _str(obj, "status", "nominatedNodeName"),
    }


_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


def _core_event(obj: dict[str, Any]) -> dict[str, str]:
    out = {f"involvedObject.{k}": _str(obj, "involvedObject", k) for k in _INVOLVED}
    out["reason"] = _str(obj, "reason")
    out["reportingComponent"] = _str(obj, "reportingComponent")
    out["source"] = _str(obj, "source", "component")
    out["type"] = _str(obj, "type")
    return out


def _events_event(obj: dict[str, Any]) -> dict[str, str]:
    # events.k8s.io Events are stored as core Events; selectors use the core field names.
    out = {f"involvedObject.{k}": _str(obj, "regarding", k) for k in _INVOLVED}
    out["reason"] = _str(obj, "reason")
    out["reportingComponent"] = _str(obj, "reportingController")
    out["source"] = _str(obj, "deprecatedSource", "component")
    out["type"] = _str(obj, "type")
    return out


_Extractor = Callable[[dict[str, Any]], dict[str, str]]

_SPECIFIC: dict[tuple[str, str], _Extractor] = {
    ("", "pods"): _pod,
    ("", "events"): _core_event,
    ("events.k8s.io", "events"): _events_event,
    ("", "secrets"): lambda o: {"type": _str(o, "type")},
    ("", "nodes"): lambda o: {"spec.unschedulable": _bool(o, "spec", "unschedulable")},
    ("", "namespaces"): lambda o: {"status.phase": _str(o, "status", "phase")},
    ("", "services"): lambda o: {
        "spec.clusterIP": _str(o, "spec", "clusterIP"),
        "spec.type": _str(o, "spec", "type"),
    },
    ("", "replicationcontrollers"): lambda o: {"status.replicas": _int(o, "status", "replicas")},
    ("apps", "replicasets"): lambda o: {"status.replicas": _int(o, "status", "replicas")},
    ("batch", "jobs"): lambda o: {"status.successful": _int(o, "status", "succeeded")},
}


def selectable_fields(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, str]:
    """The field-selector label -> value map of `obj` (a wire dict of resource `info`)."""
    fields = {"metadata.name": _str(obj, "metadata", "name")}
    if info.namespaced:
        fields["metadata.namespace"] = _str(obj, "metadata", "namespace")
    extractor = _SPECIFIC.get((info.group, info.plural))
    if extractor is not None:
        fields.update(extractor(obj))
    return fields


def supported_fields(info: ResourceInfo) -> frozenset[str]:
    """The field labels `info` can be selected on."""
    return frozenset(selectable_fields(info, {}))
