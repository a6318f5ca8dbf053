"""Pod spec validation: containers, ports, env, volumes, mounts, probes, resources, tolerations.

`validate_pod_spec` serves Pods and every pod template (Deployments, Jobs, ...): the caller passes the
path of the spec (`spec` or `spec.template.spec`) and all errors carry it as prefix. Pod-only rules
(image whitespace) are switched on by `is_pod`. `validate_pod_update` is Kubernetes' "only images,
activeDeadlineSeconds, tolerations additions and terminationGracePeriodSeconds may change" rule.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.machinery.errors import FieldError, duplicate, forbidden, invalid, not_supported, required
from kybernetes.machinery.validation import (
    child,
    index,
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_http_header_name,
    is_label_value,
    is_valid_ip,
    is_valid_port_name,
    is_valid_port_num,
    key,
    parse_quantity,
    validate_annotations,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_label_name,
    validate_labels,
    validate_nonnegative,
    validate_nonnegative_quantity,
    validate_port_num_or_name,
)

PROTOCOLS = ["SCTP", "TCP", "UDP"]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "None", "Default"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
# Kubernetes' checking order: the first source found is kept, later ones are reported.
VOLUME_SOURCES = (
    "emptyDir", "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI",
    "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
    "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
ENV_FIELD_PATHS = [
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
]
VOLUME_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                      "metadata.uid"]
POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)
MAX_INT32 = 2**31 - 1


# ---------------------------------------------------------------- volumes


def _validate_volumes(volumes: list[dict[str, Any]], path: str) -> tuple[set[str], list[FieldError]]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, vol in enumerate(volumes):
        p = index(path, i)
        name = vol.get("name") or ""
        if not name:
            errs.append(required(child(p, "name")))
        else:
            errs.extend(validate_dns1123_label(name, child(p, "name")))
            if name in names:
                errs.append(duplicate(child(p, "name"), name))
            names.add(name)
        errs.extend(_validate_volume_source(vol, p))
    return names, errs


def _validate_volume_source(vol: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    present = [s for s in VOLUME_SOURCES if vol.get(s) is not None]
    if not present:
        return [required(path, "must specify a volume type")]
    for extra in present[1:]:
        errs.append(forbidden(child(path, extra), "may not specify more than 1 volume type"))
    kind = present[0]
    src = vol[kind]
    p = child(path, kind)
    if kind == "hostPath":
        if not src.get("path"):
            errs.append(required(child(p, "path")))
        hp_type = src.get("type")
        allowed = ["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice"]
        if hp_type is not None and hp_type not in allowed:
            errs.append(not_supported(child(p, "type"), hp_type, allowed))
    elif kind == "emptyDir":
        medium = src.get("medium", "")
        if medium not in ("", "Memory") and not str(medium).startswith("HugePages"):
            errs.append(not_supported(child(p, "medium"), medium, ["", "Memory", "HugePages"]))
        if "sizeLimit" in src:
            errs.extend(validate_nonnegative_quantity(src["sizeLimit"], child(p, "sizeLimit")))
    elif kind == "secret":
        if not src.get("secretName"):
            errs.append(required(child(p, "secretName")))
        errs.extend(_validate_mode(src.get("defaultMode"), child(p, "defaultMode")))
        errs.extend(_validate_key_to_paths(src.get("items") or [], child(p, "items")))
    elif kind == "configMap":
        if not src.get("name"):
            errs.append(required(child(p, "name")))
        errs.extend(_validate_mode(src.get("defaultMode"), child(p, "defaultMode")))
        errs.extend(_validate_key_to_paths(src.get("items") or [], child(p, "items")))
    elif kind == "persistentVolumeClaim":
        if not src.get("claimName"):
            errs.append(required(child(p, "claimName")))
    elif kind == "nfs":
        if not src.get("server"):
            errs.append(required(child(p, "server")))
        if not src.get("path"):
            errs.append(required(child(p, "path")))
        elif not str(src["path"]).startswith("/"):
            errs.append(invalid(child(p, "path"), src["path"], "must be an absolute path"))
    elif kind == "downwardAPI":
        errs.extend(_validate_mode(src.get("defaultMode"), child(p, "defaultMode")))
        for j, item in enumerate(src.get("items") or []):
            errs.extend(_validate_downward_item(item, index(child(p, "items"), j)))
    elif kind == "projected":
        errs.extend(_validate_mode(src.get("defaultMode"), child(p, "defaultMode")))
        for j, source in enumerate(src.get("sources") or []):
            sp = index(child(p, "sources"), j)
            kinds = [k for k in ("secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle",
                                 "podCertificate") if source.get(k) is not None]
            if not kinds:
                errs.append(required(sp, "must specify exactly 1 of: configMap, downwardAPI, secret, "
                                         "serviceAccountToken"))
            for extra in kinds[1:]:
                errs.append(forbidden(child(sp, extra), "may not specify more than 1 volume type per source"))
            tok = source.get("serviceAccountToken")
            if tok is not None:
                if not tok.get("path"):
                    errs.append(required(child(sp, "serviceAccountToken", "path")))
                exp = tok.get("expirationSeconds")
                if exp is not None and exp < 600:
                    errs.append(invalid(child(sp, "serviceAccountToken", "expirationSeconds"), exp,
                                        "may not specify a duration less than 10 minutes"))
    elif kind == "csi":
        if not src.get("driver"):
            errs.append(required(child(p, "driver")))
    elif kind == "ephemeral":
        if not src.get("volumeClaimTemplate"):
            errs.append(required(child(p, "volumeClaimTemplate")))
    elif kind == "image":
        if not src.get("reference"):
            errs.append(required(child(p, "reference")))
    return errs


def _validate_mode(mode: int | None, path: str) -> list[FieldError]:
    if mode is not None and not 0 <= mode <= 0o777:
        return [invalid(path, mode, "must be a number between 0 and 0777 (octal), both inclusive")]
    return []


def _validate_local_path(value: str, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if value.startswith("/"):
        errs.append(invalid(path, value, "must be a relative path"))
    if ".." in value.split("/"):
        errs.append(invalid(path, value, "must not contain '..'"))
    return errs


def _validate_key_to_paths(items: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(items):
        p = index(path, i)
        if not item.get("key"):
            errs.append(required(child(p, "key")))
        if not item.get("path"):
            errs.append(required(child(p, "path")))
        else:
            errs.extend(_validate_local_path(item["path"], child(p, "path")))
        errs.extend(_validate_mode(item.get("mode"), child(p, "mode")))
    return errs


def _validate_downward_item(item: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not item.get("path"):
        errs.append(required(child(path, "path")))
    else:
        errs.extend(_validate_local_path(item["path"], child(path, "path")))
    errs.extend(_validate_mode(item.get("mode"), child(path, "mode")))
    ref = item.get("fieldRef")
    if ref is not None:
        errs.extend(_validate_field_ref(ref, child(path, "fieldRef"), VOLUME_FIELD_PATHS))
        if item.get("resourceFieldRef") is not None:
            errs.append(invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
    elif item.get("resourceFieldRef") is None:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    return errs


def _validate_field_ref(ref: dict[str, Any], path: str, supported: list[str]) -> list[FieldError]:
    field_path = ref.get("fieldPath") or ""
    if not ref.get("apiVersion"):
        return [required(child(path, "apiVersion"))]
    if not field_path:
        return [required(child(path, "fieldPath"))]
    base = field_path.split("[", 1)[0]
    if "[" in field_path and base in ("metadata.labels", "metadata.annotations"):
        subscript = field_path[len(base) + 1:].rstrip("]").strip("'")
        if base == "metadata.labels":
            return validate_label_name(subscript, child(path, "fieldPath"))
        return [invalid(child(path, "fieldPath"), subscript, m) for m in is_dns1123_subdomain(subscript.lower())
                if "/" not in subscript]
    if field_path not in supported:
        return [not_supported(child(path, "fieldPath"), field_path, supported)]
    return []


# ---------------------------------------------------------------- containers


def _validate_ports(ports: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        p = index(path, i)
        name = port.get("name") or ""
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                errs.extend(invalid(child(p, "name"), name, m) for m in msgs)
            elif name in names:
                errs.append(duplicate(child(p, "name"), name))
            names.add(name)
        cport = port.get("containerPort") or 0
        if cport == 0:
            errs.append(required(child(p, "containerPort")))
        else:
            errs.extend(invalid(child(p, "containerPort"), cport, m) for m in is_valid_port_num(cport))
        hport = port.get("hostPort") or 0
        if hport:
            errs.extend(invalid(child(p, "hostPort"), hport, m) for m in is_valid_port_num(hport))
        proto = port.get("protocol") or ""
        if not proto:
            errs.append(required(child(p, "protocol")))
        elif proto not in PROTOCOLS:
            errs.append(not_supported(child(p, "protocol"), proto, PROTOCOLS))
        if port.get("hostIP"):
            errs.extend(invalid(child(p, "hostIP"), port["hostIP"], m) for m in is_valid_ip(port["hostIP"]))
    return errs


def _validate_env(env: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ev in enumerate(env):
        p = index(path, i)
        name = ev.get("name") or ""
        if not name:
            errs.append(required(child(p, "name")))
        else:
            errs.extend(invalid(child(p, "name"), name, m) for m in is_env_var_name(name))
        source = ev.get("valueFrom")
        if source is None:
            continue
        sp = child(p, "valueFrom")
        kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
                 if source.get(k) is not None]
        if ev.get("value"):
            errs.append(invalid(sp, "", "may not be specified when `value` is not empty"))
        if not kinds:
            errs.append(invalid(sp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` "
                                        "or `secretKeyRef`"))
            continue
        if len(kinds) > 1:
            errs.append(invalid(sp, "", "may not have more than one field specified at a time"))
            continue
        kind = kinds[0]
        ref = source[kind]
        rp = child(sp, kind)
        if kind == "fieldRef":
            errs.extend(_validate_field_ref(ref, rp, ENV_FIELD_PATHS))
        elif kind == "resourceFieldRef":
            if not ref.get("resource"):
                errs.append(required(child(rp, "resource")))
        elif kind in ("configMapKeyRef", "secretKeyRef"):
            if not ref.get("key"):
                errs.append(required(child(rp, "key")))
            else:
                errs.extend(invalid(child(rp, "key"), ref["key"], m) for m in is_config_map_key(ref["key"]))
    return errs


def _validate_env_from(sources: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, src in enumerate(sources):
        p = index(path, i)
        if src.get("prefix"):
            errs.extend(invalid(child(p, "prefix"), src["prefix"], m) for m in is_env_var_name(src["prefix"]))
        kinds = [k for k in ("configMapRef", "secretRef") if src.get(k) is not None]
        if not kinds:
            errs.append(invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(kinds) > 1:
            errs.append(invalid(p, "", "may not have more than one field specified at a time"))
        else:
            ref = src[kinds[0]]
            if ref.get("name"):
                errs.extend(validate_dns1123_subdomain(ref["name"], child(p, kinds[0], "name")))
    return errs


def _validate_mounts(mounts: list[dict[str, Any]], volumes: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen_paths: set[str] = set()
    for i, mnt in enumerate(mounts):
        p = index(path, i)
        name = mnt.get("name") or ""
        if not name:
            errs.append(required(child(p, "name")))
        elif name not in volumes:
            errs.append(FieldError(child(p, "name"), FieldError.NOT_FOUND, "", name))
        mount_path = mnt.get("mountPath") or ""
        if not mount_path:
            errs.append(required(child(p, "mountPath")))
        elif mount_path in seen_paths:
            errs.append(invalid(child(p, "mountPath"), mount_path, "must be unique"))
        seen_paths.add(mount_path)
        if mnt.get("subPath"):
            errs.extend(_validate_local_path(mnt["subPath"], child(p, "subPath")))
        if mnt.get("subPath") and mnt.get("subPathExpr"):
            errs.append(invalid(child(p, "subPathExpr"), mnt["subPathExpr"],
                                "subPathExpr and subPath are mutually exclusive"))
        prop = mnt.get("mountPropagation")
        if prop is not None and prop not in ("None", "HostToContainer", "Bidirectional"):
            errs.append(not_supported(child(p, "mountPropagation"), prop,
                                      ["Bidirectional", "HostToContainer", "None"]))
    return errs


def _validate_handler(handler: dict[str, Any], path: str, kinds: tuple[str, ...]) -> list[FieldError]:
    errs: list[FieldError] = []
    present = [k for k in kinds if handler.get(k) is not None]
    if not present:
        return [required(path, "must specify a handler type")]
    for extra in present[1:]:
        errs.append(forbidden(child(path, extra), "may not specify more than 1 handler type"))
    kind = present[0]
    h = handler[kind]
    hp = child(path, kind)
    if kind == "exec":
        if not h.get("command"):
            errs.append(required(child(hp, "command")))
    elif kind == "httpGet":
        if not h.get("path"):
            errs.append(required(child(hp, "path")))
        errs.extend(validate_port_num_or_name(h.get("port"), child(hp, "port")))
        scheme = h.get("scheme")
        if scheme is not None and scheme not in ("HTTP", "HTTPS"):
            errs.append(not_supported(child(hp, "scheme"), scheme, ["HTTP", "HTTPS"]))
        for j, header in enumerate(h.get("httpHeaders") or []):
            name = header.get("name", "")
            errs.extend(invalid(child(index(child(hp, "httpHeaders"), j), "name"), name, m)
                        for m in is_http_header_name(name))
    elif kind == "tcpSocket":
        errs.extend(validate_port_num_or_name(h.get("port"), child(hp, "port")))
    elif kind == "grpc":
        port = h.get("port")
        if isinstance(port, int):
            errs.extend(invalid(child(hp, "port"), port, m) for m in is_valid_port_num(port))
    elif kind == "sleep":
        seconds = h.get("seconds", 0)
        if seconds < 0:
            errs.append(invalid(child(hp, "seconds"), seconds, "must be non-negative integer"))
    return errs


def _validate_probe(probe: dict[str, Any] | None, path: str, *, success_must_be_one: bool) -> list[FieldError]:
    if probe is None:
        return []
    errs = _validate_handler(probe, path, ("exec", "httpGet", "tcpSocket", "grpc"))
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs.extend(validate_nonnegative(probe.get(f), child(path, f)))
    if success_must_be_one and probe.get("successThreshold") not in (None, 1):
        errs.append(invalid(child(path, "successThreshold"), probe["successThreshold"], "must be 1"))
    grace = probe.get("terminationGracePeriodSeconds")
    if grace is not None and grace <= 0:
        errs.append(invalid(child(path, "terminationGracePeriodSeconds"), grace, "must be greater than 0"))
    return errs


def _is_standard_resource(name: str) -> bool:
    return name in STANDARD_CONTAINER_RESOURCES or name.startswith("hugepages-")


def validate_resource_requirements(res: dict[str, Any] | None, path: str) -> list[FieldError]:
    """Container (or pod-level) resources: names, quantities, and requests <= limits."""
    if not res:
        return []
    errs: list[FieldError] = []
    limits = res.get("limits") or {}
    requests = res.get("requests") or {}
    lim_path, req_path = child(path, "limits"), child(path, "requests")
    for section, sp in ((limits, lim_path), (requests, req_path)):
        for name, value in section.items():
            fp = key(sp, name)
            errs.extend(validate_label_name(name, fp))
            if "/" not in name and not _is_standard_resource(name):
                errs.append(invalid(fp, name, "must be a standard resource for containers"))
            errs.extend(validate_nonnegative_quantity(value, fp))
            q = parse_quantity(value)
            if q is not None and (name.startswith("hugepages-") or "/" in name) and q.denominator != 1:
                errs.append(invalid(fp, value, "must be an integer"))
    for name, value in requests.items():
        req_q = parse_quantity(value)
        if req_q is None:
            continue
        overcommit = _is_standard_resource(name) and not name.startswith("hugepages-")
        if name in limits:
            lim_q = parse_quantity(limits[name])
            if lim_q is None:
                continue
            if not overcommit and req_q != lim_q:
                errs.append(invalid(key(req_path, name), value, f"must be equal to {name} limit of {limits[name]}"))
            elif req_q > lim_q:
                errs.append(invalid(key(req_path, name), value,
                                    f"must be less than or equal to {name} limit of {limits[name]}"))
        elif not overcommit:
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
    return errs


def _validate_container(ctr: dict[str, Any], path: str, volumes: set[str], *, is_pod: bool,
                        is_init: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    name = ctr.get("name") or ""
    if not name:
        errs.append(required(child(path, "name")))
    else:
        errs.extend(validate_dns1123_label(name, child(path, "name")))
    image = ctr.get("image") or ""
    if not image:
        errs.append(required(child(path, "image")))
    elif is_pod and image != image.strip():
        errs.append(invalid(child(path, "image"), image, "must not have leading or trailing whitespace"))
    errs.extend(_validate_ports(ctr.get("ports") or [], child(path, "ports")))
    errs.extend(_validate_env(ctr.get("env") or [], child(path, "env")))
    errs.extend(_validate_env_from(ctr.get("envFrom") or [], child(path, "envFrom")))
    errs.extend(_validate_mounts(ctr.get("volumeMounts") or [], volumes, child(path, "volumeMounts")))
    errs.extend(validate_resource_requirements(ctr.get("resources"), child(path, "resources")))
    policy = ctr.get("imagePullPolicy")
    if policy is not None and policy not in PULL_POLICIES:
        errs.append(not_supported(child(path, "imagePullPolicy"), policy, PULL_POLICIES))
    tmp = ctr.get("terminationMessagePolicy")
    if tmp is not None and tmp not in TERMINATION_MESSAGE_POLICIES:
        errs.append(not_supported(child(path, "terminationMessagePolicy"), tmp, TERMINATION_MESSAGE_POLICIES))
    sidecar = is_init and ctr.get("restartPolicy") == "Always"
    if is_init:
        rp = ctr.get("restartPolicy")
        if rp is not None and rp != "Always":
            errs.append(not_supported(child(path, "restartPolicy"), rp, ["Always"]))
        if not sidecar:
            for f in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if ctr.get(f) is not None:
                    errs.append(forbidden(child(path, f), "may not be set for init containers without "
                                                          "restartPolicy=Always"))
    elif ctr.get("restartPolicy") is not None:
        errs.append(forbidden(child(path, "restartPolicy"), "may not be set for non-init containers"))
    if not is_init or sidecar:
        errs.extend(_validate_probe(ctr.get("livenessProbe"), child(path, "livenessProbe"), success_must_be_one=True))
        errs.extend(_validate_probe(ctr.get("readinessProbe"), child(path, "readinessProbe"),
                                    success_must_be_one=False))
        errs.extend(_validate_probe(ctr.get("startupProbe"), child(path, "startupProbe"), success_must_be_one=True))
        lifecycle = ctr.get("lifecycle") or {}
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                errs.extend(_validate_handler(lifecycle[hook], child(path, "lifecycle", hook),
                                              ("exec", "httpGet", "tcpSocket", "sleep")))
    return errs


# ---------------------------------------------------------------- pod spec


def _validate_tolerations(tolerations: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, tol in enumerate(tolerations):
        p = index(path, i)
        k = tol.get("key") or ""
        op = tol.get("operator") or ""
        effect = tol.get("effect") or ""
        if k:
            errs.extend(validate_label_name(k, child(p, "key")))
        if not k and op != "Exists":
            errs.append(invalid(child(p, "operator"), op, 'operator must be Exists when `key` is empty, which means '
                                                          '"match all values and all keys"'))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(invalid(child(p, "effect"), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        value = tol.get("value") or ""
        if op in ("", "Equal"):
            msgs = is_label_value(value)
            if msgs:
                errs.append(invalid(child(p, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(invalid(child(p, "operator"), tol, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(child(p, "operator"), op, ["Equal", "Exists"]))
        if effect and effect not in TAINT_EFFECTS:
            errs.append(not_supported(child(p, "effect"), effect, TAINT_EFFECTS))
    return errs


def validate_pod_spec(
    spec: dict[str, Any] | None, path: str, *, is_pod: bool, extra_volumes: frozenset[str] = frozenset()
) -> list[FieldError]:
    """`extra_volumes` are names mounts may also refer to (a StatefulSet's volumeClaimTemplates)."""
    spec = spec or {}
    errs: list[FieldError] = []
    volumes, verrs = _validate_volumes(spec.get("volumes") or [], child(path, "volumes"))
    volumes |= extra_volumes
    errs.extend(verrs)
    containers = spec.get("containers") or []
    init_containers = spec.get("initContainers") or []
    if not containers:
        errs.append(required(child(path, "containers")))
    names: set[str] = set()
    for field_name, items, is_init in (("initContainers", init_containers, True), ("containers", containers, False)):
        for i, ctr in enumerate(items):
            p = index(child(path, field_name), i)
            errs.extend(_validate_container(ctr, p, volumes, is_pod=is_pod, is_init=is_init))
            name = ctr.get("name") or ""
            if name:
                if name in names:
                    errs.append(duplicate(child(p, "name"), name))
                names.add(name)
    # Host ports must be unique per (port, protocol, hostIP) across all containers.
    host_ports: set[tuple[int, str, str]] = set()
    for field_name, items in (("initContainers", init_containers), ("containers", containers)):
        for i, ctr in enumerate(items):
            for j, port in enumerate(ctr.get("ports") or []):
                hport = port.get("hostPort") or 0
                if hport:
                    k = (hport, port.get("protocol") or "TCP", port.get("hostIP") or "")
                    if k in host_ports:
                        errs.append(duplicate(child(index(child(index(child(path, field_name), i), "ports"), j),
                                                    "hostPort"), f"{k[1]}/{hport}"))
                    host_ports.add(k)
                if spec.get("hostNetwork") and hport and hport != port.get("containerPort"):
                    errs.append(invalid(child(index(child(index(child(path, field_name), i), "ports"), j),
                                              "containerPort"), port.get("containerPort"),
                                        "must match `hostPort` when `hostNetwork` is true"))
    rp = spec.get("restartPolicy")
    if rp is not None:
        if rp == "":
            errs.append(required(child(path, "restartPolicy")))
        elif rp not in RESTART_POLICIES:
            errs.append(not_supported(child(path, "restartPolicy"), rp, RESTART_POLICIES))
    dp = spec.get("dnsPolicy")
    if dp is not None:
        if dp not in DNS_POLICIES:
            errs.append(not_supported(child(path, "dnsPolicy"), dp, DNS_POLICIES))
        elif dp == "None" and spec.get("dnsConfig") is None:
            errs.append(required(child(path, "dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None"))
    dns_config = spec.get("dnsConfig") or {}
    for i, ns in enumerate(dns_config.get("nameservers") or []):
        errs.extend(invalid(index(child(path, "dnsConfig", "nameservers"), i), ns, m) for m in is_valid_ip(ns))
    errs.extend(validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector")))
    for f in ("serviceAccountName", "nodeName", "priorityClassName"):
        if spec.get(f):
            errs.extend(validate_dns1123_subdomain(spec[f], child(path, f)))
    for f in ("hostname", "subdomain"):
        if spec.get(f):
            errs.extend(validate_dns1123_label(spec[f], child(path, f)))
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and not 1 <= ads <= MAX_INT32:
        errs.append(invalid(child(path, "activeDeadlineSeconds"), ads, f"must be between 1 and {MAX_INT32}, inclusive"))
    errs.extend(_validate_tolerations(spec.get("tolerations") or [], child(path, "tolerations")))
    for i, ref in enumerate(spec.get("imagePullSecrets") or []):
        if ref.get("name"):
            errs.extend(validate_dns1123_subdomain(ref["name"], child(index(child(path, "imagePullSecrets"), i),
                                                                       "name")))
    for i, alias in enumerate(spec.get("hostAliases") or []):
        ap = index(child(path, "hostAliases"), i)
        errs.extend(invalid(child(ap, "ip"), alias.get("ip", ""), m) for m in is_valid_ip(alias.get("ip", "")))
    if spec.get("resources") is not None:
        errs.extend(validate_resource_requirements(spec["resources"], child(path, "resources")))
    return errs


def validate_pod_template(
    template: dict[str, Any] | None, path: str, *, extra_volumes: frozenset[str] = frozenset()
) -> list[FieldError]:
    """A PodTemplateSpec inside a controller: template labels/annotations plus the pod spec."""
    if template is None:
        return [required(path)]
    meta = template.get("metadata") or {}
    errs = validate_labels(meta.get("labels"), child(path, "labels"))
    errs.extend(validate_annotations(meta.get("annotations"), child(path, "annotations")))
    errs.extend(validate_pod_spec(template.get("spec"), child(path, "spec"), is_pod=False,
                                  extra_volumes=extra_volumes))
    return errs


def validate_hostname_label(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_dns1123_label(value)]


# ---------------------------------------------------------------- pod update


def validate_pod_spec_update(new: dict[str, Any], old: dict[str, Any], path: str = "spec") -> list[FieldError]:
    """Everything in a pod's spec is fixed except images, deadlines, added tolerations and grace period."""
    errs: list[FieldError] = []
    new_ads, old_ads = new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds")
    if new_ads is not None and old_ads is not None and new_ads > old_ads:
        errs.append(invalid(child(path, "activeDeadlineSeconds"), new_ads, "must be less than or equal to previous value"))
    if new_ads is None and old_ads is not None:
        errs.append(invalid(child(path, "activeDeadlineSeconds"), None, "must not update from a positive integer to nil value"))
    mutated = copy.deepcopy(new)
    for field_name in ("containers", "initContainers"):
        new_list, old_list = mutated.get(field_name) or [], old.get(field_name) or []
        if len(new_list) == len(old_list):
            for n, o in zip(new_list, old_list, strict=True):
                if "image" in o:
                    n["image"] = o["image"]
                else:
                    n.pop("image", None)
    for f in ("activeDeadlineSeconds", "tolerations"):
        if f in old:
            mutated[f] = old[f]
        else:
            mutated.pop(f, None)
    old_grace = old.get("terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and mutated.get("terminationGracePeriodSeconds") == 1:
        mutated["terminationGracePeriodSeconds"] = old_grace
    # Scheduling gates may only be removed; the scheduler binds by setting nodeName through /binding.
    if "schedulingGates" in old or "schedulingGates" in mutated:
        new_gates = mutated.get("schedulingGates") or []
        if all(g in (old.get("schedulingGates") or []) for g in new_gates):
            if "schedulingGates" in old:
                mutated["schedulingGates"] = old["schedulingGates"]
            else:
                mutated.pop("schedulingGates", None)
    if mutated != old:
        errs.append(forbidden(path, POD_UPDATE_FORBIDDEN))
    old_tols = old.get("tolerations") or []
    new_tols = new.get("tolerations") or []
    for tol in old_tols:
        if not any(_toleration_kept(tol, t) for t in new_tols):
            errs.append(forbidden(child(path, "tolerations"), "existing toleration can not be modified except its "
                                                              "tolerationSeconds"))
            break
    return errs


def _toleration_kept(old: dict[str, Any], new: dict[str, Any]) -> bool:
    a = {k: v for k, v in old.items() if k != "tolerationSeconds"}
    b = {k: v for k, v in new.items() if k != "tolerationSeconds"}
    return a == b
