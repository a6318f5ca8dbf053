"""Validation of discovery.k8s.io EndpointSlice and networking.k8s.io NetworkPolicy, Ingress, IngressClass."""

from __future__ import annotations

import re
from typing import Any

from kybernetes.api.validation.pod import PROTOCOLS
from kybernetes.api.validation.rules import Obj, Rules, spec_of
from kybernetes.machinery.errors import FieldError, duplicate, invalid, not_supported, required
from kybernetes.machinery.validation import (
    child,
    index,
    is_dns1035_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_cidr,
    is_valid_ipv4,
    is_valid_ipv6,
    is_valid_port_num,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_immutable,
    validate_label_selector,
    validate_port_num_or_name,
)

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]


# ---------------------------------------------------------------- EndpointSlice


def _endpoint_slice(obj: Obj, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    addr_type = obj.get("addressType") or ""
    if not addr_type:
        errs.append(required("addressType"))
    elif addr_type not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", addr_type, ADDRESS_TYPES))
    for i, ep in enumerate(obj.get("endpoints") or []):
        p = index("endpoints", i)
        addresses = ep.get("addresses") or []
        if not addresses:
            errs.append(required(child(p, "addresses"), "must contain at least 1 address"))
        elif len(addresses) > 100:
            errs.append(FieldError(child(p, "addresses"), FieldError.TOO_MANY, "must have at most 100 items", len(addresses)))
        for j, addr in enumerate(addresses):
            ap = index(child(p, "addresses"), j)
            if addr_type == "IPv4":
                errs.extend(invalid(ap, addr, m) for m in is_valid_ipv4(addr))
            elif addr_type == "IPv6":
                errs.extend(invalid(ap, addr, m) for m in is_valid_ipv6(addr))
            elif addr_type == "FQDN":
                errs.extend(invalid(ap, addr, m) for m in is_dns1123_subdomain(addr.rstrip(".")))
        if ep.get("hostname"):
            errs.extend(validate_dns1123_label(ep["hostname"], child(p, "hostname")))
        if ep.get("nodeName"):
            errs.extend(validate_dns1123_subdomain(ep["nodeName"], child(p, "nodeName")))
    names: set[str] = set()
    for i, port in enumerate(obj.get("ports") or []):
        p = index("ports", i)
        name = port.get("name") or ""
        if name:
            errs.extend(validate_dns1123_label(name, child(p, "name")))
        if name in names:
            errs.append(duplicate(child(p, "name"), name))
        names.add(name)
        proto = port.get("protocol")
        if proto is not None and proto not in PROTOCOLS:
            errs.append(not_supported(child(p, "protocol"), proto, PROTOCOLS))
        if port.get("port") is not None:
            errs.extend(invalid(child(p, "port"), port["port"], m) for m in is_valid_port_num(port["port"]))
        if port.get("appProtocol"):
            errs.extend(invalid(child(p, "appProtocol"), port["appProtocol"], m)
                        for m in is_qualified_name(port["appProtocol"]))
    return errs


def _endpoint_slice_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    return validate_immutable(new.get("addressType"), old.get("addressType"), "addressType")


# ---------------------------------------------------------------- NetworkPolicy


def _np_ports(ports: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, port in enumerate(ports):
        p = index(path, i)
        proto = port.get("protocol")
        if proto is not None and proto not in PROTOCOLS:
            errs.append(not_supported(child(p, "protocol"), proto, PROTOCOLS))
        if port.get("port") is not None:
            errs.extend(validate_port_num_or_name(port["port"], child(p, "port")))
            end = port.get("endPort")
            if end is not None:
                if isinstance(port["port"], str):
                    errs.append(invalid(child(p, "endPort"), end, "may not be specified when `port` is non-numeric"))
                elif end < port["port"]:
                    errs.append(invalid(child(p, "endPort"), end, "must be greater than or equal to `port`"))
        elif port.get("endPort") is not None:
            errs.append(required(child(p, "port"), "must be specified when `endPort` is specified"))
    return errs


def _np_peers(peers: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, peer in enumerate(peers):
        p = index(path, i)
        count = sum(1 for f in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(f) is not None)
        if count == 0:
            errs.append(required(p, "must specify a peer"))
        elif peer.get("ipBlock") is not None and count > 1:
            errs.append(invalid(p, peer, "may not specify both ipBlock and another peer"))
        for f in ("podSelector", "namespaceSelector"):
            errs.extend(validate_label_selector(peer.get(f), child(p, f)))
        block = peer.get("ipBlock")
        if block is not None:
            cidr = block.get("cidr") or ""
            if not cidr:
                errs.append(required(child(p, "ipBlock", "cidr")))
            else:
                errs.extend(invalid(child(p, "ipBlock", "cidr"), cidr, m) for m in is_valid_cidr(cidr))
            for j, ex in enumerate(block.get("except") or []):
                errs.extend(invalid(index(child(p, "ipBlock", "except"), j), ex, m) for m in is_valid_cidr(ex))
    return errs


def _network_policy(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs = validate_label_selector(spec.get("podSelector"), "spec.podSelector")
    for i, rule in enumerate(spec.get("ingress") or []):
        p = index("spec.ingress", i)
        errs.extend(_np_ports(rule.get("ports") or [], child(p, "ports")))
        errs.extend(_np_peers(rule.get("from") or [], child(p, "from")))
    for i, rule in enumerate(spec.get("egress") or []):
        p = index("spec.egress", i)
        errs.extend(_np_ports(rule.get("ports") or [], child(p, "ports")))
        errs.extend(_np_peers(rule.get("to") or [], child(p, "to")))
    types = spec.get("policyTypes") or []
    for i, t in enumerate(types):
        if t not in ("Ingress", "Egress"):
            errs.append(not_supported(index("spec.policyTypes", i), t, ["Ingress", "Egress"]))
    if len(types) > 2:
        errs.append(invalid("spec.policyTypes", types, "may not specify more than two policyTypes"))
    return errs


# ---------------------------------------------------------------- Ingress, IngressClass


def _ingress_backend(backend: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if service is None and resource is None:
        return [invalid(path, "", "resource or service backend is required")]
    if service is not None:
        sp = child(path, "service")
        name = service.get("name") or ""
        if not name:
            errs.append(required(child(sp, "name")))
        else:
            errs.extend(invalid(child(sp, "name"), name, m) for m in is_dns1035_label(name))
        port = service.get("port") or {}
        has_name, has_number = bool(port.get("name")), bool(port.get("number"))
        if has_name and has_number:
            errs.append(invalid(child(sp, "port"), port, "cannot set both port name & port number"))
        elif has_name:
            errs.extend(validate_port_num_or_name(port["name"], child(sp, "port", "name")))
        elif has_number:
            errs.extend(invalid(child(sp, "port", "number"), port["number"], m)
                        for m in is_valid_port_num(port["number"]))
        else:
            errs.append(required(child(sp, "port"), "port name or number is required"))
    return errs


_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")


def _ingress(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs: list[FieldError] = []
    if spec.get("defaultBackend") is not None:
        errs.extend(_ingress_backend(spec["defaultBackend"], "spec.defaultBackend"))
    elif not spec.get("rules"):
        errs.append(invalid("spec.rules", spec.get("rules") or [], "either `defaultBackend` or `rules` must be specified"))
    if spec.get("ingressClassName"):
        errs.extend(validate_dns1123_subdomain(spec["ingressClassName"], "spec.ingressClassName"))
    for i, rule in enumerate(spec.get("rules") or []):
        p = index("spec.rules", i)
        host = rule.get("host") or ""
        if host:
            check = host[2:] if host.startswith("*.") else host
            errs.extend(invalid(child(p, "host"), host, m) for m in is_dns1123_subdomain(check))
        http = rule.get("http")
        if http is None:
            continue
        paths = http.get("paths") or []
        if not paths:
            errs.append(required(child(p, "http", "paths")))
        for j, entry in enumerate(paths):
            pp = index(child(p, "http", "paths"), j)
            path_type = entry.get("pathType") or ""
            path = entry.get("path") or ""
            if not path_type:
                errs.append(required(child(pp, "pathType"), "pathType must be specified"))
            elif path_type not in PATH_TYPES:
                errs.append(not_supported(child(pp, "pathType"), path_type, PATH_TYPES))
            if path_type in ("Exact", "Prefix") or path:
                if not path.startswith("/"):
                    errs.append(invalid(child(pp, "path"), path, "must be an absolute path"))
                elif path_type in ("Exact", "Prefix"):
                    for bad in _INVALID_PATH_SEQUENCES:
                        if bad in path:
                            errs.append(invalid(child(pp, "path"), path, f"must not contain '{bad}'"))
                    for bad in _INVALID_PATH_SUFFIXES:
                        if path.endswith(bad):
                            errs.append(invalid(child(pp, "path"), path, f"cannot end with '{bad}'"))
            errs.extend(_ingress_backend(entry.get("backend") or {}, child(pp, "backend")))
    for i, tls in enumerate(spec.get("tls") or []):
        for j, host in enumerate(tls.get("hosts") or []):
            check = host[2:] if host.startswith("*.") else host
            errs.extend(invalid(index(child(index("spec.tls", i), "hosts"), j), host, m)
                        for m in is_dns1123_subdomain(check))
    return errs


_DOMAIN_PATH = re.compile(r"^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$")


def _ingress_class(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    controller = spec.get("controller") or ""
    if not controller:
        return [required("spec.controller")]
    parts = controller.split("/", 1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return [invalid("spec.controller", controller, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = [invalid("spec.controller", parts[0], m) for m in is_dns1123_subdomain(parts[0])]
    if not _DOMAIN_PATH.match(parts[1]):
        errs.append(invalid("spec.controller", parts[1], "Invalid path (regex used for validation is "
                                                         "'[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')"))
    return errs


def _ingress_class_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    return validate_immutable(spec_of(new).get("controller"), spec_of(old).get("controller"), "spec.controller")


RULES: dict[tuple[str, str], Rules] = {
    ("discovery.k8s.io", "EndpointSlice"): Rules(body=_endpoint_slice, update=_endpoint_slice_update),
    ("networking.k8s.io", "NetworkPolicy"): Rules(body=_network_policy),
    ("networking.k8s.io", "Ingress"): Rules(body=_ingress),
    ("networking.k8s.io", "IngressClass"): Rules(body=_ingress_class, update=_ingress_class_update),
}
