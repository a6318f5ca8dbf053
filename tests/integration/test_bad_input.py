"""Bad requests over raw HTTPS (the admin client certificate from the kubeconfig): every error is the
HTTP code Kubernetes gives, its body a `kind: Status` JSON (never a traceback), and a refused write
leaves nothing behind.

The helper `Raw` speaks urllib with the kubeconfig's TLS context, so nothing here goes through a
client library that could mask the server's answer.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from cluster import ServerProcess
from kybernetes.apiserver.auth.kubeconfig import load_kubeconfig


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def status_object(self) -> dict[str, Any]:
        """The body as a Status, checking the shape every error must have."""
        assert b"Traceback" not in self.body, self.body[:2000]
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        status = self.json()
        assert status["kind"] == "Status" and status["apiVersion"] == "v1", status
        assert status["status"] == "Failure", status
        assert status["code"] == self.status, status
        assert isinstance(status.get("message"), str) and status["message"], status
        return dict(status)


class Raw:
    def __init__(self, server: ServerProcess) -> None:
        config = load_kubeconfig(server.kubeconfig)
        self.base = config.server
        self.context: ssl.SSLContext = config.ssl_context()

    def call(self, method: str, path: str, body: bytes | dict[str, Any] | list[Any] | None = None,
             content_type: str | None = "application/json", headers: dict[str, str] | None = None) -> Reply:
        data = json.dumps(body).encode() if isinstance(body, dict | list) else body
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if content_type and data is not None:
            request.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as e:
            return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


@pytest.fixture(scope="module")
def raw(server: ServerProcess) -> Raw:
    return Raw(server)


@pytest.fixture
def namespace(raw: Raw) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    reply = raw.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": name}})
    assert reply.status == 201, reply.body
    return name


def cm(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}, **extra}


def assert_absent(raw: Raw, path: str) -> None:
    reply = raw.call("GET", path)
    assert reply.status == 404, (path, reply.body)
    assert reply.status_object()["reason"] == "NotFound"


# ---- bodies ----------------------------------------------------------------------------------------


def test_malformed_json(raw: Raw, namespace: str) -> None:
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps", b'{"apiVersion": "v1", "kind": ')
    assert reply.status == 400
    assert reply.status_object()["reason"] == "BadRequest"


def test_malformed_yaml(raw: Raw, namespace: str) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n data: [unclosed\n"
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps", body, content_type="application/yaml")
    assert reply.status == 400
    assert reply.status_object()["reason"] == "BadRequest"
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/configmaps/y")


def test_yaml_body_accepted(raw: Raw, namespace: str) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n"
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps", body, content_type="application/yaml")
    assert reply.status == 201, reply.body
    assert reply.json()["data"] == {"k": "v"}


def test_empty_and_non_object_bodies(raw: Raw, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for body in (b"", b"[1, 2]", b'"text"', b"null"):
        reply = raw.call("POST", path, body)
        assert reply.status == 400, (body, reply.body)
        reply.status_object()


def test_wrong_field_type_is_bad_request(raw: Raw, namespace: str) -> None:
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps", cm("typed", data=5))
    assert reply.status == 400
    assert 'ConfigMap in version "v1" cannot be handled as a ConfigMap' in reply.status_object()["message"]
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/configmaps/typed")


def test_body_over_3_mib(raw: Raw, namespace: str) -> None:
    big = cm("big", data={"blob": "x" * (3 * 1024 * 1024 + 10)})
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps", big)
    assert reply.status == 413
    assert reply.status_object()["reason"] == "RequestEntityTooLarge"
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/configmaps/big")


def test_kind_or_api_version_not_matching_url(raw: Raw, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    wrong_kind = {**cm("k"), "kind": "Secret"}
    reply = raw.call("POST", path, wrong_kind)
    assert reply.status == 400
    assert "Secret" in reply.status_object()["message"]
    wrong_version = {**cm("k"), "apiVersion": "apps/v1"}
    reply = raw.call("POST", path, wrong_version)
    assert reply.status == 400
    reply.status_object()
    assert_absent(raw, f"{path}/k")


def test_namespace_in_body_not_matching_url(raw: Raw, namespace: str) -> None:
    body = cm("n")
    body["metadata"]["namespace"] = "elsewhere"
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
    assert reply.status == 400
    assert "does not match the namespace" in reply.status_object()["message"]


def test_name_in_body_not_matching_url_on_update(raw: Raw, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    created = raw.call("POST", path, cm("orig")).json()
    renamed = {**created, "metadata": {**created["metadata"], "name": "other"}}
    reply = raw.call("PUT", f"{path}/orig", renamed)
    assert reply.status == 400
    reply.status_object()
    after = raw.call("GET", f"{path}/orig").json()
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert_absent(raw, f"{path}/other")


def test_invalid_object_lists_every_cause(raw: Raw, namespace: str) -> None:
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"},
        "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "", "image": ""},
                                                              {"name": "ok", "image": "busybox",
                                                               "ports": [{"containerPort": 70000}]}]},
    }
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/pods", pod)
    assert reply.status == 422
    status = reply.status_object()
    assert status["reason"] == "Invalid"
    assert status["details"]["name"] == "Bad_Name" and status["details"]["kind"] == "Pod"
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"metadata.name", "spec.restartPolicy", "spec.containers[0].name", "spec.containers[0].image",
            "spec.containers[1].ports[0].containerPort"} <= fields, status["details"]["causes"]
    for cause in status["details"]["causes"]:
        assert cause["reason"].startswith("FieldValue"), cause
    assert status["message"].startswith('Pod "Bad_Name" is invalid: [')
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/pods/Bad_Name")


def test_invalid_update_changes_nothing(raw: Raw, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    labels = {"app": "d"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    created = raw.call("POST", path, deployment)
    assert created.status == 201, created.body
    rv = created.json()["metadata"]["resourceVersion"]
    bad = raw.call("PATCH", f"{path}/d", {"spec": {"selector": {"matchLabels": {"app": "other"}}}},
                   content_type="application/merge-patch+json")
    assert bad.status == 422
    assert "spec.selector" in {c["field"] for c in bad.status_object()["details"]["causes"]}
    assert raw.call("GET", f"{path}/d").json()["metadata"]["resourceVersion"] == rv


# ---- fieldValidation -------------------------------------------------------------------------------


def test_field_validation_strict(raw: Raw, namespace: str) -> None:
    body = cm("strict", spec={"foo": 1}, bogus=True)
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Strict", body)
    assert reply.status == 400
    message = reply.status_object()["message"]
    assert "strict decoding error" in message
    assert 'unknown field "spec"' in message and 'unknown field "bogus"' in message
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/configmaps/strict")


def test_field_validation_strict_nested(raw: Raw, namespace: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"foo": "x", "containers": [{"name": "c", "image": "busybox", "colour": "red"}]}}
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/pods?fieldValidation=Strict", pod)
    assert reply.status == 400
    message = reply.status_object()["message"]
    assert 'unknown field "spec.foo"' in message
    assert 'unknown field "spec.containers[0].colour"' in message


def test_field_validation_warn(raw: Raw, namespace: str) -> None:
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                           "spec": {"foo": "x", "containers": [{"name": "c", "image": "busybox"}]}}
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/pods?fieldValidation=Warn", pod)
    assert reply.status == 201, reply.body
    assert reply.headers.get("warning") == '299 - "unknown field \\"spec.foo\\""'
    assert "foo" not in reply.json()["spec"]
    # Warn is the default.
    pod["metadata"]["name"] = "q"
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/pods", pod)
    assert reply.status == 201
    assert "spec.foo" in reply.headers.get("warning", "")


def test_field_validation_ignore(raw: Raw, namespace: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"foo": "x", "containers": [{"name": "c", "image": "busybox"}]}}
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/pods?fieldValidation=Ignore", pod)
    assert reply.status == 201
    assert "warning" not in reply.headers
    assert "foo" not in reply.json()["spec"]


def test_field_validation_bad_value(raw: Raw, namespace: str) -> None:
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Loose", cm("v"))
    assert reply.status == 400
    reply.status_object()
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/configmaps/v")


# ---- URLs and methods ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/api/v1/namespaces/default/widgets",
    "/api/v1/widgets",
    "/apis/apps/v1/namespaces/default/gadgets",
    "/apis/nosuch.example.com/v1/things",
    "/apis/nosuch.example.com/v1",
    "/apis/apps/v9/deployments",
    "/api/v2/pods",
    "/api/v1/namespaces/default/pods/p/nosuchsubresource",
    "/nothing/here",
])
def test_unknown_paths_are_404_status(raw: Raw, path: str) -> None:
    reply = raw.call("GET", path)
    assert reply.status == 404, (path, reply.body)
    assert reply.status_object()["reason"] == "NotFound"


def test_cluster_scoped_resource_under_namespace_is_404(raw: Raw) -> None:
    reply = raw.call("GET", "/api/v1/namespaces/default/nodes")
    assert reply.status == 404
    reply.status_object()


@pytest.mark.parametrize(("method", "suffix"), [
    ("POST", "/configmaps/named"),   # create on a named object
    ("PUT", "/configmaps"),          # update on a collection
    ("PATCH", "/configmaps"),        # patch on a collection
])
def test_wrong_method_is_405(raw: Raw, namespace: str, method: str, suffix: str) -> None:
    reply = raw.call(method, f"/api/v1/namespaces/{namespace}{suffix}", cm("named"),
                     content_type="application/merge-patch+json" if method == "PATCH" else "application/json")
    assert reply.status == 405, reply.body
    assert reply.status_object()["reason"] == "MethodNotAllowed"
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/configmaps/named")


def test_write_to_non_resource_path_is_405(raw: Raw) -> None:
    reply = raw.call("POST", "/version", {"a": 1})
    assert reply.status == 405
    reply.status_object()


# ---- query parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("selector", ["app in (a", "a=b=c", "!", "app==,", "x notin", "a b"])
def test_invalid_label_selector(raw: Raw, namespace: str, selector: str) -> None:
    from urllib.parse import quote

    reply = raw.call("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={quote(selector)}")
    assert reply.status == 400, (selector, reply.body)
    reply.status_object()


def test_unsupported_field_selector(raw: Raw, namespace: str) -> None:
    reply = raw.call("GET", f"/api/v1/namespaces/{namespace}/configmaps?fieldSelector=data.a%3Db")
    assert reply.status == 400
    assert 'field label not supported: data.a' in reply.status_object()["message"]
    reply = raw.call("GET", f"/api/v1/namespaces/{namespace}/pods?fieldSelector=spec.foo%3Dbar")
    assert reply.status == 400
    assert "field label not supported: spec.foo" in reply.status_object()["message"]


def test_malformed_field_selector(raw: Raw, namespace: str) -> None:
    reply = raw.call("GET", f"/api/v1/namespaces/{namespace}/pods?fieldSelector=metadata.name")
    assert reply.status == 400
    reply.status_object()


def test_invalid_dry_run_value(raw: Raw, namespace: str) -> None:
    reply = raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps?dryRun=Some", cm("d"))
    assert reply.status == 400
    assert "dryRun" in reply.status_object()["message"]
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/configmaps/d")


@pytest.mark.parametrize("token", ["not-a-token!!", "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ", "e30"])
def test_bad_continue_token(raw: Raw, namespace: str, token: str) -> None:
    reply = raw.call("GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=1&continue={token}")
    assert reply.status == 400, (token, reply.body)
    assert "continue" in reply.status_object()["message"]


def test_continue_token_from_another_namespace(raw: Raw, namespace: str) -> None:
    for i in range(3):
        raw.call("POST", f"/api/v1/namespaces/{namespace}/configmaps", cm(f"c{i}"))
    token = raw.call("GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=1").json()["metadata"]["continue"]
    reply = raw.call("GET", f"/api/v1/namespaces/default/configmaps?limit=1&continue={token}")
    assert reply.status == 400
    reply.status_object()


@pytest.mark.parametrize("query", ["limit=abc", "resourceVersion=abc", "timeoutSeconds=x&watch=1",
                                   "resourceVersionMatch=Exact"])
def test_bad_list_parameters(raw: Raw, namespace: str, query: str) -> None:
    reply = raw.call("GET", f"/api/v1/namespaces/{namespace}/configmaps?{query}")
    assert reply.status == 400, (query, reply.body)
    reply.status_object()


def test_bad_delete_options(raw: Raw, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    raw.call("POST", path, cm("keep"))
    reply = raw.call("DELETE", f"{path}/keep", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                "propagationPolicy": "Sideways"})
    assert reply.status == 422
    reply.status_object()
    reply = raw.call("DELETE", f"{path}/keep?gracePeriodSeconds=soon")
    assert reply.status == 400
    reply.status_object()
    assert raw.call("GET", f"{path}/keep").status == 200


# ---- patches ---------------------------------------------------------------------------------------


def test_patch_with_wrong_content_type(raw: Raw, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = raw.call("POST", path, cm("p")).json()["metadata"]["resourceVersion"]
    for content_type in ("application/json", "text/plain", "application/xml"):
        reply = raw.call("PATCH", f"{path}/p", {"data": {"a": "c"}}, content_type=content_type)
        assert reply.status == 415, (content_type, reply.body)
        assert reply.status_object()["reason"] == "UnsupportedMediaType"
    assert raw.call("GET", f"{path}/p").json()["metadata"]["resourceVersion"] == rv


def test_json_patch_test_failure(raw: Raw, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = raw.call("POST", path, cm("p")).json()["metadata"]["resourceVersion"]
    patch = [{"op": "test", "path": "/data/a", "value": "not-b"}, {"op": "replace", "path": "/data/a", "value": "c"}]
    reply = raw.call("PATCH", f"{path}/p", patch, content_type="application/json-patch+json")
    assert reply.status == 422, reply.body
    reply.status_object()
    after = raw.call("GET", f"{path}/p").json()
    assert after["data"] == {"a": "b"} and after["metadata"]["resourceVersion"] == rv


def test_json_patch_bad_path_and_bad_document(raw: Raw, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = raw.call("POST", path, cm("p")).json()["metadata"]["resourceVersion"]
    reply = raw.call("PATCH", f"{path}/p", [{"op": "remove", "path": "/data/missing"}],
                     content_type="application/json-patch+json")
    assert reply.status == 422, reply.body
    reply.status_object()
    reply = raw.call("PATCH", f"{path}/p", {"op": "remove"}, content_type="application/json-patch+json")
    assert reply.status == 400, reply.body
    reply.status_object()
    reply = raw.call("PATCH", f"{path}/p", [{"op": "frobnicate", "path": "/data"}],
                     content_type="application/json-patch+json")
    assert reply.status in (400, 422), reply.body
    reply.status_object()
    assert raw.call("GET", f"{path}/p").json()["metadata"]["resourceVersion"] == rv


def test_patch_of_missing_object(raw: Raw, namespace: str) -> None:
    reply = raw.call("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/ghost", {"data": {"a": "b"}},
                     content_type="application/merge-patch+json")
    assert reply.status == 404
    reply.status_object()
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/configmaps/ghost")


def test_patch_changing_name_is_refused(raw: Raw, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = raw.call("POST", path, cm("p")).json()["metadata"]["resourceVersion"]
    reply = raw.call("PATCH", f"{path}/p", {"metadata": {"name": "q"}}, content_type="application/merge-patch+json")
    assert reply.status == 400, reply.body
    reply.status_object()
    assert raw.call("GET", f"{path}/p").json()["metadata"]["resourceVersion"] == rv
    assert_absent(raw, f"{path}/q")


def test_apply_without_field_manager(raw: Raw, namespace: str) -> None:
    reply = raw.call("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/a", cm("a"),
                     content_type="application/apply-patch+yaml")
    assert reply.status == 400
    assert "fieldManager" in reply.status_object()["message"]
    assert_absent(raw, f"/api/v1/namespaces/{namespace}/configmaps/a")


# ---- authentication ----------------------------------------------------------------------------------


def test_bad_bearer_token_is_401(server: ServerProcess) -> None:
    config = load_kubeconfig(server.kubeconfig)
    context = ssl.create_default_context(cadata=config.ca_data.decode() if config.ca_data else None)
    request = urllib.request.Request(config.server + "/api/v1/namespaces",
                                     headers={"Authorization": "Bearer not-a-real-token"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, context=context, timeout=10)
    assert exc.value.code == 401
    status = json.loads(exc.value.read())
    assert status["kind"] == "Status" and status["reason"] == "Unauthorized"
