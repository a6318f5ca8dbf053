"""Server-side tables: columns and cells per kind, checked against what Kubernetes prints for the same
objects, and finally rendered by the real kubectl.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from kybernetes.apiserver.tables import build_table, column_definitions, row_cells
from kybernetes.machinery.errors import BadRequestError
from kybernetes.machinery.timefmt import human_duration

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)


def ago(**delta: float) -> str:
    return (NOW - datetime.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def obj(
    kind: str, api_version: str = "v1", *, name: str = "x", created: str | None = None, **fields: Any
) -> dict:
    metadata = fields.pop("metadata", {})
    return {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": created or ago(minutes=5)}
        | metadata,
        **fields,
    }


def names(group: str, kind: str, *, wide: bool = True) -> list[str]:
    return [c["name"] for c in column_definitions(group=group, kind=kind) if wide or c["priority"] == 0]


def cells(group: str, kind: str, o: dict) -> list:
    return row_cells(group=group, kind=kind, obj=o, now=NOW)


# --- ages ---


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (59.9, "59s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (730 * 86400, "2y"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubectl_age(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


# --- pods ---


def pod(*, containers: int = 1, init: int = 0, **status: Any) -> dict:
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)],
        "nodeName": "node-1",
    }
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": "busybox"} for i in range(init)]
    return obj("Pod", name="web-0", spec=spec, status=status)


def running(name: str, *, ready: bool = True, restarts: int = 0, **extra: Any) -> dict:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": ago(minutes=4)}},
        **extra,
    }


def waiting(name: str, reason: str, *, restarts: int = 0, **extra: Any) -> dict:
    return {
        "name": name,
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason}},
        **extra,
    }


def test_pod_columns_and_priorities() -> None:
    assert names("", "Pod", wide=False) == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert names("", "Pod") == [
        "Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates",
    ]  # fmt: skip
    columns = column_definitions(group="", kind="Pod")
    assert columns[0] == {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": columns[0]["description"],
        "priority": 0,
    }
    assert columns[0]["description"].startswith("Name must be unique within a namespace.")
    assert columns[3]["type"] == "string"


def test_running_pod_with_one_of_two_containers_ready() -> None:
    p = pod(
        containers=2,
        phase="Running",
        podIP="10.244.0.7",
        podIPs=[{"ip": "10.244.0.7"}],
        containerStatuses=[running("c0"), running("c1", ready=False)],
    )
    assert cells("", "Pod", p) == [
        "web-0",
        "1/2",
        "Running",
        "0",
        "5m",
        "10.244.0.7",
        "node-1",
        "<none>",
        "<none>",
    ]


def test_crash_looping_pod_shows_reason_and_last_restart() -> None:
    last = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(minutes=3)}}
    p = pod(
        phase="Running",
        containerStatuses=[waiting("c0", "CrashLoopBackOff", restarts=5, lastState=last)],
    )
    assert cells("", "Pod", p)[1:4] == ["0/1", "CrashLoopBackOff", "5 (3m ago)"]


@pytest.mark.parametrize("reason", ["ContainerCreating", "ErrImagePull", "ImagePullBackOff"])
def test_waiting_reason_replaces_pending_phase(reason: str) -> None:
    p = pod(phase="Pending", containerStatuses=[waiting("c0", reason)])
    assert cells("", "Pod", p)[1:4] == ["0/1", reason, "0"]


def test_unscheduled_pod_is_pending_without_ip_or_node() -> None:
    p = obj("Pod", spec={"containers": [{"name": "c", "image": "i"}]}, status={"phase": "Pending"})
    assert cells("", "Pod", p)[1:] == ["0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"]


def test_scheduling_gated_pod() -> None:
    p = pod(
        phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]
    )
    assert cells("", "Pod", p)[2] == "SchedulingGated"


def test_init_container_progress() -> None:
    p = pod(
        init=2,
        phase="Pending",
        initContainerStatuses=[
            {
                "name": "i0",
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                "restartCount": 0,
            },
            {"name": "i1", "state": {"running": {}}, "restartCount": 0},
        ],
        containerStatuses=[waiting("c0", "PodInitializing")],
    )
    assert cells("", "Pod", p)[1:4] == ["0/1", "Init:1/2", "0"]


def test_init_container_failures() -> None:
    crash = pod(
        init=1, phase="Pending", initContainerStatuses=[waiting("i0", "CrashLoopBackOff", restarts=2)]
    )
    assert cells("", "Pod", crash)[1:4] == ["0/1", "Init:CrashLoopBackOff", "2"]
    error = pod(
        init=1,
        phase="Pending",
        initContainerStatuses=[{"name": "i0", "state": {"terminated": {"exitCode": 3}}, "restartCount": 0}],
    )
    assert cells("", "Pod", error)[2] == "Init:ExitCode:3"
    killed = pod(
        init=1,
        phase="Pending",
        initContainerStatuses=[{"name": "i0", "state": {"terminated": {"exitCode": 137, "signal": 9}}}],
    )
    assert cells("", "Pod", killed)[2] == "Init:Signal:9"


def test_sidecar_counts_as_container_once_started() -> None:
    p = obj(
        "Pod",
        spec={
            "initContainers": [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}],
            "containers": [{"name": "app", "image": "app"}],
        },
        status={
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [running("proxy", started=True, restarts=1)],
            "containerStatuses": [running("app")],
        },
    )
    assert cells("", "Pod", p)[1:4] == ["2/2", "Running", "1"]


def test_completed_pod_has_completed_row_condition() -> None:
    done = {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": ago(minutes=1)}}
    p = pod(phase="Succeeded", containerStatuses=[{"name": "c0", "ready": False, "state": done}])
    table = build_table(group="", kind="Pod", objects=[p], now=NOW)
    row = table["rows"][0]
    assert row["cells"][1:4] == ["0/1", "Completed", "0"]
    assert row["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]


def test_completed_container_next_to_running_one_reads_not_ready() -> None:
    done = {"name": "c1", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    p = pod(containers=2, phase="Running", containerStatuses=[running("c0"), done])
    assert cells("", "Pod", p)[1:3] == ["1/2", "NotReady"]


def test_failed_container_shows_error() -> None:
    p = pod(
        phase="Failed",
        containerStatuses=[{"name": "c0", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}],
    )
    assert cells("", "Pod", p)[2] == "Error"


def test_deleting_pod_is_terminating_unless_finished() -> None:
    p = pod(phase="Running", containerStatuses=[running("c0")])
    p["metadata"]["deletionTimestamp"] = ago(seconds=10)
    assert cells("", "Pod", p)[2] == "Terminating"
    p["status"]["phase"] = "Succeeded"
    assert cells("", "Pod", p)[2] == "Succeeded"
    p["status"] |= {"phase": "Running", "reason": "NodeLost"}
    assert cells("", "Pod", p)[2] == "Unknown"


def test_readiness_gates() -> None:
    p = pod(phase="Running", conditions=[{"type": "example.com/ready", "status": "True"}])
    p["spec"]["readinessGates"] = [{"conditionType": "example.com/ready"}, {"conditionType": "other"}]
    assert cells("", "Pod", p)[8] == "1/2"


# --- services, endpoints ---


def test_service_columns() -> None:
    assert names("", "Service") == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]


def test_node_port_service() -> None:
    svc = obj(
        "Service",
        name="web",
        spec={
            "type": "NodePort",
            "clusterIP": "10.96.0.20",
            "clusterIPs": ["10.96.0.20"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "selector": {"tier": "web", "app": "shop"},
        },
    )
    assert cells("", "Service", svc) == [
        "web", "NodePort", "10.96.0.20", "<none>", "80:30080/TCP,53/UDP", "5m", "app=shop,tier=web",
    ]  # fmt: skip


def test_cluster_ip_headless_and_defaults() -> None:
    svc = obj("Service", spec={"clusterIP": "None", "ports": [{"port": 80}]})
    assert cells("", "Service", svc)[1:5] == ["ClusterIP", "None", "<none>", "80/TCP"]
    bare = obj("Service", spec={})
    assert cells("", "Service", bare)[1:] == ["ClusterIP", "<none>", "<none>", "<none>", "5m", "<none>"]


def test_load_balancer_and_external_name_services() -> None:
    pending = obj("Service", spec={"type": "LoadBalancer", "clusterIPs": ["10.96.1.1"], "ports": []})
    assert cells("", "Service", pending)[3] == "<pending>"
    ready = obj(
        "Service",
        spec={"type": "LoadBalancer", "externalIPs": ["192.0.2.9"]},
        status={"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}, {"hostname": "lb.example.com"}]}},
    )
    assert cells("", "Service", ready)[3] == "203.0.113.5,lb.example.com,192.0.2.9"
    external = obj("Service", spec={"type": "ExternalName", "externalName": "db.example.com"})
    assert cells("", "Service", external)[2:4] == ["<none>", "db.example.com"]


def test_endpoints_list_three_then_more() -> None:
    ep = obj(
        "Endpoints",
        subsets=[
            {
                "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                "ports": [{"port": 80}, {"port": 443}],
            }
        ],
    )
    assert cells("", "Endpoints", ep)[1] == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
    two = obj(
        "Endpoints", subsets=[{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}], "ports": [{"port": 80}]}]
    )
    assert cells("", "Endpoints", two)[1] == "10.0.0.1:80,[fd00::1]:80"
    assert cells("", "Endpoints", obj("Endpoints"))[1] == "<none>"


def test_endpoint_slice() -> None:
    es = obj(
        "EndpointSlice",
        "discovery.k8s.io/v1",
        addressType="IPv4",
        ports=[{"port": 80, "name": "http"}, {"name": "dns"}, {}],
        endpoints=[{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}],
    )
    assert cells("discovery.k8s.io", "EndpointSlice", es) == [
        "x",
        "IPv4",
        "80,dns,*",
        "10.0.0.1,10.0.0.2",
        "5m",
    ]
    empty = obj("EndpointSlice", "discovery.k8s.io/v1", addressType="IPv4")
    assert cells("discovery.k8s.io", "EndpointSlice", empty)[2:4] == ["<unset>", "<unset>"]


# --- nodes, namespaces, config ---


def node(**fields: Any) -> dict:
    return obj("Node", name="node-1", created=ago(days=3, hours=4), **fields)


def test_node_status_roles_and_wide_columns() -> None:
    n = node(
        metadata={"labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "etcd"}},
        spec={"unschedulable": True},
        status={
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
            "addresses": [
                {"type": "InternalIP", "address": "192.168.1.10"},
                {"type": "Hostname", "address": "n1"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0",
                "containerRuntimeVersion": "runc://1.1.12",
            },
        },
    )
    assert names("", "Node", wide=False) == ["Name", "Status", "Roles", "Age", "Version"]
    assert cells("", "Node", n) == [
        "node-1",
        "Ready,SchedulingDisabled",
        "control-plane,etcd",
        "3d4h",
        "v1.32.0",
        "192.168.1.10",
        "<none>",
        "Debian GNU/Linux 12 (bookworm)",
        "6.1.0",
        "runc://1.1.12",
    ]


def test_node_not_ready_and_unknown() -> None:
    not_ready = node(status={"conditions": [{"type": "Ready", "status": "Unknown"}]})
    assert cells("", "Node", not_ready)[1:3] == ["NotReady", "<none>"]
    assert cells("", "Node", node())[1] == "Unknown"
    assert cells("", "Node", node())[7:] == ["<unknown>", "<unknown>", "<unknown>"]


def test_namespace_configmap_secret_serviceaccount() -> None:
    assert cells("", "Namespace", obj("Namespace", status={"phase": "Active"})) == ["x", "Active", "5m"]
    cm = obj("ConfigMap", data={"a": "1", "b": "2"}, binaryData={"c": "AA=="})
    assert cells("", "ConfigMap", cm) == ["x", 3, "5m"]
    secret = obj("Secret", type="kubernetes.io/tls", data={"tls.crt": "", "tls.key": ""})
    assert names("", "Secret") == ["Name", "Type", "Data", "Age"]
    assert cells("", "Secret", secret) == ["x", "kubernetes.io/tls", 2, "5m"]
    assert cells("", "Secret", obj("Secret")) == ["x", "Opaque", 0, "5m"]
    assert names("", "ServiceAccount") == ["Name", "Age"]
    assert cells("", "ServiceAccount", obj("ServiceAccount", created=ago(days=40))) == ["x", "40d"]


def test_resource_quota() -> None:
    quota = obj(
        "ResourceQuota",
        status={
            "hard": {"pods": "10", "requests.cpu": "2", "limits.memory": "2Gi", "limits.cpu": "4"},
            "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1000m"},
        },
    )
    assert cells("", "ResourceQuota", quota) == [
        "x", "pods: 3/10, requests.cpu: 500m/2", "limits.cpu: 1/4, limits.memory: 0/2Gi", "5m",
    ]  # fmt: skip


def test_persistent_volumes_and_claims() -> None:
    pv = obj(
        "PersistentVolume",
        spec={
            "capacity": {"storage": "10240Mi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "default", "name": "data"},
            "storageClassName": "local",
            "volumeMode": "Filesystem",
        },
        status={"phase": "Bound"},
    )
    assert cells("", "PersistentVolume", pv) == [
        "x", "10Gi", "RWO,RWX", "Retain", "Bound", "default/data", "local", "<unset>", "", "5m", "Filesystem",
    ]  # fmt: skip
    pending = obj(
        "PersistentVolumeClaim",
        spec={"resources": {"requests": {"storage": "1Gi"}}},
        status={"phase": "Pending"},
    )
    assert cells("", "PersistentVolumeClaim", pending) == [
        "x",
        "Pending",
        "",
        "",
        "",
        "",
        "<unset>",
        "5m",
        "<unset>",
    ]
    bound = obj(
        "PersistentVolumeClaim",
        spec={"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Filesystem"},
        status={"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"]},
    )
    assert cells("", "PersistentVolumeClaim", bound)[1:6] == ["Bound", "pv-1", "5Gi", "RWO", "standard"]


# --- events ---


def test_core_event() -> None:
    event = obj(
        "Event",
        name="web-0.17c",
        involvedObject={"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{c0}"},
        reason="BackOff",
        message="Back-off restarting failed container\n",
        source={"component": "kubelet", "host": "node-1"},
        firstTimestamp=ago(minutes=10),
        lastTimestamp=ago(seconds=30),
        count=7,
        type="Warning",
    )
    assert names("", "Event", wide=False) == ["Last Seen", "Type", "Reason", "Object", "Message"]
    assert cells("", "Event", event) == [
        "30s",
        "Warning",
        "BackOff",
        "pod/web-0",
        "spec.containers{c0}",
        "kubelet, node-1",
        "Back-off restarting failed container",
        "10m",
        7,
        "web-0.17c",
    ]


def test_event_with_event_time_and_series() -> None:
    event = obj(
        "Event",
        involvedObject={"kind": "Node", "name": ""},
        eventTime=ago(minutes=2, seconds=30),
        series={"count": 4, "lastObservedTime": ago(seconds=5)},
        reportingComponent="scheduler",
        type="Normal",
        reason="Scheduled",
    )
    row = cells("", "Event", event)
    assert row[0] == "5s"
    assert row[3] == "node"
    assert row[5] == "scheduler"
    assert row[7:9] == ["2m30s", 4]
    singleton = obj("Event", involvedObject={"kind": "Pod", "name": "p"}, eventTime=ago(seconds=3))
    assert cells("", "Event", singleton)[0] == "3s"
    assert cells("", "Event", singleton)[8] == 1


def test_events_k8s_io_event_uses_regarding_and_note() -> None:
    event = obj(
        "Event",
        "events.k8s.io/v1",
        regarding={"kind": "Deployment", "name": "web"},
        note="Scaled up replica set web-5d to 3",
        reason="ScalingReplicaSet",
        type="Normal",
        eventTime=ago(minutes=1),
        reportingController="deployment-controller",
        reportingInstance="kcm-1",
    )
    assert cells("events.k8s.io", "Event", event)[:9] == [
        "60s", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller, kcm-1",
        "Scaled up replica set web-5d to 3", "60s", 1,
    ]  # fmt: skip


# --- workloads ---

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]},
}


def test_deployment_ready_and_wide_columns() -> None:
    dep = obj(
        "Deployment",
        "apps/v1",
        name="web",
        created=ago(hours=2),
        spec={"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
        status={"replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3},
    )
    assert names("apps", "Deployment", wide=False) == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert cells("apps", "Deployment", dep) == [
        "web",
        "3/3",
        3,
        3,
        "120m",
        "nginx,log",
        "nginx:1.27,busybox",
        "app=web",
    ]
    fresh = obj("Deployment", "apps/v1", spec={"template": TEMPLATE})
    assert cells("apps", "Deployment", fresh)[1:4] == ["0/1", 0, 0]


def test_replica_set_stateful_set_daemon_set() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "canary"]}],
    }
    rs = obj(
        "ReplicaSet",
        "apps/v1",
        spec={"replicas": 2, "selector": selector, "template": TEMPLATE},
        status={"replicas": 2, "readyReplicas": 1},
    )
    assert names("apps", "ReplicaSet", wide=False) == ["Name", "Desired", "Current", "Ready", "Age"]
    assert cells("apps", "ReplicaSet", rs) == [
        "x", 2, 2, 1, "5m", "nginx,log", "nginx:1.27,busybox", "app=web,env in (canary,prod)",
    ]  # fmt: skip
    sts = obj(
        "StatefulSet", "apps/v1", spec={"replicas": 3, "template": TEMPLATE}, status={"readyReplicas": 2}
    )
    assert names("apps", "StatefulSet") == ["Name", "Ready", "Age", "Containers", "Images"]
    assert cells("apps", "StatefulSet", sts) == ["x", "2/3", "5m", "nginx,log", "nginx:1.27,busybox"]
    ds = obj(
        "DaemonSet",
        "apps/v1",
        spec={"selector": {"matchLabels": {"app": "agent"}}, "template": {"spec": {"containers": []}}},
        status={
            "desiredNumberScheduled": 2,
            "currentNumberScheduled": 2,
            "numberReady": 1,
            "updatedNumberScheduled": 2,
        },
    )
    assert names("apps", "DaemonSet", wide=False) == [
        "Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age",
    ]  # fmt: skip
    assert cells("apps", "DaemonSet", ds) == ["x", 2, 2, 1, 2, 0, "<none>", "5m", "", "", "app=agent"]


def test_selector_formats() -> None:
    selector = {
        "matchExpressions": [
            {"key": "zone", "operator": "NotIn", "values": ["b", "a"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "gpu", "operator": "Exists"},
        ]
    }
    rs = obj("ReplicaSet", "apps/v1", spec={"selector": selector, "template": TEMPLATE})
    assert cells("apps", "ReplicaSet", rs)[7] == "gpu,!legacy,zone notin (a,b)"
    empty = obj("ReplicaSet", "apps/v1", spec={"selector": {}, "template": TEMPLATE})
    assert cells("apps", "ReplicaSet", empty)[7] == "<none>"


def test_controller_revision() -> None:
    revision = obj(
        "ControllerRevision",
        "apps/v1",
        name="web-6d4b",
        metadata={
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": True}
            ]
        },
        revision=2,
    )
    assert cells("apps", "ControllerRevision", revision) == ["web-6d4b", "statefulset.apps/web", 2, "5m"]
    assert (
        cells("apps", "ControllerRevision", obj("ControllerRevision", "apps/v1", revision=1))[1] == "<none>"
    )


def job(**status: Any) -> dict:
    return obj(
        "Job",
        "batch/v1",
        name="pi",
        spec={
            "completions": 1,
            "parallelism": 1,
            "template": TEMPLATE,
            "selector": {"matchLabels": {"a": "b"}},
        },
        status=status,
    )


def test_job_columns_and_states() -> None:
    assert names("batch", "Job", wide=False) == ["Name", "Status", "Completions", "Duration", "Age"]
    complete = job(
        succeeded=1,
        startTime=ago(minutes=4),
        completionTime=ago(minutes=3, seconds=20),
        conditions=[{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}],
    )
    assert cells("batch", "Job", complete) == [
        "pi", "Complete", "1/1", "40s", "5m", "nginx,log", "nginx:1.27,busybox", "a=b",
    ]  # fmt: skip
    assert cells("batch", "Job", job(active=1, startTime=ago(minutes=3)))[1:4] == ["Running", "0/1", "3m"]
    assert cells("batch", "Job", job())[1:4] == ["Running", "0/1", ""]
    failed = job(failed=6, conditions=[{"type": "Failed", "status": "True"}])
    assert cells("batch", "Job", failed)[1] == "Failed"
    suspended = job(conditions=[{"type": "Suspended", "status": "True"}])
    assert cells("batch", "Job", suspended)[1] == "Suspended"


def test_job_completions_without_completions_field() -> None:
    work_queue = obj("Job", "batch/v1", spec={"parallelism": 3}, status={"succeeded": 1})
    assert cells("batch", "Job", work_queue)[2] == "1/1 of 3"
    single = obj("Job", "batch/v1", spec={}, status={})
    assert cells("batch", "Job", single)[2] == "0/1"


def test_cron_job() -> None:
    cron = obj(
        "CronJob",
        "batch/v1",
        name="backup",
        spec={"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": {"spec": {"template": TEMPLATE}}},
        status={"active": [{"name": "backup-1"}], "lastScheduleTime": ago(minutes=2)},
    )
    assert names("batch", "CronJob", wide=False) == [
        "Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age",
    ]  # fmt: skip
    assert cells("batch", "CronJob", cron) == [
        "backup", "*/5 * * * *", "<none>", "False", 1, "2m", "5m",
        "nginx,log", "nginx:1.27,busybox", "<none>",
    ]  # fmt: skip
    never = obj("CronJob", "batch/v1", spec={"schedule": "@daily", "timeZone": "Etc/UTC"})
    assert cells("batch", "CronJob", never)[2:6] == ["Etc/UTC", "<unset>", 0, "<none>"]


def test_horizontal_pod_autoscaler_v2() -> None:
    hpa = obj(
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
        name="web",
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                },
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "500Mi"},
                    },
                },
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "qps"},
                        "target": {"type": "AverageValue", "averageValue": "1k"},
                    },
                },
            ],
        },
        status={
            "currentReplicas": 2,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 23}}}
            ],
        },
    )
    assert names("autoscaling", "HorizontalPodAutoscaler") == [
        "Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age",
    ]  # fmt: skip
    assert cells("autoscaling", "HorizontalPodAutoscaler", hpa) == [
        "web", "Deployment/web", "cpu: 23%/50%, memory: <unknown>/500Mi + 1 more...", "1", 10, 2, "5m",
    ]  # fmt: skip


def test_horizontal_pod_autoscaler_v1() -> None:
    hpa = obj(
        "HorizontalPodAutoscaler",
        "autoscaling/v1",
        spec={"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5},
    )
    assert cells("autoscaling", "HorizontalPodAutoscaler", hpa)[2:6] == [
        "cpu: <unknown>/80%",
        "<unset>",
        5,
        0,
    ]


def test_pod_disruption_budget() -> None:
    pdb = obj(
        "PodDisruptionBudget", "policy/v1", spec={"minAvailable": "50%"}, status={"disruptionsAllowed": 1}
    )
    assert cells("policy", "PodDisruptionBudget", pdb) == ["x", "50%", "N/A", 1, "5m"]
    pdb2 = obj("PodDisruptionBudget", "policy/v1", spec={"maxUnavailable": 1})
    assert cells("policy", "PodDisruptionBudget", pdb2)[1:4] == ["N/A", "1", 0]


def test_replication_controller() -> None:
    rc = obj(
        "ReplicationController",
        spec={"replicas": 2, "selector": {"app": "web"}, "template": TEMPLATE},
        status={"replicas": 2, "readyReplicas": 2},
    )
    assert cells("", "ReplicationController", rc) == [
        "x",
        2,
        2,
        2,
        "5m",
        "nginx,log",
        "nginx:1.27,busybox",
        "app=web",
    ]


# --- cluster-level kinds ---


def test_roles_get_the_default_table() -> None:
    role = obj("ClusterRole", "rbac.authorization.k8s.io/v1", name="admin", created="2024-04-01T08:30:00Z")
    columns = column_definitions(group="rbac.authorization.k8s.io", kind="ClusterRole")
    assert [(c["name"], c["type"], c["format"]) for c in columns] == [
        ("Name", "string", "name"),
        ("Created At", "date", ""),
    ]
    assert cells("rbac.authorization.k8s.io", "ClusterRole", role) == ["admin", "2024-04-01T08:30:00Z"]
    limits = obj("LimitRange", created="2024-04-01T10:30:00+02:00")
    assert cells("", "LimitRange", limits) == ["x", "2024-04-01T08:30:00Z"]


def test_role_binding_subjects() -> None:
    binding = obj(
        "RoleBinding",
        "rbac.authorization.k8s.io/v1",
        name="edit-team",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        subjects=[
            {"kind": "User", "name": "alice"},
            {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
        ],
    )
    assert names("rbac.authorization.k8s.io", "RoleBinding", wide=False) == ["Name", "Role", "Age"]
    assert cells("rbac.authorization.k8s.io", "RoleBinding", binding) == [
        "edit-team", "ClusterRole/edit", "5m", "alice, bob", "devs", "tools/ci",
    ]  # fmt: skip


def test_storage_class_default_marker_and_defaults() -> None:
    sc = obj(
        "StorageClass",
        "storage.k8s.io/v1",
        name="local-path",
        metadata={"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        provisioner="rancher.io/local-path",
        volumeBindingMode="WaitForFirstConsumer",
    )
    assert names("storage.k8s.io", "StorageClass") == [
        "Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age",
    ]  # fmt: skip
    assert cells("storage.k8s.io", "StorageClass", sc) == [
        "local-path (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False, "5m",
    ]  # fmt: skip


def test_priority_class_lease_runtime_class() -> None:
    pc = obj("PriorityClass", "scheduling.k8s.io/v1", name="high", value=1000000, preemptionPolicy="Never")
    assert names("scheduling.k8s.io", "PriorityClass", wide=False) == [
        "Name", "Value", "Global-Default", "Age", "PreemptionPolicy",
    ]  # fmt: skip
    assert cells("scheduling.k8s.io", "PriorityClass", pc) == ["high", 1000000, False, "5m", "Never"]
    lease = obj("Lease", "coordination.k8s.io/v1", spec={"holderIdentity": "node-1"})
    assert cells("coordination.k8s.io", "Lease", lease) == ["x", "node-1", "5m"]
    assert cells("coordination.k8s.io", "Lease", obj("Lease", "coordination.k8s.io/v1"))[1] == ""
    rc = obj("RuntimeClass", "node.k8s.io/v1", handler="runc")
    assert cells("node.k8s.io", "RuntimeClass", rc) == ["x", "runc", "5m"]


def test_ingress_and_network_policy() -> None:
    ingress = obj(
        "Ingress",
        "networking.k8s.io/v1",
        spec={
            "ingressClassName": "nginx",
            "rules": [
                {"host": "a.example"},
                {"host": "b.example"},
                {},
                {"host": "c.example"},
                {"host": "d.example"},
            ],
            "tls": [{"hosts": ["a.example"]}],
        },
        status={"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}},
    )
    assert cells("networking.k8s.io", "Ingress", ingress) == [
        "x", "nginx", "a.example,b.example,c.example + 2 more...", "203.0.113.1", "80, 443", "5m",
    ]  # fmt: skip
    policy = obj("NetworkPolicy", "networking.k8s.io/v1", spec={"podSelector": {}})
    assert cells("networking.k8s.io", "NetworkPolicy", policy) == ["x", "<none>", "5m"]


def test_certificate_signing_request() -> None:
    csr = obj(
        "CertificateSigningRequest",
        "certificates.k8s.io/v1",
        spec={
            "signerName": "kubernetes.io/kube-apiserver-client",
            "username": "alice",
            "expirationSeconds": 86400,
        },
        status={"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"},
    )
    assert cells("certificates.k8s.io", "CertificateSigningRequest", csr) == [
        "x", "5m", "kubernetes.io/kube-apiserver-client", "alice", "24h", "Approved,Issued",
    ]  # fmt: skip


# --- the Table document ---


def test_build_table_with_metadata_objects_and_list_meta() -> None:
    p = pod(phase="Running", containerStatuses=[running("c0")])
    p["metadata"] |= {"uid": "u-1", "resourceVersion": "41", "labels": {"app": "web"}}
    table = build_table(
        group="", kind="Pod", objects=[p], now=NOW, resource_version="42", continue_token="abc", remaining=3
    )
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "abc", "remainingItemCount": 3}
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    (row,) = table["rows"]
    assert row["cells"][:5] == ["web-0", "1/1", "Running", "0", "5m"]
    assert "conditions" not in row
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": p["metadata"],
    }


def test_build_table_include_object_modes() -> None:
    cm = obj("ConfigMap", data={"k": "v"})
    assert (
        build_table(group="", kind="ConfigMap", objects=[cm], now=NOW, include_object="Object")["rows"][0][
            "object"
        ]
        == cm
    )
    bare = build_table(group="", kind="ConfigMap", objects=[cm], now=NOW, include_object="None")
    assert bare["rows"] == [{"cells": ["x", 1, "5m"]}]
    assert bare["metadata"] == {}
    default = build_table(group="", kind="ConfigMap", objects=[cm], now=NOW, include_object="")
    assert default["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    with pytest.raises(BadRequestError, match="unrecognized includeObject value"):
        build_table(group="", kind="ConfigMap", objects=[cm], now=NOW, include_object="All")


def test_build_table_for_empty_list_keeps_columns() -> None:
    table = build_table(group="apps", kind="Deployment", objects=[], now=NOW, resource_version="7")
    assert table["rows"] == []
    assert len(table["columnDefinitions"]) == 8


def test_naive_now_is_utc_and_unset_creation_is_unknown() -> None:
    naive = NOW.replace(tzinfo=None)
    cm = obj("ConfigMap")
    assert row_cells(group="", kind="ConfigMap", obj=cm, now=naive)[2] == "5m"
    cm["metadata"].pop("creationTimestamp")
    assert row_cells(group="", kind="ConfigMap", obj=cm, now=NOW)[2] == "<unknown>"


# --- the real kubectl renders these tables ---

_DISCOVERY: dict[str, dict[str, Any]] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["list"]},
            {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node", "verbs": ["list"]},
        ],
    },
}


def _kubectl_pods() -> list[dict]:
    last = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(minutes=3)}}
    healthy = pod(
        containers=2,
        phase="Running",
        podIPs=[{"ip": "10.244.0.7"}],
        containerStatuses=[running("c0"), running("c1", ready=False)],
    )
    back_off = waiting("c0", "CrashLoopBackOff", restarts=5, lastState=last)
    crashing = pod(phase="Running", containerStatuses=[back_off])
    crashing["metadata"]["name"] = "crashy"
    return [healthy, crashing]


async def _serve_tables(request: Any) -> Any:
    from aiohttp import web

    if request.path in _DISCOVERY:
        return web.json_response(_DISCOVERY[request.path])
    assert "as=Table;v=v1;g=meta.k8s.io" in request.headers.get("Accept", "")
    if request.path == "/api/v1/namespaces/default/pods":
        table = build_table(group="", kind="Pod", objects=_kubectl_pods(), now=NOW, resource_version="9")
    elif request.path == "/api/v1/nodes":
        ready = node(
            metadata={"labels": {"node-role.kubernetes.io/control-plane": ""}},
            status={
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0"},
            },
        )
        table = build_table(group="", kind="Node", objects=[ready], now=NOW)
    else:
        return web.json_response({"kind": "Status", "code": 404}, status=404)
    return web.json_response(table)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_real_kubectl_prints_server_columns(tmp_path: Path) -> None:
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/{tail:.*}", _serve_tables)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]

        async def kubectl(*args: str) -> str:
            proc = await asyncio.create_subprocess_exec(
                "kubectl",
                f"--server=http://127.0.0.1:{port}",
                f"--cache-dir={tmp_path / 'cache'}",
                "--namespace=default",
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
            out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
            assert proc.returncode == 0, err.decode()
            return out.decode()

        assert await kubectl("get", "pods") == (
            "NAME     READY   STATUS             RESTARTS     AGE\n"
            "web-0    1/2     Running            0            5m\n"
            "crashy   0/1     CrashLoopBackOff   5 (3m ago)   5m\n"
        )
        wide = (await kubectl("get", "pods", "-o", "wide")).splitlines()
        assert wide[0].split() == [
            "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
            "NOMINATED", "NODE", "READINESS", "GATES",
        ]  # fmt: skip
        assert wide[1].split() == [
            "web-0", "1/2", "Running", "0", "5m", "10.244.0.7", "node-1", "<none>", "<none>",
        ]  # fmt: skip
        assert await kubectl("get", "nodes") == (
            "NAME     STATUS   ROLES           AGE    VERSION\n"
            "node-1   Ready    control-plane   3d4h   v1.32.0\n"
        )
    finally:
        await runner.cleanup()
