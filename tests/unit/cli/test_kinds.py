"""Resource names as kubectl users type them."""

from __future__ import annotations

import pytest

from kybernetes.cli.context import CliError, error_line, split_name
from kybernetes.cli.kinds import collection_path, kind_prefix, object_path, parse_targets, resolve_type
from kybernetes.client import APIConnectionError
from kybernetes.machinery.errors import NotFoundError


@pytest.mark.parametrize("name", ["po", "pod", "pods", "Pod"])
def test_pod_names(name: str) -> None:
    assert resolve_type(name).kind == "Pod"


def test_short_names_groups_and_unknown_types() -> None:
    assert resolve_type("deploy").group == "apps"
    assert resolve_type("deployments.apps").kind == "Deployment"
    assert resolve_type("svc").plural == "services"
    assert resolve_type("events").group == ""  # core before events.k8s.io, as kubectl picks
    with pytest.raises(CliError, match='the server doesn\'t have a resource type "nope"'):
        resolve_type("nope")


def test_targets_forms() -> None:
    assert [(t.info.plural, t.names) for t in parse_targets(["po,svc"])] == [("pods", ()), ("services", ())]
    assert [(t.info.plural, t.names) for t in parse_targets(["deploy/a", "deploy/b", "svc/c"])] == [
        ("deployments", ("a", "b")), ("services", ("c",))]
    assert [(t.info.plural, t.names) for t in parse_targets(["pod", "a", "b"])] == [("pods", ("a", "b"))]
    plurals = [t.info.plural for t in parse_targets(["all"])]
    assert plurals[:4] == ["pods", "services", "daemonsets", "deployments"]
    with pytest.raises(CliError):
        parse_targets(["pod", "deploy/a"])
    with pytest.raises(CliError):
        parse_targets([])


def test_paths_and_prefixes() -> None:
    pods, deploys, nodes = resolve_type("po"), resolve_type("deploy"), resolve_type("no")
    assert collection_path(pods, namespace="ns") == "/api/v1/namespaces/ns/pods"
    assert collection_path(deploys, namespace=None) == "/apis/apps/v1/deployments"
    assert object_path(nodes, name="n1", namespace="ignored") == "/api/v1/nodes/n1"
    assert object_path(deploys, name="w", namespace="d", subresource="scale") == (
        "/apis/apps/v1/namespaces/d/deployments/w/scale")
    assert (kind_prefix(pods), kind_prefix(deploys)) == ("pod", "deployment.apps")
    assert split_name("deploy/web") == ("deploy", "web") and split_name("web") == ("", "web")


def test_error_lines_are_kubectls() -> None:
    assert error_line(NotFoundError('pods "x" not found')) == 'Error from server (NotFound): pods "x" not found'
    assert error_line(APIConnectionError("Cannot connect to host: Connection refused"),
                      server="https://127.0.0.1:6443") == (
        "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?")
    assert error_line(CliError("boom")) == "error: boom"
