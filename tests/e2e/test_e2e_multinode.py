"""Several real nodes on one machine (each a network namespace acting as a host; see multinode.py), driven
with the real kubectl: the pod network across nodes, Services through each node's proxy, cluster DNS.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from typing import Any

import pytest
from e2e_support import KUBECTL_BIN
from multinode import MultiNodeCluster, all_running, multinode_cluster
from realnode import REQUIREMENTS, wait_until

from cluster import free_port

pytestmark = REQUIREMENTS
__all__ = ["multinode_cluster"]  # the fixture, imported for pytest

# Serves its pod name at / and the client's address at /cgi-bin/ip (to see whether a connection was NATed).
CGI_IP = "#!/bin/sh\necho Content-Type: text/plain\necho\necho $REMOTE_ADDR\n"
HTTPD = ("mkdir -p /www/cgi-bin && hostname > /www/index.html && "
         "{ echo '#!/bin/sh'; echo 'echo Content-Type: text/plain'; echo echo; echo 'echo $REMOTE_ADDR'; }"
         " > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 8080 -h /www")


def remote_addr(text: str) -> str:
    """busybox httpd's REMOTE_ADDR, which it reports as an IPv4-mapped IPv6 address."""
    return text.strip().removeprefix("[").removesuffix("]").removeprefix("::ffff:")


def spread_deployment(name: str, replicas: int) -> dict[str, Any]:
    """busybox httpd answering its pod name, one replica per node (required anti-affinity by hostname)."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}},
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "web", "image": "busybox", "command": ["sh", "-c", HTTPD],
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}},
    }


@pytest.fixture(scope="module")
def web(multinode_cluster: MultiNodeCluster) -> tuple[str, list[dict[str, Any]]]:
    c = multinode_cluster
    ns = c.namespace()
    c.apply(spread_deployment("web", len(c.nodes)), namespace=ns)
    pods = c.wait_pods(ns, "app=web", all_running(len(c.nodes)))
    return ns, pods


def test_pods_spread_over_every_node_with_addresses_from_each_nodes_range(
        multinode_cluster: MultiNodeCluster, web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (_, pods) = multinode_cluster, web
    nodes = {n["metadata"]["name"]: n for n in c.get("", "nodes")["items"]}
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(n.name for n in c.nodes)
    for p in pods:
        cidr = nodes[p["spec"]["nodeName"]]["spec"]["podCIDR"]
        assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network(cidr)
        host = next(h for h in c.hosts if h.name == p["spec"]["nodeName"])
        assert p["status"]["hostIP"] == host.address


def test_pods_reach_pods_on_other_nodes_by_pod_ip_without_nat(
        multinode_cluster: MultiNodeCluster, web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (ns, pods) = multinode_cluster, web
    for src in pods:
        for dst in pods:
            out = c.exec(ns, src["metadata"]["name"], "timeout", "3", "wget", "-qO-",
                         f"http://{dst['status']['podIP']}:8080/")
            assert out.returncode == 0 and out.stdout.strip() == dst["metadata"]["name"], \
                f"{src['metadata']['name']} -> {dst['metadata']['name']}: {out.stderr}"
    # No NAT between pods: the server sees the client pod's own address.
    for src, dst in zip(pods, pods[1:] + pods[:1], strict=True):
        out = c.exec(ns, src["metadata"]["name"], "timeout", "3", "wget", "-qO-",
                     f"http://{dst['status']['podIP']}:8080/cgi-bin/ip")
        assert remote_addr(out.stdout) == src["status"]["podIP"], out.stderr


def test_nodes_reach_pods_on_other_nodes(multinode_cluster: MultiNodeCluster,
                                         web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (_, pods) = multinode_cluster, web
    for host in c.hosts:
        for p in pods:
            assert host.fetch(f"http://{p['status']['podIP']}:8080/") == p["metadata"]["name"] + "\n"


def test_traffic_leaving_the_cluster_is_masqueraded(multinode_cluster: MultiNodeCluster,
                                                    web: tuple[str, list[dict[str, Any]]]) -> None:
    """The client namespace is outside the cluster: it has no route to pod ranges, yet pods reach it
    (their packets carry their node's address)."""
    c, (ns, pods) = multinode_cluster, web
    www = c.workdir / "client-www"
    (www / "cgi-bin").mkdir(parents=True, exist_ok=True)
    (www / "cgi-bin" / "ip").write_text(CGI_IP)
    (www / "cgi-bin" / "ip").chmod(0o755)
    c.spawn("busybox", "httpd", "-f", "-p", f"{c.client.address}:8081", "-h", str(www),
            netns=c.client.name, log_name="client-httpd")
    for p in pods:
        out = c.exec(ns, p["metadata"]["name"], "timeout", "3", "wget", "-qO-",
                     f"http://{c.client.address}:8081/cgi-bin/ip")
        assert out.returncode == 0, out.stderr
        assert remote_addr(out.stdout) == p["status"]["hostIP"]


def service(name: str, *, selector: str, type_: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": type_, "selector": {"app": selector},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec}}


def wait_ready_endpoints(c: MultiNodeCluster, ns: str, svc: str, count: int) -> None:
    def ready() -> bool:
        slices = c.get(ns, "endpointslices", "-l", f"kubernetes.io/service-name={svc}")["items"]
        n = sum(1 for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready"))
        return n == count

    wait_until(f"{count} ready endpoints of {ns}/{svc}", ready, within=30)


def test_clusterip_balances_over_replicas_on_every_node(multinode_cluster: MultiNodeCluster,
                                                         web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (ns, pods) = multinode_cluster, web
    c.apply(service("web", selector="web"), namespace=ns)
    wait_ready_endpoints(c, ns, "web", len(pods))
    ip = c.get(ns, "service", "web")["spec"]["clusterIP"]
    names = {p["metadata"]["name"] for p in pods}
    # From a node (host traffic: the proxy's output hook), once its proxy has the endpoints.
    host = c.hosts[0]
    wait_until("the ClusterIP answering from a node", lambda: host.fetch(f"http://{ip}/"), within=15)
    seen = [host.fetch(f"http://{ip}/") for _ in range(60)]
    assert all(s is not None for s in seen)
    assert {s.strip() for s in seen if s} == names
    # From a pod (pod traffic: prerouting), to replicas on this and the other nodes: 300 requests.
    client = pods[0]["metadata"]["name"]
    out = c.exec(ns, client, "sh", "-c", f"for i in $(seq 300); do timeout 3 wget -qO- http://{ip}/ || echo FAIL; done")
    answers = out.stdout.split()
    assert len(answers) == 300 and "FAIL" not in answers, out.stderr
    assert set(answers) == names


def test_cluster_dns_names_services_from_pods(multinode_cluster: MultiNodeCluster,
                                              web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (ns, pods) = multinode_cluster, web
    c.apply(service("web-dns", selector="web"), namespace=ns)
    wait_ready_endpoints(c, ns, "web-dns", len(pods))
    ip = c.get(ns, "service", "web-dns")["spec"]["clusterIP"]
    client = pods[1]["metadata"]["name"]
    fqdn = f"web-dns.{ns}.svc.cluster.local"
    out = wait_until("the service's name resolving in a pod",
                     lambda: (r := c.exec(ns, client, "nslookup", fqdn)).returncode == 0 and ip in r.stdout and r,
                     within=20)
    assert ip in out.stdout
    # The pod's resolv.conf search path makes the short name work, through the kube-dns Service.
    resolv = c.exec(ns, client, "cat", "/etc/resolv.conf").stdout
    assert "nameserver 10.96.0.10" in resolv and f"search {ns}.svc.cluster.local" in resolv and "ndots:5" in resolv
    # busybox's nslookup walks the whole search list (and exits 1 on the names that do not exist), so
    # the short name's answer is looked for in its output.
    short = c.exec(ns, client, "nslookup", "web-dns")
    assert f"Name:\tweb-dns.{ns}.svc.cluster.local\nAddress: {ip}" in short.stdout, short.stdout

def test_nodeport_reachable_on_every_node_from_outside(multinode_cluster: MultiNodeCluster,
                                                      web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (ns, pods) = multinode_cluster, web
    c.apply(service("web-np", selector="web", type_="NodePort"), namespace=ns)
    wait_ready_endpoints(c, ns, "web-np", len(pods))
    port = c.get(ns, "service", "web-np")["spec"]["ports"][0]["nodePort"]
    names = {p["metadata"]["name"] for p in pods}
    for host in c.hosts:
        got = wait_until(f"NodePort {port} on {host.address}",
                         lambda h=host: c.client.fetch(f"http://{h.address}:{port}/"), within=15)
        assert got.strip() in names


def test_port_forward_to_a_service_and_expose(multinode_cluster: MultiNodeCluster,
                                              web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (ns, pods) = multinode_cluster, web
    c.k("-n", ns, "expose", "deployment", "web", "--name", "web-exposed", "--port", "8081", "--target-port", "8080")
    svc = c.get(ns, "service", "web-exposed")
    assert svc["spec"]["selector"] == {"app": "web"} and svc["spec"]["ports"][0]["targetPort"] == 8080
    wait_ready_endpoints(c, ns, "web-exposed", len(pods))
    ip = svc["spec"]["clusterIP"]
    assert wait_until("the exposed service", lambda: c.hosts[1].fetch(f"http://{ip}:8081/"), within=15)

    local = free_port()
    proc = c.spawn(KUBECTL_BIN, "--kubeconfig", str(c.server.kubeconfig), "-n", ns, "port-forward",
                   "svc/web-exposed", f"{local}:8081", log_name="port-forward-svc")
    try:
        def fetch() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=3) as r:
                    return str(r.read().decode())
            except OSError:
                return None

        got = wait_until("kubectl port-forward svc/web-exposed", fetch, within=20)
        assert got.strip() in {p["metadata"]["name"] for p in pods}
    finally:
        proc.terminate()


def test_scale_down_sends_nothing_to_deleted_pods(multinode_cluster: MultiNodeCluster) -> None:
    c = multinode_cluster
    ns = c.namespace()
    c.apply(spread_deployment("shrink", len(c.nodes)), service("shrink", selector="shrink"), namespace=ns)
    c.wait_pods(ns, "app=shrink", all_running(len(c.nodes)))
    wait_ready_endpoints(c, ns, "shrink", len(c.nodes))
    ip = c.get(ns, "service", "shrink")["spec"]["clusterIP"]
    host = c.hosts[2]
    wait_until("the ClusterIP answering", lambda: host.fetch(f"http://{ip}/"), within=15)

    c.k("-n", ns, "scale", "deployment", "shrink", "--replicas=1")
    survivors = c.wait_pods(ns, "app=shrink", lambda pods: len(pods) == 1)
    name = survivors[0]["metadata"]["name"]

    def settled() -> bool:  # the proxy has synced: a run of answers, every one from the survivor
        return all(host.fetch(f"http://{ip}/", timeout=2) == name + "\n" for _ in range(10))

    wait_until("only the remaining replica answering", settled, within=15)
    answers = [host.fetch(f"http://{ip}/", timeout=2) for _ in range(100)]
    assert answers == [name + "\n"] * 100
