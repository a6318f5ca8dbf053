"""Server-side table printers: the columns `kubectl get` shows for each built-in kind, and their cells.

`PRINTERS` maps (API group, kind) to a `Printer`. The modules split the kinds by area: `pods` (the intricate
STATUS/READY/RESTARTS logic), `core` (the rest of the core group), `workloads` (apps, batch, autoscaling,
policy) and `cluster` (RBAC, storage, scheduling, coordination, discovery, networking, admission,
certificates).
`format` holds the cell formatting they share; `descriptions` is column documentation taken from the
Kubernetes OpenAPI document. Kinds absent from `PRINTERS` get the server's default table (see
kybernetes.apiserver.tables).
"""

from __future__ import annotations

from kybernetes.apiserver.printers import cluster, core, workloads
from kybernetes.apiserver.printers.model import Column, Printer
from kybernetes.apiserver.printers.pods import POD_PRINTER

PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): POD_PRINTER,
    ("", "PodTemplate"): core.POD_TEMPLATE,
    ("", "Service"): core.SERVICE,
    ("", "Endpoints"): core.ENDPOINTS,
    ("", "Node"): core.NODE,
    ("", "Namespace"): core.NAMESPACE,
    ("", "ConfigMap"): core.CONFIG_MAP,
    ("", "Secret"): core.SECRET,
    ("", "ServiceAccount"): core.SERVICE_ACCOUNT,
    ("", "ResourceQuota"): core.RESOURCE_QUOTA,
    ("", "PersistentVolume"): core.PERSISTENT_VOLUME,
    ("", "PersistentVolumeClaim"): core.PERSISTENT_VOLUME_CLAIM,
    ("", "ReplicationController"): core.REPLICATION_CONTROLLER,
    ("", "ComponentStatus"): core.COMPONENT_STATUS,
    ("", "Event"): core.EVENT,
    ("events.k8s.io", "Event"): core.EVENT,
    ("apps", "Deployment"): workloads.DEPLOYMENT,
    ("apps", "ReplicaSet"): workloads.REPLICA_SET,
    ("apps", "StatefulSet"): workloads.STATEFUL_SET,
    ("apps", "DaemonSet"): workloads.DAEMON_SET,
    ("apps", "ControllerRevision"): workloads.CONTROLLER_REVISION,
    ("batch", "Job"): workloads.JOB,
    ("batch", "CronJob"): workloads.CRON_JOB,
    ("autoscaling", "HorizontalPodAutoscaler"): workloads.HORIZONTAL_POD_AUTOSCALER,
    ("policy", "PodDisruptionBudget"): workloads.POD_DISRUPTION_BUDGET,
    ("rbac.authorization.k8s.io", "RoleBinding"): cluster.ROLE_BINDING,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): cluster.CLUSTER_ROLE_BINDING,
    ("storage.k8s.io", "StorageClass"): cluster.STORAGE_CLASS,
    ("storage.k8s.io", "VolumeAttachment"): cluster.VOLUME_ATTACHMENT,
    ("storage.k8s.io", "CSINode"): cluster.CSI_NODE,
    ("scheduling.k8s.io", "PriorityClass"): cluster.PRIORITY_CLASS,
    ("coordination.k8s.io", "Lease"): cluster.LEASE,
    ("node.k8s.io", "RuntimeClass"): cluster.RUNTIME_CLASS,
    ("discovery.k8s.io", "EndpointSlice"): cluster.ENDPOINT_SLICE,
    ("networking.k8s.io", "Ingress"): cluster.INGRESS,
    ("networking.k8s.io", "IngressClass"): cluster.INGRESS_CLASS,
    ("networking.k8s.io", "NetworkPolicy"): cluster.NETWORK_POLICY,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): cluster.WEBHOOK_CONFIGURATION,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): cluster.WEBHOOK_CONFIGURATION,
    ("certificates.k8s.io", "CertificateSigningRequest"): cluster.CERTIFICATE_SIGNING_REQUEST,
}

__all__ = ["PRINTERS", "Column", "Printer"]
