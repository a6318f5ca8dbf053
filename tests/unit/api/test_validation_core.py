"""Validation of core kinds with realistic, defaulted objects and Kubernetes' exact messages."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.defaults import apply_defaults
from kybernetes.api.validation import validate_create, validate_status_update, validate_update
from kybernetes.machinery.errors import InvalidError

NAMESPACED = {"Pod", "Service", "ConfigMap", "Secret", "Endpoints", "PersistentVolumeClaim", "Event",
              "ReplicationController", "ServiceAccount", "LimitRange", "ResourceQuota", "PodTemplate", "Binding"}


def create(kind: str, obj: dict[str, Any]) -> list[str]:
    apply_defaults(group="", version="v1", kind=kind, obj=obj)
    errs = validate_create(group="", version="v1", kind=kind, obj=obj, namespaced=kind in NAMESPACED)
    return [e.describe() for e in errs]


def update(kind: str, new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    errs = validate_update(group="", version="v1", kind=kind, new=new, old=old, namespaced=kind in NAMESPACED)
    return [e.describe() for e in errs]


def pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx:1.25"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}, "spec": base}


class TestPod:
    def test_valid_pod(self) -> None:
        p = pod(volumes=[{"name": "data"}, {"name": "cfg", "configMap": {"name": "app"}}])
        p["spec"]["containers"][0].update({
            "ports": [{"containerPort": 80, "name": "http"}],
            "env": [{"name": "A", "value": "1"}, {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/etc/app"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        })
        assert create("Pod", p) == []

    def test_kubernetes_example_message(self) -> None:
        p = pod()
        p["metadata"]["name"] = "Bad_Name"
        del p["spec"]["containers"][0]["image"]
        apply_defaults(group="", version="v1", kind="Pod", obj=p)
        errs = validate_create(group="", version="v1", kind="Pod", obj=p, namespaced=True)
        message = InvalidError.of(kind="Pod", group="", name="Bad_Name", causes=errs).message
        assert message == (
            'Pod "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain '
            "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), "
            "spec.containers[0].image: Required value]"
        )

    def test_containers_required(self) -> None:
        assert create("Pod", pod(containers=[])) == ["spec.containers: Required value"]

    def test_container_names(self) -> None:
        p = pod(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "x"}, {"name": "B_1", "image": "x"},
                            {"image": "x"}],
                initContainers=[{"name": "a", "image": "x"}])
        errs = create("Pod", p)
        assert 'spec.containers[0].name: Duplicate value: "a"' in errs
        assert 'spec.containers[1].name: Duplicate value: "a"' in errs
        assert "spec.containers[3].name: Required value" in errs
        assert any(e.startswith('spec.containers[2].name: Invalid value: "B_1": a lowercase RFC 1123 label')
                   for e in errs)
        assert not any(e.startswith("spec.initContainers[0].name") for e in errs)

    def test_ports(self) -> None:
        p = pod()
        p["spec"]["containers"][0]["ports"] = [
            {"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"},
            {"containerPort": 70000}, {"containerPort": 82, "protocol": "ICMP"}, {"name": "x"},
            {"containerPort": 83, "name": "HTTP_2"},
        ]
        errs = create("Pod", p)
        assert errs == [
            'spec.containers[0].ports[1].name: Duplicate value: "http"',
            "spec.containers[0].ports[2].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            'spec.containers[0].ports[3].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
            "spec.containers[0].ports[4].containerPort: Required value",
            'spec.containers[0].ports[5].name: Invalid value: "HTTP_2": must contain only alpha-numeric characters '
            "(a-z, 0-9), and hyphens (-)",
            'spec.containers[0].ports[5].name: Invalid value: "HTTP_2": must contain at least one letter (a-z)',
        ]

    def test_duplicate_host_ports(self) -> None:
        p = pod(containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
                            {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]}])
        assert create("Pod", p) == ['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP/8080"']

    def test_env(self) -> None:
        p = pod()
        p["spec"]["containers"][0]["env"] = [
            {"name": ""}, {"name": "A=B"},
            {"name": "X", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "Y", "valueFrom": {}},
            {"name": "Z", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s"}}},
        ]
        errs = create("Pod", p)
        assert errs[0] == "spec.containers[0].env[0].name: Required value"
        assert errs[1].startswith('spec.containers[0].env[1].name: Invalid value: "A=B": a valid environment')
        assert errs[2] == ('spec.containers[0].env[2].valueFrom: Invalid value: "": may not be specified when '
                           "`value` is not empty")
        assert errs[3] == ('spec.containers[0].env[3].valueFrom: Invalid value: "": must specify one of: `fieldRef`, '
                           "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")
        assert errs[4].startswith('spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Unsupported value: '
                                  '"spec.bogus": supported values: "metadata.name"')
        assert errs[5] == "spec.containers[0].env[5].valueFrom.secretKeyRef.key: Required value"

    def test_volumes_and_mounts(self) -> None:
        p = pod(volumes=[{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}},
                         {"name": "b", "emptyDir": {}, "hostPath": {"path": "/x"}},
                         {"name": "c", "secret": {}}, {"name": "d", "persistentVolumeClaim": {}}])
        p["spec"]["containers"][0]["volumeMounts"] = [
            {"name": "a", "mountPath": "/a"}, {"name": "missing", "mountPath": "/m"},
            {"name": "a", "mountPath": "/a"}, {"name": "a", "mountPath": "/s", "subPath": "../etc"},
        ]
        assert create("Pod", p) == [
            'spec.volumes[1].name: Duplicate value: "a"',
            "spec.volumes[2].hostPath: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[3].secret.secretName: Required value",
            "spec.volumes[4].persistentVolumeClaim.claimName: Required value",
            'spec.containers[0].volumeMounts[1].name: Not found: "missing"',
            'spec.containers[0].volumeMounts[2].mountPath: Invalid value: "/a": must be unique',
            "spec.containers[0].volumeMounts[3].subPath: Invalid value: \"../etc\": must not contain '..'",
        ]

    def test_volume_without_source_after_defaults_is_empty_dir(self) -> None:
        assert create("Pod", pod(volumes=[{"name": "scratch"}])) == []

    def test_policies(self) -> None:
        errs = create("Pod", pod(restartPolicy="Sometimes", dnsPolicy="Weird"))
        assert errs == [
            'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
            'spec.dnsPolicy: Unsupported value: "Weird": supported values: "ClusterFirst", '
            '"ClusterFirstWithHostNet", "None", "Default"',
        ]
        assert create("Pod", pod(dnsPolicy="None")) == [
            "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"]

    def test_resources(self) -> None:
        p = pod()
        p["spec"]["containers"][0]["resources"] = {
            "requests": {"cpu": "2", "memory": "1Gi", "gpu": "1"},
            "limits": {"cpu": "1", "memory": "bogus", "example.com/dongle": "1"},
        }
        errs = create("Pod", p)
        assert "spec.containers[0].resources.limits[memory]: Invalid value: \"bogus\": quantities must match the " \
               "regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" in errs
        assert 'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for ' \
               "containers" in errs
        assert 'spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu ' \
               "limit of 1" in errs

    def test_extended_resource_requests_must_equal_limits(self) -> None:
        p = pod()
        p["spec"]["containers"][0]["resources"] = {"requests": {"example.com/gpu": "1"}}
        assert create("Pod", p) == [
            "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources"]

    def test_probes(self) -> None:
        p = pod()
        p["spec"]["containers"][0].update({
            "livenessProbe": {"successThreshold": 2, "exec": {"command": ["true"]}},
            "readinessProbe": {"exec": {"command": []}, "tcpSocket": {"port": 80}},
            "startupProbe": {"periodSeconds": -1, "tcpSocket": {"port": 80}},
        })
        errs = create("Pod", p)
        assert errs == [
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
            "spec.containers[0].readinessProbe.exec.command: Required value",
            "spec.containers[0].startupProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
        ]
        p2 = pod()
        p2["spec"]["containers"][0]["livenessProbe"] = {}
        assert create("Pod", p2) == ["spec.containers[0].livenessProbe: Required value: must specify a handler type"]

    def test_tolerations_and_deadline(self) -> None:
        errs = create("Pod", pod(activeDeadlineSeconds=0, tolerations=[
            {"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"},
            {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}, {"key": "k", "operator": "Maybe"}]))
        assert errs[0] == "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"
        assert errs[1].startswith('spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists')
        assert "spec.tolerations[1].operator" in errs[2] and "value must be empty when `operator` is 'Exists'" in errs[2]
        assert errs[3] == ('spec.tolerations[2].effect: Invalid value: "NoSchedule": effect must be \'NoExecute\' '
                           "when `tolerationSeconds` is set")
        assert errs[4] == 'spec.tolerations[3].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists"'

    def test_init_container_probe_forbidden_unless_sidecar(self) -> None:
        probe = {"exec": {"command": ["true"]}}
        errs = create("Pod", pod(initContainers=[{"name": "i", "image": "x", "readinessProbe": probe},
                                                 {"name": "s", "image": "x", "restartPolicy": "Always",
                                                  "readinessProbe": probe}]))
        assert errs == ["spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers "
                        "without restartPolicy=Always"]

    def test_update_only_image_may_change(self) -> None:
        old = pod()
        apply_defaults(group="", version="v1", kind="Pod", obj=old)
        new = copy.deepcopy(old)
        new["spec"]["containers"][0]["image"] = "nginx:1.26"
        new["metadata"]["labels"] = {"changed": "yes"}
        assert update("Pod", new, old) == []
        new["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
        errs = update("Pod", new, old)
        assert errs == [
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
            "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
            "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
            "previously negative)"
        ]

    def test_update_tolerations_additions_only(self) -> None:
        old = pod(tolerations=[{"key": "a", "operator": "Exists"}])
        apply_defaults(group="", version="v1", kind="Pod", obj=old)
        new = copy.deepcopy(old)
        new["spec"]["tolerations"].append({"key": "b", "operator": "Exists"})
        assert update("Pod", new, old) == []
        new["spec"]["tolerations"] = [{"key": "b", "operator": "Exists"}]
        assert update("Pod", new, old) == [
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"]

    def test_update_active_deadline(self) -> None:
        old = pod(activeDeadlineSeconds=100)
        new = pod(activeDeadlineSeconds=200)
        assert update("Pod", new, old) == [
            "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"]
        assert update("Pod", pod(activeDeadlineSeconds=50), old) == []

    def test_update_name_immutable(self) -> None:
        old = pod()
        new = copy.deepcopy(old)
        new["metadata"]["name"] = "other"
        assert update("Pod", new, old) == ['metadata.name: Invalid value: "other": field is immutable']

    def test_status_update(self) -> None:
        old = pod()
        new = copy.deepcopy(old)
        new["status"] = {"podIP": "10.0.0.300", "phase": "Running"}
        errs = validate_status_update(group="", version="v1", kind="Pod", new=new, old=old, namespaced=True)
        assert [e.path for e in errs] == ["status.podIP"]


def service(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    base.update(spec)
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": base}


class TestService:
    def test_valid(self) -> None:
        assert create("Service", service()) == []
        assert create("Service", service(type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080},
                                                                 {"name": "https", "port": 443}])) == []
        assert create("Service", service(clusterIP="None", ports=[])) == []
        assert create("Service", {"metadata": {"name": "ext", "namespace": "d"},
                                  "spec": {"type": "ExternalName", "externalName": "db.example.com"}}) == []

    def test_name_is_dns1035(self) -> None:
        s = service()
        s["metadata"]["name"] = "1web"
        errs = create("Service", s)
        assert len(errs) == 1 and errs[0].startswith('metadata.name: Invalid value: "1web": a DNS-1035 label')

    def test_ports(self) -> None:
        errs = create("Service", service(ports=[
            {"port": 80}, {"port": 80, "name": "b"}, {"port": 0, "name": "c"}, {"port": 81, "name": "b"},
            {"port": 82, "name": "d", "targetPort": 70000}, {"port": 83, "name": "e", "protocol": "HTTP"},
        ]))
        assert errs == [
            "spec.ports[0].name: Required value",
            'spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}',
            "spec.ports[2].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            'spec.ports[3].name: Duplicate value: "b"',
            "spec.ports[4].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            'spec.ports[5].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        ]

    def test_ports_required(self) -> None:
        assert create("Service", service(ports=[])) == ["spec.ports: Required value"]

    def test_type_and_node_port(self) -> None:
        assert create("Service", service(type="Magic")) == [
            'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
            '"NodePort"']
        assert create("Service", service(ports=[{"port": 80, "nodePort": 30001}])) == [
            "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        assert create("Service", service(type="NodePort", ports=[{"port": 80, "nodePort": 80}])) == [
            "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of "
            "valid ports is 30000-32767"]

    def test_selector_and_cluster_ip(self) -> None:
        errs = create("Service", service(selector={"app": "-bad"}, clusterIP="300.1.1.1"))
        assert errs[0].startswith('spec.selector: Invalid value: "-bad": a valid label must be')
        assert 'spec.clusterIP: Invalid value: "300.1.1.1": must be empty, \'None\', or a valid IP address' in errs

    def test_external_name(self) -> None:
        errs = create("Service", {"metadata": {"name": "ext", "namespace": "d"}, "spec": {"type": "ExternalName"}})
        assert errs == ["spec.externalName: Required value"]

    def test_cluster_ip_immutable(self) -> None:
        old = service(clusterIP="10.96.0.10")
        apply_defaults(group="", version="v1", kind="Service", obj=old)
        new = copy.deepcopy(old)
        new["spec"]["clusterIP"] = "10.96.0.11"
        new["spec"]["clusterIPs"] = ["10.96.0.11"]
        errs = update("Service", new, old)
        assert errs[0] == 'spec.clusterIP: Invalid value: "10.96.0.11": field is immutable'
        assert errs[1].startswith("spec.clusterIPs[0]: Invalid value:") and errs[1].endswith("may not change once set")
        same = copy.deepcopy(old)
        same["spec"]["ports"][0]["port"] = 8080
        assert update("Service", same, old) == []


class TestConfigAndSecrets:
    def test_configmap_keys(self) -> None:
        cm = {"metadata": {"name": "cfg", "namespace": "d"}, "data": {"good.key": "v", "bad/key": "v"},
              "binaryData": {"good.key": "AA=="}}
        errs = create("ConfigMap", cm)
        assert errs[0].startswith('data[bad/key]: Invalid value: "bad/key": a valid config key must consist of')
        assert errs[1] == 'binaryData[good.key]: Invalid value: "good.key": duplicate of key present in data'

    def test_configmap_size(self) -> None:
        cm = {"metadata": {"name": "cfg", "namespace": "d"}, "data": {"big": "x" * (1024 * 1024)}}
        assert create("ConfigMap", cm) == ["[]: Too long: may not be more than 1048576 bytes"]

    def test_immutable_configmap(self) -> None:
        old: dict[str, Any] = {"metadata": {"name": "cfg", "namespace": "d"}, "data": {"a": "1"}, "immutable": True}
        new = copy.deepcopy(old)
        new["data"]["a"] = "2"
        assert update("ConfigMap", new, old) == ["data: Forbidden: field is immutable when `immutable` is set"]
        new = copy.deepcopy(old)
        new["immutable"] = False
        assert update("ConfigMap", new, old) == ["immutable: Forbidden: field is immutable when `immutable` is set"]

    def test_secret_types(self) -> None:
        tls = {"metadata": {"name": "t", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "AA=="}}
        assert create("Secret", tls) == ["data[tls.key]: Required value"]
        sa = {"metadata": {"name": "t", "namespace": "d"}, "type": "kubernetes.io/service-account-token"}
        assert create("Secret", sa) == ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        assert create("Secret", {"metadata": {"name": "s", "namespace": "d"}, "stringData": {"k": "v"}}) == []

    def test_secret_type_immutable(self) -> None:
        old = {"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque", "data": {}}
        new = {**old, "type": "kubernetes.io/basic-auth", "data": {"username": "YQ=="}}
        assert update("Secret", new, old) == ['type: Invalid value: "kubernetes.io/basic-auth": field is immutable']


class TestClusterScoped:
    def test_namespace(self) -> None:
        assert create("Namespace", {"metadata": {"name": "team-a"}}) == []
        errs = create("Namespace", {"metadata": {"name": "team.a"}})
        assert errs == ['metadata.name: Invalid value: "team.a": must not contain dots']
        errs = create("Namespace", {"metadata": {"name": "x", "namespace": "y"}, "spec": {"finalizers": ["weird"]}})
        assert errs == ["metadata.namespace: Forbidden: not allowed on this type",
                        'spec.finalizers: Invalid value: "weird": name is neither a standard finalizer name nor is '
                        "it fully qualified"]

    def test_node(self) -> None:
        node = {"metadata": {"name": "node-1"}, "spec": {"podCIDR": "10.244.1.0/24", "taints": [
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            {"key": "dedicated", "value": "x", "effect": "NoSchedule"}, {"key": "k", "effect": "Sometimes"}]}}
        errs = create("Node", node)
        assert errs[0].startswith("spec.taints[1]: Duplicate value:")
        assert errs[1] == ('spec.taints[2].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", '
                           '"PreferNoSchedule", "NoExecute"')
        old = {"metadata": {"name": "node-1"}, "spec": {"podCIDRs": ["10.244.1.0/24"]}}
        new = {"metadata": {"name": "node-1"}, "spec": {"podCIDRs": ["10.244.2.0/24"]}}
        assert update("Node", new, old) == [
            'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid']

    def test_pv(self) -> None:
        assert create("PersistentVolume", {"metadata": {"name": "pv1"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}}) == []
        assert create("PersistentVolume", {"metadata": {"name": "pv1"}, "spec": {}}) == [
            "spec.accessModes: Required value", "spec.capacity: Required value",
            "spec: Required value: must specify a volume type"]

    def test_pvc(self) -> None:
        ok: dict[str, Any] = {"metadata": {"name": "c", "namespace": "d"},
              "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
        assert create("PersistentVolumeClaim", ok) == []
        bad = {"metadata": {"name": "c", "namespace": "d"}, "spec": {"accessModes": ["ReadWriteSometimes"]}}
        errs = create("PersistentVolumeClaim", bad)
        assert errs == [
            'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
            '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
            "spec.resources[storage]: Required value",
        ]
        apply_defaults(group="", version="v1", kind="PersistentVolumeClaim", obj=ok)
        grown = copy.deepcopy(ok)
        grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
        assert update("PersistentVolumeClaim", grown, ok) == []
        changed = copy.deepcopy(ok)
        changed["spec"]["accessModes"] = ["ReadWriteMany"]
        assert update("PersistentVolumeClaim", changed, ok) == [
            "spec: Forbidden: spec is immutable after creation except resources.requests and "
            "volumeAttributesClassName for bound claims"]


class TestOtherCore:
    def test_replication_controller(self) -> None:
        rc = {"metadata": {"name": "rc", "namespace": "d"},
              "spec": {"selector": {"app": "a"}, "template": {"metadata": {"labels": {"app": "b"}},
                                                              "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
        errs = create("ReplicationController", rc)
        assert errs == ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match '
                        "template `labels`"]

    def test_endpoints(self) -> None:
        ep = {"metadata": {"name": "web", "namespace": "d"},
              "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "nope"}], "ports": [{"port": 80}, {"port": 81}]}]}
        errs = create("Endpoints", ep)
        assert errs == [
            'subsets[0].addresses[1].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or '
            "2001:db8::ffff)",
            "subsets[0].ports[0].name: Required value", "subsets[0].ports[1].name: Required value",
        ]

    def test_event_namespace_match(self) -> None:
        ev = {"metadata": {"name": "e1", "namespace": "a"}, "involvedObject": {"kind": "Pod", "namespace": "b"}}
        assert create("Event", ev) == ['involvedObject.namespace: Invalid value: "b": does not match event.namespace']
        ev["involvedObject"]["namespace"] = "a"
        assert create("Event", ev) == []

    def test_limit_range_and_quota(self) -> None:
        lr = {"metadata": {"name": "l", "namespace": "d"}, "spec": {"limits": [
            {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}}
        errs = create("LimitRange", lr)
        assert 'spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1' in errs
        rq = {"metadata": {"name": "q", "namespace": "d"}, "spec": {"hard": {"pods": "-1"}, "scopes": ["Nope"]}}
        errs = create("ResourceQuota", rq)
        assert errs[0] == 'spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0'
        assert errs[1].startswith('spec.scopes[0]: Unsupported value: "Nope"')

    def test_binding(self) -> None:
        b = {"metadata": {"name": "web", "namespace": "d"}, "target": {"kind": "Pod"}}
        assert create("Binding", b) == [
            "target.name: Required value",
            'target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"',
        ]
        assert create("Binding", {"metadata": {"name": "web", "namespace": "d"},
                                  "target": {"kind": "Node", "name": "node-1"}}) == []

    def test_unknown_kind_gets_metadata_checks(self) -> None:
        errs = validate_create(group="example.com", version="v1", kind="Widget",
                               obj={"metadata": {"name": "Bad Name", "namespace": "d"}}, namespaced=True)
        assert [e.path for e in errs] == ["metadata.name"]
