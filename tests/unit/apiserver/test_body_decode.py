"""One pass over a request body: `ResourceHandlers.decode_object` with the resource's REST decodes a JSON body
straight into the model when the model takes it as it is, and otherwise goes step by step; both ways give
the same object, warnings and errors, so a body's outcome never depends on which way it went."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from kybernetes.api.models import model_for
from kybernetes.api.schema import decode_json, decode_object
from kybernetes.apiserver import codec
from kybernetes.apiserver.auth.authn import UserInfo
from kybernetes.apiserver.handlers import ResourceHandlers
from kybernetes.apiserver.rest import RequestContext, ResourceREST
from kybernetes.apiserver.server import APIServer, ServerConfig
from kybernetes.machinery import errors
from kybernetes.storage.backends.memory import MemoryStore

POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}, "uid": None},
    "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}],
                             "resources": {"requests": {"cpu": "10m", "memory": 16777216}}}],
             "nodeName": None},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None}]},
}


@pytest.fixture(scope="module")
def server() -> Iterator[APIServer]:
    yield APIServer(store=MemoryStore(), config=ServerConfig())


@pytest.fixture
def pods(server: APIServer) -> ResourceREST:
    return server.rests[("", "v1", "pods")]


def _ctx(validation: str = "Warn") -> RequestContext:
    return RequestContext(user=UserInfo(name="admin"), namespace="ns", field_validation=validation)


def _request(content_type: str | None = "application/json") -> Any:
    headers = {"Content-Type": content_type} if content_type else {}
    return make_mocked_request("PUT", "/api/v1/namespaces/ns/pods/p", headers=headers)


def _both(rest: ResourceREST, body: bytes, *, validation: str = "Warn",
          content_type: str | None = "application/json") -> tuple[Any, Any]:
    """(outcome of the handler's decode, outcome of the step-by-step decode), each an object with its
    warnings or the error's (type, message)."""
    handlers = ResourceHandlers(rests={}, subresources={})

    def outcome(one_pass: bool) -> Any:
        ctx = _ctx(validation)
        try:
            if one_pass:
                obj = handlers.decode_object(request_body=body, request=_request(content_type), info=rest.info,
                                             rest=rest, ctx=ctx)
            else:
                raw = codec.decode_body(body=body, content_type=content_type)
                obj = rest.decode(obj=handlers.check_kind(obj=raw, info=rest.info), ctx=ctx)
        except errors.StatusError as e:
            return type(e).__name__, e.message
        return json.dumps(obj), ctx.warnings  # key order included

    return outcome(True), outcome(False)


def test_decode_json_is_the_canonical_form() -> None:
    model = model_for("", "v1", "Pod")
    assert model is not None
    body = json.dumps(POD).encode()
    canonical, unknown = decode_object(json.loads(body), model)
    assert unknown == []
    one_pass = decode_json(body, model)
    assert one_pass == canonical
    assert one_pass is not None and list(one_pass) == list(canonical)
    assert "uid" not in one_pass["metadata"] and "lastProbeTime" not in one_pass["status"]["conditions"][0]


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b"{", b'{"spec": {"containers": "x"}}', b'{"bogus": 1}',
                                  b'{"metadata": {"name": 5}}', b"\xff"])
def test_decode_json_answers_none_for_anything_it_cannot_take_as_is(body: bytes) -> None:
    model = model_for("", "v1", "Pod")
    assert model is not None
    assert decode_json(body, model) is None


def _with(**changes: Any) -> bytes:
    obj = json.loads(json.dumps(POD))
    for path, value in changes.items():
        target = obj
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        if value is _DROP:
            target.pop(last, None)
        else:
            target[last] = value
    return json.dumps(obj).encode()


_DROP = object()

BODIES = {
    "well-formed": json.dumps(POD).encode(),
    "no apiVersion": _with(apiVersion=_DROP),
    "no kind": _with(kind=_DROP),
    "no metadata": _with(metadata=_DROP),
    "wrong kind": _with(kind="Service"),
    "wrong apiVersion": _with(apiVersion="apps/v1"),
    "unknown fields": _with(spec__bogus=1, extra={"a": 1}),
    "type error": _with(spec__containers=[{"name": "c", "image": 5}]),
    "int as float": _with(spec__terminationGracePeriodSeconds=1.5),
    "metadata not an object": _with(metadata="x"),
    "not an object": b"[1, 2]",
    "null": b"null",
    "empty": b"",
    "not JSON": b"{nope",
}


@pytest.mark.parametrize("validation", ["Ignore", "Warn", "Strict"])
@pytest.mark.parametrize("case", sorted(BODIES))
def test_one_pass_and_step_by_step_agree(pods: ResourceREST, case: str, validation: str) -> None:
    one_pass, step_by_step = _both(pods, BODIES[case], validation=validation)
    assert one_pass == step_by_step


def test_yaml_and_untyped_content_go_step_by_step(pods: ResourceREST) -> None:
    import yaml

    body = yaml.safe_dump(POD).encode()
    one_pass, step_by_step = _both(pods, body, content_type="application/yaml")
    assert one_pass == step_by_step
    one_pass, step_by_step = _both(pods, json.dumps(POD).encode(), content_type=None)
    assert one_pass == step_by_step


def test_unknown_fields_still_warn_and_fail_strict(pods: ResourceREST) -> None:
    body = BODIES["unknown fields"]
    (_, warnings), _ = _both(pods, body)
    assert warnings == ['unknown field "spec.bogus"', 'unknown field "extra"']
    strict, _ = _both(pods, body, validation="Strict")
    assert strict == ("BadRequestError", 'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
                                         'unknown field "spec.bogus", unknown field "extra"')


def test_without_rest_the_object_is_only_kind_checked(pods: ResourceREST) -> None:
    handlers = ResourceHandlers(rests={}, subresources={})
    obj = handlers.decode_object(request_body=json.dumps(POD).encode(), request=_request(), info=pods.info)
    assert obj["metadata"]["uid"] is None  # not canonical: nulls kept


def test_a_well_formed_json_body_takes_one_pass(pods: ResourceREST) -> None:
    def step_by_step(**kw: Any) -> dict[str, Any]:
        raise AssertionError("the step-by-step decode ran")

    one_pass = dataclasses.replace(pods, decode=step_by_step)
    handlers = ResourceHandlers(rests={}, subresources={})
    obj = handlers.decode_object(request_body=BODIES["well-formed"], request=_request(), info=pods.info,
                                 rest=one_pass, ctx=_ctx())
    assert obj["metadata"] == {"name": "p", "namespace": "ns", "labels": {"app": "x"}}
    with pytest.raises(AssertionError, match="step-by-step"):
        handlers.decode_object(request_body=BODIES["unknown fields"], request=_request(), info=pods.info,
                               rest=one_pass, ctx=_ctx())
