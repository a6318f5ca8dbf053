"""`kyb node drain`: which pods go, which stay, and which stop the drain (kubectl's filters)."""

from __future__ import annotations

from typing import Any

from kybernetes.cmd.node import classify


def _pod(name: str, *, owner: str | None = "ReplicaSet", phase: str = "Running", empty_dir: bool = False,
         mirror: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "x"}
    volumes = [{"name": "scratch", "emptyDir": {}}] if empty_dir else []
    return {"metadata": meta, "spec": {"volumes": volumes}, "status": {"phase": phase}}


def _names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_plain_controller_pods_go() -> None:
    evict, warnings, problems = classify([_pod("a"), _pod("m", mirror=True)], ignore_daemonsets=False,
                                         delete_emptydir_data=False, force=False)
    assert _names(evict) == ["a"] and warnings == [] and problems == []


def test_blockers_and_their_flags() -> None:
    pods = [_pod("ds", owner="DaemonSet"), _pod("bare", owner=None), _pod("local", empty_dir=True),
            _pod("done", owner=None, phase="Succeeded")]
    evict, warnings, problems = classify(pods, ignore_daemonsets=False, delete_emptydir_data=False, force=False)
    assert _names(evict) == ["done"]
    assert problems == [
        "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ns/ds",
        "cannot delete Pods that declare no controller (use --force to override): ns/bare",
        "cannot delete Pods with local storage (use --delete-emptydir-data to override): ns/local",
    ]
    evict, warnings, problems = classify(pods, ignore_daemonsets=True, delete_emptydir_data=True, force=True)
    assert _names(evict) == ["bare", "local", "done"] and problems == []
    assert warnings == ["ignoring DaemonSet-managed Pods: ns/ds", "deleting Pods that declare no controller: ns/bare",
                        "deleting Pods with local storage: ns/local"]
