"""Defaults for pod specs, applied in place to wire dicts: Pods and every pod template.

Mirrors what a real API server fills in so that objects read back look the same as from Kubernetes:
pod-level policies (restartPolicy, dnsPolicy, schedulerName, grace period, securityContext), per
container (imagePullPolicy from the image tag, termination message, `resources: {}`, port protocol,
probe timings, httpGet scheme/path, fieldRef apiVersion) and per volume (defaultMode 420, emptyDir when
no source). Only absent fields are set; present values are never changed.
"""

from __future__ import annotations

from typing import Any

DEFAULT_MODE = 0o644  # 420, what Kubernetes stores for secret/configMap/downwardAPI/projected volumes
_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI",
    "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
    "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)


def image_pull_policy(image: str) -> str:
    """`Always` for `:latest` or an untagged (and undigested) image, else `IfNotPresent`.

    An empty image (invalid anyway) gets `IfNotPresent`, as Kubernetes' failed parse yields no tag.
    """
    name = image
    if not name or "@" in name:
        return "IfNotPresent"
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _handler(handler: dict[str, Any] | None) -> None:
    if not handler:
        return
    http = handler.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")
    grpc = handler.get("grpc")
    if isinstance(grpc, dict):
        grpc.setdefault("service", "")


def _probe(probe: dict[str, Any] | None) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    _handler(probe)


def _field_ref(ref: dict[str, Any] | None) -> None:
    if isinstance(ref, dict):
        ref.setdefault("apiVersion", "v1")


def default_container(ctr: dict[str, Any]) -> None:
    ctr.setdefault("terminationMessagePath", "/dev/termination-log")
    ctr.setdefault("terminationMessagePolicy", "File")
    if not ctr.get("imagePullPolicy"):
        ctr["imagePullPolicy"] = image_pull_policy(ctr.get("image") or "")
    ctr.setdefault("resources", {})
    for port in ctr.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for ev in ctr.get("env") or []:
        _field_ref((ev.get("valueFrom") or {}).get("fieldRef"))
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(ctr.get(name))
    lifecycle = ctr.get("lifecycle")
    if isinstance(lifecycle, dict):
        _handler(lifecycle.get("postStart"))
        _handler(lifecycle.get("preStop"))


def _downward_items(items: list[dict[str, Any]] | None) -> None:
    for item in items or []:
        _field_ref(item.get("fieldRef"))


def default_volume(vol: dict[str, Any]) -> None:
    if not any(vol.get(s) is not None for s in _VOLUME_SOURCES):
        vol["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(vol.get(source), dict):
            vol[source].setdefault("defaultMode", DEFAULT_MODE)
    if isinstance(vol.get("downwardAPI"), dict):
        _downward_items(vol["downwardAPI"].get("items"))
    if isinstance(vol.get("projected"), dict):
        for src in vol["projected"].get("sources") or []:
            if isinstance(src.get("serviceAccountToken"), dict):
                src["serviceAccountToken"].setdefault("expirationSeconds", 3600)
            if isinstance(src.get("downwardAPI"), dict):
                _downward_items(src["downwardAPI"].get("items"))
    if isinstance(vol.get("hostPath"), dict):
        vol["hostPath"].setdefault("type", "")
    if isinstance(vol.get("iscsi"), dict):
        vol["iscsi"].setdefault("iscsiInterface", "default")
    if isinstance(vol.get("rbd"), dict):
        vol["rbd"].setdefault("pool", "rbd")
        vol["rbd"].setdefault("user", "admin")
        vol["rbd"].setdefault("keyring", "/etc/ceph/keyring")
    if isinstance(vol.get("azureDisk"), dict):
        vol["azureDisk"].setdefault("cachingMode", "ReadWrite")
        vol["azureDisk"].setdefault("fsType", "ext4")
        vol["azureDisk"].setdefault("readOnly", False)
        vol["azureDisk"].setdefault("kind", "Shared")
    ephemeral = vol.get("ephemeral")
    if isinstance(ephemeral, dict) and isinstance(ephemeral.get("volumeClaimTemplate"), dict):
        spec = ephemeral["volumeClaimTemplate"].get("spec")
        if isinstance(spec, dict):
            spec.setdefault("volumeMode", "Filesystem")


def default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and everything nested in a pod spec (used for Pods and pod templates)."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    host_network = bool(spec.get("hostNetwork"))
    for field in ("initContainers", "containers"):
        for ctr in spec.get(field) or []:
            default_container(ctr)
            if host_network:
                # With host networking the container port is the host port.
                for port in ctr.get("ports") or []:
                    if not port.get("hostPort") and port.get("containerPort"):
                        port["hostPort"] = port["containerPort"]
    for ctr in spec.get("ephemeralContainers") or []:
        ctr.setdefault("terminationMessagePath", "/dev/termination-log")
        ctr.setdefault("terminationMessagePolicy", "File")
        if not ctr.get("imagePullPolicy") and ctr.get("image"):
            ctr["imagePullPolicy"] = image_pull_policy(ctr["image"])
    for vol in spec.get("volumes") or []:
        default_volume(vol)


def _requests_from_limits(ctr: dict[str, Any]) -> None:
    resources = ctr.get("resources")
    if not isinstance(resources, dict):
        return
    limits = resources.get("limits") or {}
    if not limits:
        return
    requests = resources.setdefault("requests", {})
    for name, value in limits.items():
        requests.setdefault(name, value)


def default_pod(obj: dict[str, Any]) -> None:
    """SetDefaults_Pod: pod-spec defaults plus requests copied from limits and enableServiceLinks."""
    spec = obj.setdefault("spec", {})
    default_pod_spec(spec)
    for field in ("initContainers", "containers"):
        for ctr in spec.get(field) or []:
            _requests_from_limits(ctr)
    spec.setdefault("enableServiceLinks", True)


def default_pod_template(template: dict[str, Any] | None) -> None:
    if isinstance(template, dict):
        default_pod_spec(template.setdefault("spec", {}))
