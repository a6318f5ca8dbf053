"""kubectl's describe layouts for Pods, Deployments, Services and Nodes.

Each describer is `async (client, obj, *, events) -> str`: it may read related objects (a Deployment's
ReplicaSets, a Service's EndpointSlices, a Node's pods and Lease) and writes the lines kubectl writes,
tab-separated, for `describe.Out` to align. `DESCRIBERS` maps (group, kind) to them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kybernetes.cli.describe import Out, format_time, meta, since, write_annotations, write_events, write_map
from kybernetes.client import Client
from kybernetes.machinery import quantity
from kybernetes.machinery.errors import StatusError
from kybernetes.machinery.labels import selector_from_api

__all__ = ["DESCRIBERS", "owned_replica_sets", "write_pod_template"]

Obj = dict[str, Any]


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _controller(m: Mapping[str, Any]) -> str:
    for ref in m.get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref.get('kind')}/{ref.get('name')}"
    return ""


# ---- containers (pods and pod templates) -------------------------------------------------------------


def _ports(ports: list[Obj], key: str) -> str:
    # Every declared port is listed, an unset host port as 0 (`0/TCP`), as kubectl lists them.
    shown = [f"{p.get(key) or 0}/{p.get('protocol', 'TCP')}" for p in ports]
    return ", ".join(shown) if shown else "<none>"


def _state(out: Out, level: int, title: str, state: Obj) -> None:
    if "running" in state:
        out.w(level, f"{title}:\tRunning")
        out.w(level + 1, f"Started:\t{format_time(state['running'].get('startedAt'))}")
    elif "waiting" in state:
        out.w(level, f"{title}:\tWaiting")
        if state["waiting"].get("reason"):
            out.w(level + 1, f"Reason:\t{state['waiting']['reason']}")
    elif "terminated" in state:
        t = state["terminated"]
        out.w(level, f"{title}:\tTerminated")
        if t.get("reason"):
            out.w(level + 1, f"Reason:\t{t['reason']}")
        if t.get("message"):
            out.w(level + 1, f"Message:\t{t['message']}")
        out.w(level + 1, f"Exit Code:\t{t.get('exitCode', 0)}")
        out.w(level + 1, f"Started:\t{format_time(t.get('startedAt'))}")
        out.w(level + 1, f"Finished:\t{format_time(t.get('finishedAt'))}")
    else:
        out.w(level, f"{title}:\tWaiting")


def _resources(out: Out, level: int, title: str, values: Obj | None) -> None:
    if not values:
        return
    out.w(level, f"{title}:")
    for key in sorted(values):
        out.w(level + 1, f"{key}:\t{values[key]}")


def _probe(probe: Obj) -> str:
    if "httpGet" in probe:
        h = probe["httpGet"]
        host = h.get("host", "")
        what = f"http-get {h.get('scheme', 'HTTP').lower()}://{host}:{h.get('port')}{h.get('path', '')}"
    elif "tcpSocket" in probe:
        what = f"tcp-socket {probe['tcpSocket'].get('host', '')}:{probe['tcpSocket'].get('port')}"
    elif "exec" in probe:
        what = "exec [" + " ".join(probe["exec"].get("command") or []) + "]"
    elif "grpc" in probe:
        what = f"grpc <pod>:{probe['grpc'].get('port')} {probe['grpc'].get('service', '')}"
    else:
        what = "unknown"
    return (f"{what} delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
            f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
            f"#failure={probe.get('failureThreshold', 3)}")


def _containers(out: Out, containers: list[Obj], statuses: list[Obj] | None, *, template: bool) -> None:
    by_name = {s.get("name"): s for s in statuses or []}
    name_prefix = " " if template else ""
    for c in containers:
        out.w(1, f"{name_prefix}{c.get('name')}:")
        status = by_name.get(c.get("name"))
        if status is not None and status.get("containerID"):
            out.w(2, f"Container ID:\t{status['containerID']}")
        out.w(2, f"Image:\t{c.get('image', '')}")
        if status is not None:
            out.w(2, f"Image ID:\t{status.get('imageID', '')}")
        ports = c.get("ports") or []
        out.w(2, f"Port:\t{_ports(ports, 'containerPort')}")
        out.w(2, f"Host Port:\t{_ports(ports, 'hostPort')}")
        for title, key in (("Command", "command"), ("Args", "args")):
            if c.get(key):
                out.w(2, f"{title}:")
                for word in c[key]:
                    out.w(3, str(word))
        if status is not None:
            _state(out, 2, "State", status.get("state") or {})
            if status.get("lastState"):
                _state(out, 2, "Last State", status["lastState"])
            out.w(2, f"Ready:\t{'True' if status.get('ready') else 'False'}")
            out.w(2, f"Restart Count:\t{status.get('restartCount', 0)}")
        _resources(out, 2, "Limits", _get(c, "resources", "limits"))
        _resources(out, 2, "Requests", _get(c, "resources", "requests"))
        for title, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"),
                           ("Startup", "startupProbe")):
            if c.get(key):
                out.w(2, f"{title}:\t{_probe(c[key])}")
        env = c.get("env") or []
        if env:
            out.w(2, "Environment:")
            for e in env:
                value = e.get("value")
                if value is None and e.get("valueFrom"):
                    value = _value_from(e["valueFrom"])
                out.w(3, f"{e.get('name')}:\t{value if value is not None else ''}")
        else:
            out.w(2, "Environment:\t<none>")
        mounts = c.get("volumeMounts") or []
        if mounts:
            out.w(2, "Mounts:")
            for mount in mounts:
                flags = "ro" if mount.get("readOnly") else "rw"
                sub = f",path=\"{mount['subPath']}\"" if mount.get("subPath") else ""
                out.w(3, f"{mount.get('mountPath')} from {mount.get('name')} ({flags}{sub})")
        else:
            out.w(2, "Mounts:\t<none>")


def _value_from(source: Obj) -> str:
    if "fieldRef" in source:
        return f"({source['fieldRef'].get('apiVersion', 'v1')}:{source['fieldRef'].get('fieldPath')})"
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        return f"<set to the key '{ref.get('key')}' in secret '{ref.get('name')}'>"
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        return f"<set to the key '{ref.get('key')}' of config map '{ref.get('name')}'>"
    if "resourceFieldRef" in source:
        return f"{source['resourceFieldRef'].get('resource')}"
    return ""


def _volumes(out: Out, level: int, volumes: list[Obj]) -> None:
    if not volumes:
        out.w(level, "Volumes:\t<none>")
        return
    out.w(level, "Volumes:")
    for volume in volumes:
        out.w(level + 1, f"{volume.get('name')}:")
        kind = next((k for k in volume if k != "name"), "")
        source = volume.get(kind) or {}
        if kind == "emptyDir":
            out.w(level + 2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)")
            out.w(level + 2, f"Medium:\t{source.get('medium', '')}")
            out.w(level + 2, f"SizeLimit:\t{source.get('sizeLimit', '<unset>')}")
        elif kind == "configMap":
            out.w(level + 2, "Type:\tConfigMap (a volume populated by a ConfigMap)")
            out.w(level + 2, f"Name:\t{source.get('name', '')}")
            out.w(level + 2, f"Optional:\t{'true' if source.get('optional') else 'false'}")
        elif kind == "secret":
            out.w(level + 2, "Type:\tSecret (a volume populated by a Secret)")
            out.w(level + 2, f"SecretName:\t{source.get('secretName', '')}")
            out.w(level + 2, f"Optional:\t{'true' if source.get('optional') else 'false'}")
        elif kind == "hostPath":
            out.w(level + 2, "Type:\tHostPath (bare host directory volume)")
            out.w(level + 2, f"Path:\t{source.get('path', '')}")
            out.w(level + 2, f"HostPathType:\t{source.get('type', '')}")
        elif kind == "persistentVolumeClaim":
            out.w(level + 2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same "
                             "namespace)")
            out.w(level + 2, f"ClaimName:\t{source.get('claimName', '')}")
            out.w(level + 2, f"ReadOnly:\t{'true' if source.get('readOnly') else 'false'}")
        elif kind == "projected":
            out.w(level + 2, "Type:\tProjected (a volume that contains injected data from multiple sources)")
        else:
            out.w(level + 2, f"Type:\t{kind}")


def _tolerations(out: Out, level: int, tolerations: list[Obj]) -> None:
    if not tolerations:
        out.w(level, "Tolerations:\t<none>")
        return
    for i, t in enumerate(tolerations):
        text = str(t.get("key", ""))
        if t.get("value"):
            text += f"={t['value']}"
        if t.get("effect"):
            text += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            text += " op=Exists"
        if t.get("tolerationSeconds") is not None:
            text += f" for {t['tolerationSeconds']}s"
        out.w(level, f"Tolerations:\t{text}" if i == 0 else f"\t{text}")


def _node_selector(out: Out, level: int, selector: Obj | None) -> None:
    text = ",".join(f"{k}={v}" for k, v in sorted((selector or {}).items()))
    out.w(level, f"Node-Selectors:\t{text or '<none>'}")


# ---- pods ----------------------------------------------------------------------------------------


def _qos(pod: Obj) -> str:
    return str(_get(pod, "status", "qosClass") or "BestEffort")


async def describe_pod(client: Client, pod: Obj, *, events: list[Obj]) -> str:
    m, spec, status = meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    out = Out()
    out.w(0, f"Name:\t{m.get('name', '')}")
    out.w(0, f"Namespace:\t{m.get('namespace', '')}")
    out.w(0, f"Priority:\t{spec.get('priority', 0)}")
    if spec.get("priorityClassName"):
        out.w(0, f"Priority Class Name:\t{spec['priorityClassName']}")
    if spec.get("runtimeClassName"):
        out.w(0, f"Runtime Class Name:\t{spec['runtimeClassName']}")
    out.w(0, f"Service Account:\t{spec.get('serviceAccountName', '')}")
    node = spec.get("nodeName")
    out.w(0, f"Node:\t{node}/{status.get('hostIP', '')}" if node else "Node:\t<none>")
    if status.get("startTime"):
        out.w(0, f"Start Time:\t{format_time(status['startTime'])}")
    write_map(out, 0, "Labels", m.get("labels"))
    write_annotations(out, 0, m.get("annotations"))
    if m.get("deletionTimestamp"):
        out.w(0, f"Status:\tTerminating (lasts {since(m['deletionTimestamp'])})")
        out.w(0, f"Termination Grace Period:\t{m.get('deletionGracePeriodSeconds', 0)}s")
    else:
        out.w(0, f"Status:\t{status.get('phase', '')}")
    if status.get("reason"):
        out.w(0, f"Reason:\t{status['reason']}")
    if status.get("message"):
        out.w(0, f"Message:\t{status['message']}")
    out.w(0, f"IP:\t{status.get('podIP', '')}")
    ips = status.get("podIPs") or []
    if ips:
        out.w(0, "IPs:")
        for ip in ips:
            out.w(1, f"IP:\t{ip.get('ip', '')}")
    else:
        out.w(0, "IPs:\t<none>")
    if controller := _controller(m):
        out.w(0, f"Controlled By:\t{controller}")
    if spec.get("initContainers"):
        out.w(0, "Init Containers:")
        _containers(out, spec["initContainers"], status.get("initContainerStatuses"), template=False)
    out.w(0, "Containers:")
    _containers(out, spec.get("containers") or [], status.get("containerStatuses"), template=False)
    if status.get("conditions"):
        out.w(0, "Conditions:")
        out.w(1, "Type\tStatus")
        for condition in status["conditions"]:
            out.w(1, f"{condition.get('type')} \t{condition.get('status')} ")
    _volumes(out, 0, spec.get("volumes") or [])
    out.w(0, f"QoS Class:\t{_qos(pod)}")
    _node_selector(out, 0, spec.get("nodeSelector"))
    _tolerations(out, 0, spec.get("tolerations") or [])
    write_events(out, events)
    return out.render()


# ---- deployments -------------------------------------------------------------------------------------


def _selector_text(selector: Obj | None) -> str:
    try:
        return str(selector_from_api(selector)) or "<none>"
    except ValueError:
        return "<invalid>"


def write_pod_template(out: Out, template: Obj) -> None:
    """`Pod Template:` and what follows it (a Deployment's describe, `rollout history --revision`)."""
    m, spec = template.get("metadata") or {}, template.get("spec") or {}
    out.w(0, "Pod Template:")
    labels = sorted((m.get("labels") or {}).items())
    # Continuation lines start at the margin, not the level (kubectl's; the tabwriter hides it in describe).
    for i, (k, v) in enumerate(labels):
        out.w(1, f"Labels:\t{k}={v}") if i == 0 else out.w(0, f"\t{k}={v}")
    if not labels:
        out.w(1, "Labels:\t<none>")
    annotations = sorted((m.get("annotations") or {}).items())
    for i, (k, v) in enumerate(annotations):
        out.w(1, f"Annotations:\t{k}: {v}") if i == 0 else out.w(0, f"\t{k}: {v}")
    if spec.get("serviceAccountName"):
        out.w(1, f"Service Account:\t{spec['serviceAccountName']}")
    if spec.get("initContainers"):
        out.w(1, "Init Containers:")
        _containers(out, spec["initContainers"], None, template=True)
    out.w(1, "Containers:")
    _containers(out, spec.get("containers") or [], None, template=True)
    _volumes(out, 1, spec.get("volumes") or [])
    _node_selector(out, 1, spec.get("nodeSelector"))
    _tolerations(out, 1, spec.get("tolerations") or [])


async def describe_deployment(client: Client, deploy: Obj, *, events: list[Obj]) -> str:
    m, spec, status = meta(deploy), deploy.get("spec") or {}, deploy.get("status") or {}
    out = Out()
    out.w(0, f"Name:\t{m.get('name', '')}")
    out.w(0, f"Namespace:\t{m.get('namespace', '')}")
    out.w(0, f"CreationTimestamp:\t{format_time(m.get('creationTimestamp'))}")
    write_map(out, 0, "Labels", m.get("labels"))
    write_annotations(out, 0, m.get("annotations"))
    out.w(0, f"Selector:\t{_selector_text(spec.get('selector'))}")
    out.w(0, f"Replicas:\t{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} updated | "
             f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
             f"{status.get('unavailableReplicas', 0)} unavailable")
    strategy = spec.get("strategy") or {}
    out.w(0, f"StrategyType:\t{strategy.get('type', 'RollingUpdate')}")
    out.w(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        out.w(0, f"RollingUpdateStrategy:\t{rolling.get('maxUnavailable', '25%')} max unavailable, "
                 f"{rolling.get('maxSurge', '25%')} max surge")
    write_pod_template(out, spec.get("template") or {})
    if status.get("conditions"):
        out.w(0, "Conditions:")
        out.w(1, "Type\tStatus\tReason")
        out.w(1, "----\t------\t------")
        for c in status["conditions"]:
            out.w(1, f"{c.get('type')} \t{c.get('status')}\t{c.get('reason', '')}")
    old, new = await _replica_sets(client, deploy)
    out.w(0, "OldReplicaSets:\t" + (", ".join(_rs_text(rs) for rs in old) if old else "<none>"))
    out.w(0, "NewReplicaSet:\t" + (_rs_text(new) if new else "<none>"))
    write_events(out, events)
    return out.render()


def _rs_text(rs: Obj) -> str:
    return (f"{meta(rs).get('name')} ({_get(rs, 'status', 'replicas') or 0}/{_get(rs, 'spec', 'replicas') or 0} "
            "replicas created)")


def _template_equal(a: Obj, b: Obj) -> bool:
    def strip(t: Obj) -> Obj:
        t = dict(t)
        labels = dict((t.get("metadata") or {}).get("labels") or {})
        labels.pop("pod-template-hash", None)
        t["metadata"] = {**(t.get("metadata") or {}), "labels": labels}
        return t
    return strip(a) == strip(b)


async def owned_replica_sets(client: Client, deploy: Obj) -> list[Obj]:
    """The ReplicaSets the Deployment controls, oldest first."""
    m = meta(deploy)
    selector = _selector_text(_get(deploy, "spec", "selector"))
    params = [("labelSelector", selector)] if selector not in ("<none>", "<invalid>") else []
    try:
        listed = (await client.request(
            "GET", f"/apis/apps/v1/namespaces/{m.get('namespace')}/replicasets", params=params)).json()
    except StatusError:
        return []
    owned = [rs for rs in listed.get("items") or []
             if any(ref.get("uid") == m.get("uid") and ref.get("controller")
                    for ref in meta(rs).get("ownerReferences") or [])]
    owned.sort(key=lambda rs: str(meta(rs).get("creationTimestamp", "")))
    return owned


async def _replica_sets(client: Client, deploy: Obj) -> tuple[list[Obj], Obj | None]:
    owned = await owned_replica_sets(client, deploy)
    template = _get(deploy, "spec", "template") or {}
    new = next((rs for rs in owned if _template_equal(_get(rs, "spec", "template") or {}, template)), None)
    old = [rs for rs in owned if rs is not new]
    return old, new


# ---- services ----------------------------------------------------------------------------------------


async def describe_service(client: Client, svc: Obj, *, events: list[Obj]) -> str:
    m, spec = meta(svc), svc.get("spec") or {}
    out = Out()
    out.w(0, f"Name:\t{m.get('name', '')}")
    out.w(0, f"Namespace:\t{m.get('namespace', '')}")
    write_map(out, 0, "Labels", m.get("labels"))
    write_annotations(out, 0, m.get("annotations"))
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    out.w(0, f"Selector:\t{selector or '<none>'}")
    out.w(0, f"Type:\t{spec.get('type', 'ClusterIP')}")
    if spec.get("ipFamilyPolicy"):
        out.w(0, f"IP Family Policy:\t{spec['ipFamilyPolicy']}")
    if spec.get("ipFamilies"):
        out.w(0, f"IP Families:\t{','.join(spec['ipFamilies'])}")
    if spec.get("type") == "ExternalName":
        out.w(0, f"External Name:\t{spec.get('externalName', '')}")
    else:
        out.w(0, f"IP:\t{spec.get('clusterIP', '')}")
        if spec.get("clusterIPs"):
            out.w(0, f"IPs:\t{','.join(spec['clusterIPs'])}")
    if spec.get("externalIPs"):
        out.w(0, f"External IPs:\t{','.join(spec['externalIPs'])}")
    ingress = _get(svc, "status", "loadBalancer", "ingress") or []
    if ingress:
        out.w(0, "LoadBalancer Ingress:\t" + ", ".join(i.get("ip") or i.get("hostname", "") for i in ingress))
    endpoints = await _endpoints(client, svc)
    for port in spec.get("ports") or []:
        name = port.get("name") or "<unset>"
        proto = port.get("protocol", "TCP")
        out.w(0, f"Port:\t{name}\t{port.get('port')}/{proto}")
        target = port.get("targetPort", port.get("port"))
        out.w(0, f"TargetPort:\t{target}/{proto}")
        if port.get("nodePort"):
            out.w(0, f"NodePort:\t{name}\t{port['nodePort']}/{proto}")
        out.w(0, f"Endpoints:\t{endpoints.get(port.get('name') or '', '') or '<none>'}")
    out.w(0, f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    if spec.get("externalTrafficPolicy"):
        out.w(0, f"External Traffic Policy:\t{spec['externalTrafficPolicy']}")
    if spec.get("internalTrafficPolicy"):
        out.w(0, f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}")
    write_events(out, events)
    return out.render()


async def _endpoints(client: Client, svc: Obj) -> dict[str, str]:
    """Port name → `ip:port,...` (at most three, then `+ N more...`) from the Service's EndpointSlices."""
    m = meta(svc)
    try:
        listed = (await client.request(
            "GET", f"/apis/discovery.k8s.io/v1/namespaces/{m.get('namespace')}/endpointslices",
            params=[("labelSelector", f"kubernetes.io/service-name={m.get('name')}")])).json()
    except StatusError:
        return {}
    found: dict[str, list[str]] = {}
    for eps in listed.get("items") or []:
        for port in eps.get("ports") or []:
            for endpoint in eps.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                for address in endpoint.get("addresses") or []:
                    host = f"[{address}]" if ":" in address else address
                    found.setdefault(port.get("name") or "", []).append(f"{host}:{port.get('port')}")
    out = {}
    for name, addresses in found.items():
        text = ",".join(addresses[:3])
        if len(addresses) > 3:
            text += f" + {len(addresses) - 3} more..."
        out[name] = text
    return out


# ---- nodes -------------------------------------------------------------------------------------------


def _percent(value: int, total: int) -> str:
    return f"{int(value * 100 / total) if total else 0}%"


async def describe_node(client: Client, node: Obj, *, events: list[Obj]) -> str:
    m, spec, status = meta(node), node.get("spec") or {}, node.get("status") or {}
    out = Out()
    out.w(0, f"Name:\t{m.get('name', '')}")
    roles = sorted(k.split("/", 1)[1] for k in (m.get("labels") or {}) if k.startswith("node-role.kubernetes.io/"))
    out.w(0, f"Roles:\t{','.join(r for r in roles if r) or '<none>'}")
    write_map(out, 0, "Labels", m.get("labels"))
    write_annotations(out, 0, m.get("annotations"))
    out.w(0, f"CreationTimestamp:\t{format_time(m.get('creationTimestamp'))}")
    taints = spec.get("taints") or []
    if taints:
        for i, t in enumerate(taints):
            text = f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
            out.w(0, f"Taints:\t{text}" if i == 0 else f"\t{text}")
    else:
        out.w(0, "Taints:\t<none>")
    out.w(0, f"Unschedulable:\t{'true' if spec.get('unschedulable') else 'false'}")
    try:
        lease = (await client.request(
            "GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{m.get('name')}")).json()
    except StatusError:
        lease = None
    out.w(0, "Lease:")
    lease_spec = (lease or {}).get("spec") or {}
    out.w(1, f"HolderIdentity:\t{lease_spec.get('holderIdentity', '<unset>')}")
    out.w(1, f"AcquireTime:\t{format_time(lease_spec.get('acquireTime'))}")
    out.w(1, f"RenewTime:\t{format_time(lease_spec.get('renewTime'))}")
    if status.get("conditions"):
        out.w(0, "Conditions:")
        out.w(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage")
        out.w(1, "----\t------\t-----------------\t------------------\t------\t-------")
        for c in status["conditions"]:
            out.w(1, f"{c.get('type')} \t{c.get('status')} \t{format_time(c.get('lastHeartbeatTime'))} \t"
                     f"{format_time(c.get('lastTransitionTime'))} \t{c.get('reason', '')} \t{c.get('message', '')}")
    out.w(0, "Addresses:")
    for address in status.get("addresses") or []:
        out.w(1, f"{address.get('type')}:\t{address.get('address')}")
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        values = status.get(key) or {}
        if values:
            out.w(0, f"{title}:")
            for name in sorted(values):
                out.w(1, f"{name}:\t{values[name]}")
    info = status.get("nodeInfo") or {}
    out.w(0, "System Info:")
    for title, key in (("Machine ID", "machineID"), ("System UUID", "systemUUID"), ("Boot ID", "bootID"),
                       ("Kernel Version", "kernelVersion"), ("OS Image", "osImage"),
                       ("Operating System", "operatingSystem"), ("Architecture", "architecture"),
                       ("Container Runtime Version", "containerRuntimeVersion"),
                       ("Kubelet Version", "kubeletVersion")):
        out.w(1, f"{title}:\t{info.get(key, '')}")
    if spec.get("podCIDR"):
        out.w(0, f"PodCIDR:\t{spec['podCIDR']}")
        out.w(0, f"PodCIDRs:\t{','.join(spec.get('podCIDRs') or [spec['podCIDR']])}")
    if spec.get("providerID"):
        out.w(0, f"ProviderID:\t{spec['providerID']}")
    await _node_pods(client, out, m.get("name", ""), status.get("allocatable") or {})
    write_events(out, events)
    return out.render()


async def _node_pods(client: Client, out: Out, node: str, allocatable: Obj) -> None:
    try:
        listed = (await client.request("GET", "/api/v1/pods", params=[
            ("fieldSelector", f"spec.nodeName={node},status.phase!=Succeeded,status.phase!=Failed")])).json()
    except StatusError:
        return
    pods = listed.get("items") or []
    cpu_total, mem_total = quantity.to_milli(allocatable.get("cpu", "0")), quantity.to_int(allocatable.get("memory", "0"))
    out.w(0, f"Non-terminated Pods:\t({len(pods)} in total)")
    out.w(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge")
    out.w(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---")
    totals = {"cpu": [0, 0], "memory": [0, 0], "ephemeral-storage": [0, 0]}
    for pod in pods:
        sums = {"cpu": [0, 0], "memory": [0, 0], "ephemeral-storage": [0, 0]}
        for c in _get(pod, "spec", "containers") or []:
            for index, which in enumerate(("requests", "limits")):
                values = _get(c, "resources", which) or {}
                for key in sums:
                    if key in values:
                        amount = quantity.to_milli(values[key]) if key == "cpu" else quantity.to_int(values[key])
                        sums[key][index] += amount
        for key in totals:
            totals[key][0] += sums[key][0]
            totals[key][1] += sums[key][1]
        pm = meta(pod)
        out.w(1, f"{pm.get('namespace')}\t{pm.get('name')}\t\t"
                 f"{_cpu(sums['cpu'][0])} ({_percent(sums['cpu'][0], cpu_total)})\t"
                 f"{_cpu(sums['cpu'][1])} ({_percent(sums['cpu'][1], cpu_total)})\t"
                 f"{_mem(sums['memory'][0])} ({_percent(sums['memory'][0], mem_total)})\t"
                 f"{_mem(sums['memory'][1])} ({_percent(sums['memory'][1], mem_total)})\t"
                 f"{since(pm.get('creationTimestamp'))}")
    out.w(0, "Allocated resources:")
    out.w(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")
    out.w(1, "Resource\tRequests\tLimits")
    out.w(1, "--------\t--------\t------")
    out.w(1, f"cpu\t{_cpu(totals['cpu'][0])} ({_percent(totals['cpu'][0], cpu_total)})\t"
             f"{_cpu(totals['cpu'][1])} ({_percent(totals['cpu'][1], cpu_total)})")
    out.w(1, f"memory\t{_mem(totals['memory'][0])} ({_percent(totals['memory'][0], mem_total)})\t"
             f"{_mem(totals['memory'][1])} ({_percent(totals['memory'][1], mem_total)})")
    eph = quantity.to_int(allocatable.get("ephemeral-storage", "0"))
    out.w(1, f"ephemeral-storage\t{_mem(totals['ephemeral-storage'][0])} "
             f"({_percent(totals['ephemeral-storage'][0], eph)})\t"
             f"{_mem(totals['ephemeral-storage'][1])} ({_percent(totals['ephemeral-storage'][1], eph)})")


def _cpu(milli: int) -> str:
    if milli == 0:
        return "0"
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def _mem(value: int) -> str:
    return quantity.canonical(value) if value else "0"


# ---- config maps and secrets ---------------------------------------------------------------------------


async def describe_configmap(client: Client, cm: Obj, *, events: list[Obj]) -> str:
    m = meta(cm)
    out = Out()
    out.w(0, f"Name:\t{m.get('name', '')}")
    out.w(0, f"Namespace:\t{m.get('namespace', '')}")
    write_map(out, 0, "Labels", m.get("labels"))
    write_annotations(out, 0, m.get("annotations"))
    out.w(0, "")
    out.w(0, "Data")
    out.w(0, "====")
    for key, value in sorted((cm.get("data") or {}).items()):
        out.w(0, f"{key}:")
        out.w(0, "----")
        out.w(0, f"{value}")
        out.w(0, "")
    out.w(0, "")
    out.w(0, "BinaryData")
    out.w(0, "====")
    for key, value in sorted((cm.get("binaryData") or {}).items()):
        out.w(0, f"{key}: {len(value) * 3 // 4} bytes")
    out.w(0, "")
    write_events(out, events)
    return out.render()


async def describe_secret(client: Client, secret: Obj, *, events: list[Obj]) -> str:
    m = meta(secret)
    out = Out()
    out.w(0, f"Name:\t{m.get('name', '')}")
    out.w(0, f"Namespace:\t{m.get('namespace', '')}")
    write_map(out, 0, "Labels", m.get("labels"))
    write_annotations(out, 0, m.get("annotations"))
    out.w(0, "")
    out.w(0, f"Type:\t{secret.get('type', 'Opaque')}")
    out.w(0, "")
    out.w(0, "Data")
    out.w(0, "====")
    import base64

    for key, value in sorted((secret.get("data") or {}).items()):
        out.w(0, f"{key}:\t{len(base64.b64decode(value))} bytes")
    return out.render()


DESCRIBERS: dict[tuple[str, str], Callable[..., Awaitable[str]]] = {
    ("", "Pod"): describe_pod,
    ("apps", "Deployment"): describe_deployment,
    ("", "Service"): describe_service,
    ("", "Node"): describe_node,
    ("", "ConfigMap"): describe_configmap,
    ("", "Secret"): describe_secret,
}
