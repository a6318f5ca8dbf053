"""The resource registry: every served resource, its names, scope and subresources.

This table is the single list the API server serves (routing, discovery, OpenAPI), that kubectl sees in
`api-resources`, and that the client uses to build URLs. The `ResourceInfo` fields mirror
metav1.APIResource; `storage_resource` names the store prefix, which two group/versions of one kind share
(core/v1 and events.k8s.io/v1 Events; autoscaling v1 and v2 HPAs).

Names, short names, categories and verbs are the ones a real Kubernetes API server lists in discovery, so
`kubectl get po`, `kubectl get all` and RBAC rules written for Kubernetes behave the same here.
Subresources are listed by name on the resource; `subresource_info()` gives the kind and verbs discovery
shows for `pods/status`, `deployments/scale`, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_NO_DELETECOLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    group: str  # "" for core
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # e.g. ("status", "scale") for deployments, ("binding", "eviction", "status") for pods
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # The store prefix: /registry/<storage_group>/<storage_resource>/...; same for versions of one kind.
    storage_resource: str = ""
    # Whether this group/version is the one objects are stored in (others convert).
    storage_version: bool = True
    preferred: bool = True  # the preferred version of its group in discovery
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    # The group whose store this resource lives in; None means its own group. events.k8s.io Events are
    # stored with the core Events, so both API groups see the same objects.
    storage_group: str | None = None
    # DELETE answers with the deleted object (as Kubernetes does for pods, services, ...), else a Status.
    delete_returns_object: bool = False
    # A review: created and answered at once, never stored (SelfSubjectReview, SubjectAccessReview, ...).
    virtual: bool = False

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def qualified(self) -> str:
        """`deployments.apps`, `pods` — how messages and RBAC name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_prefix(self) -> str:
        """`pods`, `apps/deployments`, `events` (both Event groups): the key prefix under the registry root."""
        group = self.group if self.storage_group is None else self.storage_group
        resource = self.storage_resource or self.plural
        return f"{group}/{resource}" if group else resource

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


@dataclass(frozen=True, slots=True)
class SubresourceInfo:
    """One subresource as discovery lists it: `pods/status` is kind Pod with get/patch/update."""

    name: str
    group: str
    version: str
    kind: str
    verbs: tuple[str, ...]


# name -> (group, version, kind, verbs); group/version/kind None means "the parent's kind".
_SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, tuple[str, ...]]] = {
    "status": (None, None, None, ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "binding": ("", "v1", "Binding", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
    "finalize": (None, None, None, ("update",)),
    "approval": (None, None, None, ("get", "patch", "update")),
    "ephemeralcontainers": (None, None, None, ("get", "patch", "update")),
    "resize": (None, None, None, ("get", "patch", "update")),
    "log": (None, None, None, ("get",)),
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get")),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get")),
}
_PROXY_KINDS = {"Pod": "PodProxyOptions", "Service": "ServiceProxyOptions", "Node": "NodeProxyOptions"}
_PROXY_VERBS = ("create", "delete", "get", "patch", "update")


def subresource_info(info: ResourceInfo, name: str) -> SubresourceInfo:
    """The kind and verbs of subresource `name` of `info` (which must list it)."""
    if name not in info.subresources:
        raise KeyError(f"{info.qualified} has no subresource {name!r}")
    if name == "proxy":
        return SubresourceInfo(name, "", "v1", _PROXY_KINDS[info.kind], _PROXY_VERBS)
    group, version, kind, verbs = _SUBRESOURCES[name]
    if kind is None:
        return SubresourceInfo(name, info.group, info.version, info.kind, verbs)
    assert group is not None and version is not None
    return SubresourceInfo(name, group, version, kind, verbs)


def _r(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    storage_version: bool = True,
    preferred: bool = True,
    storage_group: str | None = None,
    virtual: bool = False,
) -> ResourceInfo:
    returns_object = (f"{plural}.{group}" if group else plural) in _DELETE_RETURNS_OBJECT
    return ResourceInfo(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        categories=categories,
        subresources=sub,
        verbs=verbs,
        storage_resource=plural,
        storage_version=storage_version,
        preferred=preferred,
        storage_group=storage_group,
        delete_returns_object=returns_object,
        virtual=virtual,
    )


_ALL = ("all",)
# Kubernetes' stores that return the deleted object rather than a Status (ReturnDeletedObject).
_DELETE_RETURNS_OBJECT = frozenset(
    {
        "pods",
        "services",
        "serviceaccounts",
        "persistentvolumeclaims",
        "persistentvolumes",
        "resourcequotas",
        "storageclasses.storage.k8s.io",
    }
)

# Ordered as discovery lists them: per group/version, alphabetically by plural (as Kubernetes does).
RESOURCES: tuple[ResourceInfo, ...] = (
    # core/v1
    _r("", "v1", "Binding", "bindings", verbs=("create",)),
    _r("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _r("", "v1", "Event", "events", short=("ev",)),
    _r("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _r(
        "",
        "v1",
        "Namespace",
        "namespaces",
        namespaced=False,
        short=("ns",),
        sub=("finalize", "status"),
        verbs=_NO_DELETECOLLECTION,
    ),
    _r("", "v1", "Node", "nodes", namespaced=False, short=("no",), sub=("status",)),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), sub=("status",)),
    _r("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",), sub=("status",)),
    _r("", "v1", "Pod", "pods", short=("po",), categories=_ALL, sub=("attach", "binding", "eviction", "exec", "log", "portforward", "status")),
    _r(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        short=("rc",),
        categories=_ALL,
        sub=("scale", "status"),
    ),
    _r("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), sub=("status",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), sub=("token",)),
    _r("", "v1", "Service", "services", short=("svc",), categories=_ALL, sub=("status",)),
    # apps/v1
    _r("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _r("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), categories=_ALL, sub=("status",)),
    _r(
        "apps", "v1", "Deployment", "deployments", short=("deploy",), categories=_ALL, sub=("scale", "status")
    ),
    _r("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), categories=_ALL, sub=("scale", "status")),
    _r("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), categories=_ALL, sub=("scale", "status")),
    # events.k8s.io/v1: the same objects as core/v1 Events, stored there.
    _r("events.k8s.io", "v1", "Event", "events", short=("ev",), storage_version=False, storage_group=""),
    # autoscaling: v2 is preferred and stored; v1 converts.
    _r(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short=("hpa",),
        categories=_ALL,
        sub=("status",),
    ),
    _r(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short=("hpa",),
        categories=_ALL,
        sub=("status",),
        storage_version=False,
        preferred=False,
    ),
    # batch/v1
    _r("batch", "v1", "CronJob", "cronjobs", short=("cj",), categories=_ALL, sub=("status",)),
    _r("batch", "v1", "Job", "jobs", categories=_ALL, sub=("status",)),
    # certificates.k8s.io/v1
    _r("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", namespaced=False,
       short=("csr",), sub=("approval", "status")),
    # networking.k8s.io/v1
    _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), sub=("status",)),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    # policy/v1
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), sub=("status",)),
    # authentication.k8s.io/v1 and authorization.k8s.io/v1: reviews, answered and never stored
    _r("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", namespaced=False,
       verbs=("create",), virtual=True),
    _r("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", namespaced=False, verbs=("create",),
       virtual=True),
    _r("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", verbs=("create",),
       virtual=True),
    _r("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False,
       verbs=("create",), virtual=True),
    _r("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", namespaced=False,
       verbs=("create",), virtual=True),
    _r("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False,
       verbs=("create",), virtual=True),
    # rbac.authorization.k8s.io/v1
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    # storage.k8s.io/v1
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False, short=("sc",)),
    # scheduling.k8s.io/v1
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False, short=("pc",)),
    # coordination.k8s.io/v1
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    # discovery.k8s.io/v1
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
)

# metrics.k8s.io/v1beta1: usage the API server computes from the kubelets' summaries (apiserver/metrics.py),
# never stored. Apart from RESOURCES (no models, no OpenAPI; the typed client does not see them): discovery
# lists them after the built-in groups, where Kubernetes lists an aggregated API, so `pods` and `nodes`
# still resolve to core/v1 first.
METRICS_RESOURCES: tuple[ResourceInfo, ...] = (
    _r("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", namespaced=False, verbs=("get", "list"), virtual=True),
    _r("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", verbs=("get", "list"), virtual=True),
)

# The order groups appear in /apis, as a Kubernetes API server lists them (kubectl keeps that order when
# two groups have a resource of the same name, e.g. `kubectl get events` picks core first).
GROUP_ORDER: tuple[str, ...] = (
    "",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
)


@cache
def by_group_version() -> dict[str, tuple[ResourceInfo, ...]]:
    """`{"v1": (...), "apps/v1": (...), "autoscaling/v2": ..., "autoscaling/v1": ...}` in discovery order
    (within a group the preferred version first)."""
    out: dict[str, list[ResourceInfo]] = {}
    for group in GROUP_ORDER:
        infos = [r for r in RESOURCES if r.group == group]
        versions = sorted(
            {r.version for r in infos}, key=lambda v: not any(r.preferred for r in infos if r.version == v)
        )
        for version in versions:
            out[f"{group}/{version}" if group else version] = [r for r in infos if r.version == version]
    return {gv: tuple(rs) for gv, rs in out.items()}


@cache
def group_versions(group: str) -> tuple[str, ...]:
    """The served versions of `group`, preferred first."""
    return tuple(
        dict.fromkeys(r.version for gv, rs in by_group_version().items() for r in rs if r.group == group)
    )


def preferred_version(group: str) -> str | None:
    versions = group_versions(group)
    return versions[0] if versions else None


_BY_PLURAL: dict[tuple[str, str, str], ResourceInfo] = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND: dict[tuple[str, str, str], ResourceInfo] = {(r.group, r.version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceInfo | None:
    return _BY_PLURAL.get((group, version, plural))


def by_kind(group: str, version: str, kind: str) -> ResourceInfo | None:
    return _BY_KIND.get((group, version, kind))


def storage_info(info: ResourceInfo) -> ResourceInfo:
    """The resource (same storage prefix) whose version objects are stored in."""
    for r in RESOURCES:
        if r.storage_version and r.storage_prefix == info.storage_prefix:
            return r
    return info


def resolve(name: str) -> tuple[ResourceInfo, ...]:
    """Resources matching a kubectl-style name: plural, singular, short name or kind (any case), optionally
    qualified with a group (`deployments.apps`, `hpa.autoscaling`) or `resource.version.group`.
    Preferred versions and groups come first, so `resolve("events")[0]` is core/v1 Events."""
    lowered = name.lower()
    found: list[ResourceInfo] = []
    for gv_infos in by_group_version().values():
        for r in gv_infos:
            names = {r.plural, r.singular, r.kind.lower(), *r.short_names}
            for candidate in names:
                if lowered == candidate or lowered in (
                    f"{candidate}.{r.group}",
                    f"{candidate}.{r.version}.{r.group}",
                ):
                    found.append(r)
                    break
    found.sort(key=lambda r: not r.preferred)
    return tuple(found)
