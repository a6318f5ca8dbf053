"""managedFields bookkeeping cost: µs per create / update / status update of a realistic Pod and Deployment.

    .venv/bin/python bench/managedfields_bench.py [--rounds 2000] [--baseline REV]

Times `managedfields.update` as the API server calls it (`in_place=True`, the served OpenAPI schema) for:
create (old=None; `create` repeats one object as a ReplicaSet's pods do, `create_unique` gives every
object a field set of its own), a PUT that changes one label (the client sends back the managedFields it read), and a
`/status` write that changes conditions (as the kubelet / deployment controller do), on objects that
already carry the entries those writers leave. With `--baseline REV` the same cases are also timed on the
package as it was at git revision REV (extracted to a temporary directory), to report before/after.
Prints JSON; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kybernetes.api.schema import definitions as served_definitions

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "src/kybernetes/machinery/managedfields"
T0, T1, T2, T3 = ("2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z",
                  "2026-01-01T00:00:03Z")


def pod() -> dict[str, Any]:
    """A pod as a ReplicaSet controller creates it (after defaulting)."""
    container = {
        "name": "web", "image": "registry.example/web:1.4.2", "imagePullPolicy": "IfNotPresent",
        "args": ["--port=8080", "--log-level=info"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "production"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": True,
                          "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 5,
                           "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    sidecar = {"name": "proxy", "image": "registry.example/proxy:2.0", "imagePullPolicy": "IfNotPresent",
               "ports": [{"containerPort": 15001, "protocol": "TCP"}],
               "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
               "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web-7d9c6b5f4-abcde", "generateName": "web-7d9c6b5f4-", "namespace": "default",
            "uid": "0b2c3d4e-1111-2222-3333-444455556666", "resourceVersion": "1234", "creationTimestamp": T0,
            "labels": {"app": "web", "pod-template-hash": "7d9c6b5f4", "tier": "frontend"},
            "annotations": {"prometheus.io/scrape": "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9c6b5f4",
                                 "uid": "aaaa-bbbb", "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "containers": [container, sidecar],
            "volumes": [{"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
            "schedulerName": "default-scheduler", "enableServiceLinks": True, "priority": 0,
            "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300}],
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }


def pod_status(*, ready: bool, at: str) -> dict[str, Any]:
    state = "True" if ready else "False"
    conditions = [{"type": t, "status": "True" if t in ("PodScheduled", "Initialized") else state,
                   "lastProbeTime": None, "lastTransitionTime": at}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {
        "phase": "Running", "qosClass": "Burstable", "conditions": conditions, "hostIP": "10.0.0.7",
        "hostIPs": [{"ip": "10.0.0.7"}], "podIP": "10.244.1.23", "podIPs": [{"ip": "10.244.1.23"}],
        "startTime": T1,
        "containerStatuses": [
            {"name": n, "ready": ready, "restartCount": 0, "image": f"registry.example/{n}", "imageID": "",
             "containerID": f"kyb://{n}", "started": True, "state": {"running": {"startedAt": at}}}
            for n in ("proxy", "web")],
    }


def deployment() -> dict[str, Any]:
    template = pod()
    template_meta = {"labels": {"app": "web", "tier": "frontend"}, "annotations": {"prometheus.io/scrape": "true"}}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "d1", "resourceVersion": "99",
                     "creationTimestamp": T0, "generation": 1, "labels": {"app": "web"},
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                 "template": {"metadata": template_meta, "spec": template["spec"]}},
    }


def deployment_status(*, ready: int, at: str) -> dict[str, Any]:
    return {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": ready,
            "availableReplicas": ready, "unavailableReplicas": 3 - ready,
            "conditions": [
                {"type": "Available", "status": "True" if ready == 3 else "False", "lastUpdateTime": at,
                 "lastTransitionTime": at, "reason": "MinimumReplicasAvailable", "message": "ok"},
                {"type": "Progressing", "status": "True", "lastUpdateTime": at, "lastTransitionTime": T1,
                 "reason": "NewReplicaSetAvailable", "message": "progressing"}]}


Case = tuple[Callable[[], Any], Callable[[Any], Any]]


def scenarios(mf: Any) -> dict[str, Case]:
    """name -> (make arguments, call). Each case builds its inputs outside the timed call."""
    defs = served_definitions()
    out: dict[str, Case] = {}
    for kind, make, status, gv, definition in (
        ("pod", pod, lambda i: pod_status(ready=i % 2 == 0, at=T2), "v1", "io.k8s.api.core.v1.Pod"),
        ("deployment", deployment, lambda i: deployment_status(ready=i % 4, at=T2), "apps/v1",
         "io.k8s.api.apps.v1.Deployment"),
    ):
        schema = mf.OpenAPIFieldSchema.for_definition(defs, definition)

        def upd(*, old: Any, new: Any, manager: str, now: str, sub: str = "", gv: str = gv, schema: Any = schema) \
                -> dict[str, Any]:
            return mf.update(old=old, new=new, manager=manager, api_version=gv, schema=schema, now=now,
                             subresource=sub, in_place=True)

        created = upd(old=None, new=make(), manager="kube-controller-manager", now=T0)
        stored = upd(old=created, new={**copy.deepcopy(created), "status": status(0)}, manager="kubelet",
                     now=T1, sub="status")
        stored = upd(old=stored, new=copy.deepcopy(stored), manager="kubectl-label", now=T1)
        stored["metadata"]["labels"]["team"] = "a"
        stored = upd(old=created, new=stored, manager="kubectl-label", now=T1)

        def create_args(make: Any = make) -> Any:
            return (None, make())

        def put_args(stored: Any = stored) -> Any:
            new = copy.deepcopy(stored)
            new["metadata"]["labels"]["team"] = "b"
            return (stored, new)

        def status_args(stored: Any = stored, status: Any = status) -> Any:
            new = copy.deepcopy(stored)
            new["status"] = status(1)
            return (stored, new)

        counter = iter(range(10**9))

        def unique_create_args(make: Any = make, counter: Any = counter) -> Any:
            obj = make()  # a field set never seen before: no cached encoding applies
            obj["metadata"]["annotations"][f"unique-{next(counter)}"] = "x"
            return (None, obj)

        def caller(manager: str, sub: str = "", upd: Any = upd) -> Callable[[Any], Any]:
            def call(a: Any) -> Any:
                return upd(old=a[0], new=a[1], manager=manager, now=T3, sub=sub)
            return call

        out[f"{kind}.create"] = (create_args, caller("m"))
        out[f"{kind}.create_unique"] = (unique_create_args, caller("m"))
        out[f"{kind}.update"] = (put_args, caller("kubectl-label"))
        out[f"{kind}.status"] = (status_args, caller("kubelet", "status"))
    return out


def measure(mf: Any, rounds: int) -> dict[str, float]:
    result: dict[str, float] = {}
    for name, (make_args, call) in scenarios(mf).items():
        inputs = [make_args() for _ in range(rounds)]
        for a in inputs[: rounds // 10]:  # warm the schema caches
            call(a)
        inputs = [make_args() for _ in range(rounds)]
        started = time.perf_counter()
        for a in inputs:
            call(a)
        result[name] = round((time.perf_counter() - started) / rounds * 1e6, 1)
    return result


def load_baseline(rev: str, into: Path) -> Any:
    package = into / "mf_baseline"
    package.mkdir()
    listing = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:{PACKAGE}"],
                             check=True, capture_output=True, text=True).stdout.split()
    for name in listing:
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{PACKAGE}/{name}"], check=True,
                              capture_output=True, text=True).stdout
        (package / name).write_text(text.replace("kybernetes.machinery.managedfields", "mf_baseline"))
    sys.path.insert(0, str(into))
    return importlib.import_module("mf_baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--baseline", default=None, help="git revision to compare with, e.g. HEAD")
    args = parser.parse_args()
    mf = importlib.import_module("kybernetes.machinery.managedfields")
    report: dict[str, Any] = {"unit": "us per call", "rounds": args.rounds, "python": sys.version.split()[0]}
    report["current"] = measure(mf, args.rounds)
    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            report["baseline"] = measure(load_baseline(args.baseline, Path(tmp)), args.rounds)
        report["speedup"] = {k: round(report["baseline"][k] / v, 2) for k, v in report["current"].items() if v}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
