"""Pod admission: the ServiceAccount plugin's defaulting and the Priority plugin.

- ServiceAccount: a pod without `serviceAccountName` runs as `default`; the deprecated `serviceAccount`
  mirrors it.
- Priority: `priorityClassName` resolves to `spec.priority` (and preemptionPolicy); a pod naming a class
  that does not exist is refused; without a name, the global-default class applies, else priority 0.
- DefaultTolerationSeconds: a pod that does not tolerate the `not-ready` / `unreachable` NoExecute taints
  gets tolerations for them of 300 s, so it is evicted five minutes after its node is lost.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.resources import ResourceInfo
from kybernetes.apiserver.admission import Lookup
from kybernetes.apiserver.rest import RequestContext
from kybernetes.machinery import errors

# The classes every cluster has (Kubernetes creates them at start); also served as objects.
SYSTEM_PRIORITY_CLASSES = {
    "system-node-critical": 2000001000,
    "system-cluster-critical": 2000000000,
}


class PodDefaults:
    def __init__(self, *, lookup: Lookup) -> None:
        self.lookup = lookup

    async def admit(
        self, *, ctx: RequestContext, info: ResourceInfo, operation: str, obj: dict[str, Any] | None,
        old: dict[str, Any] | None, subresource: str,
    ) -> None:
        if info.group or info.plural != "pods" or operation != "CREATE" or obj is None or subresource:
            return
        spec = obj.setdefault("spec", {})
        sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = sa
        spec["serviceAccount"] = sa
        await self._priority(spec=spec, obj=obj)
        _default_tolerations(spec)

    async def _priority(self, *, spec: dict[str, Any], obj: dict[str, Any]) -> None:
        name = spec.get("priorityClassName")
        classes = self.lookup("priorityclasses.scheduling.k8s.io")
        if name:
            found: dict[str, Any] | None = None
            if classes is not None:
                try:
                    found = (await classes.get_cached(namespace="", name=name)).obj
                except errors.NotFoundError:
                    found = None
            if found is None:
                pod = obj["metadata"].get("name") or obj["metadata"].get("generateName", "")
                raise errors.ForbiddenError(
                    f'pods "{pod}" is forbidden: no PriorityClass with name {name} was found',
                    kind="pods", name=pod,
                )
            value = int(found.get("value", 0))
            if spec.get("priority") is not None and spec["priority"] != value:
                raise errors.ForbiddenError(
                    "the integer value of priority must not be provided in pod spec; priority admission "
                    "controller computed " f"{value} from the given PriorityClass name"
                )
            spec["priority"] = value
            spec.setdefault("preemptionPolicy", found.get("preemptionPolicy", "PreemptLowerPriority"))
            return
        default: dict[str, Any] | None = None
        if classes is not None:
            for o in classes.cache.list(namespace=None, predicate=None):
                if o.obj.get("globalDefault"):
                    default = o.obj
                    break
        if default is not None:
            spec["priorityClassName"] = default["metadata"]["name"]
            spec["priority"] = int(default.get("value", 0))
            spec.setdefault("preemptionPolicy", default.get("preemptionPolicy", "PreemptLowerPriority"))
        else:
            spec.setdefault("priority", 0)


DEFAULT_TOLERATION_SECONDS = 300
_NODE_LOST_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def _default_tolerations(spec: dict[str, Any]) -> None:
    tolerations = list(spec.get("tolerations") or [])
    for key in _NODE_LOST_TAINTS:
        covered = any(
            (t.get("key") == key or (not t.get("key") and t.get("operator") == "Exists"))
            and t.get("effect") in (None, "", "NoExecute")
            for t in tolerations
        )
        if not covered:
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    spec["tolerations"] = tolerations
