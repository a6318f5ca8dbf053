"""`kubectl apply`: client-side (three-way merge through the last-applied annotation) and server-side
(field managers, conflicts and --force-conflicts), with kubectl's exact messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import Kubectl, deployment, write_manifest

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@pytest.mark.both_stores
def test_client_side_apply_created_unchanged_configured(k: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "web.json"
    obj = deployment("web", replicas=2, labels={"tier": "fe"})
    write_manifest(manifest, obj)
    assert k.ok("apply", "-f", str(manifest)) == "deployment.apps/web created\n"
    assert k.ok("apply", "-f", str(manifest)) == "deployment.apps/web unchanged\n"

    applied = k.get_json("deployment", "web")
    assert json.loads(applied["metadata"]["annotations"][LAST_APPLIED])["spec"]["replicas"] == 2

    obj["spec"]["replicas"] = 4
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    del obj["metadata"]["labels"]["tier"]  # removed from the file -> removed from the object
    write_manifest(manifest, obj)
    assert k.ok("apply", "-f", str(manifest)) == "deployment.apps/web configured\n"
    current = k.get_json("deployment", "web")
    assert current["spec"]["replicas"] == 4
    assert current["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert current["metadata"]["labels"] == {"app": "web"}
    assert current["metadata"]["generation"] == 2
    assert k.ok("apply", "-f", str(manifest)) == "deployment.apps/web unchanged\n"


def test_client_side_apply_keeps_fields_set_by_others(k: Kubectl, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "web.json", deployment("web", replicas=2))
    k.ok("apply", "-f", manifest)
    k.ok("label", "deployment", "web", "extra=yes")
    assert k.ok("apply", "-f", manifest) == "deployment.apps/web unchanged\n"
    assert k.get_json("deployment", "web")["metadata"]["labels"] == {"app": "web", "extra": "yes"}


@pytest.mark.both_stores
def test_server_side_apply(k: Kubectl, tmp_path: Path) -> None:
    obj = deployment("ssa", replicas=2)
    manifest = write_manifest(tmp_path / "ssa.json", obj)
    assert k.ok("apply", "--server-side", "-f", manifest) == "deployment.apps/ssa serverside-applied\n"
    assert k.ok("apply", "--server-side", "-f", manifest) == "deployment.apps/ssa serverside-applied\n"
    obj["spec"]["replicas"] = 3
    write_manifest(tmp_path / "ssa.json", obj)
    assert k.ok("apply", "--server-side", "-f", manifest) == "deployment.apps/ssa serverside-applied\n"

    current = k.get_json("deployment", "ssa", "--show-managed-fields")
    assert current["spec"]["replicas"] == 3
    [entry] = current["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("kubectl", "Apply", "apps/v1")
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]


def test_server_side_apply_conflict_with_update_manager(k: Kubectl, tmp_path: Path) -> None:
    obj = deployment("ssa", replicas=2)
    manifest = write_manifest(tmp_path / "ssa.json", obj)
    k.ok("apply", "--server-side", "-f", manifest)
    assert k.ok("patch", "deployment", "ssa", "--type=merge", "-p", '{"spec":{"replicas":5}}',
                "--field-manager=other-mgr") == "deployment.apps/ssa patched\n"

    obj["spec"]["replicas"] = 3
    write_manifest(tmp_path / "ssa.json", obj)
    err = k.fail("apply", "--server-side", "-f", manifest)
    assert err.startswith(
        'error: Apply failed with 1 conflict: conflict with "other-mgr" using apps/v1: .spec.replicas\n'
        "Please review the fields above--they currently have other managers."
    ), err
    assert "--force-conflicts" in err
    assert k.get_json("deployment", "ssa")["spec"]["replicas"] == 5

    assert k.ok("apply", "--server-side", "--force-conflicts", "-f", manifest) == \
        "deployment.apps/ssa serverside-applied\n"
    current = k.get_json("deployment", "ssa", "--show-managed-fields")
    assert current["spec"]["replicas"] == 3
    owners = {e["manager"]: e for e in current["metadata"]["managedFields"]}
    assert "f:replicas" in owners["kubectl"]["fieldsV1"]["f:spec"]
    other = owners.get("other-mgr")
    assert other is None or "f:replicas" not in other["fieldsV1"].get("f:spec", {})


def test_server_side_apply_conflict_with_scale(k: Kubectl, tmp_path: Path) -> None:
    obj = deployment("ssa", replicas=2)
    manifest = write_manifest(tmp_path / "ssa.json", obj)
    k.ok("apply", "--server-side", "-f", manifest)
    k.ok("scale", "deployment", "ssa", "--replicas=6")
    obj["spec"]["replicas"] = 4
    write_manifest(tmp_path / "ssa.json", obj)
    err = k.fail("apply", "--server-side", "-f", manifest)
    # kubectl scale sends no fieldManager: the server names the manager after the user agent ("kubectl").
    assert err.startswith('error: Apply failed with 1 conflict: conflict with "kubectl" with subresource '
                          '"scale" using apps/v1: .spec.replicas\n'), err


def test_server_side_apply_conflict_between_appliers(k: Kubectl, tmp_path: Path) -> None:
    obj = deployment("ssa", replicas=2)
    manifest = write_manifest(tmp_path / "ssa.json", obj)
    k.ok("apply", "--server-side", "--field-manager=team-a", "-f", manifest)
    obj["spec"]["replicas"] = 3
    write_manifest(tmp_path / "ssa.json", obj)
    err = k.fail("apply", "--server-side", "--field-manager=team-b", "-f", manifest)
    assert err.startswith('error: Apply failed with 1 conflict: conflict with "team-a": .spec.replicas\n'), err
    # Applying the same value co-owns the field without a conflict.
    obj["spec"]["replicas"] = 2
    write_manifest(tmp_path / "ssa.json", obj)
    k.ok("apply", "--server-side", "--field-manager=team-b", "-f", manifest)
    current = k.get_json("deployment", "ssa", "--show-managed-fields")
    owners = [e["manager"] for e in current["metadata"]["managedFields"]
              if "f:replicas" in e["fieldsV1"].get("f:spec", {})]
    assert sorted(owners) == ["team-a", "team-b"]
