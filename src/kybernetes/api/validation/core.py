"""Validation of the core ("" group) kinds other than the pod spec itself (see pod.py).

Pod, Service, Namespace, ConfigMap, Secret, ServiceAccount, Node, Endpoints, PersistentVolume(Claim),
ReplicationController, PodTemplate, Event, LimitRange, ResourceQuota. Each kind is a `Rules` entry in
`RULES`; functions take the wire dict and return every error at once.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.validation.pod import (
    PROTOCOLS,
    TAINT_EFFECTS,
    validate_pod_spec,
    validate_pod_spec_update,
    validate_pod_template,
)
from kybernetes.api.validation.rules import Obj, Rules, spec_of
from kybernetes.machinery.errors import (
    FieldError,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)
from kybernetes.machinery.validation import (
    FIELD_IMMUTABLE,
    child,
    index,
    is_config_map_key,
    is_label_value,
    is_qualified_name,
    is_valid_cidr,
    is_valid_ip,
    is_valid_port_num,
    key,
    name_is_dns1035_label,
    name_is_dns_label,
    parse_quantity,
    selector_matches,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_immutable,
    validate_label_name,
    validate_label_selector,
    validate_labels,
    validate_nonnegative,
    validate_nonnegative_quantity,
    validate_port_num_or_name,
)

MAX_DATA_SIZE = 1024 * 1024
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
NODE_PORT_RANGE = (30000, 32767)
ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"


# ---------------------------------------------------------------- Pod


def _pod(obj: Obj, version: str) -> list[FieldError]:
    return validate_pod_spec(spec_of(obj), "spec", is_pod=True)


def _pod_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    return validate_pod_spec_update(spec_of(new), spec_of(old))


def _pod_status(new: Obj, old: Obj, version: str) -> list[FieldError]:
    status = new.get("status") or {}
    errs: list[FieldError] = []
    for f in ("podIP", "hostIP"):
        if status.get(f):
            errs.extend(invalid(child("status", f), status[f], m) for m in is_valid_ip(status[f]))
    for f in ("podIPs", "hostIPs"):
        for i, entry in enumerate(status.get(f) or []):
            ip = entry.get("ip", "")
            errs.extend(invalid(index(child("status", f), i), ip, m) for m in is_valid_ip(ip))
    if status.get("nominatedNodeName"):
        errs.extend(validate_dns1123_subdomain(status["nominatedNodeName"], "status.nominatedNodeName"))
    return errs


# ---------------------------------------------------------------- Service


def _service(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs: list[FieldError] = []
    svc_type = spec.get("type") or ""
    cluster_ip = spec.get("clusterIP") or ""
    headless = cluster_ip == "None"
    ports = spec.get("ports") or []
    if not ports and not headless and svc_type != "ExternalName":
        errs.append(required("spec.ports"))
    if svc_type in ("LoadBalancer", "NodePort") and headless:
        errs.append(invalid("spec.clusterIP", cluster_ip, f"may not be set to 'None' for {svc_type} services"))
    if svc_type == "ExternalName":
        if cluster_ip:
            errs.append(forbidden("spec.clusterIP", "may not be set for ExternalName services"))
        ext = spec.get("externalName") or ""
        if not ext:
            errs.append(required("spec.externalName"))
        else:
            name = ext[:-1] if ext.endswith(".") else ext
            msgs = [m for m in validate_dns1123_subdomain(name, "spec.externalName")]
            errs.extend(msgs)
            if not msgs and len(name.split(".")) < 2:
                errs.append(invalid("spec.externalName", name,
                                    "should be a domain with at least two segments separated by dots"))
    names: set[str] = set()
    seen_ports: set[tuple[int, str]] = set()
    seen_node_ports: set[tuple[int, str]] = set()
    for i, port in enumerate(ports):
        p = index("spec.ports", i)
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.append(required(child(p, "name")))
        elif name:
            errs.extend(validate_dns1123_label(name, child(p, "name")))
            if name in names:
                errs.append(duplicate(child(p, "name"), name))
            names.add(name)
        number = port.get("port") or 0
        errs.extend(invalid(child(p, "port"), number, m) for m in is_valid_port_num(number))
        proto = port.get("protocol") or ""
        if not proto:
            errs.append(required(child(p, "protocol")))
        elif proto not in PROTOCOLS:
            errs.append(not_supported(child(p, "protocol"), proto, PROTOCOLS))
        if "targetPort" in port and port["targetPort"] not in (0, ""):
            errs.extend(validate_port_num_or_name(port["targetPort"], child(p, "targetPort")))
        node_port = port.get("nodePort") or 0
        if node_port:
            if svc_type == "ClusterIP":
                errs.append(forbidden(child(p, "nodePort"), "may not be used when `type` is 'ClusterIP'"))
            elif not NODE_PORT_RANGE[0] <= node_port <= NODE_PORT_RANGE[1]:
                errs.append(invalid(child(p, "nodePort"), node_port,
                                    "provided port is not in the valid range. The range of valid ports is "
                                    f"{NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}"))
            if (node_port, proto) in seen_node_ports:
                errs.append(duplicate(child(p, "nodePort"), node_port))
            seen_node_ports.add((node_port, proto))
        if (number, proto) in seen_ports:
            errs.append(duplicate(p, {"port": number, "protocol": proto}))
        seen_ports.add((number, proto))
        if port.get("appProtocol"):
            errs.extend(invalid(child(p, "appProtocol"), port["appProtocol"], m)
                        for m in is_qualified_name(port["appProtocol"]))
    errs.extend(validate_labels(spec.get("selector"), "spec.selector"))
    affinity = spec.get("sessionAffinity")
    if affinity is not None:
        if affinity not in ("ClientIP", "None"):
            errs.append(not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
        elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
            errs.append(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
        elif affinity == "ClientIP":
            timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
            if timeout is not None and not 0 < timeout <= 86400:
                errs.append(invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                                    "must be greater than 0 and less than 86400"))
    if cluster_ip and not headless:
        if is_valid_ip(cluster_ip):
            errs.append(invalid("spec.clusterIP", cluster_ip, "must be empty, 'None', or a valid IP address"))
    for i, ip in enumerate(spec.get("clusterIPs") or []):
        if ip != "None" and is_valid_ip(ip):
            errs.append(invalid(index("spec.clusterIPs", i), ip, "must be a valid IP address"))
    if cluster_ip and spec.get("clusterIPs") and spec["clusterIPs"][0] != cluster_ip:
        errs.append(invalid("spec.clusterIPs", spec["clusterIPs"], "first value must match `clusterIP`"))
    for i, ip in enumerate(spec.get("externalIPs") or []):
        errs.extend(invalid(index("spec.externalIPs", i), ip, m) for m in is_valid_ip(ip))
    if svc_type == "":
        if "type" in spec:
            errs.append(required("spec.type"))
    elif svc_type not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", svc_type, SERVICE_TYPES))
    etp = spec.get("externalTrafficPolicy")
    if etp:
        if etp not in ("Cluster", "Local"):
            errs.append(not_supported("spec.externalTrafficPolicy", etp, ["Cluster", "Local"]))
        elif svc_type not in ("NodePort", "LoadBalancer") and not spec.get("externalIPs"):
            errs.append(invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services"))
    itp = spec.get("internalTrafficPolicy")
    if itp and itp not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", itp, ["Cluster", "Local"]))
    ifp = spec.get("ipFamilyPolicy")
    if ifp and ifp not in ("PreferDualStack", "RequireDualStack", "SingleStack"):
        errs.append(not_supported("spec.ipFamilyPolicy", ifp, ["PreferDualStack", "RequireDualStack", "SingleStack"]))
    families = spec.get("ipFamilies") or []
    for i, fam in enumerate(families):
        if fam not in ("IPv4", "IPv6"):
            errs.append(not_supported(index("spec.ipFamilies", i), fam, ["IPv4", "IPv6"]))
        elif fam in families[:i]:
            errs.append(duplicate(index("spec.ipFamilies", i), fam))
    if len(families) > 2:
        errs.append(invalid("spec.ipFamilies", families, "may specify no more than two IP families"))
    return errs


def _service_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    ns, os_ = spec_of(new), spec_of(old)
    errs: list[FieldError] = []
    old_ip = os_.get("clusterIP") or ""
    new_ip = ns.get("clusterIP") or ""
    # An omitted clusterIP on update means "keep": the registry copies the allocated one over.
    if "ExternalName" not in (ns.get("type"), os_.get("type")) and old_ip and new_ip and new_ip != old_ip:
        errs.append(invalid("spec.clusterIP", new_ip, FIELD_IMMUTABLE))
        errs.append(invalid("spec.clusterIPs[0]", ns.get("clusterIPs") or [new_ip], "may not change once set"))
    return errs


def _service_status(new: Obj, old: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ing in enumerate(((new.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []):
        p = index("status.loadBalancer.ingress", i)
        if ing.get("ip") and is_valid_ip(ing["ip"]):
            errs.append(invalid(child(p, "ip"), ing["ip"], "must be a valid IP address"))
        if ing.get("hostname"):
            errs.extend(validate_dns1123_subdomain(ing["hostname"], child(p, "hostname")))
    return errs


# ---------------------------------------------------------------- Namespace, ConfigMap, Secret, SA


def _namespace(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in spec_of(obj).get("finalizers") or []:
        errs.extend(_validate_kube_finalizer(f, "spec.finalizers"))
    return errs


def _validate_kube_finalizer(value: str, path: str) -> list[FieldError]:
    errs = [invalid(path, value, m) for m in is_qualified_name(value)]
    if "/" not in value and value not in STANDARD_FINALIZERS:
        errs.append(invalid(path, value, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


def _data_keys(obj: Obj, sections: tuple[str, ...]) -> tuple[list[FieldError], int]:
    errs: list[FieldError] = []
    total = 0
    seen: set[str] = set()
    for section in sections:
        for k, v in (obj.get(section) or {}).items():
            errs.extend(invalid(key(section, k), k, m) for m in is_config_map_key(k))
            if k in seen:
                errs.append(invalid(key(section, k), k, "duplicate of key present in data"))
            seen.add(k)
            total += len(k) + len(str(v))
    return errs, total


def _configmap(obj: Obj, version: str) -> list[FieldError]:
    errs, total = _data_keys(obj, ("data", "binaryData"))
    if total > MAX_DATA_SIZE:
        errs.append(too_long("[]", "", MAX_DATA_SIZE))
    return errs


def _immutable_data(new: Obj, old: Obj, sections: tuple[str, ...]) -> list[FieldError]:
    errs: list[FieldError] = []
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(forbidden("immutable", IMMUTABLE_WHEN_SET))
        for section in sections:
            if (new.get(section) or {}) != (old.get(section) or {}):
                errs.append(forbidden(section, IMMUTABLE_WHEN_SET))
    return errs


def _configmap_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    return _immutable_data(new, old, ("data", "binaryData"))


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.key", "tls.crt"),
}


def _secret(obj: Obj, version: str) -> list[FieldError]:
    errs, total = _data_keys(obj, ("data", "stringData"))
    if total > MAX_DATA_SIZE:
        errs.append(too_long("data", "", MAX_DATA_SIZE))
    secret_type = obj.get("type") or "Opaque"
    data = {**(obj.get("data") or {}), **(obj.get("stringData") or {})}
    if secret_type == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif secret_type == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.append(required("data[username]"))
            errs.append(required("data[password]"))
    for k in _SECRET_REQUIRED_KEYS.get(secret_type, ()):
        if k not in data:
            errs.append(required(key("data", k)))
    if secret_type and "/" in secret_type:
        errs.extend(invalid("type", secret_type, m) for m in is_qualified_name(secret_type))
    return errs


def _secret_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    errs = validate_immutable(new.get("type") or "Opaque", old.get("type") or "Opaque", "type")
    errs.extend(_immutable_data(new, old, ("data",)))
    return errs


def _service_account(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ref in enumerate(obj.get("imagePullSecrets") or []):
        if ref.get("name"):
            errs.extend(validate_dns1123_subdomain(ref["name"], child(index("imagePullSecrets", i), "name")))
    return errs


# ---------------------------------------------------------------- Node


def validate_taints(taints: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints):
        p = index(path, i)
        errs.extend(validate_label_name(taint.get("key") or "", child(p, "key")))
        value = taint.get("value") or ""
        errs.extend(invalid(child(p, "value"), value, m) for m in is_label_value(value))
        effect = taint.get("effect") or ""
        if not effect:
            errs.append(required(child(p, "effect")))
        elif effect not in TAINT_EFFECTS:
            errs.append(not_supported(child(p, "effect"), effect, TAINT_EFFECTS))
        k = (taint.get("key") or "", effect)
        if k in seen:
            errs.append(duplicate(p, {"key": k[0], "effect": effect}))
        seen.add(k)
    return errs


def _node(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs = validate_taints(spec.get("taints") or [], "spec.taints")
    if spec.get("podCIDR"):
        errs.extend(invalid("spec.podCIDR", spec["podCIDR"], m) for m in is_valid_cidr(spec["podCIDR"]))
    for i, cidr in enumerate(spec.get("podCIDRs") or []):
        errs.extend(invalid(index("spec.podCIDRs", i), cidr, m) for m in is_valid_cidr(cidr))
    return errs


def _node_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    ns, os_ = spec_of(new), spec_of(old)
    errs: list[FieldError] = []
    if os_.get("podCIDRs") and ns.get("podCIDRs") != os_.get("podCIDRs"):
        errs.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
    if os_.get("providerID") and ns.get("providerID") != os_.get("providerID"):
        errs.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    return errs


def _node_status(new: Obj, old: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    status = new.get("status") or {}
    for section in ("capacity", "allocatable"):
        for name, value in (status.get(section) or {}).items():
            errs.extend(validate_nonnegative_quantity(value, key(child("status", section), name)))
    return errs


# ---------------------------------------------------------------- Endpoints


def _endpoints(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, subset in enumerate(obj.get("subsets") or []):
        sp = index("subsets", i)
        for section in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(subset.get(section) or []):
                ip = addr.get("ip") or ""
                errs.extend(invalid(child(index(child(sp, section), j), "ip"), ip, m) for m in is_valid_ip(ip))
                if addr.get("hostname"):
                    errs.extend(validate_dns1123_label(addr["hostname"], child(index(child(sp, section), j),
                                                                               "hostname")))
        ports = subset.get("ports") or []
        for j, port in enumerate(ports):
            pp = index(child(sp, "ports"), j)
            if len(ports) > 1 and not port.get("name"):
                errs.append(required(child(pp, "name")))
            elif port.get("name"):
                errs.extend(validate_dns1123_label(port["name"], child(pp, "name")))
            number = port.get("port") or 0
            errs.extend(invalid(child(pp, "port"), number, m) for m in is_valid_port_num(number))
            proto = port.get("protocol") or ""
            if not proto:
                errs.append(required(child(pp, "protocol")))
            elif proto not in PROTOCOLS:
                errs.append(not_supported(child(pp, "protocol"), proto, PROTOCOLS))
    return errs


# ---------------------------------------------------------------- PV, PVC


_PV_SOURCES = (
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "nfs", "iscsi", "glusterfs", "rbd", "flexVolume",
    "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos", "csi", "local",
)


def _access_modes(modes: list[str] | None, path: str, message: str = "") -> list[FieldError]:
    if not modes:
        return [required(path, message)]
    return [not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]


def _pv(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs = _access_modes(spec.get("accessModes"), "spec.accessModes")
    capacity = spec.get("capacity") or {}
    if not capacity:
        errs.append(required("spec.capacity"))
    elif "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported("spec.capacity", capacity, ["storage"]))
    for name, value in capacity.items():
        errs.extend(validate_nonnegative_quantity(value, key("spec.capacity", name)))
    sources = [s for s in _PV_SOURCES if spec.get(s) is not None]
    if not sources:
        errs.append(required("spec", "must specify a volume type"))
    for extra in sources[1:]:
        errs.append(forbidden(child("spec", extra), "may not specify more than 1 volume type"))
    if spec.get("hostPath") is not None and not spec["hostPath"].get("path"):
        errs.append(required("spec.hostPath.path"))
    if spec.get("local") is not None and not spec["local"].get("path"):
        errs.append(required("spec.local.path"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy is not None and policy not in ("Delete", "Recycle", "Retain"):
        errs.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, ["Delete", "Recycle", "Retain"]))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in ("Block", "Filesystem"):
        errs.append(not_supported("spec.volumeMode", mode, ["Block", "Filesystem"]))
    return errs


def validate_pvc_spec(spec: dict[str, Any], path: str) -> list[FieldError]:
    errs = _access_modes(spec.get("accessModes"), child(path, "accessModes"), "at least 1 access mode is required")
    requests = (spec.get("resources") or {}).get("requests") or {}
    if "storage" not in requests and not spec.get("dataSource") and not spec.get("dataSourceRef"):
        errs.append(required(key(child(path, "resources"), "storage")))
    for name, value in requests.items():
        p = key(child(path, "resources", "requests"), name)
        q = parse_quantity(value)
        errs.extend(validate_nonnegative_quantity(value, p))
        if name == "storage" and q is not None and q == 0:
            errs.append(invalid(p, value, "must be greater than zero"))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in ("Block", "Filesystem"):
        errs.append(not_supported(child(path, "volumeMode"), mode, ["Block", "Filesystem"]))
    errs.extend(validate_label_selector(spec.get("selector"), child(path, "selector")))
    return errs


def _pvc(obj: Obj, version: str) -> list[FieldError]:
    return validate_pvc_spec(spec_of(obj), "spec")


def _pvc_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    ns, os_ = dict(spec_of(new)), dict(spec_of(old))
    for s in (ns, os_):
        s.pop("volumeAttributesClassName", None)
        resources = dict(s.get("resources") or {})
        resources.pop("requests", None)
        s["resources"] = resources
    if not os_.get("volumeName"):
        ns.pop("volumeName", None)
        os_.pop("volumeName", None)
    if ns != os_:
        return [forbidden("spec", "spec is immutable after creation except resources.requests and "
                                  "volumeAttributesClassName for bound claims")]
    return []


# ---------------------------------------------------------------- RC, PodTemplate


def _rc(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    selector = spec.get("selector") or {}
    if not selector:
        errs.append(required("spec.selector"))
    else:
        errs.extend(validate_labels(selector, "spec.selector"))
    template = spec.get("template")
    if template is None:
        errs.append(required("spec.template"))
        return errs
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and not selector_matches({"matchLabels": selector}, labels):
        errs.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    errs.extend(validate_pod_template(template, "spec.template"))
    rp = (template.get("spec") or {}).get("restartPolicy")
    if rp != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", rp or "", ["Always"]))
    if (template.get("spec") or {}).get("activeDeadlineSeconds") is not None:
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                              "activeDeadlineSeconds in ReplicationController is not Supported"))
    return errs


def _pod_template(obj: Obj, version: str) -> list[FieldError]:
    return validate_pod_template(obj.get("template") or {}, "template")


# ---------------------------------------------------------------- Event, LimitRange, ResourceQuota


def _event(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    meta_ns = (obj.get("metadata") or {}).get("namespace") or ""
    involved = obj.get("involvedObject") or {}
    inv_ns = involved.get("namespace") or ""
    if not obj.get("eventTime"):
        if not inv_ns:
            if meta_ns not in ("", "default"):
                errs.append(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
        elif meta_ns != inv_ns:
            errs.append(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
    ev_type = obj.get("type")
    if ev_type and ev_type not in ("Normal", "Warning"):
        errs.append(not_supported("type", ev_type, ["Normal", "Warning"]))
    return errs


def _limit_range(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(spec_of(obj).get("limits") or []):
        p = index("spec.limits", i)
        limit_type = item.get("type") or ""
        if not limit_type:
            errs.append(required(child(p, "type")))
        elif limit_type not in ("Container", "Pod", "PersistentVolumeClaim") and "/" not in limit_type:
            errs.append(not_supported(child(p, "type"), limit_type, ["Container", "PersistentVolumeClaim", "Pod"]))
        if limit_type == "Pod":
            for f in ("default", "defaultRequest"):
                if item.get(f):
                    errs.append(forbidden(child(p, f), "may not be specified when `type` is 'Pod'"))
        parsed: dict[str, dict[str, Any]] = {}
        for section in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            parsed[section] = {}
            for name, value in (item.get(section) or {}).items():
                sp = key(child(p, section), name)
                e = validate_nonnegative_quantity(value, sp)
                errs.extend(e)
                if not e:
                    parsed[section][name] = (parse_quantity(value), value)
        checks = (
            ("min", "max", "min", "min value {a} is greater than max value {b}"),
            ("min", "default", "default", "min value {a} is greater than default value {b}"),
            ("default", "max", "default", "default value {a} is greater than max value {b}"),
            ("min", "defaultRequest", "defaultRequest", "min value {a} is greater than default request value {b}"),
            ("defaultRequest", "max", "defaultRequest", "default request value {a} is greater than max value {b}"),
            ("defaultRequest", "default", "defaultRequest",
             "default request value {a} is greater than default limit value {b}"),
        )
        for lo, hi, at, message in checks:
            for name, (lo_q, lo_raw) in parsed[lo].items():
                if name in parsed[hi] and lo_q > parsed[hi][name][0]:
                    hi_raw = parsed[hi][name][1]
                    value = lo_raw if at == lo else hi_raw
                    errs.append(invalid(key(child(p, at), name), value, message.format(a=lo_raw, b=hi_raw)))
    return errs


_QUOTA_SCOPES = ["BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass",
                 "Terminating", "VolumeAttributesClass"]


def _resource_quota(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs: list[FieldError] = []
    for name, value in (spec.get("hard") or {}).items():
        p = key("spec.hard", name)
        errs.extend(validate_label_name(name, p))
        errs.extend(validate_nonnegative_quantity(value, p))
    for i, scope in enumerate(spec.get("scopes") or []):
        if scope not in _QUOTA_SCOPES:
            errs.append(not_supported(index("spec.scopes", i), scope, _QUOTA_SCOPES))
    return errs


def _resource_quota_status(new: Obj, old: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for section in ("hard", "used"):
        for name, value in ((new.get("status") or {}).get(section) or {}).items():
            errs.extend(validate_nonnegative_quantity(value, key(child("status", section), name)))
    return errs


def _binding(obj: Obj, version: str) -> list[FieldError]:
    target = obj.get("target") or {}
    errs: list[FieldError] = []
    if not target.get("name"):
        errs.append(required("target.name"))
    if target.get("kind") and target["kind"] != "Node":
        errs.append(not_supported("target.kind", target["kind"], ["Node", "<empty>"]))
    return errs


def _namespace_name(name: str, prefix: bool) -> list[str]:
    return name_is_dns_label(name, prefix)


RULES: dict[str, Rules] = {
    "Pod": Rules(body=_pod, update=_pod_update, status=_pod_status),
    "Service": Rules(name=name_is_dns1035_label, body=_service, update=_service_update, status=_service_status),
    "Namespace": Rules(name=_namespace_name, body=_namespace),
    "ConfigMap": Rules(body=_configmap, update=_configmap_update),
    "Secret": Rules(body=_secret, update=_secret_update),
    "ServiceAccount": Rules(body=_service_account),
    "Node": Rules(body=_node, update=_node_update, status=_node_status),
    "Endpoints": Rules(body=_endpoints),
    "PersistentVolume": Rules(body=_pv),
    "PersistentVolumeClaim": Rules(body=_pvc, update=_pvc_update),
    "ReplicationController": Rules(body=_rc),
    "PodTemplate": Rules(body=_pod_template),
    "Event": Rules(body=_event),
    "LimitRange": Rules(body=_limit_range),
    "ResourceQuota": Rules(body=_resource_quota, status=_resource_quota_status),
    "Binding": Rules(body=_binding),
}

