"""`kybernetes.kubelet.cleanup`: every kind of trace a node leaves, made by hand on the host under a random
prefix, is found by `find_leftovers` and gone after `clean_node` (twice: it is idempotent)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kybernetes.kubelet.cleanup import NodeTraces, _unescape, clean_node, find_leftovers
from kybernetes.kubelet.network.routes import ROUTE_PROTOCOL
from kybernetes.kubelet.runtime.runc.cgroups import Cgroups

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("nft") is None or shutil.which("ip") is None, reason="needs nft and ip"),
]

CLUSTER_CIDR = "10.251.0.0/16"  # not the pod range the runtime tests share


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture
def traces(tmp_path: Path) -> Iterator[NodeTraces]:
    prefix = "kc" + uuid.uuid4().hex[:4]
    t = NodeTraces(data_dir=tmp_path / "agent", netns_prefix=prefix, bridge=f"{prefix}0", cgroup_root=f"/{prefix}",
                   cluster_cidr=CLUSTER_CIDR)
    t.data_dir.mkdir()
    try:
        yield t
    finally:
        clean_node(traces=t)  # whatever the test did


def test_nothing_there_is_nothing_left(traces: NodeTraces) -> None:
    assert not any(find_leftovers(traces=traces).values())


def test_every_kind_of_trace_is_found_then_removed(traces: NodeTraces) -> None:
    p = traces.netns_prefix
    # network: a pod namespace, its veth on the bridge, a route to "another node's pods", the nft tables
    sh("ip", "netns", "add", f"{p}-0123456789abcdef")
    sh("ip", "link", "add", traces.bridge, "type", "bridge")
    sh("ip", "link", "set", traces.bridge, "up")
    sh("ip", "link", "add", f"{p}0123abcd", "type", "veth", "peer", "name", "eth0", "netns", f"{p}-0123456789abcdef")
    sh("ip", "link", "set", f"{p}0123abcd", "master", traces.bridge)
    sh("ip", "route", "add", "10.251.7.0/24", "dev", traces.bridge, "proto", str(ROUTE_PROTOCOL))
    for table in traces.nft_tables:
        sh("nft", "add", "table", "ip", table)
    # a mount under the data dir (a container's /dev/shm), and one on top of it
    shm = traces.data_dir / "runtime" / "sandboxes" / "s1" / "shm"
    shm.mkdir(parents=True)
    sh("mount", "-t", "tmpfs", "tmpfs", str(shm))
    (shm / "sub").mkdir()
    sh("mount", "-t", "tmpfs", "tmpfs", str(shm / "sub"))
    # a process in a pod cgroup, and one naming the data dir (as conmon does)
    pod_cgroup = f"{traces.cgroup_root}/besteffort/pod1"
    cgroups = Cgroups()
    cgroups.ensure(path=pod_cgroup)
    in_pod = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (Path("/sys/fs/cgroup") / ("" if cgroups.v2 else "pids") / pod_cgroup.lstrip("/") / "cgroup.procs").write_text(
        str(in_pod.pid))
    monitor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--bundle",
                                str(traces.data_dir / "runtime" / "containers" / "c1")])
    # Popen returns after fork, maybe before exec: wait until its command line is the one we gave
    while str(traces.data_dir).encode() not in Path(f"/proc/{monitor.pid}/cmdline").read_bytes():
        os.sched_yield()
    try:
        found = find_leftovers(traces=traces)
        assert found["netns"] == [f"{p}-0123456789abcdef"]
        assert found["links"] == sorted([traces.bridge, f"{p}0123abcd"])
        assert found["routes"] == ["10.251.7.0/24"]
        assert found["nft_tables"] == sorted(traces.nft_tables)
        assert str(shm) in found["mounts"] and str(shm / "sub") in found["mounts"]
        assert found["mounts"].index(str(shm / "sub")) < found["mounts"].index(str(shm))  # deepest first
        assert any(f"/{p}/besteffort/pod1" in c for c in found["cgroups"])
        assert str(in_pod.pid) in found["processes"]
        assert any(line.startswith(f"{monitor.pid} ") for line in found["processes"])

        left = clean_node(traces=traces, keep_data=True)
        assert not any(left.values()), left
        assert in_pod.wait(timeout=5) and monitor.wait(timeout=5)  # killed
        assert traces.data_dir.is_dir() and not (traces.data_dir / "runtime").exists()
        assert not any(clean_node(traces=traces).values())  # again: nothing to do, the data dir goes
        assert not traces.data_dir.exists()
    finally:
        for proc in (in_pod, monitor):
            proc.kill()
            proc.wait()


def test_other_names_are_not_touched(traces: NodeTraces) -> None:
    other = "ko" + uuid.uuid4().hex[:4]
    sh("ip", "link", "add", f"{other}0", "type", "bridge")
    sh("nft", "add", "table", "ip", f"{other}-node")
    try:
        clean_node(traces=traces)
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert f"{other}0" in links and f"{other}-node" in tables
    finally:
        subprocess.run(["ip", "link", "del", f"{other}0"], capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", f"{other}-node"], capture_output=True)


def test_mountinfo_escapes() -> None:
    assert _unescape("/var/lib/a\\040b\\011c\\134d") == "/var/lib/a b\tc\\d"
