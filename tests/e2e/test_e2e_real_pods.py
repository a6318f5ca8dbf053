"""The first real end-to-end pod: `kyb server` (scheduler + controller-manager) and `kyb agent --runtime runc`
as separate processes, busybox pulled from a local registry acting as the docker.io mirror, and the real
kubectl (the cluster is `realnode.real_cluster`).

`kubectl run web --image=busybox -- httpd -f -p 8080` must become Running with a pod IP from the range the
node-ipam controller gave the Node, the host must fetch http://<podIP>:8080, and `kubectl delete pod web`
must leave no process, network namespace, veth, mount or cgroup behind.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from realnode import REQUIREMENTS, RealCluster, real_cluster, running

pytestmark = REQUIREMENTS
__all__ = ["real_cluster"]


def test_kubectl_run_real_pod_serves_http_and_deletes_cleanly(real_cluster: RealCluster) -> None:
    c = real_cluster
    pod_cidr = json.loads(c.k("get", "node", c.node.name, "-o", "json").stdout)["spec"]["podCIDR"]
    c.k("run", "web", "--image=busybox", "--", "httpd", "-f", "-p", "8080")
    pod = c.wait_pod("default", "web", running, what="pod web Running")
    ip = pod["status"]["podIP"]
    assert pod["spec"]["nodeName"] == c.node.name
    assert ip.rsplit(".", 1)[0] == pod_cidr.rsplit(".", 1)[0], (ip, pod_cidr)
    status = pod["status"]["containerStatuses"][0]
    assert status["containerID"].startswith("runc://") and status["imageID"], status

    # busybox httpd answers / (no index.html) with an HTTP status of its own: any answer proves the path.
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"http://{ip}:8080/", timeout=3) as r:
                answer = r.status
            break
        except urllib.error.HTTPError as e:
            answer = e.code
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert 200 <= answer < 500

    c.k("delete", "pod", "web", "--timeout=60s")
    assert c.k("get", "pod", "web", check=False).returncode != 0
    # Deletion is complete once the pod is gone from the API: the kubelet removed everything first.
    assert c.node.leftovers() == {"processes": [], "netns": [], "veth": [], "mounts": [], "cgroups": [],
                                  "sandboxes": []}, c.node.log()
