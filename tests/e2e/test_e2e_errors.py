"""API errors exactly as the real kubectl prints them: unknown type, NotFound, AlreadyExists, Invalid
(with every cause), strict / warn field validation, and a create into a missing namespace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import Kubectl, configmap, service, write_manifest


def test_unknown_resource_type(k: Kubectl) -> None:
    assert k.fail("get", "foo") == 'error: the server doesn\'t have a resource type "foo"\n'


@pytest.mark.both_stores
def test_not_found(k: Kubectl, k_cluster: Kubectl) -> None:
    assert k.fail("get", "pod", "nope") == 'Error from server (NotFound): pods "nope" not found\n'
    assert k.fail("get", "deployment", "nope") == 'Error from server (NotFound): deployments.apps "nope" not found\n'
    assert k_cluster.fail("get", "namespace", "nope-ns") == \
        'Error from server (NotFound): namespaces "nope-ns" not found\n'


def test_already_exists(k: Kubectl, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "svc.json", service("s1"))
    k.ok("create", "-f", manifest)
    assert k.fail("create", "-f", manifest) == (
        f'Error from server (AlreadyExists): error when creating "{manifest}": services "s1" already exists\n')


def test_invalid_object_lists_every_cause(k: Kubectl, tmp_path: Path) -> None:
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"},
           "spec": {"containers": [{"name": "Bad_C", "image": ""}]}}
    err = k.fail("create", "-f", write_manifest(tmp_path / "bad.json", bad))
    lines = err.splitlines()
    assert lines[0] == 'The Pod "Bad_Name" is invalid: '
    assert lines[1].startswith('* metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must '
                               "consist of lower case alphanumeric characters, '-' or '.', and must start and end "
                               "with an alphanumeric character")
    assert lines[2].startswith('* spec.containers[0].name: Invalid value: "Bad_C": a lowercase RFC 1123 label '
                               "must consist of lower case alphanumeric characters or '-'")
    assert lines[3] == "* spec.containers[0].image: Required value"
    assert len(lines) == 4


def test_invalid_single_cause(k: Kubectl) -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "d"}},
                    "template": {"metadata": {"labels": {"app": "d"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    err = k.fail("create", "-f", "-", input=json.dumps(bad))
    assert err.startswith('The Deployment "d" is invalid: spec.replicas: Invalid value: -1: must be greater '
                          "than or equal to 0"), err


def test_strict_field_validation(k: Kubectl, tmp_path: Path) -> None:
    obj = configmap("unk")
    obj["metadata"]["bogus"] = 1
    obj["extra"] = 2
    manifest = write_manifest(tmp_path / "unk.json", obj)
    err = k.fail("create", "-f", manifest)
    assert err.startswith(f'Error from server (BadRequest): error when creating "{manifest}": ConfigMap in version '
                          '"v1" cannot be handled as a ConfigMap: strict decoding error: unknown field '), err
    assert 'unknown field "extra"' in err and 'unknown field "metadata.bogus"' in err
    assert "NotFound" in k.fail("get", "configmap", "unk")

    # --validate=false sends fieldValidation=Ignore: accepted, the unknown fields dropped.
    assert k.ok("create", "-f", manifest, "--validate=false") == "configmap/unk created\n"
    stored = k.get_json("configmap", "unk")
    assert "extra" not in stored and "bogus" not in stored["metadata"]


def test_warn_field_validation_prints_warnings(k: Kubectl, tmp_path: Path) -> None:
    obj = configmap("warned")
    obj["extra"] = 2
    result = k.run("create", "-f", write_manifest(tmp_path / "w.json", obj), "--validate=warn")
    assert result.returncode == 0 and result.stdout == "configmap/warned created\n"
    # The server's Warning header must be a valid RFC 7234 warn-text (inner quotes escaped) for kubectl
    # to print it.
    assert 'Warning: unknown field "extra"' in result.stderr, result.stderr


def test_create_in_missing_namespace(k_cluster: Kubectl, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "svc.json", service("s1"))
    err = k_cluster.fail("-n", "no-such-ns", "create", "-f", manifest)
    assert err == f'Error from server (NotFound): error when creating "{manifest}": namespaces "no-such-ns" not found\n'


def test_namespace_mismatch(k: Kubectl, namespace: str) -> None:
    obj = configmap("cm")
    obj["metadata"]["namespace"] = "elsewhere"
    err = k.fail("create", "-f", "-", input=json.dumps(obj))
    assert err.strip() == ("error: the namespace from the provided object \"elsewhere\" does not match the "
                           f"namespace \"{namespace}\". You must pass '--namespace=elsewhere' to perform this "
                           "operation.")
