"""The real node end to end: the real kubectl against real runc containers (issue 4, "How it is shown" and
"Bad input"). One cluster for the module (`realnode.real_cluster`); every test has its own namespace.

Covered: `kubectl run` + `logs -f`; `exec -i` with stdin and an exit code; a two-container pod sharing an
emptyDir and localhost; a failing liveness probe restarting a container; readiness following an exec probe
into the EndpointSlice; an OOM kill; preStop before SIGTERM; ImagePullBackOff with the registry's reason;
SIGKILL of the kubelet re-adopting the same process; a command that does not exist; a missing secret; a
sidecar (restartable init container); readinessGates.
"""

from __future__ import annotations

import json
import select
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from realnode import REQUIREMENTS, RealCluster, container_status, real_cluster, running, wait_until

pytestmark = REQUIREMENTS
__all__ = ["real_cluster"]

# Small limits, checked every second, so that the rotation test sees rotations within seconds; the other
# tests' logs stay far below them.
AGENT_ARGS = ("--container-log-max-size", "64Ki", "--container-log-max-files", "3",
              "--container-log-monitor-interval", "1")


def pod_manifest(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    for c in [*containers, *spec.get("initContainers", [])]:
        c.setdefault("image", "busybox")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": containers, "terminationGracePeriodSeconds": 5, **spec}}


def sleeper(name: str = "main", **extra: Any) -> dict[str, Any]:
    # sh as pid 1 ignores SIGTERM without a trap: this one exits at once on TERM.
    return {"name": name, "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"], **extra}


def test_run_and_logs_follow(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    c.k("-n", ns, "run", "counter", "--image=busybox", "--restart=Never", "--",
        "sh", "-c", "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.5; done")
    c.wait_pod(ns, "counter", running)
    follow = c.popen("-n", ns, "logs", "-f", "counter")
    try:
        out, err = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
    # -f ends by itself when the container ends, and saw lines written after it started.
    assert follow.returncode == 0, err
    assert out.splitlines() == [f"line {i}" for i in range(1, 7)], out
    pod = c.wait_pod(ns, "counter", lambda p: p["status"].get("phase") == "Succeeded")
    assert container_status(pod, "counter")["state"]["terminated"]["reason"] == "Completed"


def test_exec_with_stdin_and_exit_code(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    c.apply(pod_manifest("shell", [sleeper()]), namespace=ns)
    c.wait_pod(ns, "shell", running)
    piped = c.k("-n", ns, "exec", "-i", "shell", "--", "cat", input="hello\nfrom stdin\n", check=False)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == "hello\nfrom stdin\n"
    counted = c.k("-n", ns, "exec", "-i", "shell", "--", "wc", "-l", input="a\nb\nc\n", check=False)
    assert counted.stdout.strip() == "3", counted
    failed = c.k("-n", ns, "exec", "shell", "--", "sh", "-c", "echo oops >&2; exit 3", check=False)
    assert failed.returncode == 3, failed
    assert "oops" in failed.stderr


def test_attach_with_stdin_reaches_the_container(real_cluster: RealCluster) -> None:
    """`kubectl attach -i` writes to the stdin of a container created with `stdin: true` (conmon's attach
    socket) and shows what it prints; a second attach still finds stdin open (stdinOnce is false)."""
    c = real_cluster
    ns = c.namespace()
    echo = {"name": "echo", "stdin": True,
            "command": ["sh", "-c", "while read line; do echo got:$line; done; echo stdin-closed"]}
    c.apply(pod_manifest("reader", [echo]), namespace=ns)
    c.wait_pod(ns, "reader", running)
    for word in ("hello", "again"):
        attach = c.popen("-n", ns, "attach", "-i", "reader", stdin=subprocess.PIPE)
        try:
            assert attach.stdin is not None and attach.stdout is not None
            attach.stdin.write(f"{word}\n")
            attach.stdin.flush()
            ready, _, _ = select.select([attach.stdout], [], [], 20)  # never hang the suite on a lost line
            line = attach.stdout.readline() if ready else "(nothing within 20 s)"
            assert line == f"got:{word}\n", line
        finally:
            attach.kill()
            attach.wait()
    logs = c.k("-n", ns, "logs", "reader").stdout
    assert "got:hello" in logs and "got:again" in logs and "stdin-closed" not in logs


def test_sidecar_shares_empty_dir_and_localhost(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    web = {"name": "web", "command": ["sh", "-c", "echo shared-$(hostname) > /www/index.html; exec httpd -f -p 8080 -h /www"],
           "volumeMounts": [{"name": "www", "mountPath": "/www"}]}
    reader = {"name": "reader", "command": ["sh", "-c",
                                            "until [ -f /shared/index.html ]; do sleep 0.1; done; "
                                            "echo file:$(cat /shared/index.html); "
                                            "until wget -q -O - http://localhost:8080/index.html > /tmp/got; do sleep 0.2; done; "
                                            "echo http:$(cat /tmp/got); exec sleep 3600"],
              "volumeMounts": [{"name": "www", "mountPath": "/shared", "readOnly": True}]}
    c.apply(pod_manifest("pair", [web, reader], volumes=[{"name": "www", "emptyDir": {}}]), namespace=ns)
    c.wait_pod(ns, "pair", running)
    logs = wait_until("the reader's two lines",
                      lambda: (out := c.k("-n", ns, "logs", "pair", "-c", "reader", check=False).stdout).count(":")
                      >= 2 and out, within=30, node=c.node)
    assert logs.splitlines() == ["file:shared-pair", "http:shared-pair"], logs


def test_failing_liveness_probe_restarts_container(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    main = {"name": "main", "command": ["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.2; done"],
            "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1,
                              "failureThreshold": 1}}
    c.apply(pod_manifest("unhealthy", [main]), namespace=ns)
    pod = c.wait_pod(ns, "unhealthy", lambda p: container_status(p, "main").get("restartCount", 0) >= 1,
                     what="a restart", within=60)
    last = container_status(pod, "main")["lastState"]["terminated"]
    assert last["exitCode"] == 7 and last["reason"] == "Error", last
    reasons = {e["reason"] for e in c.events(ns)}
    assert "Unhealthy" in reasons and "Killing" in reasons, reasons


def _slice_ready(c: RealCluster, ns: str) -> list[bool]:
    slices = c.get(ns, "endpointslices", "-l", "kubernetes.io/service-name=gate")["items"]
    return [bool(e.get("conditions", {}).get("ready")) for s in slices for e in s.get("endpoints") or []]


def test_readiness_probe_gates_service_endpoints(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    main = sleeper(readinessProbe={"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1,
                                   "failureThreshold": 1})
    c.apply(pod_manifest("gate", [main]),
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gate"},
             "spec": {"selector": {"app": "gate"}, "ports": [{"port": 80, "targetPort": 8080}]}}, namespace=ns)
    c.wait_pod(ns, "gate", running)
    assert wait_until("a not-ready endpoint", lambda: _slice_ready(c, ns) == [False], within=30, node=c.node)
    c.k("-n", ns, "exec", "gate", "--", "touch", "/tmp/ready")
    wait_until("a ready endpoint", lambda: _slice_ready(c, ns) == [True], within=30, node=c.node)
    pod = c.pod(ns, "gate")
    assert container_status(pod, "main")["ready"] is True
    c.k("-n", ns, "exec", "gate", "--", "rm", "/tmp/ready")
    wait_until("the endpoint not ready again", lambda: _slice_ready(c, ns) == [False], within=30, node=c.node)


def test_memory_hog_is_oom_killed(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    hog = {"name": "hog", "command": ["sh", "-c", "sleep 0.5; dd if=/dev/zero of=/dev/null bs=200M count=10"],
           "resources": {"limits": {"memory": "32Mi"}}}
    c.apply(pod_manifest("hog", [hog]), namespace=ns)
    pod = c.wait_pod(ns, "hog", lambda p: "terminated" in container_status(p, "hog").get("lastState", {}),
                     what="an OOM kill in lastState", within=60)
    last = container_status(pod, "hog")["lastState"]["terminated"]
    assert last["reason"] == "OOMKilled" and last["exitCode"] == 137, last


def test_pre_stop_hook_runs_before_sigterm(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    host_dir = Path(f"/tmp/kyb-e2e-prestop-{uuid.uuid4().hex[:8]}")
    try:
        main = {"name": "main",
                "command": ["sh", "-c", "trap '[ -f /data/hook ] && echo term-saw-hook >> /data/order; exit 0' TERM; "
                                        "while true; do sleep 0.1; done"],
                "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "touch /data/hook; echo prestop >> /data/order"]}}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
        c.apply(pod_manifest("hooked", [main], volumes=[
            {"name": "data", "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"}}]), namespace=ns)
        c.wait_pod(ns, "hooked", running)
        c.k("-n", ns, "delete", "pod", "hooked", "--timeout=60s")
        assert (host_dir / "order").read_text().splitlines() == ["prestop", "term-saw-hook"]
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)


def test_missing_image_shows_image_pull_backoff_with_reason(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    c.k("-n", ns, "run", "ghost", "--image=busybox-missing:1.0")
    pod = c.wait_pod(ns, "ghost", lambda p: container_status(p, "ghost").get("state", {}).get("waiting", {})
                     .get("reason") == "ImagePullBackOff", what="ImagePullBackOff", within=60)
    waiting = container_status(pod, "ghost")["state"]["waiting"]
    assert "busybox-missing" in waiting.get("message", ""), waiting
    described = c.k("-n", ns, "describe", "pod", "ghost").stdout
    assert "ImagePullBackOff" in described
    failed = [e["message"] for e in c.events(ns) if e["reason"] == "Failed"]
    # The registry's own answer (docker-registry says "manifest unknown" / NAME_UNKNOWN) reaches the event.
    assert any("unknown" in m.lower() or "not found" in m.lower() for m in failed), failed
    assert any("unknown" in line.lower() or "not found" in line.lower()
               for line in described.splitlines() if "Failed" in line), described


def _pid1_start(c: RealCluster, ns: str, name: str) -> str:
    # Field 22 of /proc/1/stat: when pid 1 of the container started (same process ⇔ same value).
    stat = c.k("-n", ns, "exec", name, "--", "cat", "/proc/1/stat").stdout
    return stat.rsplit(")", 1)[1].split()[19]


def test_kubelet_sigkill_and_restart_keeps_the_same_process(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    c.apply(pod_manifest("survivor", [sleeper()]), namespace=ns)
    before = c.wait_pod(ns, "survivor", running)
    started = _pid1_start(c, ns, "survivor")
    cid = container_status(before, "main")["containerID"]
    c.node.kill()
    c.node.start()
    # The new kubelet serves exec on a new port: once exec works again, it has registered and adopted.
    wait_until("exec through the restarted kubelet",
               lambda: c.k("-n", ns, "exec", "survivor", "--", "true", check=False).returncode == 0,
               within=60, node=c.node)
    time.sleep(2)  # a few sync rounds of the new kubelet over the adopted pod
    after = c.pod(ns, "survivor")
    status = container_status(after, "main")
    assert status["containerID"] == cid and status["restartCount"] == 0, status
    assert "running" in status["state"] and status["ready"] is True
    assert _pid1_start(c, ns, "survivor") == started


def test_command_not_found_is_a_clear_reason_and_other_pods_run(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    c.apply(pod_manifest("bystander", [sleeper()]), namespace=ns)
    c.wait_pod(ns, "bystander", running)
    c.k("-n", ns, "run", "badcmd", "--image=busybox", "--restart=Never", "--command", "--", "/no/such/binary")

    def clear_reason(p: dict[str, Any]) -> str:
        state = container_status(p, "badcmd").get("state", {})
        reason = str((state.get("terminated") or state.get("waiting") or {}).get("reason", ""))
        return reason if reason in ("StartError", "RunContainerError", "CreateContainerError") else ""

    pod = c.wait_pod(ns, "badcmd", clear_reason, what="a StartError / CreateContainerError", within=60)
    state = container_status(pod, "badcmd")["state"]
    detail = state.get("terminated") or state.get("waiting")
    assert "/no/such/binary" in detail.get("message", ""), state
    if "terminated" in state:
        assert state["terminated"]["exitCode"] == 128 and pod["status"]["phase"] == "Failed", pod["status"]
    wait_until("a Failed event", lambda: any(e["reason"] == "Failed" and "/no/such/binary" in e["message"]
                                             for e in c.events(ns)), within=20, node=c.node)
    bystander = c.pod(ns, "bystander")
    assert running(bystander) and container_status(bystander, "main")["restartCount"] == 0


def test_missing_secret_is_create_container_config_error(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    main = sleeper(env=[{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "pw"}}}])
    c.apply(pod_manifest("secretive", [main]), namespace=ns)
    pod = c.wait_pod(ns, "secretive", lambda p: container_status(p, "main").get("state", {}).get("waiting", {})
                     .get("reason") == "CreateContainerConfigError", within=60)
    assert 'secret "nope" not found' in container_status(pod, "main")["state"]["waiting"]["message"]
    wait_until("a Failed event", lambda: any(e["reason"] == "Failed" and "nope" in e["message"]
                                             for e in c.events(ns)), within=20, node=c.node)
    # Creating the secret lets the container start: the error was the secret, nothing else.
    c.k("-n", ns, "create", "secret", "generic", "nope", "--from-literal=pw=s3cret")
    c.wait_pod(ns, "secretive", running, within=60)
    assert c.k("-n", ns, "exec", "secretive", "--", "sh", "-c", "echo $PASSWORD").stdout.strip() == "s3cret"


def test_sidecar_init_container_runs_beside_the_app(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    side = sleeper("side", restartPolicy="Always",
                   startupProbe={"exec": {"command": ["true"]}, "periodSeconds": 1})
    side["command"] = ["sh", "-c", "echo up > /shared/side; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    side["volumeMounts"] = [{"name": "shared", "mountPath": "/shared"}]
    app = {"name": "app", "command": ["sh", "-c", "cat /shared/side; sleep 1"],
           "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}
    c.apply(pod_manifest("withside", [app], initContainers=[side], restartPolicy="Never",
                         volumes=[{"name": "shared", "emptyDir": {}}]), namespace=ns)
    pod = c.wait_pod(ns, "withside", lambda p: p["status"].get("phase") == "Succeeded", within=60)
    assert c.k("-n", ns, "logs", "withside", "-c", "app").stdout == "up\n"
    side_status = container_status(pod, "side", init=True)
    assert side_status and side_status["restartCount"] == 0, pod["status"]
    assert "terminated" in side_status["state"], side_status


def test_readiness_gate_holds_ready_until_condition_true(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    c.apply(pod_manifest("gated", [sleeper()], readinessGates=[{"conditionType": "example.com/lb"}]), namespace=ns)
    pod = c.wait_pod(ns, "gated", lambda p: running(p) and container_status(p, "main").get("ready"))
    ready = {x["type"]: x for x in pod["status"]["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "ReadinessGatesNotReady", ready
    patch = {"status": {"conditions": [{"type": "example.com/lb", "status": "True"}]}}
    c.k("-n", ns, "patch", "pod", "gated", "--subresource=status", "--type=strategic", "-p", json.dumps(patch))
    c.wait_pod(ns, "gated", lambda p: {x["type"]: x["status"] for x in p["status"]["conditions"]}.get("Ready")
               == "True", what="Ready with the gate True", within=30)


def test_container_log_rotation_by_size(real_cluster: RealCluster) -> None:
    c = real_cluster
    ns = c.namespace()
    script = ("for b in 1 2 3 4; do seq 1 1500 | sed \"s/^/burst $b line /; s/$/ ............................/\"; "
              "sleep 1.5; done; sleep 2.5; echo done-marker; exec sleep 3600")
    c.apply(pod_manifest("chatty", [{"name": "main", "command": ["sh", "-c", script]}]), namespace=ns)
    pod = c.wait_pod(ns, "chatty", running)
    uid = pod["metadata"]["uid"]
    logs_dir = c.node.data_dir / "logs" / f"{ns}_chatty_{uid}" / "main"
    wait_until("the last line in kubectl logs",
               lambda: c.k("-n", ns, "logs", "chatty", "--tail", "1", check=False).stdout == "done-marker\n",
               within=60, node=c.node)
    rotated = sorted(p.name for p in logs_dir.iterdir() if p.name.startswith("0.log."))
    # Four bursts of ~90 KiB against a 64 KiB limit: rotated more than once, and only max-files - 1 kept.
    assert 1 <= len(rotated) <= 2, rotated
    assert all(len(name.split(".")[2]) == len("20240102-150405") for name in rotated), rotated
    # The live file (what the kubelet serves) started afresh after the last burst was rotated away, which
    # lost nothing: the newest rotated file ends with the burst's last line.
    assert c.k("-n", ns, "logs", "chatty").stdout == "done-marker\n"
    last = (logs_dir / rotated[-1]).read_text().splitlines()[-1]
    assert last.endswith("burst 4 line 1500 ............................") and " stdout F " in last, last
