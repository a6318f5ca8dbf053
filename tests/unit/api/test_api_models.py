"""The generated models: complete against their definitions, indexed by kind, fast to import, up to date."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from kybernetes.api import models
from kybernetes.api.resources import RESOURCES
from kybernetes.api.schema import _definitions
from reference import reference_path

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = reference_path() or Path("/nonexistent/kubernetes-openapi-v2.json")


def test_every_served_kind_has_a_model_and_list() -> None:
    for info in RESOURCES:
        model = models.model_for(info.group, info.version, info.kind)
        assert model is not None and model.__name__ == info.kind
        assert (
            models.model_for(info.group, info.version, info.list_kind) is not None
            or info.kind == "Binding"
            or info.virtual
        )
    for gvk in [
        ("autoscaling", "v1", "Scale"),
        ("policy", "v1", "Eviction"),
        ("authentication.k8s.io", "v1", "TokenRequest"),
        ("", "v1", "Status"),
        ("", "v1", "DeleteOptions"),
        ("", "v1", "WatchEvent"),
    ]:
        assert models.model_for(*gvk) is not None, gvk
    assert models.model_for("", "v1", "Nothing") is None


def test_models_mirror_their_definitions() -> None:
    defs = _definitions()
    for name in models.definition_names():
        model = models.model_for_definition(name)
        assert model is not None
        assert models.definition_name(model) == name
        info = msgspec.inspect.type_info(model)
        assert isinstance(info, msgspec.inspect.StructType)
        assert {f.encode_name for f in info.fields} == set(defs[name].get("properties", {})), name
        assert all(not f.required for f in info.fields)
        assert info.forbid_unknown_fields


def test_wire_names_are_explicit() -> None:
    from kybernetes.api.models import core_v1

    status = core_v1.PodStatus(pod_ip="10.0.0.1", pod_ips=None)
    assert msgspec.to_builtins(status) == {"podIP": "10.0.0.1"}
    spec = core_v1.PodSpec(host_ipc=True, host_pid=False)
    assert msgspec.to_builtins(spec) == {"hostIPC": True, "hostPID": False}


def test_models_import_fast() -> None:
    code = (
        "import time, importlib, pkgutil; t = time.perf_counter();"
        "import kybernetes.api.models as m;"
        "[importlib.import_module('kybernetes.api.models.' + x.name) for x in pkgutil.iter_modules(m.__path__)];"
        "print(time.perf_counter() - t)"
    )
    elapsed = float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert elapsed < 1.0  # measured ~0.05 s including msgspec itself


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference OpenAPI document missing")
def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_models.py"), "--check", "--reference", str(REFERENCE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_definitions_data_is_json() -> None:
    text = (ROOT / "src" / "kybernetes" / "api" / "data" / "definitions.json").read_text()
    assert "io.k8s.api.core.v1.Pod" in json.loads(text)["definitions"]
