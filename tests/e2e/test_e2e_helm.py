"""helm against the server: `template` (no server), then install / list / status / uninstall of a tiny
local chart (a ConfigMap and a Service); helm keeps its release records as Secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_support import HELM, Kubectl

pytestmark = pytest.mark.skipif(not os.path.exists(HELM), reason="helm not installed")

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    "values.yaml": "greeting: hello\nport: 80\n",
    "templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    ),
    "templates/svc.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-svc\nspec:\n"
        "  selector:\n    app: {{ .Release.Name }}\n  ports:\n  - port: {{ .Values.port }}\n"
    ),
}


@pytest.fixture
def chart(tmp_path: Path) -> str:
    root = tmp_path / "tiny"
    for rel, text in CHART.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return str(root)


def test_helm_template_needs_no_server(k: Kubectl, chart: str) -> None:
    result = k.helm("template", "rel", chart, "--set", "greeting=hi")
    assert result.returncode == 0, result.stderr
    docs = result.stdout
    assert "# Source: tiny/templates/cm.yaml" in docs and "# Source: tiny/templates/svc.yaml" in docs
    assert "  name: rel-cfg\n" in docs and '  greeting: "hi"\n' in docs
    assert "  name: rel-svc\n" in docs


def test_helm_install_list_uninstall(k: Kubectl, namespace: str, chart: str) -> None:
    result = k.helm("install", "rel", chart, "--timeout=30s")
    assert result.returncode == 0, f"helm install failed:\n{result.stderr}\n{result.stdout}"
    assert "NAME: rel" in result.stdout and "STATUS: deployed" in result.stdout
    assert k.get_json("configmap", "rel-cfg")["data"] == {"greeting": "hello"}
    svc = k.get_json("service", "rel-svc")
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["clusterIP"]
    # helm labels and annotates what it owns.
    assert svc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert svc["metadata"]["annotations"]["meta.helm.sh/release-name"] == "rel"

    listed = k.helm("list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t")[0].strip() == "NAME"
    [row] = rows
    cells = [c.strip() for c in row.split("\t")]
    assert cells[0] == "rel" and cells[1] == namespace and cells[2] == "1" and "deployed" in cells
    assert "tiny-0.1.0" in cells

    secrets = k.ok("get", "secrets", "-l", "owner=helm", "-o", "name").split()
    assert secrets == ["secret/sh.helm.release.v1.rel.v1"]

    upgraded = k.helm("upgrade", "rel", chart, "--set", "greeting=bye")
    assert upgraded.returncode == 0, upgraded.stderr
    assert k.get_json("configmap", "rel-cfg")["data"] == {"greeting": "bye"}

    result = k.helm("uninstall", "rel")
    assert result.returncode == 0, result.stderr
    assert 'release "rel" uninstalled' in result.stdout
    assert k.run("get", "configmaps,services,secrets", "-o", "name").stdout == ""
