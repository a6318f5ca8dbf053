"""Printers for the cluster-level groups: RBAC bindings, storage, scheduling, coordination, discovery,
networking, admission registration, node and certificates.

Roles and ClusterRoles, like LimitRanges, have no printer in Kubernetes either: they get the server's
default table (NAME, CREATED AT), which the table builder supplies.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from kybernetes.apiserver.printers.format import (
    NONE,
    age,
    doc,
    format_selector,
    items,
    list_with_more,
    name,
    num,
    spec,
    status,
    sub,
    text,
)
from kybernetes.apiserver.printers.model import AGE_COLUMN, NAME_COLUMN, Cell, Column, Printer
from kybernetes.machinery.timefmt import human_duration

Wire = Mapping[str, Any]

# --- rbac.authorization.k8s.io ------------------------------------------------------------------------------


def subjects_by_kind(subjects: object) -> tuple[list[str], list[str], list[str]]:
    """Users, groups and "namespace/name" service accounts of a binding, in the binding's order."""
    users, groups, service_accounts = [], [], []
    for subject in items(subjects):
        kind, subject_name = subject.get("kind"), text(subject.get("name"))
        if kind == "User":
            users.append(subject_name)
        elif kind == "Group":
            groups.append(subject_name)
        elif kind == "ServiceAccount":
            service_accounts.append(f"{text(subject.get('namespace'))}/{subject_name}")
    return users, groups, service_accounts


def _binding_cells(binding: Wire, now: datetime.datetime) -> list[Cell]:
    role_ref = sub(binding, "roleRef")
    users, groups, service_accounts = subjects_by_kind(binding.get("subjects"))
    return [
        name(binding),
        f"{text(role_ref.get('kind'))}/{text(role_ref.get('name'))}",
        age(binding, now),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(service_accounts),
    ]


def _binding_printer(*, noun: str, kind: str) -> Printer:
    return Printer(
        columns=(
            NAME_COLUMN,
            Column("Role", description=doc(f"rbac.v1.{kind}.roleRef")),
            AGE_COLUMN,
            Column("Users", description=f"Users in the {noun}", priority=1),
            Column("Groups", description=f"Groups in the {noun}", priority=1),
            Column("ServiceAccounts", description=f"ServiceAccounts in the {noun}", priority=1),
        ),
        cells=_binding_cells,
    )


ROLE_BINDING = _binding_printer(noun="roleBinding", kind="RoleBinding")
CLUSTER_ROLE_BINDING = _binding_printer(noun="clusterRoleBinding", kind="ClusterRoleBinding")

# --- storage.k8s.io -----------------------------------------------------------------------------------------

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def _storage_class_cells(sc: Wire, now: datetime.datetime) -> list[Cell]:
    annotations = sub(sc, "metadata", "annotations")
    shown_name = name(sc)
    if any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS):
        shown_name += " (default)"
    expansion = sc.get("allowVolumeExpansion")
    return [
        shown_name,
        text(sc.get("provisioner")),
        text(sc.get("reclaimPolicy")) or "Delete",
        text(sc.get("volumeBindingMode")) or "Immediate",
        expansion if isinstance(expansion, bool) else False,
        age(sc, now),
    ]


STORAGE_CLASS = Printer(
    columns=(
        NAME_COLUMN,
        Column("Provisioner", description=doc("storage.v1.StorageClass.provisioner")),
        Column("ReclaimPolicy", description=doc("storage.v1.StorageClass.reclaimPolicy")),
        Column("VolumeBindingMode", description=doc("storage.v1.StorageClass.volumeBindingMode")),
        Column("AllowVolumeExpansion", description=doc("storage.v1.StorageClass.allowVolumeExpansion")),
        AGE_COLUMN,
    ),
    cells=_storage_class_cells,
)


def _volume_attachment_cells(va: Wire, now: datetime.datetime) -> list[Cell]:
    attached = status(va).get("attached")
    return [
        name(va),
        text(spec(va).get("attacher")),
        text(sub(va, "spec", "source").get("persistentVolumeName")),
        text(spec(va).get("nodeName")),
        attached if isinstance(attached, bool) else False,
        age(va, now),
    ]


VOLUME_ATTACHMENT = Printer(
    columns=(
        NAME_COLUMN,
        Column("Attacher", format="name", description=doc("storage.v1.VolumeAttachmentSpec.attacher")),
        Column("PV", description=doc("storage.v1.VolumeAttachmentSource.persistentVolumeName")),
        Column("Node", description=doc("storage.v1.VolumeAttachmentSpec.nodeName")),
        Column("Attached", "boolean", doc("storage.v1.VolumeAttachmentStatus.attached")),
        AGE_COLUMN,
    ),
    cells=_volume_attachment_cells,
)

CSI_NODE = Printer(
    columns=(
        NAME_COLUMN,
        Column("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
        AGE_COLUMN,
    ),
    cells=lambda obj, now: [name(obj), len(items(spec(obj).get("drivers"))), age(obj, now)],
)

# --- scheduling.k8s.io, coordination.k8s.io, node.k8s.io ----------------------------------------------------


def _priority_class_cells(pc: Wire, now: datetime.datetime) -> list[Cell]:
    global_default = pc.get("globalDefault")
    return [
        name(pc),
        num(pc.get("value")),
        global_default if isinstance(global_default, bool) else False,
        age(pc, now),
        text(pc.get("preemptionPolicy")),
    ]


PRIORITY_CLASS = Printer(
    columns=(
        NAME_COLUMN,
        Column("Value", "integer", doc("scheduling.v1.PriorityClass.value")),
        Column("Global-Default", "boolean", doc("scheduling.v1.PriorityClass.globalDefault")),
        AGE_COLUMN,
        Column("PreemptionPolicy", description=doc("scheduling.v1.PriorityClass.preemptionPolicy")),
    ),
    cells=_priority_class_cells,
)

LEASE = Printer(
    columns=(
        NAME_COLUMN,
        Column("Holder", description=doc("coordination.v1.LeaseSpec.holderIdentity")),
        AGE_COLUMN,
    ),
    cells=lambda obj, now: [name(obj), text(spec(obj).get("holderIdentity")), age(obj, now)],
)

RUNTIME_CLASS = Printer(
    # Kubernetes looks the Handler description up on ObjectMeta, where it does not exist: it is empty.
    columns=(NAME_COLUMN, Column("Handler"), AGE_COLUMN),
    cells=lambda obj, now: [name(obj), text(obj.get("handler")), age(obj, now)],
)

# --- discovery.k8s.io ---------------------------------------------------------------------------------------


def _slice_ports(ports: object) -> str:
    shown = []
    for port in items(ports):
        number, port_name = port.get("port"), port.get("name")
        if isinstance(number, int):
            shown.append(str(number))
        elif isinstance(port_name, str):
            shown.append(port_name)
        else:
            shown.append("*")
    return list_with_more(shown)


def _slice_endpoints(endpoints: object) -> str:
    addresses = [text(a) for endpoint in items(endpoints) for a in endpoint.get("addresses") or []]
    return list_with_more(addresses)


ENDPOINT_SLICE = Printer(
    columns=(
        NAME_COLUMN,
        Column("AddressType", description=doc("discovery.v1.EndpointSlice.addressType")),
        Column("Ports", description=doc("discovery.v1.EndpointSlice.ports")),
        Column("Endpoints", description=doc("discovery.v1.EndpointSlice.endpoints")),
        AGE_COLUMN,
    ),
    cells=lambda obj, now: [
        name(obj),
        text(obj.get("addressType")),
        _slice_ports(obj.get("ports")),
        _slice_endpoints(obj.get("endpoints")),
        age(obj, now),
    ],
)

# --- networking.k8s.io --------------------------------------------------------------------------------------


def _ingress_hosts(rules: list[Mapping[str, Any]]) -> str:
    shown: list[str] = []
    more = False
    for rule in rules:
        if len(shown) == 3:
            more = True
        host = text(rule.get("host"))
        if not more and host:
            shown.append(host)
    if not shown:
        return "*"
    if more:
        return f"{','.join(shown)} + {len(rules) - 3} more..."
    return ",".join(shown)


def _ingress_cells(ingress: Wire, now: datetime.datetime) -> list[Cell]:
    ingress_spec = spec(ingress)
    addresses = set()
    for point in items(sub(ingress, "status", "loadBalancer").get("ingress")):
        address = text(point.get("ip")) or text(point.get("hostname"))
        if address:
            addresses.add(address)
    return [
        name(ingress),
        text(ingress_spec.get("ingressClassName")) or NONE,
        _ingress_hosts(items(ingress_spec.get("rules"))),
        ",".join(sorted(addresses)),
        "80, 443" if items(ingress_spec.get("tls")) else "80",
        age(ingress, now),
    ]


INGRESS = Printer(
    columns=(
        NAME_COLUMN,
        Column(
            "Class",
            description="The name of the IngressClass resource that should be used for additional "
            "configuration",
        ),
        Column(
            "Hosts", description="Hosts that incoming requests are matched against before the ingress rule"
        ),
        Column("Address", description="Address is a list containing ingress points for the load-balancer"),
        Column("Ports", description="Ports of TLS configurations that open"),
        AGE_COLUMN,
    ),
    cells=_ingress_cells,
)


def _ingress_class_parameters(ingress_class: Wire) -> str:
    params = sub(ingress_class, "spec", "parameters")
    if not params:
        return NONE
    kind = text(params.get("kind"))
    if isinstance(params.get("apiGroup"), str):
        kind += "." + text(params.get("apiGroup"))
    return f"{kind}/{text(params.get('name'))}"


INGRESS_CLASS = Printer(
    columns=(
        NAME_COLUMN,
        Column("Controller", description="Controller that is responsible for handling this class"),
        Column("Parameters", description="A reference to a resource with additional parameters"),
        AGE_COLUMN,
    ),
    cells=lambda obj, now: [
        name(obj),
        text(spec(obj).get("controller")),
        _ingress_class_parameters(obj),
        age(obj, now),
    ],
)

NETWORK_POLICY = Printer(
    columns=(
        NAME_COLUMN,
        Column("Pod-Selector", description=doc("networking.v1.NetworkPolicySpec.podSelector")),
        AGE_COLUMN,
    ),
    cells=lambda obj, now: [name(obj), format_selector(spec(obj).get("podSelector") or {}), age(obj, now)],
)

# --- admissionregistration.k8s.io ---------------------------------------------------------------------------

WEBHOOK_CONFIGURATION = Printer(
    columns=(
        NAME_COLUMN,
        Column(
            "Webhooks",
            "integer",
            "Webhooks indicates the number of webhooks registered in this configuration",
        ),
        AGE_COLUMN,
    ),
    cells=lambda obj, now: [name(obj), len(items(obj.get("webhooks"))), age(obj, now)],
)

# --- certificates.k8s.io ------------------------------------------------------------------------------------


def csr_condition(csr: Wire) -> str:
    """Denied beats Approved beats Pending; ",Failed" and ",Issued" are appended when they apply."""
    types = {condition.get("type") for condition in items(status(csr).get("conditions"))}
    state = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        state += ",Failed"
    if text(status(csr).get("certificate")):
        state += ",Issued"
    return state


def _csr_cells(csr: Wire, now: datetime.datetime) -> list[Cell]:
    csr_spec = spec(csr)
    expiration = csr_spec.get("expirationSeconds")
    return [
        name(csr),
        age(csr, now),
        text(csr_spec.get("signerName")) or NONE,
        text(csr_spec.get("username")),
        human_duration(expiration) if isinstance(expiration, int) else NONE,
        csr_condition(csr),
    ]


CERTIFICATE_SIGNING_REQUEST = Printer(
    columns=(
        NAME_COLUMN,
        AGE_COLUMN,
        Column("SignerName", description=doc("certificates.v1.CertificateSigningRequestSpec.signerName")),
        Column("Requestor", description=doc("certificates.v1.CertificateSigningRequestSpec.request")),
        Column(
            "RequestedDuration",
            description=doc("certificates.v1.CertificateSigningRequestSpec.expirationSeconds"),
        ),
        Column("Condition", description=doc("certificates.v1.CertificateSigningRequestStatus.conditions")),
    ),
    cells=_csr_cells,
)
