"""Where the autoscaler reads pod usage from: the `MetricsSource` protocol and its implementations.

`MetricsSource.pod_resource_metrics(resource=, namespace=, selector=, container=)` answers the usage of one
resource (`cpu`, `memory`, ...) per pod name, in milli-units (millicores; milli-bytes for memory), as
Kubernetes' resource metrics client does (`Quantity.MilliValue()`), so utilisation and average-value
arithmetic stay in integers.

* `ResourceMetricsAPI` (the default) reads `metrics.k8s.io/v1beta1` PodMetrics through the client
  (`GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods?labelSelector=...`, which the API server answers
  from the kubelets' `/stats/summary`), summing the containers of each pod (or taking the one named
  `container`); a pod with a container lacking the resource is left out.
* `StaticMetricsSource` holds numbers a unit test (or a benchmark) puts in with `set_usage(...)`.
"""

from __future__ import annotations

from typing import Any, Protocol

from kybernetes.client import Client
from kybernetes.machinery.errors import StatusError
from kybernetes.machinery.labels import LabelSelector
from kybernetes.machinery.quantity import Quantity

METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"


class MetricsError(Exception):
    """Metrics could not be read (the API is missing, or answered with an error)."""


class MetricsSource(Protocol):
    async def pod_resource_metrics(
        self, *, resource: str, namespace: str, selector: LabelSelector, container: str = ""
    ) -> dict[str, int]:
        """Usage of `resource` in milli-units by pod name, for the pods `selector` matches."""
        ...


def _sum_containers(containers: list[dict[str, Any]], *, resource: str, container: str) -> int | None:
    total = 0
    seen = False
    for c in containers:
        if container and c.get("name") != container:
            continue
        value = (c.get("usage") or {}).get(resource)
        if value is None:
            return None  # Kubernetes skips a pod whose containers do not all report the resource
        try:
            total += Quantity.parse(value).to_milli()
        except ValueError:
            return None
        seen = True
    return total if seen else None


class ResourceMetricsAPI:
    """Pod usage from the `metrics.k8s.io` API (served by the API server, or by metrics-server)."""

    def __init__(self, *, client: Client) -> None:
        self.client = client
        self.pod_metrics = client.dynamic(group=METRICS_GROUP, version=METRICS_VERSION, plural="pods",
                                          namespaced=True)

    async def pod_resource_metrics(
        self, *, resource: str, namespace: str, selector: LabelSelector, container: str = ""
    ) -> dict[str, int]:
        try:
            found = await self.pod_metrics.list(namespace=namespace,
                                                label_selector="" if selector.empty else str(selector))
        except StatusError as e:
            raise MetricsError(f"unable to fetch metrics from resource metrics API: {e.message}") from e
        items = found.items
        if not items:
            raise MetricsError("no metrics returned from resource metrics API")
        out: dict[str, int] = {}
        for item in items:
            name = (item.get("metadata") or {}).get("name")
            value = _sum_containers(item.get("containers") or [], resource=resource, container=container)
            if name and value is not None:
                out[name] = value
        return out


class StaticMetricsSource:
    """Usage set by hand: `set_usage(namespace=, pod=, usage={"cpu": "250m"})`."""

    def __init__(self) -> None:
        # (namespace, pod) → container → resource → milli-units
        self.usage: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
        self.calls = 0
        self.error: str | None = None  # when set, every read fails with it

    def set_usage(self, *, namespace: str, pod: str, usage: dict[str, str | int], container: str = "c") -> None:
        self.usage.setdefault((namespace, pod), {})[container] = {
            name: Quantity.parse(value).to_milli() for name, value in usage.items()
        }

    def remove(self, *, namespace: str, pod: str) -> None:
        self.usage.pop((namespace, pod), None)

    async def pod_resource_metrics(
        self, *, resource: str, namespace: str, selector: LabelSelector, container: str = ""
    ) -> dict[str, int]:
        self.calls += 1
        if self.error:
            raise MetricsError(self.error)
        out: dict[str, int] = {}
        for (ns, pod), containers in self.usage.items():
            if ns != namespace:
                continue
            values = [usage.get(resource) for name, usage in containers.items() if not container or name == container]
            if values and all(v is not None for v in values):
                out[pod] = sum(v for v in values if v is not None)
        # Pods are matched by name against the selected pods by the caller; this source knows no labels.
        return out
