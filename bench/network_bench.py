"""Network benchmark on a three-node cluster on one machine: network programming latency and the proxy
path's overhead.

    sudo .venv/bin/python bench/network_bench.py [--rounds 10] [--seconds 5] [--concurrency 8]

Starts its own cluster the way the multi-node end-to-end tests do (tests/e2e/multinode.py: `kyb server`
with the scheduler, controller-manager and DNS; three hosts as network namespaces on a bridge, each running
`kyb agent --runtime runc` with its Service proxy), runs one busybox httpd pod per node, then measures:

* **Service programming latency**: a ClusterIP Service is created (t0: just before the POST) → its
  ClusterIP is in the nftables table of every node (each node's table polled every 20 ms through
  `nft list table`, in its namespace) and → the cluster DNS answers its name (polled with one UDP query
  per 20 ms); per round the slowest node counts ("in place on every node").
* **Endpoint programming latency**: a new ready endpoint is written into the EndpointSlice of a
  selectorless Service (t0: just before the PUT; a fresh address per round, so that only this endpoint's
  rule matches) → the address is in every node's table; the same for a headless selectorless Service →
  the DNS answers the address. This leaves out the EndpointSlice controller (pod Ready → slice), which
  Kubernetes' SLI includes through the slice's trigger-time annotation (whole seconds here).
* **Requests/s through a ClusterIP against pod IPs directly**: from a host namespace (a node, so that
  traffic to the ClusterIP takes the proxy's output hook and DNAT), `--concurrency` loops of HTTP/1.1
  GETs with `Connection: close` (a new TCP connection, so a new conntrack entry and NAT decision, per
  request) for `--seconds` each: the three pods' IPs round-robin vs the ClusterIP over them, and one pod's
  IP vs a one-endpoint Service on it. busybox httpd forks per connection, so it bounds the absolute
  figures; the ratio is the proxy path's overhead.

Prints JSON. Needs what the multi-node tests need (root, runc, conmon, busybox-static, docker-registry,
kubectl, nsenter, nft). It reports; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dns.asyncquery
import dns.exception
import dns.message
import dns.rdatatype
from _common import Api, machine, summarize
from multinode import MultiNodeCluster, NetnsNode, all_running, requirements_met, spread_deployment

from kybernetes.client import load_config

POLL = 0.02
def service(name: str, *, selector: dict[str, str] | None, headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    if selector is not None:
        spec["selector"] = selector
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def endpoint_slice(service_name: str, ips: list[str]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service_name}-manual",
                         "labels": {"kubernetes.io/service-name": service_name,
                                    "endpointslice.kubernetes.io/managed-by": "network-bench"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


# ---- probes ------------------------------------------------------------------------------------------------


async def table_has(node: NetnsNode, needle: str) -> bool:
    proc = await asyncio.create_subprocess_exec(
        "nsenter", f"--net=/run/netns/{node.host.name}", "--", "nft", "list", "table", "ip", f"{node.prefix}-proxy",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return needle.encode() in out


async def until(check: Callable[[], Awaitable[bool]], *, t0: float, within: float) -> float | None:
    """Seconds from t0 until `await check()` is true (None if not within `within`)."""
    while time.perf_counter() - t0 < within:
        if await check():
            return time.perf_counter() - t0
        await asyncio.sleep(POLL)
    return None


async def dns_answers(server: tuple[str, int], name: str, needle: str) -> bool:
    query = dns.message.make_query(name, dns.rdatatype.A)
    try:
        reply = await dns.asyncquery.udp(query, server[0], port=server[1], timeout=1.0)
    except (TimeoutError, OSError, dns.exception.DNSException):
        return False
    return any(needle in rr.to_text() for rr in reply.answer)


async def watch_round(c: MultiNodeCluster, *, t0: float, needle: str, dns_name: str,
                      dns_needle: str) -> tuple[list[float | None], float | None]:
    """Seconds from t0 until `needle` is in each node's table, and until the DNS answers `dns_needle` for
    `dns_name`; all probes run at once, so every figure counts from the same t0."""
    server = (c.gateway, c.dns_port)
    nodes = asyncio.gather(*(until(functools.partial(table_has, n, needle), t0=t0, within=30) for n in c.nodes))
    name = until(functools.partial(dns_answers, server, dns_name, dns_needle), t0=t0, within=30)
    per_node, answered = await asyncio.gather(nodes, name)
    return list(per_node), answered


# ---- programming latency -----------------------------------------------------------------------------------


async def service_latency(c: MultiNodeCluster, api: Api, *, ns: str, rounds: int) -> dict[str, Any]:
    every, dns_s, missed = [], [], 0
    for i in range(rounds):
        name = f"lat-{i}"
        t0 = time.perf_counter()
        created = await api.mutate("POST", f"/api/v1/namespaces/{ns}/services", resource="services",
                                   body=service(name, selector={"app": "bench"}))
        if created is None:
            missed += 1
            continue
        ip = created["spec"]["clusterIP"]
        # In place: the ClusterIP leads to the Service's chain (not to the reject of a Service without
        # endpoints, which is what a node shows until the EndpointSlice arrives).
        per_node, d = await watch_round(c, t0=t0, needle=f"{ip} . tcp . 80 : goto svc-",
                                        dns_name=f"{name}.{ns}.svc.cluster.local.", dns_needle=ip)
        if any(x is None for x in per_node) or d is None:
            missed += 1
            continue
        every.append(max(x for x in per_node if x is not None))
        dns_s.append(d)
        await asyncio.sleep(0.3)  # let the proxies' minimum sync interval pass: rounds do not coalesce
    return {"rounds": rounds, "missed": missed, "every_node_ms": summarize(every, scale=1000, digits=1),
            "dns_ms": summarize(dns_s, scale=1000, digits=1)}


async def endpoint_latency(c: MultiNodeCluster, api: Api, *, ns: str, rounds: int) -> dict[str, Any]:
    for body in (service("manual", selector=None), service("manualh", selector=None, headless=True)):
        await api.mutate("POST", f"/api/v1/namespaces/{ns}/services", resource="services", body=body)
    slices: dict[str, dict[str, Any] | None] = {}
    for svc in ("manual", "manualh"):
        slices[svc] = await api.mutate("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                                       resource="endpointslices", body=endpoint_slice(svc, ["10.244.222.1"]))
    await asyncio.sleep(2)
    every, dns_s, missed = [], [], 0
    ips = ["10.244.222.1"]
    for i in range(rounds):
        ip = f"10.244.222.{10 + i}"
        ips.append(ip)
        t0 = time.perf_counter()
        writes = []
        for svc in ("manual", "manualh"):
            current = slices[svc]
            body = endpoint_slice(svc, ips)
            if current is not None:
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            writes.append(api.mutate("PUT", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{svc}-manual",
                                     resource="endpointslices", body=body))
        written = await asyncio.gather(*writes)
        for svc, w in zip(("manual", "manualh"), written, strict=True):
            slices[svc] = w
        if any(w is None for w in written):
            missed += 1
            continue
        per_node, d = await watch_round(c, t0=t0, needle=f"dnat to {ip}:8080",
                                        dns_name=f"manualh.{ns}.svc.cluster.local.", dns_needle=ip)
        if any(x is None for x in per_node) or d is None:
            missed += 1
            continue
        every.append(max(x for x in per_node if x is not None))
        dns_s.append(d)
        await asyncio.sleep(0.3)
    return {"rounds": rounds, "missed": missed, "every_node_ms": summarize(every, scale=1000, digits=1),
            "dns_ms": summarize(dns_s, scale=1000, digits=1)}


# ---- requests per second -------------------------------------------------------------------------------------


LOAD_WORKER = r'''
import asyncio, json, sys, time
targets = [(h, int(p)) for h, p in (t.rsplit(":", 1) for t in sys.argv[3:])]
seconds, concurrency = float(sys.argv[1]), int(sys.argv[2])
ok = errors = stalls = 0
latencies = []
async def one(i):
    global ok, errors, stalls
    n = i
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        host, port = targets[n % len(targets)]
        n += concurrency
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 3)
            writer.close()
            if data.startswith(b"HTTP/1.") and b" 200 " in data[:16]:
                ok += 1
                latencies.append(time.perf_counter() - started)
                stalls += latencies[-1] > 0.5  # a lost SYN: the client retransmits after 1 s
            else:
                errors += 1
        except (OSError, asyncio.TimeoutError):
            errors += 1
async def main():
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) if latencies else 0
    print(json.dumps({"requests_per_s": round(ok / elapsed, 1), "ok": ok, "errors": errors, "stalls_over_500ms": stalls,
                      "latency_ms": {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99)}}))
asyncio.run(main())
'''


def load(c: MultiNodeCluster, *, targets: list[str], seconds: float, concurrency: int) -> dict[str, Any]:
    host = c.hosts[0]
    done = subprocess.run(["nsenter", f"--net=/run/netns/{host.name}", "--", sys.executable, "-c", LOAD_WORKER,
                           str(seconds), str(concurrency), *targets],
                          capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def throughput(c: MultiNodeCluster, *, ns: str, pods: list[dict[str, Any]], seconds: float,
               concurrency: int) -> dict[str, Any]:
    ips = [p["status"]["podIP"] for p in pods]
    cluster_ip = c.get(ns, "service", "bench")["spec"]["clusterIP"]
    one_ip = c.get(ns, "service", "bench-one")["spec"]["clusterIP"]
    out: dict[str, Any] = {"concurrency": concurrency, "seconds": seconds}
    # Warm both paths once (ARP, first conntrack entries), then alternate so drift hits both alike.
    load(c, targets=[f"{cluster_ip}:80"], seconds=1, concurrency=2)
    out["pod_ips_round_robin"] = load(c, targets=[f"{ip}:8080" for ip in ips], seconds=seconds,
                                      concurrency=concurrency)
    out["cluster_ip_3_endpoints"] = load(c, targets=[f"{cluster_ip}:80"], seconds=seconds, concurrency=concurrency)
    out["one_pod_ip"] = load(c, targets=[f"{ips[0]}:8080"], seconds=seconds, concurrency=concurrency)
    out["cluster_ip_1_endpoint"] = load(c, targets=[f"{one_ip}:80"], seconds=seconds, concurrency=concurrency)
    for direct, proxied in (("pod_ips_round_robin", "cluster_ip_3_endpoints"), ("one_pod_ip", "cluster_ip_1_endpoint")):
        a, b = out[direct].get("requests_per_s"), out[proxied].get("requests_per_s")
        if a and b:
            out[f"{proxied}_vs_direct"] = round(b / a, 3)
    return out


# ---- main ----------------------------------------------------------------------------------------------------


async def measure(c: MultiNodeCluster, *, ns: str, rounds: int) -> dict[str, Any]:
    config = load_config(kubeconfig=str(c.server.kubeconfig), component="network-bench")
    async with Api(config) as api:
        services = await service_latency(c, api, ns=ns, rounds=rounds)
        endpoints = await endpoint_latency(c, api, ns=ns, rounds=rounds)
        latency = api.latency_figures()
    return {"service_created": services, "endpoint_added": endpoints, "api_latency_ms": latency}


def bench(c: MultiNodeCluster, *, rounds: int, seconds: float, concurrency: int) -> dict[str, Any]:
    ns = c.namespace()
    c.apply(spread_deployment("bench", len(c.nodes)), service("bench", selector={"app": "bench"}), namespace=ns)
    pods = c.wait_pods(ns, "app=bench", all_running(len(c.nodes)), within=120)
    one = pods[0]["metadata"]["name"]
    c.k("-n", ns, "label", "pod", one, "bench-one=yes")
    c.apply(service("bench-one", selector={"bench-one": "yes"}), namespace=ns)
    host = c.hosts[0]
    cluster_ip = c.get(ns, "service", "bench")["spec"]["clusterIP"]
    deadline = time.monotonic() + 30
    while host.fetch(f"http://{cluster_ip}/") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    programming = asyncio.run(measure(c, ns=ns, rounds=rounds))
    return {"benchmark": "network", "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), "nodes": len(c.nodes), "programming_latency": programming,
            "throughput": throughput(c, ns=ns, pods=pods, seconds=seconds, concurrency=concurrency)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--seconds", type=float, default=5.0, help="length of each requests/s run")
    p.add_argument("--concurrency", type=int, default=8)
    args = p.parse_args()
    if not requirements_met():
        raise SystemExit("needs nsenter and no host routes in 10.244.0.0/16")
    cluster = MultiNodeCluster(workdir=Path(tempfile.mkdtemp(prefix=f"kyb-bench-net-{uuid.uuid4().hex[:4]}-")))
    try:
        cluster.start()
        report = bench(cluster, rounds=args.rounds, seconds=args.seconds, concurrency=args.concurrency)
    finally:
        cluster.stop()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
