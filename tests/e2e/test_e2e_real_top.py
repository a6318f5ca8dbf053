"""`kubectl top` on a real node: a busybox pod spinning a shell loop under runc burns CPU; the agent reads
its cgroup (cpuacct / cpu.stat, memory working set), the API server scrapes the kubelet's /stats/summary
and the real kubectl shows more than 100m for it, the container's line (`--containers`) and the node."""

from __future__ import annotations

import re

from realnode import REQUIREMENTS, RealCluster, real_cluster, running, wait_until

pytestmark = REQUIREMENTS
__all__ = ["real_cluster"]


def test_kubectl_top_shows_a_busy_pod(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    c.k("-n", ns, "run", "burn", "--image=busybox", "--", "sh", "-c", "while :; do :; done")
    c.wait_pod(ns, "burn", running, what="pod burn Running")

    def busy() -> list[str] | None:
        out = c.k("-n", ns, "top", "pod", "burn", "--no-headers", check=False)
        if out.returncode != 0:
            return None  # "metrics not available yet" until the kubelet has two samples
        row = out.stdout.split()
        return row if int(row[1].rstrip("m")) > 100 else None

    row = wait_until("kubectl top pod burn > 100m", busy, within=60, node=c.node)
    assert row[0] == "burn" and re.fullmatch(r"\d+m", row[1]) and re.fullmatch(r"\d+Mi", row[2]), row

    out = c.k("-n", ns, "top", "pod", "burn", "--containers", "--no-headers").stdout.split()
    assert out[:2] == ["burn", "burn"] and int(out[2].rstrip("m")) > 100, out

    nodes = c.k("top", "nodes", "--no-headers").stdout
    node_row = next(line.split() for line in nodes.splitlines() if line.startswith(c.node.name))
    assert int(node_row[1].rstrip("m")) > 100 and node_row[2].endswith("%"), node_row
    c.k("-n", ns, "delete", "pod", "burn", "--timeout=60s")
