"""metrics.k8s.io pieces that need no server: quantities as metrics-server writes them, which nodes are
scraped and how long an answer is kept, and which pods and nodes are left out."""

from __future__ import annotations

import asyncio
from typing import Any

from kybernetes.apiserver.metrics import (
    KubeletScraper,
    _Entry,
    _node_metrics,
    _pod_metrics,
    cpu_quantity,
    kubelet_url,
    memory_quantity,
)


def test_quantities() -> None:
    assert cpu_quantity(123456) == "123456n"
    assert cpu_quantity(250_000_000) == "250m"
    assert cpu_quantity(1_500_000) == "1500u"
    assert cpu_quantity(2_000_000_000) == "2"
    assert cpu_quantity(0) == "0"
    assert memory_quantity(64 << 20) == "64Mi"
    assert memory_quantity(1234 * 1024) == "1234Ki"
    assert memory_quantity(1000) == "1k"  # under 1Ki a binary quantity prints in decimal, as in Go
    assert memory_quantity(1234567) == "1234567"


def node(name: str, *, ready: bool = True, address: str = "10.0.0.5", port: int | None = 10255) -> dict[str, Any]:
    status: dict[str, Any] = {"addresses": [{"type": "Hostname", "address": name},
                                            {"type": "InternalIP", "address": address}],
                              "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}]}
    if port is not None:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
    return {"metadata": {"name": name, "labels": {"zone": "a"}}, "status": status}


def test_kubelet_url() -> None:
    assert kubelet_url(node("n1")) == "https://10.0.0.5:10255"
    assert kubelet_url(node("n1", port=None)) == "https://10.0.0.5:10250"
    assert kubelet_url(node("n1", address="fd00::5")) == "https://[fd00::5]:10255"
    assert kubelet_url({"metadata": {"name": "bare"}, "status": {}}) is None


class Scraper(KubeletScraper):
    """Answers from a table instead of the network; counts the fetches."""

    def __init__(self, answers: dict[str, dict[str, Any] | None], clock: list[float]) -> None:
        super().__init__(ssl_context=lambda: None, ttl=10.0, now=lambda: clock[0])
        self.answers = answers
        self.urls: list[str] = []

    async def _fetch(self, *, name: str, url: str) -> _Entry:
        self.fetches += 1
        self.urls.append(url)
        await asyncio.sleep(0)
        return _Entry(fetched_at=self.now(), url=url, summary=self.answers.get(name))


async def test_scraper_asks_ready_nodes_once_per_ttl() -> None:
    clock = [100.0]
    scraper = Scraper({"a": {"node": {}}, "b": None, "c": {"node": {}}}, clock)
    nodes = [node("a"), node("b"), node("c", ready=False)]
    # Two requests at once share one fetch per node; an unreachable kubelet (b) and an unready node (c) are out.
    first, second = await asyncio.gather(scraper.summaries(nodes=nodes), scraper.summaries(nodes=nodes))
    assert set(first) == set(second) == {"a"}
    assert scraper.fetches == 2
    clock[0] += 9.9
    await scraper.summaries(nodes=nodes)
    assert scraper.fetches == 2
    clock[0] += 0.2
    await scraper.summaries(nodes=nodes)
    assert scraper.fetches == 4
    # A node that moved its kubelet is asked again at once.
    await scraper.summaries(nodes=[node("a", port=20000)])
    assert scraper.fetches == 5 and scraper.urls[-1] == "https://10.0.0.5:20000"


def test_items_are_left_out_without_usage() -> None:
    now = "2026-01-01T00:00:00Z"
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}}}
    full = {"containers": [
        {"name": "a", "cpu": {"time": "2026-01-01T00:00:05Z", "usageNanoCores": 5_000_000},
         "memory": {"workingSetBytes": 4096}},
        {"name": "b", "cpu": {"time": "2026-01-01T00:00:06Z", "usageNanoCores": 1},
         "memory": {"workingSetBytes": 1 << 20}}]}
    m = _pod_metrics(pod, full, now=now)
    assert m == {"metadata": {"name": "p", "namespace": "ns", "creationTimestamp": now, "labels": {"app": "x"}},
                 "timestamp": "2026-01-01T00:00:06Z", "window": "10s",
                 "containers": [{"name": "a", "usage": {"cpu": "5m", "memory": "4Ki"}},
                                {"name": "b", "usage": {"cpu": "1n", "memory": "1Mi"}}]}
    partial = {"containers": [full["containers"][0], {"name": "b", "cpu": {"usageCoreNanoSeconds": 7},
                                                       "memory": {"workingSetBytes": 1}}]}
    assert _pod_metrics(pod, partial, now=now) is None
    assert _pod_metrics(pod, {"containers": []}, now=now) is None

    n = node("n1")
    summary = {"node": {"cpu": {"time": "2026-01-01T00:00:07Z", "usageNanoCores": 1_250_000_000},
                        "memory": {"workingSetBytes": 2 << 30}}}
    assert _node_metrics(n, summary, now=now) == {
        "metadata": {"name": "n1", "creationTimestamp": now, "labels": {"zone": "a"}},
        "timestamp": "2026-01-01T00:00:07Z", "window": "10s", "usage": {"cpu": "1250m", "memory": "2Gi"}}
    assert _node_metrics(n, {"node": {"cpu": {}, "memory": {"workingSetBytes": 1}}}, now=now) is None
