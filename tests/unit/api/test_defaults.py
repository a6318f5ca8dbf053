"""Defaulting on the wire form: what a real API server fills into objects of each kind."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.api.defaults import apply_defaults, defaulted_kinds, generate_job_selector, image_pull_policy


def defaulted(group: str, kind: str, obj: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    apply_defaults(group=group, version=version, kind=kind, obj=obj)
    return obj


def pod_template(image: str = "nginx:1.25", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image}], **spec}}


EXPECTED_CONTAINER = {
    "name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent", "resources": {},
    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
}
EXPECTED_TEMPLATE_SPEC = {
    "containers": [EXPECTED_CONTAINER], "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
    "schedulerName": "default-scheduler", "securityContext": {}, "terminationGracePeriodSeconds": 30,
}


class TestPod:
    def test_minimal_pod_matches_kubernetes(self) -> None:
        pod = defaulted("", "Pod", {"metadata": {"name": "p"}, "spec": pod_template()["spec"]})
        assert pod["spec"] == {**EXPECTED_TEMPLATE_SPEC, "enableServiceLinks": True}

    @pytest.mark.parametrize(("image", "policy"), [
        ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
        ("registry:5000/team/app", "Always"), ("registry:5000/team/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("localhost:5000/x:latest", "Always"),
    ])
    def test_image_pull_policy(self, image: str, policy: str) -> None:
        assert image_pull_policy(image) == policy

    def test_explicit_values_are_kept(self) -> None:
        spec = {"containers": [{"name": "c", "image": "x", "imagePullPolicy": "Never"}], "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0, "dnsPolicy": "Default", "enableServiceLinks": False}
        pod = defaulted("", "Pod", {"spec": spec})
        assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"
        assert pod["spec"]["restartPolicy"] == "Never"
        assert pod["spec"]["terminationGracePeriodSeconds"] == 0
        assert pod["spec"]["dnsPolicy"] == "Default"
        assert pod["spec"]["enableServiceLinks"] is False

    def test_nested_container_defaults(self) -> None:
        ctr = {
            "name": "c", "image": "app:1",
            "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
            "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "livenessProbe": {"httpGet": {"port": 80}},
            "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
            "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}},
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
        }
        pod = defaulted("", "Pod", {"spec": {"containers": [ctr], "initContainers": [{"name": "i", "image": "b"}]}})
        c = pod["spec"]["containers"][0]
        assert [p["protocol"] for p in c["ports"]] == ["TCP", "UDP"]
        assert c["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name", "apiVersion": "v1"}
        assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                      "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
        assert c["readinessProbe"]["periodSeconds"] == 5
        assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/stop", "scheme": "HTTP"}
        # Requests default from limits, only for resources without an explicit request.
        assert c["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
        init = pod["spec"]["initContainers"][0]
        assert init["imagePullPolicy"] == "Always" and init["terminationMessagePolicy"] == "File"

    def test_volumes(self) -> None:
        vols = [{"name": "a"}, {"name": "b", "secret": {"secretName": "s"}},
                {"name": "c", "configMap": {"name": "cm", "defaultMode": 256}},
                {"name": "d", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
                {"name": "e", "hostPath": {"path": "/data"}}]
        pod = defaulted("", "Pod", {"spec": {"containers": [], "volumes": vols}})
        v = pod["spec"]["volumes"]
        assert v[0] == {"name": "a", "emptyDir": {}}
        assert v[1]["secret"] == {"secretName": "s", "defaultMode": 420}
        assert v[2]["configMap"]["defaultMode"] == 256
        assert v[3]["projected"] == {"defaultMode": 420,
                                     "sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}
        assert v[4]["hostPath"] == {"path": "/data", "type": ""}

    def test_host_network_copies_container_port(self) -> None:
        spec = {"hostNetwork": True, "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 9100}]}]}
        pod = defaulted("", "Pod", {"spec": spec})
        assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 9100


class TestWorkloads:
    def test_deployment(self) -> None:
        d = defaulted("apps", "Deployment", {"spec": {"selector": {"matchLabels": {"app": "web"}},
                                                     "template": pod_template()}})
        spec = d["spec"]
        assert spec["replicas"] == 1
        assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%",
                                                                               "maxSurge": "25%"}}
        assert spec["revisionHistoryLimit"] == 10
        assert spec["progressDeadlineSeconds"] == 600
        assert spec["template"]["spec"] == EXPECTED_TEMPLATE_SPEC  # no enableServiceLinks on templates

    def test_deployment_recreate_has_no_rolling_update(self) -> None:
        d = defaulted("apps", "Deployment", {"spec": {"strategy": {"type": "Recreate"}, "template": pod_template()}})
        assert d["spec"]["strategy"] == {"type": "Recreate"}

    def test_replicaset_and_rc(self) -> None:
        rs = defaulted("apps", "ReplicaSet", {"spec": {"template": pod_template()}})
        assert rs["spec"]["replicas"] == 1
        rc = defaulted("", "ReplicationController", {"metadata": {"name": "rc"}, "spec": {"template": pod_template()}})
        assert rc["spec"]["selector"] == {"app": "web"}
        assert rc["metadata"]["labels"] == {"app": "web"}
        assert rc["spec"]["replicas"] == 1

    def test_statefulset(self) -> None:
        claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {"storage": "1Gi"}}}}
        s = defaulted("apps", "StatefulSet", {"spec": {"template": pod_template(), "volumeClaimTemplates": [claim]}})
        spec = s["spec"]
        assert spec["replicas"] == 1
        assert spec["podManagementPolicy"] == "OrderedReady"
        assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        assert spec["revisionHistoryLimit"] == 10
        assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
        vct = spec["volumeClaimTemplates"][0]
        assert vct["apiVersion"] == "v1" and vct["kind"] == "PersistentVolumeClaim"
        assert vct["spec"]["volumeMode"] == "Filesystem" and vct["status"] == {"phase": "Pending"}

    def test_daemonset(self) -> None:
        ds = defaulted("apps", "DaemonSet", {"spec": {"template": pod_template()}})
        assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
        assert ds["spec"]["revisionHistoryLimit"] == 10

    def test_job(self) -> None:
        job = defaulted("batch", "Job", {"metadata": {"name": "j"},
                                         "spec": {"template": pod_template(restartPolicy="Never")}})
        spec = job["spec"]
        assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
        assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
        assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
        assert job["metadata"]["labels"] == {"app": "web"}
        assert "selector" not in spec  # needs the uid

    def test_job_parallelism_without_completions(self) -> None:
        job = defaulted("batch", "Job", {"spec": {"parallelism": 3, "template": pod_template()}})
        assert job["spec"]["parallelism"] == 3 and "completions" not in job["spec"]

    def test_job_selector_generated_from_uid(self) -> None:
        job: dict[str, Any] = {"metadata": {"name": "pi", "uid": "1234"}, "spec": {"template": {"spec": {"containers": []}}}}
        defaulted("batch", "Job", job)
        assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}}
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert labels["batch.kubernetes.io/job-name"] == "pi" and labels["controller-uid"] == "1234"
        assert job["metadata"]["labels"]["job-name"] == "pi"

    def test_manual_selector_not_generated(self) -> None:
        job: dict[str, Any] = {"metadata": {"name": "pi", "uid": "1"}, "spec": {"manualSelector": True}}
        generate_job_selector(job)
        assert "selector" not in job["spec"]

    def test_cronjob(self) -> None:
        cj = defaulted("batch", "CronJob", {"spec": {"schedule": "@hourly", "jobTemplate": {
            "spec": {"template": pod_template(restartPolicy="OnFailure")}}}})
        spec = cj["spec"]
        assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
        assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
        job_spec = spec["jobTemplate"]["spec"]
        assert "backoffLimit" not in job_spec
        assert job_spec["template"]["spec"]["containers"][0]["terminationMessagePolicy"] == "File"


class TestCoreKinds:
    def test_service_cluster_ip(self) -> None:
        svc = defaulted("", "Service", {"spec": {"selector": {"app": "web"},
                                                 "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}})
        spec = svc["spec"]
        assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
        assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80},
                                 {"port": 443, "targetPort": "https", "protocol": "TCP"}]
        assert spec["internalTrafficPolicy"] == "Cluster"
        assert spec["ipFamilyPolicy"] == "SingleStack" and spec["ipFamilies"] == ["IPv4"]
        assert "externalTrafficPolicy" not in spec

    def test_service_node_port_and_lb(self) -> None:
        svc = defaulted("", "Service", {"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP",
                                                 "ports": [{"port": 80}]}})
        spec = svc["spec"]
        assert spec["externalTrafficPolicy"] == "Cluster"
        assert spec["allocateLoadBalancerNodePorts"] is True
        assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}

    def test_service_external_name_and_headless(self) -> None:
        ext = defaulted("", "Service", {"spec": {"type": "ExternalName", "externalName": "example.com"}})
        assert "ipFamilies" not in ext["spec"] and "internalTrafficPolicy" not in ext["spec"]
        headless = defaulted("", "Service", {"spec": {"clusterIP": "None"}})
        assert headless["spec"]["clusterIPs"] == ["None"]
        assert headless["spec"]["ipFamilyPolicy"] == "RequireDualStack"

    def test_namespace(self) -> None:
        ns = defaulted("", "Namespace", {"metadata": {"name": "team"}})
        assert ns["spec"] == {"finalizers": ["kubernetes"]}
        assert ns["status"] == {"phase": "Active"}
        assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
        # On update (a stored object has a uid) an emptied finalizer list is not refilled.
        stored = defaulted("", "Namespace", {"metadata": {"name": "team", "uid": "u"}, "spec": {},
                                             "status": {"phase": "Terminating"}})
        assert stored["spec"] == {} and stored["status"]["phase"] == "Terminating"

    def test_secret_pv_pvc_endpoints(self) -> None:
        assert defaulted("", "Secret", {})["type"] == "Opaque"
        assert defaulted("", "Secret", {"type": "kubernetes.io/tls"})["type"] == "kubernetes.io/tls"
        pv = defaulted("", "PersistentVolume", {"spec": {}})
        assert pv["spec"] == {"persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"}
        assert pv["status"] == {"phase": "Pending"}
        pvc = defaulted("", "PersistentVolumeClaim", {"spec": {}})
        assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"]["phase"] == "Pending"
        ep = defaulted("", "Endpoints", {"subsets": [{"ports": [{"port": 80}]}]})
        assert ep["subsets"][0]["ports"][0]["protocol"] == "TCP"

    def test_node_allocatable_from_capacity(self) -> None:
        node = defaulted("", "Node", {"status": {"capacity": {"cpu": "2", "pods": "110"}}})
        assert node["status"]["allocatable"] == {"cpu": "2", "pods": "110"}

    def test_limit_range(self) -> None:
        lr = defaulted("", "LimitRange", {"spec": {"limits": [
            {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}},
            {"type": "Pod", "max": {"cpu": "4"}},
        ]}})
        item = lr["spec"]["limits"][0]
        assert item["default"] == {"cpu": "2"}
        assert item["defaultRequest"] == {"cpu": "2", "memory": "64Mi"}
        assert "default" not in lr["spec"]["limits"][1]


class TestOtherGroups:
    def test_rbac_bindings(self) -> None:
        rb = defaulted("rbac.authorization.k8s.io", "RoleBinding", {
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                         {"kind": "ServiceAccount", "name": "sa", "namespace": "d"}]})
        assert rb["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
        assert [s["apiGroup"] for s in rb["subjects"]] == ["rbac.authorization.k8s.io"] * 2 + [""]

    def test_hpa_v2(self) -> None:
        hpa = defaulted("autoscaling", "HorizontalPodAutoscaler", {"spec": {"maxReplicas": 5, "behavior": {}}},
                        version="v2")
        spec = hpa["spec"]
        assert spec["minReplicas"] == 1
        assert spec["metrics"] == [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
        assert spec["behavior"]["scaleUp"]["policies"][0] == {"type": "Pods", "value": 4, "periodSeconds": 15}
        assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300

    def test_hpa_v1(self) -> None:
        hpa = defaulted("autoscaling", "HorizontalPodAutoscaler", {"spec": {"maxReplicas": 5}}, version="v1")
        assert hpa["spec"] == {"maxReplicas": 5, "minReplicas": 1}

    def test_storage_priority_slices_netpol(self) -> None:
        sc = defaulted("storage.k8s.io", "StorageClass", {"provisioner": "x"})
        assert (sc["reclaimPolicy"], sc["volumeBindingMode"]) == ("Delete", "Immediate")
        pc = defaulted("scheduling.k8s.io", "PriorityClass", {"value": 5})
        assert pc["preemptionPolicy"] == "PreemptLowerPriority"
        es = defaulted("discovery.k8s.io", "EndpointSlice", {"ports": [{"port": 80}]})
        assert es["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
        np = defaulted("networking.k8s.io", "NetworkPolicy", {"spec": {"egress": [{"ports": [{"port": 53}]}]}})
        assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert np["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"

    def test_unknown_kind_is_noop(self) -> None:
        obj = {"spec": {"x": 1}}
        apply_defaults(group="example.com", version="v1", kind="Widget", obj=obj)
        assert obj == {"spec": {"x": 1}}

    def test_table_covers_workloads(self) -> None:
        kinds = set(defaulted_kinds())
        for gk in [("", "Pod"), ("apps", "Deployment"), ("batch", "CronJob"), ("", "Service")]:
            assert gk in kinds
