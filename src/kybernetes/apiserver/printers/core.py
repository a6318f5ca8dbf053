"""Printers for the core ("") group other than pods: services, nodes, storage claims, config, events ...

Each printer mirrors the columns and cell rules of the Kubernetes API server for that kind; the cell functions
read the wire form and fall back to the API defaults where a field is absent (a Service without a type is a
ClusterIP service, a port without a protocol is TCP).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from kybernetes.apiserver.printers.format import (
    NONE,
    UNKNOWN,
    UNSET,
    Obj,
    age,
    containers_and_images,
    doc,
    format_labels,
    items,
    join_host_port,
    meta,
    name,
    num,
    quantity,
    since,
    spec,
    status,
    sub,
    text,
)
from kybernetes.apiserver.printers.model import (
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    NAME_COLUMN,
    Cell,
    Column,
    Printer,
)

Wire = Mapping[str, Any]

# --- services and endpoints ---------------------------------------------------------------------------------


def _service_cells(svc: Wire, now: datetime.datetime) -> list[Cell]:
    svc_spec = spec(svc)
    cluster_ips = [ip for ip in svc_spec.get("clusterIPs") or [] if isinstance(ip, str)]
    cluster_ip = cluster_ips[0] if cluster_ips else text(svc_spec.get("clusterIP"))
    return [
        name(svc),
        text(svc_spec.get("type")) or "ClusterIP",
        cluster_ip or NONE,
        _service_external_ip(svc),
        _service_ports(svc_spec) or NONE,
        age(svc, now),
        format_labels(svc_spec.get("selector")),
    ]


def _service_external_ip(svc: Wire) -> str:
    svc_spec = spec(svc)
    external = [ip for ip in svc_spec.get("externalIPs") or [] if isinstance(ip, str)]
    svc_type = text(svc_spec.get("type")) or "ClusterIP"
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or NONE
    if svc_type == "LoadBalancer":
        # The server renders tables as for -o wide, so the address list is never clipped here.
        addresses = set()
        for ingress in items(sub(svc, "status", "loadBalancer").get("ingress")):
            address = text(ingress.get("ip")) or text(ingress.get("hostname"))
            if address:
                addresses.add(address)
        balancer = sorted(addresses)
        if external:
            return ",".join(balancer + external)
        return ",".join(balancer) or "<pending>"
    if svc_type == "ExternalName":
        return text(svc_spec.get("externalName"))
    return UNKNOWN


def _service_ports(svc_spec: Obj) -> str:
    pieces = []
    for port in items(svc_spec.get("ports")):
        protocol = text(port.get("protocol")) or "TCP"
        node_port = num(port.get("nodePort"))
        if node_port > 0:
            pieces.append(f"{num(port.get('port'))}:{node_port}/{protocol}")
        else:
            pieces.append(f"{num(port.get('port'))}/{protocol}")
    return ",".join(pieces)


SERVICE = Printer(
    columns=(
        NAME_COLUMN,
        Column("Type", description=doc("core.v1.ServiceSpec.type")),
        Column("Cluster-IP", description=doc("core.v1.ServiceSpec.clusterIP")),
        Column("External-IP", description=doc("core.v1.ServiceSpec.externalIPs")),
        Column("Port(s)", description=doc("core.v1.ServiceSpec.ports")),
        AGE_COLUMN,
        Column("Selector", description=doc("core.v1.ServiceSpec.selector"), priority=1),
    ),
    cells=_service_cells,
)


def format_endpoints(endpoints: Wire) -> str:
    """Ready addresses as "ip:port" (first 3, then "+ N more..."); "<none>" without subsets."""
    subsets = items(endpoints.get("subsets"))
    if not subsets:
        return NONE
    shown: list[str] = []
    limit, count, more = 3, 0, False
    for subset in subsets:
        addresses = [text(a.get("ip")) for a in items(subset.get("addresses"))]
        ports = items(subset.get("ports"))
        # A headless service may have no ports: list bare addresses then.
        targets = [None] if not ports else [num(p.get("port")) for p in ports]
        for port in targets:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(address if port is None else join_host_port(address, port))
    joined = ",".join(shown)
    if more:
        return f"{joined} + {count - limit} more..."
    return joined


ENDPOINTS = Printer(
    columns=(NAME_COLUMN, Column("Endpoints", description=doc("core.v1.Endpoints.subsets")), AGE_COLUMN),
    cells=lambda obj, now: [name(obj), format_endpoints(obj), age(obj, now)],
)

# --- nodes and namespaces -----------------------------------------------------------------------------------

NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
NODE_ROLE_LABEL = "kubernetes.io/role"


def node_roles(node: Wire) -> list[str]:
    """Roles from node-role.kubernetes.io/<role> label keys and the legacy kubernetes.io/role value."""
    roles = set()
    for key, value in sub(node, "metadata", "labels").items():
        if key.startswith(NODE_ROLE_PREFIX) and key[len(NODE_ROLE_PREFIX) :]:
            roles.add(key[len(NODE_ROLE_PREFIX) :])
        elif key == NODE_ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _node_cells(node: Wire, now: datetime.datetime) -> list[Cell]:
    states = []
    for condition in items(status(node).get("conditions")):
        if condition.get("type") == "Ready":
            states = ["Ready" if condition.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if spec(node).get("unschedulable") is True:
        states.append("SchedulingDisabled")
    info = sub(node, "status", "nodeInfo")
    addresses = items(status(node).get("addresses"))
    return [
        name(node),
        ",".join(states),
        ",".join(node_roles(node)) or NONE,
        age(node, now),
        text(info.get("kubeletVersion")),
        _node_address(addresses, "InternalIP"),
        _node_address(addresses, "ExternalIP"),
        text(info.get("osImage")) or UNKNOWN,
        text(info.get("kernelVersion")) or UNKNOWN,
        text(info.get("containerRuntimeVersion")) or UNKNOWN,
    ]


def _node_address(addresses: list[Obj], kind: str) -> str:
    for address in addresses:
        if address.get("type") == kind:
            return text(address.get("address"))
    return NONE


NODE = Printer(
    columns=(
        NAME_COLUMN,
        Column("Status", description="The status of the node"),
        Column("Roles", description="The roles of the node"),
        AGE_COLUMN,
        Column("Version", description=doc("core.v1.NodeSystemInfo.kubeletVersion")),
        Column("Internal-IP", description=doc("core.v1.NodeStatus.addresses"), priority=1),
        Column("External-IP", description=doc("core.v1.NodeStatus.addresses"), priority=1),
        Column("OS-Image", description=doc("core.v1.NodeSystemInfo.osImage"), priority=1),
        Column("Kernel-Version", description=doc("core.v1.NodeSystemInfo.kernelVersion"), priority=1),
        Column(
            "Container-Runtime", description=doc("core.v1.NodeSystemInfo.containerRuntimeVersion"), priority=1
        ),
    ),
    cells=_node_cells,
)

NAMESPACE = Printer(
    columns=(NAME_COLUMN, Column("Status", description="The status of the namespace"), AGE_COLUMN),
    cells=lambda obj, now: [name(obj), text(status(obj).get("phase")), age(obj, now)],
)

# --- configuration ------------------------------------------------------------------------------------------

CONFIG_MAP = Printer(
    columns=(NAME_COLUMN, Column("Data", description=doc("core.v1.ConfigMap.data")), AGE_COLUMN),
    cells=lambda obj, now: [
        name(obj),
        len(sub(obj, "data")) + len(sub(obj, "binaryData")),
        age(obj, now),
    ],
)

SECRET = Printer(
    columns=(
        NAME_COLUMN,
        Column("Type", description=doc("core.v1.Secret.type")),
        Column("Data", description=doc("core.v1.Secret.data")),
        AGE_COLUMN,
    ),
    cells=lambda obj, now: [
        name(obj),
        text(obj.get("type")) or "Opaque",
        len(sub(obj, "data")),
        age(obj, now),
    ],
)

# Kubernetes dropped the SECRETS column once service account token secrets stopped being generated.
SERVICE_ACCOUNT = Printer(
    columns=(NAME_COLUMN, AGE_COLUMN),
    cells=lambda obj, now: [name(obj), age(obj, now)],
)


def _quota_cells(quota: Wire, now: datetime.datetime) -> list[Cell]:
    hard, used = sub(quota, "status", "hard"), sub(quota, "status", "used")
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        target = limits if resource.split(".")[0] == "limits" and "." in resource else requests
        target.append(f"{resource}: {quantity(used.get(resource))}/{quantity(hard.get(resource))}")
    return [name(quota), ", ".join(requests), ", ".join(limits), age(quota, now)]


RESOURCE_QUOTA = Printer(
    columns=(
        NAME_COLUMN,
        Column(
            "Request",
            description="Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        Column(
            "Limit",
            description="Limits control the maximum amount of cpu/memory that a container may use "
            "independent of contention on the node.",
        ),
        AGE_COLUMN,
    ),
    cells=_quota_cells,
)

# --- storage ------------------------------------------------------------------------------------------------

_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)
STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def access_modes(modes: object) -> str:
    present = {mode for mode in modes or [] if isinstance(mode, str)} if isinstance(modes, list) else set()
    return ",".join(short for mode, short in _ACCESS_MODES if mode in present)


def _storage_class(obj: Wire) -> str:
    annotation = sub(obj, "metadata", "annotations").get(STORAGE_CLASS_ANNOTATION)
    if isinstance(annotation, str):
        return annotation
    return text(spec(obj).get("storageClassName"))


def _pv_cells(pv: Wire, now: datetime.datetime) -> list[Cell]:
    pv_spec = spec(pv)
    claim = sub(pv_spec, "claimRef")
    phase = "Terminating" if meta(pv).get("deletionTimestamp") else text(status(pv).get("phase"))
    return [
        name(pv),
        quantity(sub(pv_spec, "capacity").get("storage")),
        access_modes(pv_spec.get("accessModes")),
        text(pv_spec.get("persistentVolumeReclaimPolicy")),
        phase,
        f"{text(claim.get('namespace'))}/{text(claim.get('name'))}" if claim else "",
        _storage_class(pv),
        text(pv_spec.get("volumeAttributesClassName")) or UNSET,
        text(status(pv).get("reason")),
        age(pv, now),
        text(pv_spec.get("volumeMode")) or UNSET,
    ]


PERSISTENT_VOLUME = Printer(
    columns=(
        NAME_COLUMN,
        Column("Capacity", description=doc("core.v1.PersistentVolumeSpec.capacity")),
        Column("Access Modes", description=doc("core.v1.PersistentVolumeSpec.accessModes")),
        Column(
            "Reclaim Policy", description=doc("core.v1.PersistentVolumeSpec.persistentVolumeReclaimPolicy")
        ),
        Column("Status", description=doc("core.v1.PersistentVolumeStatus.phase")),
        Column("Claim", description=doc("core.v1.PersistentVolumeSpec.claimRef")),
        Column("StorageClass", description="StorageClass of the pv"),
        Column("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
        Column("Reason", description=doc("core.v1.PersistentVolumeStatus.reason")),
        AGE_COLUMN,
        Column("VolumeMode", description=doc("core.v1.PersistentVolumeSpec.volumeMode"), priority=1),
    ),
    cells=_pv_cells,
)


def _pvc_cells(pvc: Wire, now: datetime.datetime) -> list[Cell]:
    pvc_spec = spec(pvc)
    phase = "Terminating" if meta(pvc).get("deletionTimestamp") else text(status(pvc).get("phase"))
    capacity = modes = ""
    if text(pvc_spec.get("volumeName")):
        # Until the claim is bound, its requested size is not a capacity worth showing.
        modes = access_modes(status(pvc).get("accessModes"))
        capacity = quantity(sub(pvc, "status", "capacity").get("storage"))
    return [
        name(pvc),
        phase,
        text(pvc_spec.get("volumeName")),
        capacity,
        modes,
        _storage_class(pvc),
        text(pvc_spec.get("volumeAttributesClassName")) or UNSET,
        age(pvc, now),
        text(pvc_spec.get("volumeMode")) or UNSET,
    ]


PERSISTENT_VOLUME_CLAIM = Printer(
    columns=(
        NAME_COLUMN,
        Column("Status", description=doc("core.v1.PersistentVolumeClaimStatus.phase")),
        Column("Volume", description=doc("core.v1.PersistentVolumeClaimSpec.volumeName")),
        Column("Capacity", description=doc("core.v1.PersistentVolumeClaimStatus.capacity")),
        Column("Access Modes", description=doc("core.v1.PersistentVolumeClaimStatus.accessModes")),
        Column("StorageClass", description="StorageClass of the pvc"),
        Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
        AGE_COLUMN,
        Column("VolumeMode", description=doc("core.v1.PersistentVolumeClaimSpec.volumeMode"), priority=1),
    ),
    cells=_pvc_cells,
)

# --- controllers and templates of the core group ------------------------------------------------------------


def _rc_cells(rc: Wire, now: datetime.datetime) -> list[Cell]:
    names, images = containers_and_images(sub(rc, "spec", "template", "spec").get("containers"))
    return [
        name(rc),
        num(spec(rc).get("replicas"), 1),
        num(status(rc).get("replicas")),
        num(status(rc).get("readyReplicas")),
        age(rc, now),
        names,
        images,
        format_labels(spec(rc).get("selector")),
    ]


REPLICATION_CONTROLLER = Printer(
    columns=(
        NAME_COLUMN,
        Column("Desired", "integer", doc("core.v1.ReplicationControllerSpec.replicas")),
        Column("Current", "integer", doc("core.v1.ReplicationControllerStatus.replicas")),
        Column("Ready", "integer", doc("core.v1.ReplicationControllerStatus.readyReplicas")),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        Column("Selector", description=doc("core.v1.ReplicationControllerSpec.selector"), priority=1),
    ),
    cells=_rc_cells,
)


def _pod_template_cells(template: Wire, now: datetime.datetime) -> list[Cell]:
    names, images = containers_and_images(sub(template, "template", "spec").get("containers"))
    return [name(template), names, images, format_labels(sub(template, "template", "metadata").get("labels"))]


POD_TEMPLATE = Printer(
    columns=(
        NAME_COLUMN,
        Column("Containers", description="Names of each container in the template."),
        Column("Images", description="Images referenced by each container in the template."),
        Column("Pod Labels", description="The labels for the pod template."),
    ),
    cells=_pod_template_cells,
)


def _component_status_cells(component: Wire, now: datetime.datetime) -> list[Cell]:
    health, message, error = "Unknown", "", ""
    for condition in items(component.get("conditions")):
        if condition.get("type") == "Healthy":
            health = "Healthy" if condition.get("status") == "True" else "Unhealthy"
            message, error = text(condition.get("message")), text(condition.get("error"))
            break
    return [name(component), health, message, error]


COMPONENT_STATUS = Printer(
    columns=(
        NAME_COLUMN,
        Column("Status", description="Status of the component conditions"),
        Column("Message", description="Message of the component conditions"),
        Column("Error", description="Error of the component conditions"),
    ),
    cells=_component_status_cells,
)

# --- events (core/v1 and events.k8s.io/v1 share one printer, as they share one storage) ---------------------


def _event_cells(event: Wire, now: datetime.datetime) -> list[Cell]:
    modern = text(event.get("apiVersion")).startswith("events.k8s.io/")
    if modern:
        involved, message = sub(event, "regarding"), text(event.get("note"))
        source = sub(event, "deprecatedSource")
        first_ts, last_ts = event.get("deprecatedFirstTimestamp"), event.get("deprecatedLastTimestamp")
        count = num(event.get("deprecatedCount"))
        controller = text(event.get("reportingController"))
    else:
        involved, message = sub(event, "involvedObject"), text(event.get("message"))
        source = sub(event, "source")
        first_ts, last_ts = event.get("firstTimestamp"), event.get("lastTimestamp")
        count = num(event.get("count"))
        controller = text(event.get("reportingComponent"))

    first_seen = since(first_ts if first_ts else event.get("eventTime"), now)
    last_seen = since(last_ts, now) if last_ts else first_seen
    series = event.get("series")
    if isinstance(series, Mapping):
        last_seen = since(series.get("lastObservedTime"), now)
        count = num(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count

    kind = text(involved.get("kind")).lower()
    involved_name = text(involved.get("name"))
    component = text(source.get("component")) or controller
    instance = text(source.get("host")) or text(event.get("reportingInstance"))
    return [
        last_seen,
        text(event.get("type")),
        text(event.get("reason")),
        f"{kind}/{involved_name}" if involved_name else kind,
        text(involved.get("fieldPath")),
        f"{component}, {instance}" if instance else component,
        message.strip(),
        first_seen,
        count,
        name(event),
    ]


EVENT = Printer(
    columns=(
        Column("Last Seen", description=doc("core.v1.Event.lastTimestamp")),
        Column("Type", description=doc("core.v1.Event.type")),
        Column("Reason", description=doc("core.v1.Event.reason")),
        Column("Object", description=doc("core.v1.Event.involvedObject")),
        Column("Subobject", description=doc("core.v1.ObjectReference.fieldPath"), priority=1),
        Column("Source", description=doc("core.v1.Event.source"), priority=1),
        Column("Message", description=doc("core.v1.Event.message")),
        Column("First Seen", description=doc("core.v1.Event.firstTimestamp"), priority=1),
        Column("Count", description=doc("core.v1.Event.count"), priority=1),
        Column("Name", format="name", description=doc("meta.v1.ObjectMeta.name"), priority=1),
    ),
    cells=_event_cells,
)
