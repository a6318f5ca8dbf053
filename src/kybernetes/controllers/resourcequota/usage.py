"""What a namespace uses, in ResourceQuota resource names: pure functions over objects.

* Object counts: `pods`, `services`, `configmaps`, `secrets`, `persistentvolumeclaims`,
  `replicationcontrollers`, `resourcequotas`, `services.loadbalancers`, `services.nodeports`, and the
  generic `count/<resource>[.<group>]` (`count/deployments.apps`, `count/configmaps`).
* Compute of the pods that still count (not Succeeded/Failed, not past their deletion grace period, as
  Kubernetes' `QuotaV1Pod`): `requests.cpu` (also spelled `cpu`), `requests.memory` (`memory`),
  `limits.cpu`, `limits.memory`, the same for `ephemeral-storage` and any `requests.<extended resource>`.
  A pod's requests are the sum over its containers, at least the largest init container's, plus the pod
  overhead (`resourcehelper.PodRequests`). A container with a limit but no request counts its limit as the
  request, as the API server's defaulting would have made it.
* Storage: `requests.storage` and the per-StorageClass
  `<class>.storageclass.storage.k8s.io/requests.storage` / `.../persistentvolumeclaims`.

Scopes (`Terminating`, `NotTerminating`, `BestEffort`, `NotBestEffort`, `PriorityClass` through
`scopeSelector`) filter which pods a quota counts. Sums use `kybernetes.machinery.quantity`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from kybernetes.api.models.core_v1 import PersistentVolumeClaim, Pod, ResourceQuotaSpec, Service
from kybernetes.machinery.quantity import Quantity
from kybernetes.machinery.timefmt import parse_rfc3339, utcnow

POD_COUNTS = ("pods", "count/pods")
COMPUTE = ("cpu", "memory", "ephemeral-storage")
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"

# Simple object counts: quota name → the resource plural the count is of (core group).
CORE_COUNTS = {
    "services": "services",
    "configmaps": "configmaps",
    "secrets": "secrets",
    "persistentvolumeclaims": "persistentvolumeclaims",
    "replicationcontrollers": "replicationcontrollers",
    "resourcequotas": "resourcequotas",
}

_ZERO = Quantity.parse("0")


def count_target(name: str) -> tuple[str, str] | None:
    """`count/deployments.apps` → ("apps", "deployments"); `count/pods` → ("", "pods"); others → None."""
    if not name.startswith("count/"):
        return None
    resource = name[len("count/"):]
    plural, _, group = resource.partition(".")
    return (group, plural) if plural else None


def pod_counts(pod: Pod, *, now: datetime | None = None) -> bool:
    """Whether a pod still counts against quota (QuotaV1Pod)."""
    phase = pod.status.phase if pod.status else None
    if phase in ("Succeeded", "Failed"):
        return False
    meta = pod.metadata
    if meta is not None and meta.deletion_timestamp and meta.deletion_grace_period_seconds is not None:
        try:
            deadline = parse_rfc3339(meta.deletion_timestamp) + timedelta(seconds=meta.deletion_grace_period_seconds)
        except ValueError:
            return True
        if (now or utcnow()) > deadline:
            return False
    return True


def _quantities(values: dict[str, str | int | float] | None) -> dict[str, Quantity]:
    out: dict[str, Quantity] = {}
    for name, value in (values or {}).items():
        try:
            out[name] = Quantity.parse(value)
        except ValueError:
            continue  # validation should have refused it; one bad value must not hide the rest
    return out


def _container_resources(pod: Pod, *, init: bool) -> list[tuple[dict[str, Quantity], dict[str, Quantity]]]:
    spec = pod.spec
    containers = (spec.init_containers if init else spec.containers) if spec else None
    out = []
    for c in containers or []:
        requests = _quantities(c.resources.requests if c.resources else None)
        limits = _quantities(c.resources.limits if c.resources else None)
        for name, limit in limits.items():
            requests.setdefault(name, limit)
        out.append((requests, limits))
    return out


def _aggregate(pod: Pod, *, which: int) -> dict[str, Quantity]:
    """The pod's requests (`which=0`) or limits (`which=1`): sum of containers, max with each init one,
    plus overhead."""
    total: dict[str, Quantity] = {}
    for pair in _container_resources(pod, init=False):
        for name, q in pair[which].items():
            total[name] = total.get(name, _ZERO) + q
    for pair in _container_resources(pod, init=True):
        for name, q in pair[which].items():
            if q > total.get(name, _ZERO):
                total[name] = q
    overhead = _quantities(pod.spec.overhead if pod.spec else None)
    for name, q in overhead.items():
        if which == 0 or name in total:
            total[name] = total.get(name, _ZERO) + q
    return total


def pod_requests(pod: Pod) -> dict[str, Quantity]:
    return _aggregate(pod, which=0)


def pod_limits(pod: Pod) -> dict[str, Quantity]:
    return _aggregate(pod, which=1)


def is_best_effort(pod: Pod) -> bool:
    for requests, limits in _container_resources(pod, init=False) + _container_resources(pod, init=True):
        if any(name in COMPUTE[:2] for name in (*requests, *limits)):
            return False
    return True


def _scope_matches(scope: str, operator: str, values: list[str], pod: Pod) -> bool:
    spec = pod.spec
    if scope == "Terminating":
        return spec is not None and spec.active_deadline_seconds is not None and spec.active_deadline_seconds >= 0
    if scope == "NotTerminating":
        return not _scope_matches("Terminating", operator, values, pod)
    if scope == "BestEffort":
        return is_best_effort(pod)
    if scope == "NotBestEffort":
        return not is_best_effort(pod)
    if scope == "PriorityClass":
        name = spec.priority_class_name if spec else None
        if operator == "Exists":
            return bool(name)
        if operator == "DoesNotExist":
            return not name
        if operator == "In":
            return bool(name) and name in values
        if operator == "NotIn":
            return not name or name not in values
    # Scopes about other objects (CrossNamespacePodAffinity, VolumeAttributesClass) do not restrict pods here.
    return True


def pod_in_scope(spec: ResourceQuotaSpec | None, pod: Pod) -> bool:
    if spec is None:
        return True
    for scope in spec.scopes or []:
        if not _scope_matches(scope, "Exists", [], pod):
            return False
    for expr in (spec.scope_selector.match_expressions or []) if spec.scope_selector else []:
        if not _scope_matches(expr.scope_name or "", expr.operator or "Exists", list(expr.values or []), pod):
            return False
    return True


def has_pod_scopes(spec: ResourceQuotaSpec | None) -> bool:
    return bool(spec and (spec.scopes or (spec.scope_selector and spec.scope_selector.match_expressions)))


def is_pod_resource(name: str) -> bool:
    if name in POD_COUNTS or name in COMPUTE:
        return True
    return name.startswith(("requests.", "limits.")) and name != "requests.storage"


def pod_usage(*, names: Iterable[str], pods: Iterable[Pod], spec: ResourceQuotaSpec | None,
              now: datetime | None = None) -> dict[str, Quantity]:
    """Usage of the pod resources among `names` by the counting, in-scope `pods`."""
    wanted = [n for n in names if is_pod_resource(n)]
    usage: dict[str, Quantity] = {n: _ZERO for n in wanted}
    if not wanted:
        return usage
    count = 0
    for pod in pods:
        if not pod_counts(pod, now=now) or not pod_in_scope(spec, pod):
            continue
        count += 1
        requests, limits = pod_requests(pod), pod_limits(pod)
        for name in wanted:
            if name in POD_COUNTS:
                continue
            if name.startswith("limits."):
                got = limits.get(name[len("limits."):])
            else:
                got = requests.get(name[len("requests."):] if name.startswith("requests.") else name)
            if got is not None:
                usage[name] = usage[name] + got
    for name in wanted:
        if name in POD_COUNTS:
            usage[name] = Quantity.parse(count)
    return usage


def service_usage(*, names: Iterable[str], services: Iterable[Service]) -> dict[str, Quantity]:
    wanted = [n for n in names if n in ("services.loadbalancers", "services.nodeports")]
    if not wanted:
        return {}
    balancers = nodeports = 0
    for svc in services:
        kind = (svc.spec.type if svc.spec else None) or "ClusterIP"
        if kind == "LoadBalancer":
            balancers += 1
        if kind in ("NodePort", "LoadBalancer"):
            nodeports += len(svc.spec.ports or []) if svc.spec else 0
    values = {"services.loadbalancers": balancers, "services.nodeports": nodeports}
    return {n: Quantity.parse(values[n]) for n in wanted}


def storage_usage(*, names: Iterable[str], claims: Iterable[PersistentVolumeClaim]) -> dict[str, Quantity]:
    wanted = [n for n in names if n == "requests.storage" or STORAGE_CLASS_SUFFIX in n]
    if not wanted:
        return {}
    usage = {n: _ZERO for n in wanted}
    for pvc in claims:
        spec = pvc.spec
        storage = _quantities(spec.resources.requests if spec and spec.resources else None).get("storage", _ZERO)
        cls = (spec.storage_class_name if spec else None) or ""
        for name in wanted:
            if name == "requests.storage":
                usage[name] = usage[name] + storage
            elif name == f"{cls}{STORAGE_CLASS_SUFFIX}requests.storage":
                usage[name] = usage[name] + storage
            elif name == f"{cls}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims":
                usage[name] = usage[name] + Quantity.parse(1)
    return usage
