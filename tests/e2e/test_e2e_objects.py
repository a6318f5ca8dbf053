"""Per-kind server behaviour visible through kubectl (Secrets' stringData, generateName) and
`kubectl wait`, which watches a single object by field selector."""

from __future__ import annotations

import base64
import json
import threading

from e2e_support import Kubectl, configmap, parse_table


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_string_data_is_merged_into_data(k: Kubectl) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
              "stringData": {"user": "admin"}, "data": {"pass": _b64("s3cret")}}
    assert k.create(secret) == "secret/creds created\n"
    stored = k.get_json("secret", "creds")
    # Kubernetes writes stringData into data (base64) and never stores or returns stringData.
    assert stored["data"] == {"pass": _b64("s3cret"), "user": _b64("admin")}
    assert "stringData" not in stored
    assert stored["type"] == "Opaque"
    [row] = parse_table(k.ok("get", "secrets"))
    assert (row["NAME"], row["TYPE"], row["DATA"]) == ("creds", "Opaque", "2")


def test_create_secret_generic_subcommand(k: Kubectl) -> None:
    assert k.ok("create", "secret", "generic", "s", "--from-literal=a=1") == "secret/s created\n"
    assert k.ok("get", "secret", "s", "-o", "jsonpath={.data.a}") == _b64("1")


def test_generate_name(k: Kubectl) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}, "data": {"a": "b"}}
    out = k.ok("create", "-f", "-", input=json.dumps(obj))
    name = out.split()[0].removeprefix("configmap/")
    assert name.startswith("gen-") and len(name) == len("gen-") + 5, out
    assert k.get_json("configmap", name)["metadata"]["generateName"] == "gen-"


def test_wait_for_jsonpath_and_delete(k: Kubectl) -> None:
    k.create(configmap("w", data={"a": "0"}))
    timer = threading.Timer(0.5, lambda: k.ok("patch", "configmap", "w", "-p", '{"data":{"a":"1"}}'))
    timer.start()
    try:
        assert k.ok("wait", "--for=jsonpath={.data.a}=1", "configmap/w", "--timeout=10s") == \
            "configmap/w condition met\n"
    finally:
        timer.join()
    timer = threading.Timer(0.5, lambda: k.ok("delete", "configmap", "w"))
    timer.start()
    try:
        assert k.ok("wait", "--for=delete", "configmap/w", "--timeout=10s") == "configmap/w condition met\n"
    finally:
        timer.join()
