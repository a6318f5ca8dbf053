"""Several real nodes on one machine (each a network namespace acting as a host; see multinode.py), driven
with the real kubectl: the pod network across nodes, Services through each node's proxy, cluster DNS.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
import sys
import urllib.request
from typing import Any

import multinode
import pytest
from e2e_support import KUBECTL_BIN
from multinode import NODE_GRACE, Host, MultiNodeCluster, NetnsNode, all_running, multinode_cluster
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
    """The shared spread Deployment, whose httpd also answers the client's address at /cgi-bin/ip."""
    return multinode.spread_deployment(name, replicas, httpd=HTTPD)


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


# ---- session affinity and hairpin -------------------------------------------------------------------------


def repeat_from_pod(c: MultiNodeCluster, ns: str, pod: str, url: str, times: int) -> list[str]:
    """`times` GETs of url from inside a pod, one answer (or FAIL) each."""
    out = c.exec(ns, pod, "sh", "-c", f"for i in $(seq {times}); do timeout 3 wget -qO- {url} || echo FAIL; done")
    return out.stdout.split()


def test_client_ip_affinity_keeps_a_client_on_one_backend(multinode_cluster: MultiNodeCluster,
                                                          web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (ns, pods) = multinode_cluster, web
    c.apply(service("web-aff", selector="web", type_="NodePort", sessionAffinity="ClientIP"), namespace=ns)
    wait_ready_endpoints(c, ns, "web-aff", len(pods))
    spec = c.get(ns, "service", "web-aff")["spec"]
    ip, node_port = spec["clusterIP"], spec["ports"][0]["nodePort"]
    names = {p["metadata"]["name"] for p in pods}
    # A pod as the client: every answer from one replica.
    for p in pods[:2]:
        client = p["metadata"]["name"]
        wait_until("the affinity service answering a pod",
                   lambda cl=client: c.exec(ns, cl, "timeout", "3", "wget", "-qO-", f"http://{ip}/").returncode == 0,
                   within=15)
        answers = repeat_from_pod(c, ns, client, f"http://{ip}/", 30)
        assert len(answers) == 30 and len(set(answers)) == 1 and answers[0] in names, answers
    # The client namespace through the NodePort of each node: one replica per node's proxy.
    for host in c.hosts:
        url = f"http://{host.address}:{node_port}/"
        wait_until(f"NodePort {node_port} on {host.address}", lambda u=url: c.client.fetch(u), within=15)
        out = c.client.run("sh", "-c", f"for i in $(seq 20); do busybox wget -qO- {url} || echo FAIL; done")
        answers = out.stdout.split()
        assert len(answers) == 20 and len(set(answers)) == 1 and answers[0] in names, answers


def test_hairpin_a_pod_reaches_itself_through_its_service(multinode_cluster: MultiNodeCluster,
                                                          web: tuple[str, list[dict[str, Any]]]) -> None:
    """A one-endpoint Service: the one pod behind it, as a client of it, gets its own answer."""
    c, (ns, pods) = multinode_cluster, web
    me = pods[1]["metadata"]["name"]
    c.k("-n", ns, "label", "pod", me, "hairpin=yes")
    c.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hairpin"},
             "spec": {"selector": {"hairpin": "yes"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
            namespace=ns)
    wait_ready_endpoints(c, ns, "hairpin", 1)
    ip = c.get(ns, "service", "hairpin")["spec"]["clusterIP"]
    wait_until("the pod reaching itself through its Service",
               lambda: c.exec(ns, me, "timeout", "3", "wget", "-qO-", f"http://{ip}/").returncode == 0, within=15)
    assert repeat_from_pod(c, ns, me, f"http://{ip}/", 20) == [me] * 20


# ---- DNS ---------------------------------------------------------------------------------------------------


def lookup(c: MultiNodeCluster, ns: str, pod: str, *args: str, expect: list[str], within: float = 20) -> str:
    """busybox nslookup in a pod until every string of `expect` is in its output (the DNS follows the API
    through informers, a moment behind); the output."""
    seen: list[str] = []

    def probe() -> bool:
        out = c.exec(ns, pod, "nslookup", *args)
        seen[:] = [out.stdout + out.stderr]
        return all(e in out.stdout for e in expect)

    try:
        wait_until(f"nslookup {' '.join(args)} in {pod}", probe, within=within)
    except AssertionError:
        raise AssertionError(f"nslookup {' '.join(args)}: wanted {expect} in:\n{seen[0] if seen else ''}") from None
    return seen[0]


def headless(name: str, *, selector: dict[str, str], port: int | str = "http") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"clusterIP": "None", "selector": selector,
                     "ports": [{"name": "http", "port": 80, "targetPort": port}]}}


def statefulset(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "web", "image": "busybox", "command": ["sh", "-c", HTTPD],
                                         "ports": [{"containerPort": 8080, "name": "http"}],
                                         "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}}}


def test_dns_srv_ptr_headless_statefulset_externalname_and_upstream(
        multinode_cluster: MultiNodeCluster, web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (ns, pods) = multinode_cluster, web
    zone = f"{ns}.svc.cluster.local"
    c.apply(service("dnsweb", selector="web"), headless("dnshead", selector={"app": "web"}),
            headless("db", selector={"app": "db"}), statefulset("db"),
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
             "spec": {"type": "ExternalName", "externalName": "upstream.example.test"}}, namespace=ns)
    wait_ready_endpoints(c, ns, "dnsweb", len(pods))
    ip = c.get(ns, "service", "dnsweb")["spec"]["clusterIP"]
    # Each question from a pod on another node (every query crosses to the DNS through the node's proxy).
    asker = [p["metadata"]["name"] for p in pods]
    # SRV of the named port: the Service's name and port (ClusterIP Service) ...
    lookup(c, ns, asker[0], "-type=srv", f"_http._tcp.dnsweb.{zone}.", expect=[f"80 dnsweb.{zone}"])
    # ... PTR of its ClusterIP ...
    reverse = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    lookup(c, ns, asker[1], "-type=ptr", f"{reverse}.", expect=[f"name = dnsweb.{zone}"])
    # ... a headless Service answers its ready pods' addresses, and SRV names each of them.
    ips = [p["status"]["podIP"] for p in pods]
    lookup(c, ns, asker[2], f"dnshead.{zone}.", expect=[f"Address: {a}" for a in ips])
    srv = lookup(c, ns, asker[0], "-type=srv", f"_http._tcp.dnshead.{zone}.", expect=["8080 "])
    assert srv.count("service = ") == len(pods), srv
    # A StatefulSet pod by hostname.subdomain.
    [db] = c.wait_pods(ns, "app=db", all_running(1))
    wait_ready_endpoints(c, ns, "db", 1)
    lookup(c, ns, asker[1], f"db-0.db.{zone}.", expect=[f"Address: {db['status']['podIP']}"])
    # ExternalName: a CNAME, its target chased through the upstream resolver.
    lookup(c, ns, asker[2], f"ext.{zone}.", expect=["canonical name = upstream.example.test", "192.0.2.7"])
    # A name outside the cluster, forwarded upstream (the test resolver on the bridge address).
    assert c.upstream is not None
    lookup(c, ns, asker[0], "www.example.test.", expect=["Address: 192.0.2.8"])
    assert "www.example.test." in c.upstream.queries


# ---- bad input -----------------------------------------------------------------------------------------------


def warnings_of(c: MultiNodeCluster, ns: str, name: str) -> dict[str, str]:
    """reason → message of the Warning events about Service `name`, as `kubectl describe svc` lists them."""
    events = c.get(ns, "events")["items"]
    return {e["reason"]: e["message"] for e in events
            if e["involvedObject"].get("kind") == "Service" and e["involvedObject"].get("name") == name
            and e.get("type") == "Warning"}


def test_bad_services_are_reported_and_the_others_keep_answering(
        multinode_cluster: MultiNodeCluster, web: tuple[str, list[dict[str, Any]]]) -> None:
    c, (ns, pods) = multinode_cluster, web
    names = {p["metadata"]["name"] for p in pods}
    real = pods[2]["metadata"]["name"]
    c.k("-n", ns, "label", "pod", real, "tier=ghost")
    bad_port = service("badport", selector="web")
    bad_port["spec"]["ports"][0]["targetPort"] = "nope"
    ghost = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ghost", "labels": {"tier": "ghost"}},
             "spec": {"nodeName": "ghost-node", "containers": [{"name": "c", "image": "busybox",
                                                                  "ports": [{"containerPort": 8080, "name": "http"}]}]}}
    try:
        c.apply(ghost, namespace=ns)
        # The pod as a kubelet on a node now gone would have left it: running, ready, with an address.
        c.k("-n", ns, "patch", "pod", "ghost", "--subresource=status", "--type=merge", "-p", json.dumps({"status": {
            "phase": "Running", "podIP": "10.244.250.9", "podIPs": [{"ip": "10.244.250.9"}],
            "conditions": [{"type": "Ready", "status": "True"}]}}))
        c.apply(service("good", selector="web"), service("nomatch", selector="nothing"), bad_port,
                {**service("ghosted", selector="web"), "spec": {"selector": {"tier": "ghost"},
                                                                "ports": [{"name": "http", "port": 80,
                                                                           "targetPort": "http"}]}},
                namespace=ns)
        # Each reported on its Service.
        wait_until("the events", lambda: "SelectorMatchesNoPods" in warnings_of(c, ns, "nomatch")
                   and "PortNotFound" in warnings_of(c, ns, "badport")
                   and "FailedToUpdateEndpointSlices" in warnings_of(c, ns, "ghosted"), within=20)
        assert "app=nothing" in warnings_of(c, ns, "nomatch")["SelectorMatchesNoPods"]
        assert "'nope'" in warnings_of(c, ns, "badport")["PortNotFound"]
        assert "Node ghost-node not found" in warnings_of(c, ns, "ghosted")["FailedToUpdateEndpointSlices"]
        described = c.k("-n", ns, "describe", "service", "nomatch").stdout
        assert "SelectorMatchesNoPods" in described
        # The pod on the gone node is no endpoint; the real one is, and answers.
        wait_ready_endpoints(c, ns, "ghosted", 1)
        slices = c.get(ns, "endpointslices", "-l", "kubernetes.io/service-name=ghosted")["items"]
        assert [e["addresses"][0] for s in slices for e in s.get("endpoints") or []] == [pods[2]["status"]["podIP"]]
        host = c.hosts[0]
        ghosted_ip = c.get(ns, "service", "ghosted")["spec"]["clusterIP"]
        assert wait_until("the ghosted service", lambda: host.fetch(f"http://{ghosted_ip}/"), within=15) == real + "\n"
        # The other Services keep answering on every node, and the broken ones fail fast (rejected).
        wait_ready_endpoints(c, ns, "good", len(pods))
        good_ip = c.get(ns, "service", "good")["spec"]["clusterIP"]
        for h in c.hosts:
            wait_until(f"the good service from {h.name}", lambda h=h: h.fetch(f"http://{good_ip}/"), within=15)
            answers = {h.fetch(f"http://{good_ip}/") for _ in range(15)}
            assert None not in answers and {a.strip() for a in answers if a} <= names
        for name in ("nomatch", "badport"):
            bad_ip = c.get(ns, "service", name)["spec"]["clusterIP"]
            assert host.fetch(f"http://{bad_ip}/", timeout=2) is None
    finally:
        c.k("-n", ns, "delete", "pod", "ghost", "--grace-period=0", "--force", check=False)


# ---- node failure (last: it takes a node down and back) ------------------------------------------------------


def test_a_machine_joins_with_a_bootstrap_token(multinode_cluster: MultiNodeCluster) -> None:
    """A fourth host (its own network namespace) joins with `kyb token create --print-join-command`'s line:
    its agent gets a node certificate through a CSR, runs a pod the other nodes reach, and its certificate
    can act only as that node. An unknown token is refused with the message that says what to do."""
    c = multinode_cluster
    line = subprocess.run([sys.executable, "-m", "kybernetes.cli.main", "token", "create", "--print-join-command",
                           "--kubeconfig", str(c.server.kubeconfig)], capture_output=True, text=True, check=True)
    argv = shlex.split(line.stdout.strip())
    assert argv[:2] == ["kyb", "agent"], line.stdout
    credentials = tuple(argv[2:])
    net = c.gateway.rsplit(".", 1)[0]
    host = Host(name=f"{c.tag}j", bridge=c.bridge, address=f"{net}.50", gateway=c.gateway)
    node = NetnsNode(server=c.server, registry=c.registry, host=host, tag=f"{c.tag}j")
    try:
        host.create()
        bad = subprocess.run(["nsenter", f"--net=/run/netns/{host.name}", "--", sys.executable, "-m",
                              "kybernetes.cli.main", "agent", *_with_token(credentials, "abcdef.0123456789abcdef"),
                              "--node-name", "intruder", "--data-dir", str(node.data_dir / "bad")],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and "the bootstrap token is invalid or expired" in bad.stderr, bad.stderr
        node.start(credentials=credentials)
        c.wait_node_ready(node)
        kubeconfig = node.data_dir / "kubelet.kubeconfig"
        whoami = c.k("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
        assert whoami.stdout == f"system:node:{node.name}"
        other = c.k("--kubeconfig", str(kubeconfig), "label", "node", c.hosts[0].name, "x=y", check=False)
        assert other.returncode != 0 and "forbidden" in other.stderr, other.stderr
        ns = c.namespace()
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "on-joined", "labels": {"app": "joined"}},
               "spec": {"nodeName": node.name, "terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "web", "image": "busybox", "command": ["sh", "-c", HTTPD]}]}}
        c.apply(pod, namespace=ns)
        pods = c.wait_pods(ns, "app=joined", all_running(1))
        ip = ipaddress.ip_address(pods[0]["status"]["podIP"])
        assert wait_until("the joined node's pod from another node",
                          lambda: c.hosts[0].fetch(f"http://{ip}:8080/"), within=20) == "on-joined\n"
        c.k("-n", ns, "delete", "pod", "on-joined", "--wait=true", "--timeout=60s")
    finally:
        node.stop()
        node.cleanup()
        c.k("delete", "node", node.name, "--ignore-not-found", check=False)
        host.remove()


def _with_token(credentials: tuple[str, ...], token: str) -> list[str]:
    out = list(credentials)
    out[out.index("--token") + 1] = token
    return out


def test_a_failed_nodes_pods_are_replaced_and_the_service_keeps_answering(multinode_cluster: MultiNodeCluster) -> None:
    c = multinode_cluster
    ns = c.namespace()
    deployment = spread_deployment("survive", len(c.nodes))
    template = deployment["spec"]["template"]["spec"]
    # Spread, but not required (two nodes must be able to hold the three after the failure); tolerate the
    # lost node for two seconds only, as a user wanting a fast failover would.
    del template["affinity"]
    template["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                              "whenUnsatisfiable": "ScheduleAnyway",
                                              "labelSelector": {"matchLabels": {"app": "survive"}}}]
    template["tolerations"] = [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": 2} for k in ("unreachable", "not-ready")]
    c.apply(deployment, service("survive", selector="survive"), namespace=ns)
    pods = c.wait_pods(ns, "app=survive", all_running(len(c.nodes)))
    wait_ready_endpoints(c, ns, "survive", len(c.nodes))
    by_node: dict[str, list[str]] = {}
    for p in pods:
        by_node.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
    assert len(by_node) >= 2, by_node
    victim = next(n for n in c.nodes if n.name in by_node)
    lost = set(by_node[victim.name])
    observer = next(h for h in c.hosts if h.name != victim.name)
    ip = c.get(ns, "service", "survive")["spec"]["clusterIP"]
    wait_until("the Service answering", lambda: observer.fetch(f"http://{ip}/"), within=15)

    c.fail_node(victim)
    try:
        # The node goes Unknown after the grace period; its pods' endpoints become not ready.
        def endpoints_not_ready() -> bool:
            slices = c.get(ns, "endpointslices", "-l", "kubernetes.io/service-name=survive")["items"]
            mine = [e for s in slices for e in s.get("endpoints") or [] if e.get("nodeName") == victim.name]
            return all(not (e.get("conditions") or {}).get("ready") for e in mine)

        wait_until("the lost node's endpoints not ready", endpoints_not_ready, within=NODE_GRACE + 20)
        node = c.get("", "node", victim.name)
        ready = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
        assert ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown"

        # The Service keeps answering, from the other nodes' pods only.
        def settled() -> bool:
            return all((a := observer.fetch(f"http://{ip}/", timeout=2)) is not None and a.strip() not in lost
                       for _ in range(10))

        wait_until("the Service answering from the surviving pods", settled, within=15)
        answers = [observer.fetch(f"http://{ip}/", timeout=2) for _ in range(30)]
        assert None not in answers and not {a.strip() for a in answers if a} & lost

        # Taint-based eviction after the 2 s toleration: replacements on the other nodes.
        def replaced(items: list[dict[str, Any]]) -> bool:
            live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
            return (len(live) == len(c.nodes) and all(p["spec"].get("nodeName") != victim.name for p in live)
                    and all_running(len(live))(live))

        survivors = c.wait_pods(ns, "app=survive", replaced, within=60)
        taints = {(t["key"], t["effect"]) for t in c.get("", "node", victim.name)["spec"].get("taints") or []}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in taints
        live = {p["metadata"]["name"] for p in survivors if not p["metadata"].get("deletionTimestamp")}
        wait_ready_endpoints(c, ns, "survive", len(c.nodes))
        wait_until("every replacement answering",
                   lambda: {(observer.fetch(f"http://{ip}/") or "").strip() for _ in range(30)} == live, within=20)
    finally:
        c.revive_node(victim)
    # Back: the node's taints go, and the deleted pods it still ran are gone once its kubelet saw them.
    wait_until("the node's NoExecute taints removed", lambda: not [
        t for t in c.get("", "node", victim.name)["spec"].get("taints") or [] if t["effect"] == "NoExecute"],
        within=20)
    c.wait_pods(ns, "app=survive", lambda items: {p["metadata"]["name"] for p in items} == live, within=60)
