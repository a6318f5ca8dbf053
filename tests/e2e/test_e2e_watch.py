"""`kubectl get -w --output-watch-events` as a background process: create, modify and delete an object
and read ADDED / MODIFIED / DELETED back in order, in the table and the JSON event form."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from e2e_support import Kubectl, LineReader, configmap


@contextmanager
def background(k: Kubectl, *args: str) -> Iterator[LineReader]:
    proc = k.popen(*args)
    assert proc.stdout is not None
    try:
        yield LineReader(proc.stdout)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.both_stores
def test_watch_table_events_in_order(k: Kubectl) -> None:
    # A seed object makes the initial list non-empty, so its ADDED line proves the watch is running.
    k.create(configmap("seed"))
    with background(k, "get", "configmaps", "-w", "--output-watch-events") as out:
        out.wait_for(r"^ADDED\s+seed\s")
        k.create(configmap("w1", data={"a": "1"}))
        out.wait_for(r"^ADDED\s+w1\s")
        k.ok("patch", "configmap", "w1", "-p", '{"data":{"b":"2"}}')
        out.wait_for(r"^MODIFIED\s+w1\s+2\s")
        k.ok("delete", "configmap", "w1")
        out.wait_for(r"^DELETED\s+w1\s")
    assert out.lines[0].split() == ["EVENT", "NAME", "DATA", "AGE"]
    events = [line.split()[:3] for line in out.lines[1:] if line.split()[1] == "w1"]
    assert events == [["ADDED", "w1", "1"], ["MODIFIED", "w1", "2"], ["DELETED", "w1", "2"]]


def test_watch_json_events(k: Kubectl) -> None:
    k.create(configmap("seed"))
    with background(k, "get", "configmaps", "-w", "--output-watch-events", "-o", "json") as out:
        out.wait_for(r'"name":"seed"')
        k.create(configmap("w1"))
        k.ok("label", "configmap", "w1", "x=y")
        k.ok("delete", "configmap", "w1")
        out.wait_for(r'^\{"type":"DELETED"')
    # One compact WatchEvent per line.
    events = [json.loads(line) for line in out.lines]
    w1 = [(e["type"], e["object"]["metadata"].get("labels", {})) for e in events
          if e["object"]["metadata"]["name"] == "w1"]
    assert w1 == [("ADDED", {}), ("MODIFIED", {"x": "y"}), ("DELETED", {"x": "y"})]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events
                if e["object"]["metadata"]["name"] == "w1"]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert all(e["object"]["kind"] == "ConfigMap" and e["object"]["apiVersion"] == "v1" for e in events)


def test_watch_single_object_by_name(k: Kubectl) -> None:
    k.create(configmap("one"), configmap("other"))
    with background(k, "get", "configmap", "one", "-w", "--output-watch-events") as out:
        out.wait_for(r"^ADDED\s+one\s")
        k.ok("label", "configmap", "other", "x=y")
        k.ok("label", "configmap", "one", "x=y")
        out.wait_for(r"^MODIFIED\s+one\s")
    assert not any("other" in line for line in out.lines)
