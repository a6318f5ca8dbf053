"""label / annotate / patch (strategic, merge, json) / scale / delete (cascade modes, -l, collection)
through the real kubectl, checking its messages and the stored result."""

from __future__ import annotations

import json

import pytest
from e2e_support import Kubectl, configmap, deployment, parse_table, pod


def test_label_overwrite_and_remove(k: Kubectl) -> None:
    k.create(deployment("web"))
    assert k.ok("label", "deployment", "web", "tier=fe") == "deployment.apps/web labeled\n"
    err = k.fail("label", "deployment", "web", "tier=be")
    assert err.strip() == "error: 'tier' already has a value (fe), and --overwrite is false"
    assert k.ok("label", "deployment", "web", "tier=be", "--overwrite") == "deployment.apps/web labeled\n"
    [row] = parse_table(k.ok("get", "deployment", "web", "--show-labels"))
    assert row["LABELS"] == "app=web,tier=be"
    assert k.ok("get", "deploy", "-l", "tier=be", "-o", "name") == "deployment.apps/web\n"
    assert k.ok("label", "deployment", "web", "tier-") == "deployment.apps/web unlabeled\n"
    assert k.get_json("deployment", "web")["metadata"]["labels"] == {"app": "web"}
    assert k.run("get", "deploy", "-l", "tier=be", "-o", "name").stdout == ""


def test_annotate_overwrite_and_remove(k: Kubectl) -> None:
    k.create(configmap("cm"))
    assert k.ok("annotate", "configmap", "cm", "note=hi") == "configmap/cm annotated\n"
    err = k.fail("annotate", "configmap", "cm", "note=ho")
    assert "'note' already has a value (hi)" in err and "--overwrite is false" in err
    k.ok("annotate", "configmap", "cm", "note=ho", "--overwrite")
    assert k.get_json("configmap", "cm")["metadata"]["annotations"] == {"note": "ho"}
    assert k.ok("annotate", "configmap", "cm", "note-") == "configmap/cm annotated\n"
    # Kubernetes omits an emptied map (omitempty) rather than storing `annotations: {}`.
    assert "annotations" not in k.get_json("configmap", "cm")["metadata"]


def test_removing_last_label_omits_labels(k: Kubectl) -> None:
    k.create(pod("p", labels={"only": "one"}))
    assert k.ok("label", "pod", "p", "only-") == "pod/p unlabeled\n"
    assert "labels" not in k.get_json("pod", "p")["metadata"]


def test_strategic_merge_patch_container_by_name(k: Kubectl) -> None:
    k.create(deployment("web", image="nginx:1.25"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}]}}}}
    assert k.ok("patch", "deployment", "web", "-p", json.dumps(patch)) == "deployment.apps/web patched\n"
    obj = k.get_json("deployment", "web")
    [container] = obj["spec"]["template"]["spec"]["containers"]
    # Merged into the existing element (keyed by name): the ports survive.
    assert container["image"] == "nginx:1.26"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert obj["metadata"]["generation"] == 2
    assert k.ok("patch", "deployment", "web", "-p", json.dumps(patch)) == "deployment.apps/web patched (no change)\n"


def test_merge_patch(k: Kubectl) -> None:
    k.create(deployment("web", replicas=2))
    out = k.ok("patch", "deployment", "web", "--type=merge", "-p", '{"spec":{"replicas":7},"metadata":{"labels":{"x":"y"}}}')
    assert out == "deployment.apps/web patched\n"
    obj = k.get_json("deployment", "web")
    assert obj["spec"]["replicas"] == 7
    assert obj["metadata"]["labels"] == {"app": "web", "x": "y"}
    # A merge patch replaces lists wholesale.
    containers = [{"name": "other", "image": "busybox:1.36"}]
    k.ok("patch", "deployment", "web", "--type=merge", "-p",
         json.dumps({"spec": {"template": {"spec": {"containers": containers}}}}))
    [only] = k.get_json("deployment", "web")["spec"]["template"]["spec"]["containers"]
    assert (only["name"], only["image"]) == ("other", "busybox:1.36")


def test_json_patch(k: Kubectl) -> None:
    k.create(deployment("web", replicas=2))
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 1},
           {"op": "add", "path": "/metadata/labels/added", "value": "yes"}]
    assert k.ok("patch", "deployment", "web", "--type=json", "-p", json.dumps(ops)) == \
        "deployment.apps/web patched\n"
    obj = k.get_json("deployment", "web")
    assert obj["spec"]["replicas"] == 1 and obj["metadata"]["labels"]["added"] == "yes"


def test_json_patch_errors_are_clean(k: Kubectl) -> None:
    k.create(deployment("web", replicas=2))
    err = k.fail("patch", "deployment", "web", "--type=json", "-p",
                 '[{"op":"replace","path":"/spec/nope/x","value":9}]')
    # The error names the problem without dumping server-side language internals or the whole object.
    assert "<class" not in err and "'progressDeadlineSeconds'" not in err, err
    assert len(err) < 400, err
    err = k.fail("patch", "deployment", "web", "--type=json", "-p",
                 '[{"op":"test","path":"/spec/replicas","value":9}]')
    assert "<class" not in err, err


def test_patch_with_wrong_type_is_bad_request(k: Kubectl) -> None:
    k.create(deployment("web", replicas=2))
    err = k.fail("patch", "deployment", "web", "--type=merge", "-p", '{"spec":{"replicas":"x"}}')
    assert err.startswith("Error from server (BadRequest): "), err
    assert "spec.replicas" in err, err
    assert err.count("cannot be handled as a Deployment") <= 1, err  # said once, not stacked


def test_scale(k: Kubectl) -> None:
    k.create(deployment("web", replicas=2))
    assert k.ok("scale", "deployment", "web", "--replicas=5") == "deployment.apps/web scaled\n"
    [row] = parse_table(k.ok("get", "deployment", "web"))
    assert row["READY"] == "0/5"
    assert k.ok("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}") == "5"
    err = k.fail("scale", "deployment", "web", "--replicas=3", "--current-replicas=4")
    assert err == "error: Expected replicas to be 4, was 5\n"
    assert k.ok("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}") == "5"


@pytest.mark.both_stores
def test_delete(k: Kubectl, namespace: str) -> None:
    k.create(deployment("web"))
    assert k.ok("delete", "deployment", "web") == f'deployment.apps "web" deleted from {namespace} namespace\n'
    assert k.fail("get", "deployment", "web").strip() == \
        'Error from server (NotFound): deployments.apps "web" not found'
    assert k.fail("delete", "deployment", "web").strip() == \
        'Error from server (NotFound): deployments.apps "web" not found'


def test_delete_pods_graceful_and_forced(k: Kubectl, namespace: str) -> None:
    # An unscheduled pod goes at once; a bound one waits for its kubelet (Terminating) unless forced.
    k.create(pod("loose"), pod("bound", node_name="node-x"))
    assert k.ok("delete", "pod", "loose") == f'pod "loose" deleted from {namespace} namespace\n'
    assert k.ok("delete", "pod", "bound", "--wait=false") == f'pod "bound" deleted from {namespace} namespace\n'
    obj = k.get_json("pod", "bound")
    assert obj["metadata"]["deletionTimestamp"] and obj["metadata"]["deletionGracePeriodSeconds"] == 30
    assert parse_table(k.ok("get", "pods"))[0]["STATUS"] == "Terminating"
    result = k.run("delete", "pod", "bound", "--grace-period=0", "--force")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f'pod "bound" force deleted from {namespace} namespace\n'
    assert "Warning: Immediate deletion does not wait for confirmation" in result.stderr
    assert k.run("get", "pods").stderr.strip() == f"No resources found in {namespace} namespace."


@pytest.mark.parametrize(("cascade", "finalizer"), [("orphan", "orphan"), ("foreground", "foregroundDeletion")])
def test_delete_cascade_sets_finalizer(k: Kubectl, namespace: str, cascade: str, finalizer: str) -> None:
    k.create(deployment("web"))
    out = k.ok("delete", "deployment", "web", f"--cascade={cascade}", "--wait=false")
    assert out == f'deployment.apps "web" deleted from {namespace} namespace\n'
    # No garbage collector runs yet, so the object stays, marked for deletion, with the finalizer.
    obj = k.get_json("deployment", "web")
    assert obj["metadata"]["finalizers"] == [finalizer]
    assert obj["metadata"]["deletionTimestamp"]
    k.ok("patch", "deployment", "web", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert "NotFound" in k.fail("get", "deployment", "web")


def test_delete_by_label(k: Kubectl, namespace: str) -> None:
    k.create(configmap("a1", labels={"grp": "a"}), configmap("a2", labels={"grp": "a"}),
             configmap("b1", labels={"grp": "b"}))
    out = k.ok("delete", "configmaps", "-l", "grp=a")
    assert out.splitlines() == [f'configmap "a1" deleted from {namespace} namespace',
                                f'configmap "a2" deleted from {namespace} namespace']
    assert k.ok("get", "configmaps", "-o", "name") == "configmap/b1\n"


def test_delete_collection(k: Kubectl, namespace: str) -> None:
    k.create(configmap("a1", labels={"grp": "a"}), configmap("a2", labels={"grp": "a"}),
             configmap("b1", labels={"grp": "b"}))
    out = k.ok("delete", "--raw", f"/api/v1/namespaces/{namespace}/configmaps?labelSelector=grp%3Da")
    deleted = json.loads(out)
    assert deleted["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in deleted["items"]) == ["a1", "a2"]
    assert k.ok("get", "configmaps", "-o", "name") == "configmap/b1\n"
    k.ok("delete", "--raw", f"/api/v1/namespaces/{namespace}/configmaps")
    assert k.run("get", "configmaps").stderr.strip() == f"No resources found in {namespace} namespace."


def test_replace(k: Kubectl, namespace: str) -> None:
    k.create(configmap("cm", data={"a": "1"}))
    obj = k.get_json("configmap", "cm")
    obj["data"] = {"a": "2"}
    assert k.ok("replace", "-f", "-", input=json.dumps(obj)) == "configmap/cm replaced\n"
    assert k.get_json("configmap", "cm")["data"] == {"a": "2"}
    # A stale resourceVersion is a conflict, as kubectl prints it.
    err = k.fail("replace", "-f", "-", input=json.dumps(obj))
    assert err.startswith('Error from server (Conflict): error when replacing "STDIN": Operation cannot be '
                          'fulfilled on configmaps "cm": the object has been modified; please apply your '
                          "changes to the latest version and try again"), err


def test_status_subresource(k: Kubectl) -> None:
    k.create(deployment("web", replicas=2))
    status = {"status": {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 2}}
    assert k.ok("patch", "deployment", "web", "--subresource=status", "--type=merge", "-p", json.dumps(status)) == \
        "deployment.apps/web patched\n"
    [row] = parse_table(k.ok("get", "deployment", "web"))
    assert (row["READY"], row["UP-TO-DATE"], row["AVAILABLE"]) == ("1/2", "2", "1")
    # Status written through the main resource is ignored, as in Kubernetes.
    assert k.ok("patch", "deployment", "web", "--type=merge", "-p", '{"status":{"replicas":5}}') == \
        "deployment.apps/web patched (no change)\n"
    assert k.get_json("deployment", "web")["status"]["replicas"] == 2
