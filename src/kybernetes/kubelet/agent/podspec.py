"""Pure translations from a Pod spec to what the runtime is given: argv, environment, DNS, resources, QoS.

Nothing here does I/O: lookups of ConfigMaps and Secrets come in as `EnvSources` (already fetched), so the
rules are unit-testable on their own. The rules are Kubernetes':

* argv: no command and no args → image entrypoint + cmd; command only → command; args only → image
  entrypoint + args; both → command + args. `$(VAR)` in command/args expands from the container env,
  `$$(VAR)` is a literal `$(VAR)`, an unknown `$(VAR)` is left as written.
* env: envFrom first (prefix + key; keys that are not valid env names are skipped), then env in order, each
  value expanded against the variables defined before it; later definitions win.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kybernetes.api.models.core_v1 import ConfigMap, Container, Pod, Secret
from kybernetes.kubelet.runtime.protocol import DNSConfig, ImageConfig, Resources
from kybernetes.machinery.quantity import parse_quantity, to_int, to_milli

__all__ = [
    "CLUSTER_DNS",
    "CLUSTER_DOMAIN",
    "EnvError",
    "EnvSources",
    "build_argv",
    "container_resources",
    "dns_config",
    "expand",
    "qos_class",
    "resolve_env",
]

CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class EnvError(Exception):
    """A reference that cannot be resolved (missing ConfigMap/Secret/key, not optional):
    `reason` is CreateContainerConfigError, as the kubelet reports it."""

    reason = "CreateContainerConfigError"


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes' `$(VAR)` expansion: `$$` → `$`, unknown references stay as written."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    value = lookup(name)
                    out.append(value if value is not None else text[i:end + 1])
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


def build_argv(*, container: Container, image: ImageConfig, env: Mapping[str, str]) -> tuple[str, ...]:
    command = list(container.command or [])
    args = list(container.args or [])
    if not command and not args:
        return (*image.entrypoint, *image.cmd)
    lookup = env.get
    command = [expand(c, lookup) for c in command]
    args = [expand(a, lookup) for a in args]
    if command:
        return (*command, *args)
    return (*image.entrypoint, *args)


@dataclass(frozen=True, kw_only=True)
class EnvSources:
    """What env resolution reads besides the pod: fetched ConfigMaps/Secrets by name (None = not found),
    and the node's allocatable for resourceFieldRef on containers without limits."""

    config_maps: Mapping[str, ConfigMap | None] = field(default_factory=dict)
    secrets: Mapping[str, Secret | None] = field(default_factory=dict)
    node_allocatable: Mapping[str, str] = field(default_factory=dict)
    host_ip: str = ""
    pod_ip: str = ""


def referenced_objects(container: Container) -> tuple[set[str], set[str]]:
    """(ConfigMap names, Secret names) the container's env / envFrom refer to."""
    cms: set[str] = set()
    secrets: set[str] = set()
    for src in container.env_from or []:
        if src.config_map_ref is not None and src.config_map_ref.name:
            cms.add(src.config_map_ref.name)
        if src.secret_ref is not None and src.secret_ref.name:
            secrets.add(src.secret_ref.name)
    for var in container.env or []:
        vf = var.value_from
        if vf is None:
            continue
        if vf.config_map_key_ref is not None and vf.config_map_key_ref.name:
            cms.add(vf.config_map_key_ref.name)
        if vf.secret_key_ref is not None and vf.secret_key_ref.name:
            secrets.add(vf.secret_key_ref.name)
    return cms, secrets


def secret_values(secret: Secret) -> dict[str, str]:
    import base64

    values = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()}
    values.update(secret.string_data or {})
    return values


def config_map_values(cm: ConfigMap) -> dict[str, str]:
    return dict(cm.data or {})


def field_value(pod: Pod, path: str, *, host_ip: str, pod_ip: str) -> str:
    meta, spec = pod.metadata, pod.spec
    assert meta is not None and spec is not None
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.*)'\]", path)
    if match:
        source = (meta.labels if match.group(1) == "labels" else meta.annotations) or {}
        return source.get(match.group(2), "")
    simple: dict[str, str] = {
        "metadata.name": meta.name or "",
        "metadata.namespace": meta.namespace or "",
        "metadata.uid": meta.uid or "",
        "spec.nodeName": spec.node_name or "",
        "spec.serviceAccountName": spec.service_account_name or "",
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "metadata.labels": "\n".join(f'{k}="{v}"' for k, v in sorted((meta.labels or {}).items())),
        "metadata.annotations": "\n".join(f'{k}="{v}"' for k, v in sorted((meta.annotations or {}).items())),
    }
    if path not in simple:
        raise EnvError(f"unsupported fieldRef {path!r}")
    return simple[path]


def resource_value(pod: Pod, *, container_name: str, resource: str, divisor: str | None,
                   allocatable: Mapping[str, str]) -> str:
    assert pod.spec is not None
    container = next((c for c in [*(pod.spec.containers or []), *(pod.spec.init_containers or [])]
                      if c.name == container_name), None)
    if container is None:
        raise EnvError(f"resourceFieldRef names unknown container {container_name!r}")
    kind, _, name = resource.partition(".")
    res = container.resources
    values = (res.limits if kind == "limits" else res.requests) if res is not None else None
    raw = (values or {}).get(name)
    if raw is None:
        raw = allocatable.get(name, "0")
    div = divisor or "1"
    if name == "cpu":
        # Rounded up, as Kubernetes does: a 250m limit with divisor 1 reads as "1".
        return str(max(1, math.ceil(to_milli(raw) / max(1, to_milli(div))))) if to_milli(raw) else "0"
    return str(math.ceil(to_int(raw) / max(1, to_int(div))))


def resolve_env(*, pod: Pod, container: Container, sources: EnvSources,
                base: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The container's environment in order (later entries win when names repeat); `base` (the service
    variables) comes first and may be referenced by `$(VAR)`. Raises `EnvError`."""
    env: dict[str, str] = dict(base)
    for src in container.env_from or []:
        prefix = src.prefix or ""
        if src.config_map_ref is not None:
            cm = sources.config_maps.get(src.config_map_ref.name or "")
            if cm is None:
                if src.config_map_ref.optional:
                    continue
                raise EnvError(f'configmap "{src.config_map_ref.name}" not found')
            items = config_map_values(cm)
        elif src.secret_ref is not None:
            secret = sources.secrets.get(src.secret_ref.name or "")
            if secret is None:
                if src.secret_ref.optional:
                    continue
                raise EnvError(f'secret "{src.secret_ref.name}" not found')
            items = secret_values(secret)
        else:
            continue
        for key, value in items.items():
            if _ENV_NAME.match(prefix + key):
                env[prefix + key] = value
    for var in container.env or []:
        resolved = _env_value(pod=pod, var_value=var.value, value_from=var.value_from, sources=sources, env=env)
        if resolved is not None:
            env[var.name or ""] = resolved
    return list(env.items())


def _env_value(*, pod: Pod, var_value: str | None, value_from: object, sources: EnvSources,
               env: Mapping[str, str]) -> str | None:
    from kybernetes.api.models.core_v1 import EnvVarSource

    if value_from is None:
        return expand(var_value or "", env.get)
    assert isinstance(value_from, EnvVarSource)
    if value_from.field_ref is not None:
        return field_value(pod, value_from.field_ref.field_path or "", host_ip=sources.host_ip, pod_ip=sources.pod_ip)
    if value_from.resource_field_ref is not None:
        ref = value_from.resource_field_ref
        divisor = str(ref.divisor) if ref.divisor is not None else None
        return resource_value(pod, container_name=ref.container_name or "", resource=ref.resource or "",
                              divisor=divisor, allocatable=sources.node_allocatable)
    if value_from.config_map_key_ref is not None:
        sel = value_from.config_map_key_ref
        cm = sources.config_maps.get(sel.name or "")
        data = config_map_values(cm) if cm is not None else None
        if data is None or sel.key not in data:
            if sel.optional:
                return None
            what = f'configmap "{sel.name}" not found' if data is None else \
                f"couldn't find key {sel.key} in ConfigMap {pod.metadata.namespace if pod.metadata else ''}/{sel.name}"
            raise EnvError(what)
        return data[sel.key]
    if value_from.secret_key_ref is not None:
        ssel = value_from.secret_key_ref
        secret = sources.secrets.get(ssel.name or "")
        sdata = secret_values(secret) if secret is not None else None
        if sdata is None or ssel.key not in sdata:
            if ssel.optional:
                return None
            what = f'secret "{ssel.name}" not found' if sdata is None else \
                f"couldn't find key {ssel.key} in Secret {pod.metadata.namespace if pod.metadata else ''}/{ssel.name}"
            raise EnvError(what)
        return sdata[ssel.key]
    return None


def dns_config(*, pod: Pod, host_resolv: str = "/etc/resolv.conf", cluster_dns: str = CLUSTER_DNS,
               cluster_domain: str = CLUSTER_DOMAIN) -> DNSConfig | None:
    """The sandbox's resolv.conf per dnsPolicy (None: the runtime copies the host's)."""
    assert pod.spec is not None and pod.metadata is not None
    policy = pod.spec.dns_policy or "ClusterFirst"
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not pod.spec.host_network):
        ns = pod.metadata.namespace or "default"
        config = DNSConfig(
            servers=(cluster_dns,),
            searches=(f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain),
            options=("ndots:5",),
        )
    elif policy == "None":
        config = DNSConfig()
    else:  # Default, or ClusterFirst on the host network: the node's own resolver settings
        config = host_dns(host_resolv)
    custom = pod.spec.dns_config
    if custom is not None:
        options = list(config.options)
        for opt in custom.options or []:
            options = [o for o in options if o.split(":")[0] != opt.name]
            options.append(f"{opt.name}:{opt.value}" if opt.value else opt.name or "")
        config = DNSConfig(servers=(*config.servers, *(custom.nameservers or [])),
                           searches=(*config.searches, *(custom.searches or [])), options=tuple(options))
    return config


def host_dns(path: str) -> DNSConfig:
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        if words[0] == "nameserver":
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            searches = words[1:]
        elif words[0] == "options":
            options.extend(words[1:])
    return DNSConfig(servers=tuple(servers), searches=tuple(searches), options=tuple(options))


def qos_class(pod: Pod) -> str:
    assert pod.spec is not None
    containers = [*(pod.spec.containers or []), *(pod.spec.init_containers or [])]
    requests_any = limits_all = False
    guaranteed = True
    for c in containers:
        req = dict((c.resources.requests if c.resources else None) or {})
        lim = dict((c.resources.limits if c.resources else None) or {})
        if req or lim:
            requests_any = True
        for name in ("cpu", "memory"):
            if name not in lim:
                guaranteed = False
            elif name in req and parse_quantity(req[name]) != parse_quantity(lim[name]):
                guaranteed = False
        limits_all = limits_all or bool(lim)
    if guaranteed and requests_any:
        return "Guaranteed"
    return "Burstable" if requests_any else "BestEffort"


def container_resources(container: Container, *, qos: str) -> Resources:
    req = (container.resources.requests if container.resources else None) or {}
    lim = (container.resources.limits if container.resources else None) or {}
    cpu_req = to_milli(req["cpu"]) if "cpu" in req else (to_milli(lim["cpu"]) if "cpu" in lim else 0)
    shares = max(2, cpu_req * 1024 // 1000) if cpu_req else 2
    quota = to_milli(lim["cpu"]) * 100_000 // 1000 if "cpu" in lim else 0
    memory = to_int(lim["memory"]) if "memory" in lim else 0
    oom = {"Guaranteed": -997, "BestEffort": 1000}.get(qos, 500)
    return Resources(cpu_shares=shares, cpu_quota=quota, memory_limit_bytes=memory, oom_score_adj=oom)
