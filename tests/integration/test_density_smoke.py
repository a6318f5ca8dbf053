"""A small density run (bench/density.py: its own kyb server with scheduler, controller-manager and DNS in one
child process, `kyb simulate`, pods through Deployments) checked for correctness only: every pod Running, no errors, a complete
report. It never asserts on time; the figures belong in docs/performance.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import density


def test_density_smoke() -> None:
    opts = density.Options(nodes=20, pods_per_node=10, replicas_per_deployment=50, burst=True, namespaces=2,
                           list_repeats=1, probe_qps=10, timeout=120, quiet=True)
    report = density.run(opts)

    assert set(density.REPORT_KEYS) <= report.keys()
    assert report["errors"]["count"] == 0, report["errors"]
    assert report["pods"] == {"expected": 200, "created": 200, "bound": 200, "running": 200, "failed": 0,
                              "all_running": True}
    assert report["config"]["deployments"] == 4 and report["config"]["total_pods"] == 200
    assert report["nodes_ready_seconds"] is not None and report["time_to_all_running_s"] is not None

    startup = report["pod_startup_latency_s"]
    for kind in ("sig_scalability", "subsecond", "create_to_bound", "bound_to_running"):
        assert startup[kind]["count"] == 200
        assert 0 <= startup[kind]["p50"] <= startup[kind]["p90"] <= startup[kind]["p99"] <= startup[kind]["max"]
    # The sub-second estimate never puts creation earlier than the (truncated) creationTimestamp.
    assert startup["subsecond"]["max"] <= startup["sig_scalability"]["max"]
    assert report["scheduling_throughput"]["pods_bound"] == 200

    api = report["api_latency_ms"]
    assert api["POST deployments"]["count"] == 4 and api["POST namespaces"]["count"] == 2
    assert all(entry["errors"] == 0 for entry in api.values())
    lists = report["list_latency_ms"]
    assert lists["all pods"]["items"] >= 200 and lists["all pods, pages of 500 (kubectl)"]["items"] >= 200
    assert {key for key in lists if key.startswith("namespace ")} and all(
        entry["items"] >= 100 for key, entry in lists.items() if key.startswith("namespace "))

    processes = report["processes"]
    # The scheduler, controller-manager and DNS run in one child of the server, `kyb components`.
    assert processes.keys() == {"apiserver", "components", "simulator"}
    for figures in processes.values():
        assert figures["peak_rss_mib"] > 0 and figures["cpu_seconds_total"] > 0
    assert report["control_plane_peak_rss_mib"] == pytest.approx(
        processes["apiserver"]["peak_rss_mib"] + processes["components"]["peak_rss_mib"], abs=0.2)
    assert report["watch"]["events"] >= 600  # created, bound and Running at least, for every pod
