"""Validation of rbac, autoscaling, policy, discovery, networking, coordination, storage, scheduling, events."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.defaults import apply_defaults
from kybernetes.api.validation import validate_create, validate_update, validated_kinds

RBAC = "rbac.authorization.k8s.io"


def create(group: str, kind: str, obj: dict[str, Any], *, namespaced: bool = True, version: str = "v1") -> list[str]:
    apply_defaults(group=group, version=version, kind=kind, obj=obj)
    errs = validate_create(group=group, version=version, kind=kind, obj=obj, namespaced=namespaced)
    return [e.describe() for e in errs]


def update(group: str, kind: str, new: dict[str, Any], old: dict[str, Any], *, namespaced: bool = True) -> list[str]:
    errs = validate_update(group=group, version="v1", kind=kind, new=new, old=old, namespaced=namespaced)
    return [e.describe() for e in errs]


class TestRbac:
    def test_role_names_are_path_segments(self) -> None:
        role: dict[str, Any] = {"metadata": {"name": "system:controller:x", "namespace": "d"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
        assert create(RBAC, "Role", role) == []
        role["metadata"]["name"] = "a/b"
        assert create(RBAC, "Role", role) == ['metadata.name: Invalid value: "a/b": may not contain \'/\'']

    def test_rules(self) -> None:
        role = {"metadata": {"name": "r", "namespace": "d"}, "rules": [
            {"apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
        ]}
        assert create(RBAC, "Role", role) == [
            "rules[0].verbs: Required value: verbs must contain at least one value",
            "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
            "rules[1].resources: Required value: resource rules must supply at least one resource",
            'rules[2].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs',
        ]
        cr = {"metadata": {"name": "cr"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}
        assert create(RBAC, "ClusterRole", cr, namespaced=False) == []

    def test_bindings(self) -> None:
        rb = {"metadata": {"name": "rb", "namespace": "d"}, "roleRef": {"kind": "Role", "name": "r"},
              "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "default"},
                           {"kind": "Robot", "name": "r2"}]}
        assert create(RBAC, "RoleBinding", rb) == [
            'subjects[2].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"']
        crb = {"metadata": {"name": "crb"}, "roleRef": {"kind": "Role", "name": ""},
               "subjects": [{"kind": "ServiceAccount", "name": "default"}]}
        assert create(RBAC, "ClusterRoleBinding", crb, namespaced=False) == [
            'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
            "roleRef.name: Required value",
            "subjects[0].namespace: Required value",
        ]

    def test_role_ref_immutable(self) -> None:
        old = {"metadata": {"name": "rb", "namespace": "d"}, "roleRef": {"kind": "Role", "name": "r"}}
        apply_defaults(group=RBAC, version="v1", kind="RoleBinding", obj=old)
        new = copy.deepcopy(old)
        new["roleRef"]["name"] = "other"
        errs = update(RBAC, "RoleBinding", new, old)
        assert len(errs) == 1 and errs[0].startswith("roleRef: Invalid value:") and errs[0].endswith(
            "cannot change roleRef")


class TestAutoscalingPolicy:
    def hpa(self, **spec: Any) -> dict[str, Any]:
        base = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}
        base.update(spec)
        return {"metadata": {"name": "web", "namespace": "d"}, "spec": base}

    def test_hpa(self) -> None:
        assert create("autoscaling", "HorizontalPodAutoscaler", self.hpa(), version="v2") == []
        assert create("autoscaling", "HorizontalPodAutoscaler", self.hpa(targetCPUUtilizationPercentage=50)) == []
        bad = self.hpa(minReplicas=6, scaleTargetRef={"kind": "Deployment"})
        assert create("autoscaling", "HorizontalPodAutoscaler", bad, version="v2") == [
            "spec.scaleTargetRef.name: Required value",
            "spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`",
        ]
        assert create("autoscaling", "HorizontalPodAutoscaler", self.hpa(maxReplicas=0, minReplicas=0)) == [
            "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
            "spec.maxReplicas: Invalid value: 0: must be greater than 0",
        ]

    def test_hpa_metrics(self) -> None:
        metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                               "averageUtilization": 0}}},
                   {"type": "Pods"}]
        errs = create("autoscaling", "HorizontalPodAutoscaler", self.hpa(metrics=metrics), version="v2")
        assert errs == [
            "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
            "spec.metrics[1].pods: Required value: must populate information for the given metric source (only "
            "allowed when type is Pods)",
        ]

    def test_scale(self) -> None:
        scale = {"metadata": {"name": "web", "namespace": "d"}, "spec": {"replicas": -1}}
        assert create("autoscaling", "Scale", scale) == [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]

    def test_pdb(self) -> None:
        pdb: dict[str, Any] = {"metadata": {"name": "p", "namespace": "d"},
               "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}}
        assert create("policy", "PodDisruptionBudget", pdb) == []
        pdb["spec"]["maxUnavailable"] = 1
        errs = create("policy", "PodDisruptionBudget", pdb)
        assert len(errs) == 1 and errs[0].startswith("spec: Invalid value:")
        assert errs[0].endswith("minAvailable and maxUnavailable cannot be both set")
        pdb = {"metadata": {"name": "p", "namespace": "d"}, "spec": {"maxUnavailable": "120%"}}
        assert create("policy", "PodDisruptionBudget", pdb) == [
            'spec.maxUnavailable: Invalid value: "120%": must not be greater than 100%']


class TestNetworking:
    def test_endpoint_slice(self) -> None:
        es = {"metadata": {"name": "web-abc", "namespace": "d"}, "addressType": "IPv4",
              "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": []}, {"addresses": ["::1"]}],
              "ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81}]}
        assert create("discovery.k8s.io", "EndpointSlice", es) == [
            "endpoints[1].addresses: Required value: must contain at least 1 address",
            'endpoints[2].addresses[0]: Invalid value: "::1": must be a valid IPv4 address',
            'ports[1].name: Duplicate value: "http"',
        ]
        bad = {"metadata": {"name": "x", "namespace": "d"}, "addressType": "IPv5"}
        assert create("discovery.k8s.io", "EndpointSlice", bad) == [
            'addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"']
        new = copy.deepcopy(es)
        new["addressType"] = "IPv6"
        assert 'addressType: Invalid value: "IPv6": field is immutable' in update(
            "discovery.k8s.io", "EndpointSlice", new, es)

    def test_network_policy(self) -> None:
        np = {"metadata": {"name": "n", "namespace": "d"}, "spec": {
            "podSelector": {},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["bad"]}}],
                         "ports": [{"port": 80, "endPort": 70}]}]}}
        errs = create("networking.k8s.io", "NetworkPolicy", np)
        assert errs == [
            "spec.ingress[0].ports[0].endPort: Invalid value: 70: must be greater than or equal to `port`",
            'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "bad": must be a valid CIDR value, (e.g. '
            "10.9.8.0/24 or 2001:db8::/64)",
        ]

    def test_ingress(self) -> None:
        ing = {"metadata": {"name": "i", "namespace": "d"}, "spec": {"rules": [{"host": "*.example.com", "http": {
            "paths": [{"path": "/", "pathType": "Prefix",
                       "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                      {"path": "api", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {}}}},
                      {"path": "/x", "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]}}]}}
        assert create("networking.k8s.io", "Ingress", ing) == [
            'spec.rules[0].http.paths[1].path: Invalid value: "api": must be an absolute path',
            "spec.rules[0].http.paths[1].backend.service.port: Required value: port name or number is required",
            "spec.rules[0].http.paths[2].pathType: Required value: pathType must be specified",
        ]

    def test_ingress_class(self) -> None:
        ic = {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}
        assert create("networking.k8s.io", "IngressClass", ic, namespaced=False) == []
        ic["spec"]["controller"] = "nginx"
        assert create("networking.k8s.io", "IngressClass", ic, namespaced=False) == [
            'spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")']


class TestClusterInfra:
    def test_lease(self) -> None:
        lease: dict[str, Any] = {"metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "leaseTransitions": 0}}
        assert create("coordination.k8s.io", "Lease", lease) == []
        lease["spec"]["leaseDurationSeconds"] = 0
        assert create("coordination.k8s.io", "Lease", lease) == [
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]

    def test_storage_class(self) -> None:
        sc = {"metadata": {"name": "standard"}, "provisioner": "rancher.io/local-path",
              "parameters": {"type": "ssd"}}
        assert create("storage.k8s.io", "StorageClass", sc, namespaced=False) == []
        assert create("storage.k8s.io", "StorageClass", {"metadata": {"name": "x"}, "reclaimPolicy": "Recycle"},
                      namespaced=False) == [
            "provisioner: Required value",
            'reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"',
        ]
        new = copy.deepcopy(sc)
        new["parameters"] = {"type": "hdd"}
        assert update("storage.k8s.io", "StorageClass", new, sc, namespaced=False) == [
            "parameters: Forbidden: updates to parameters are forbidden."]

    def test_priority_class(self) -> None:
        pc = {"metadata": {"name": "high"}, "value": 1000}
        assert create("scheduling.k8s.io", "PriorityClass", pc, namespaced=False) == []
        assert create("scheduling.k8s.io", "PriorityClass", {"metadata": {"name": "huge"}, "value": 2_000_000_000},
                      namespaced=False) == [
            "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        assert create("scheduling.k8s.io", "PriorityClass", {"metadata": {"name": "system-mine"}, "value": 1},
                      namespaced=False) == [
            "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved"]
        assert create("scheduling.k8s.io", "PriorityClass",
                      {"metadata": {"name": "system-node-critical"}, "value": 2_000_001_000}, namespaced=False) == []
        apply_defaults(group="scheduling.k8s.io", version="v1", kind="PriorityClass", obj=pc)
        new = {**pc, "value": 5}
        assert update("scheduling.k8s.io", "PriorityClass", new, pc, namespaced=False) == [
            "value: Forbidden: may not be changed in an update."]

    def test_events_v1(self) -> None:
        ev = {"metadata": {"name": "e", "namespace": "a"}, "regarding": {"namespace": "b"}, "type": "Odd"}
        assert create("events.k8s.io", "Event", ev) == [
            'regarding.namespace: Invalid value: "b": does not match event.namespace',
            'type: Unsupported value: "Odd": supported values: "Normal", "Warning"',
        ]


def test_dispatch_table_covers_served_kinds() -> None:
    kinds = set(validated_kinds())
    for gk in [("", "Pod"), ("", "Service"), ("apps", "Deployment"), ("batch", "CronJob"), (RBAC, "RoleBinding"),
               ("autoscaling", "HorizontalPodAutoscaler"), ("policy", "PodDisruptionBudget"),
               ("discovery.k8s.io", "EndpointSlice"), ("coordination.k8s.io", "Lease"),
               ("storage.k8s.io", "StorageClass"), ("scheduling.k8s.io", "PriorityClass")]:
        assert gk in kinds
