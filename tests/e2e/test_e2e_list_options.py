"""List options and dry runs through kubectl: chunked lists (limit/continue), label and field selectors,
sorting, server-side dry run and `kubectl diff`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from e2e_support import Kubectl, configmap, deployment, parse_table, write_manifest


@pytest.mark.both_stores
def test_chunked_list_returns_everything(k: Kubectl) -> None:
    names = [f"cm{i}" for i in range(7)]
    k.create(*(configmap(n) for n in names))
    out = k.ok("get", "configmaps", "--chunk-size=2", "-o", "name")
    assert out.split() == [f"configmap/{n}" for n in names]
    rows = parse_table(k.ok("get", "configmaps", "--chunk-size=3"))
    assert [r["NAME"] for r in rows] == names


def test_selectors_and_sorting(k: Kubectl) -> None:
    k.create(configmap("b", labels={"env": "prod", "tier": "fe"}), configmap("a", labels={"env": "prod"}),
             configmap("c", labels={"env": "dev"}))
    assert k.ok("get", "cm", "-l", "env=prod", "-o", "name").split() == ["configmap/a", "configmap/b"]
    assert k.ok("get", "cm", "-l", "env in (dev),!tier", "-o", "name").split() == ["configmap/c"]
    assert k.ok("get", "cm", "-l", "tier", "-o", "name").split() == ["configmap/b"]
    assert k.ok("get", "cm", "--field-selector", "metadata.name=c", "-o", "name").split() == ["configmap/c"]
    assert k.ok("get", "cm", "--field-selector", "metadata.name!=c", "-o", "name").split() == \
        ["configmap/a", "configmap/b"]
    by_label = k.ok("get", "cm", "--sort-by=.metadata.labels.env", "-o", "name").split()
    assert by_label[0] == "configmap/c"


def test_unsupported_field_selector(k: Kubectl) -> None:
    err = k.fail("get", "cm", "--field-selector", "data.key=value")
    assert err.startswith('Error from server (BadRequest): Unable to find "/v1, Resource=configmaps" that match '
                          'label selector "", field selector "data.key=value": field label not supported: '
                          "data.key"), err


def test_server_side_dry_run(k: Kubectl, namespace: str) -> None:
    out = k.ok("create", "-f", "-", "--dry-run=server", "-o", "json", input=json.dumps(configmap("dry")))
    dry = json.loads(out)
    assert dry["metadata"]["name"] == "dry" and dry["metadata"]["uid"]  # defaulted as if created
    assert k.ok("create", "-f", "-", "--dry-run=server", input=json.dumps(configmap("dry"))) == \
        "configmap/dry created (server dry run)\n"
    assert "NotFound" in k.fail("get", "configmap", "dry")
    k.create(configmap("real"))
    assert k.ok("delete", "configmap", "real", "--dry-run=server") == \
        f'configmap "real" deleted from {namespace} namespace (server dry run)\n'
    assert k.get_json("configmap", "real")["metadata"]["name"] == "real"


def test_server_side_dry_run_apply_and_patch(k: Kubectl, tmp_path: Path) -> None:
    obj = deployment("web", replicas=2)
    manifest = write_manifest(tmp_path / "web.json", obj)
    k.ok("apply", "-f", manifest)
    obj["spec"]["replicas"] = 4
    write_manifest(tmp_path / "web.json", obj)
    assert k.ok("apply", "-f", manifest, "--dry-run=server") == "deployment.apps/web configured (server dry run)\n"
    assert k.ok("apply", "--server-side", "-f", manifest, "--dry-run=server") == \
        "deployment.apps/web serverside-applied (server dry run)\n"
    # kubectl patch prints no dry-run suffix (its own wording); the server must still not persist.
    assert k.ok("patch", "deployment", "web", "-p", '{"spec":{"replicas":9}}', "--dry-run=server") == \
        "deployment.apps/web patched\n"
    assert k.ok("scale", "deployment", "web", "--replicas=7", "--dry-run=server") == \
        "deployment.apps/web scaled (server dry run)\n"
    assert k.get_json("deployment", "web")["spec"]["replicas"] == 2


@pytest.mark.skipif(shutil.which("diff") is None, reason="kubectl diff needs the diff program")
def test_kubectl_diff(k: Kubectl, tmp_path: Path) -> None:
    obj = deployment("web", replicas=2)
    manifest = write_manifest(tmp_path / "web.json", obj)
    k.ok("apply", "-f", manifest)
    same = k.run("diff", "-f", manifest)
    assert same.returncode == 0 and same.stdout == "", same.stderr
    obj["spec"]["replicas"] = 5
    write_manifest(tmp_path / "web.json", obj)
    changed = k.run("diff", "-f", manifest)
    assert changed.returncode == 1, changed.stderr
    assert "-  replicas: 2\n" in changed.stdout and "+  replicas: 5\n" in changed.stdout
    assert k.get_json("deployment", "web")["spec"]["replicas"] == 2
