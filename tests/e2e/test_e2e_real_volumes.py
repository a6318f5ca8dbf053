"""Volumes on a real node (`realnode.real_cluster`: kyb server with scheduler and controller-manager, one
`kyb agent --runtime runc`), driven with the real kubectl:

* a hostPath PersistentVolume and a claim bind; a busybox pod writes through the claim, and the file is on
  the host in the volume's directory (and stays there after the pod is gone);
* an emptyDir with `medium: Memory` is a tmpfs inside the container (`mount` shows it, with the sizeLimit
  as its size) and on the host, and deleting the pod leaves no mount behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from realnode import REQUIREMENTS, RealCluster, real_cluster, running, wait_until

pytestmark = REQUIREMENTS
__all__ = ["real_cluster"]


@pytest.fixture
def export_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kyb-e2e-pv-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _mounts_under(path: Path) -> list[tuple[str, str]]:
    """(mount point, fs type) of every mount below `path`, from the host's mountinfo."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point, fstype = fields[4], fields[fields.index("-") + 1]
        if point.startswith(str(path)):
            out.append((point, fstype))
    return out


def test_claim_backed_by_host_path_gets_the_pods_writes(real_cluster: RealCluster, export_dir: Path) -> None:
    c = real_cluster
    ns = c.namespace()
    pv_name = f"e2e-{ns}"
    target = export_dir / "data"
    c.k("create", "-f", "-", input=f"""{{"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {{"name": "{pv_name}"}},
        "spec": {{"capacity": {{"storage": "1Gi"}}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                  "persistentVolumeReclaimPolicy": "Delete",
                  "hostPath": {{"path": "{target}", "type": "DirectoryOrCreate"}}}}}}""")
    c.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                      "resources": {"requests": {"storage": "100Mi"}}}}, namespace=ns)
    wait_until("the claim to bind",
               lambda: c.get(ns, "pvc", "data").get("status", {}).get("phase") == "Bound", within=30, node=c.node)
    assert c.get(ns, "pvc", "data")["spec"]["volumeName"] == pv_name
    c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "writer"}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        "containers": [{"name": "c", "image": "busybox", "command": [
            "sh", "-c", "echo written-by-$(hostname) > /data/hello && sleep 3600"],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}}, namespace=ns)
    c.wait_pod(ns, "writer", running, what="the writer pod Running")
    wait_until("the file on the host", lambda: (target / "hello").exists(), within=20, node=c.node)
    assert (target / "hello").read_text().strip() == "written-by-writer"
    c.k("-n", ns, "delete", "pod", "writer", "--timeout=60s")
    assert (target / "hello").read_text().strip() == "written-by-writer"  # the data outlives the pod
    assert c.node.alive(), c.node.log()
    c.k("-n", ns, "delete", "pvc", "data", "--timeout=60s")
    wait_until("the Delete reclaim policy to remove the volume",
               lambda: c.k("get", "pv", pv_name, check=False).returncode != 0, within=30, node=c.node)
    assert c.node.alive(), c.node.log()


def test_memory_empty_dir_is_a_tmpfs_and_is_unmounted(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ram"}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "volumes": [{"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}],
        "containers": [{"name": "c", "image": "busybox", "command": [
            "sh", "-c", "mount | grep /cache; df -k /cache | tail -1; sleep 3600"],
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}]}}, namespace=ns)
    pod = c.wait_pod(ns, "ram", running, what="the pod Running")
    uid = pod["metadata"]["uid"]

    def logged() -> str:
        out = c.k("-n", ns, "logs", "ram", check=False).stdout
        return out if "/cache" in out and "\n" in out.strip() else ""

    logs = wait_until("the container's mount table in its log", logged, within=20, node=c.node)
    mount_line, df_line = logs.strip().splitlines()[:2]
    assert mount_line.startswith("tmpfs on /cache type tmpfs"), logs
    assert df_line.split()[1] == str(16 * 1024), logs  # the tmpfs is sizeLimit big
    volumes = c.node.data_dir / "pods" / uid / "volumes"
    assert _mounts_under(volumes) == [(str(volumes / "kubernetes.io~empty-dir" / "cache"), "tmpfs")]
    c.k("-n", ns, "delete", "pod", "ram", "--timeout=60s")
    assert _mounts_under(c.node.data_dir / "pods") == []  # unmounted before the pod left the API
    wait_until("the pod's directory removed", lambda: not (c.node.data_dir / "pods" / uid).exists(),
               within=10, node=c.node)
