"""`/openapi/v2` as gnostic protobuf: decoded back with a test-only reader it equals the JSON document (ours
and Kubernetes' reference document), and the real kubectl reads it (`explain`, `create -f` of a List).

The reader below restates the field numbers of gnostic's OpenAPIv2.proto independently of the encoder's
tables, so a wrong number in either shows up as a mismatch.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from aiohttp import ClientSession, TCPConnector, web

from cluster import KUBECTL, ROOT, ServerProcess
from kybernetes.api import openapi
from kybernetes.api.openapi_proto import (
    ACCEPTED_TYPES,
    MEDIA_TYPE,
    encode_document,
    openapi_v2_protobuf,
    wants_protobuf,
)

REFERENCE = Path("/work/shared/reference/kubernetes-openapi-v2.json")
KUBECTL_BIN = str(ROOT / ".tools/bin/kubectl") if (ROOT / ".tools/bin/kubectl").exists() else KUBECTL

# --- test-only reader ----------------------------------------------------------------------------------

Raw = list[tuple[int, Any]]  # (field number, int | float | bytes) in wire order


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _raw(data: bytes) -> Raw:
    out: Raw = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 1:
            out.append((number, struct.unpack_from("<d", data, pos)[0]))
            pos += 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            out.append((number, data[pos:pos + size]))
            pos += size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    assert pos == len(data)
    return out


def _at(data: bytes, *numbers: int) -> bytes:
    """The first field with each number in turn, descending into embedded messages."""
    for number in numbers:
        data = next(v for n, v in _raw(data) if n == number)
    return data


def _any(data: bytes) -> Any:
    fields = dict(_raw(data))
    assert set(fields) == {2}, fields
    return yaml.safe_load(fields[2].decode())  # as Go's yaml.v2 reads it in kube-openapi


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


Reader = Callable[[bytes], Any]
Spec = dict[int, tuple[str, str | Reader | list[Reader]]]
SCALARS: dict[str, Callable[[Any], Any]] = {
    "str": lambda b: b.decode(), "bool": bool, "double": lambda d: d, "int": _int64, "any": _any,
}


def message(spec: Spec, *, ext: int = 0) -> Reader:
    """A reader for a message; kinds: a scalar name, `strs`/`anys` (repeated), a reader (embedded
    message) or `[reader]` via a one-element list (repeated message)."""

    def read(data: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for number, value in _raw(data):
            if number == ext:
                name, item = named(_any)(value)
                out[name] = item
                continue
            key, kind = spec[number]
            if kind == "strs":
                out.setdefault(key, []).append(value.decode())
            elif kind == "anys":
                out.setdefault(key, []).append(_any(value))
            elif isinstance(kind, str):
                out[key] = SCALARS[kind](value)
            elif isinstance(kind, list):
                out.setdefault(key, []).append(kind[0](value))
            else:
                out[key] = kind(value)
        return out

    return read


def named(value_reader: Reader) -> Callable[[bytes], tuple[str, Any]]:
    def read(data: bytes) -> tuple[str, Any]:
        fields = _raw(data)
        assert [n for n, _ in fields] == [1, 2], fields
        return fields[0][1].decode(), value_reader(fields[1][1])

    return read


def named_map(value_reader: Reader, *, number: int = 1, ext: int = 0) -> Reader:
    def read(data: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n, value in _raw(data):
            assert n in (number, ext), n
            name, item = named(_any if n == ext else value_reader)(value)
            out[name] = item
        return out

    return read


def oneof(readers: dict[int, Reader]) -> Reader:
    def read(data: bytes) -> Any:
        fields = _raw(data)
        assert len(fields) == 1, fields
        number, value = fields[0]
        return readers[number](value)

    return read


def schema(data: bytes) -> Any:
    return SCHEMA(data)


def type_item(data: bytes) -> Any:
    values = [v.decode() for n, v in _raw(data) if n == 1]
    return values[0] if len(values) == 1 else values


def items_item(data: bytes) -> Any:
    values = [schema(v) for n, v in _raw(data) if n == 1]
    return values[0] if len(values) == 1 else values


def strings(data: bytes) -> list[str]:
    return [v.decode() for _, v in _raw(data)]


SCHEMA = message({
    1: ("$ref", "str"), 2: ("format", "str"), 3: ("title", "str"), 4: ("description", "str"),
    5: ("default", "any"), 6: ("multipleOf", "double"), 7: ("maximum", "double"),
    8: ("exclusiveMaximum", "bool"), 9: ("minimum", "double"), 10: ("exclusiveMinimum", "bool"),
    11: ("maxLength", "int"), 12: ("minLength", "int"), 13: ("pattern", "str"), 14: ("maxItems", "int"),
    15: ("minItems", "int"), 16: ("uniqueItems", "bool"), 17: ("maxProperties", "int"),
    18: ("minProperties", "int"), 19: ("required", "strs"), 20: ("enum", "anys"),
    21: ("additionalProperties", oneof({1: schema, 2: lambda v: bool(v)})), 22: ("type", type_item),
    23: ("items", items_item), 24: ("allOf", [schema]), 25: ("properties", named_map(schema)),
    26: ("discriminator", "str"), 27: ("readOnly", "bool"), 30: ("example", "any"),
}, ext=31)

_VALIDATIONS = ["type", "format", "items", "collectionFormat", "default", "maximum", "exclusiveMaximum",
                "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
                "uniqueItems", "enum", "multipleOf"]
_KINDS: dict[str, str | Reader] = {
    "type": "str", "format": "str", "collectionFormat": "str", "default": "any", "maximum": "double",
    "exclusiveMaximum": "bool", "minimum": "double", "exclusiveMinimum": "bool", "maxLength": "int",
    "minLength": "int", "pattern": "str", "maxItems": "int", "minItems": "int", "uniqueItems": "bool",
    "enum": "anys", "multipleOf": "double",
}


def _validations(first: int) -> Spec:
    return {first + i: (name, _KINDS.get(name) or primitives_items) for i, name in enumerate(_VALIDATIONS)}


def primitives_items(data: bytes) -> Any:
    return message(_validations(1), ext=18)(data)


HEAD: Spec = {1: ("required", "bool"), 2: ("in", "str"), 3: ("description", "str"), 4: ("name", "str")}
HEADER_OR_PATH = message({**HEAD, **_validations(5)}, ext=22)
QUERY_OR_FORM = message({**HEAD, 5: ("allowEmptyValue", "bool"), **_validations(6)}, ext=23)
BODY = message({1: ("description", "str"), 2: ("name", "str"), 3: ("in", "str"), 4: ("required", "bool"),
                5: ("schema", schema)}, ext=6)
PARAMETER = oneof({1: BODY, 2: oneof({1: HEADER_OR_PATH, 2: QUERY_OR_FORM, 3: QUERY_OR_FORM,
                                      4: HEADER_OR_PATH})})
JSON_REFERENCE = message({1: ("$ref", "str"), 2: ("description", "str")})
PARAMETERS_ITEM = oneof({1: PARAMETER, 2: JSON_REFERENCE})
RESPONSE = message({1: ("description", "str"), 2: ("schema", oneof({1: schema}))}, ext=5)
RESPONSES = named_map(oneof({1: RESPONSE, 2: JSON_REFERENCE}), number=1, ext=2)
OPERATION = message({
    1: ("tags", "strs"), 2: ("summary", "str"), 3: ("description", "str"), 5: ("operationId", "str"),
    6: ("produces", "strs"), 7: ("consumes", "strs"), 8: ("parameters", [PARAMETERS_ITEM]),
    9: ("responses", RESPONSES), 10: ("schemes", "strs"), 11: ("deprecated", "bool"),
}, ext=13)
PATH_ITEM = message({1: ("$ref", "str"), 2: ("get", OPERATION), 3: ("put", OPERATION), 4: ("post", OPERATION),
                     5: ("delete", OPERATION), 6: ("options", OPERATION), 7: ("head", OPERATION),
                     8: ("patch", OPERATION), 9: ("parameters", [PARAMETERS_ITEM])}, ext=10)
SECURITY_REQUIREMENT = named_map(strings)
API_KEY = message({1: ("type", "str"), 2: ("name", "str"), 3: ("in", "str"), 4: ("description", "str")},
                  ext=5)
DOCUMENT = message({
    1: ("swagger", "str"), 2: ("info", message({1: ("title", "str"), 2: ("version", "str")}, ext=7)),
    8: ("paths", named_map(PATH_ITEM, number=2, ext=1)), 9: ("definitions", named_map(schema)),
    10: ("parameters", named_map(PARAMETER)), 12: ("security", [SECURITY_REQUIREMENT]),
    13: ("securityDefinitions", named_map(oneof({2: API_KEY}))),
}, ext=16)


def _assert_same(decoded: Any, expected: Any, path: str = "") -> None:
    """Equal, with a path to the first difference (the documents are large)."""
    if isinstance(expected, dict):
        assert isinstance(decoded, dict), path
        assert list(decoded) == list(expected), (path, set(decoded) ^ set(expected))
        for key, value in expected.items():
            _assert_same(decoded[key], value, f"{path}/{key}")
    elif isinstance(expected, list):
        assert isinstance(decoded, list) and len(decoded) == len(expected), path
        for i, (d, e) in enumerate(zip(decoded, expected, strict=True)):
            _assert_same(d, e, f"{path}/{i}")
    else:
        assert decoded == expected and type(decoded) is type(expected), (path, decoded, expected)


# --- round trips ---------------------------------------------------------------------------------------


def test_our_document_round_trips() -> None:
    expected = msgspec.json.decode(openapi.openapi_v2())
    raw = openapi_v2_protobuf()
    assert openapi_v2_protobuf() is raw  # cached
    _assert_same(DOCUMENT(raw), expected)


def test_kubernetes_reference_document_round_trips() -> None:
    if not REFERENCE.exists():
        pytest.skip("reference document missing")
    expected = json.loads(REFERENCE.read_text())
    _assert_same(DOCUMENT(encode_document(document=expected)), expected)


def test_what_kube_openapi_relies_on() -> None:
    doc = {"swagger": "2.0", "definitions": {
        "a.Empty": {"type": "object", "properties": {}},
        "a.Map": {"type": "object", "additionalProperties": False},
        "a.Prim": {"type": "integer", "format": "int64", "minimum": -1, "maxLength": -2,
                   "x-kubernetes-odd": "line\u2028break\x7f\x85"},
    }}
    fields = _raw(encode_document(document=doc))
    definitions = [named(lambda b: b)(v) for _, v in _raw(fields[1][1])]
    (_, empty), (_, mapping), (_, prim) = definitions
    # An empty `properties` is still an (empty) embedded message: Go then sees a non-nil Properties.
    assert (25, b"") in _raw(empty)
    # additionalProperties false is the oneof's boolean (field 2), written although false.
    assert dict(_raw(mapping))[21] == b"\x10\x00"
    decoded = SCHEMA(prim)
    assert decoded["minimum"] == -1.0 and decoded["maxLength"] == -2
    assert decoded["x-kubernetes-odd"] == "line\u2028break\x7f\x85"
    ext_any = dict(_raw(dict(_raw(dict(_raw(prim))[31]))[2]))[2].decode()
    assert ext_any.isascii() and "\\u2028" in ext_any


def test_parameter_oneofs() -> None:
    doc = {"paths": {"/x": {"parameters": [
        {"$ref": "#/parameters/p"},
        {"in": "body", "name": "body", "required": True, "schema": {"$ref": "#/definitions/a"}},
        {"in": "query", "name": "q", "type": "string", "uniqueItems": True},
        {"in": "path", "name": "n", "type": "string", "required": True},
    ]}}}
    item = _at(encode_document(document=doc), 8, 2, 2)  # Document.paths, Paths.path, NamedPathItem.value
    ref, body, query, path = (v for _, v in _raw(item))
    assert [n for n, _ in _raw(ref)] == [2]  # ParametersItem.json_reference
    assert [n for n, _ in _raw(_at(body, 1))] == [1]  # Parameter.body_parameter
    assert [n for n, _ in _raw(_at(query, 1, 2))] == [3]  # NonBodyParameter.query_parameter_sub_schema
    assert [n for n, _ in _raw(_at(path, 1, 2))] == [4]  # NonBodyParameter.path_parameter_sub_schema
    assert dict(_raw(_at(query, 1, 2, 3)))[6] == b"string"  # query: allowEmptyValue is 5, type 6
    assert dict(_raw(_at(path, 1, 2, 4)))[5] == b"string"  # path: type is 5
    assert dict(_raw(_at(path, 1, 2, 4)))[1] == 1  # required


def test_wants_protobuf() -> None:
    client_go = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    assert client_go in ACCEPTED_TYPES and MEDIA_TYPE in ACCEPTED_TYPES
    assert wants_protobuf(accept=client_go)
    assert wants_protobuf(accept=MEDIA_TYPE)
    assert wants_protobuf(accept=f"{MEDIA_TYPE}, application/json")
    assert not wants_protobuf(accept=f"application/json, {client_go}")
    assert not wants_protobuf(accept=f"{client_go}; q=0.5, application/json")
    assert wants_protobuf(accept=f"application/json;q=0.4, {client_go};q=0.9")
    assert not wants_protobuf(accept="")
    assert not wants_protobuf(accept="*/*")
    assert not wants_protobuf(accept="text/html")


# --- the real kubectl ----------------------------------------------------------------------------------

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host",
              "accept-encoding", "upgrade", "te", "trailer", "proxy-authorization"}


@pytest.fixture(scope="module")
def kyb_server() -> Iterator[ServerProcess]:
    if not os.path.exists(KUBECTL_BIN):
        pytest.skip("kubectl not installed")
    server = ServerProcess().start()
    try:
        yield server
    finally:
        server.stop()


def _client_ssl(server: ServerProcess, workdir: Path) -> ssl.SSLContext:
    user = yaml.safe_load(server.kubeconfig.read_text())["users"][0]["user"]
    cert, key = workdir / "admin.crt", workdir / "admin.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    ctx = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


@pytest.fixture
async def proxy(kyb_server: ServerProcess) -> AsyncIterator[tuple[str, list[str]]]:
    """A plain-HTTP proxy to the server that answers protobuf `/openapi/v2` requests with our bytes.
    Yields (kubeconfig path, Accept headers seen on /openapi/v2)."""
    workdir = Path(tempfile.mkdtemp(prefix="kyb-openapi-proto-"))
    seen: list[str] = []
    connector = TCPConnector(ssl=_client_ssl(kyb_server, workdir))
    session = ClientSession(connector=connector, auto_decompress=False)

    async def handle(request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        if request.path == "/openapi/v2":
            seen.append(accept)
            if wants_protobuf(accept=accept):
                return web.Response(body=openapi_v2_protobuf(), headers={"Content-Type": MEDIA_TYPE})
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with session.request(request.method, f"{kyb_server.url}{request.rel_url}", headers=headers,
                                   data=await request.read()) as upstream:
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=body, headers=out)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "proxy",
            "clusters": [{"name": "proxy", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "anonymous", "user": {}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "anonymous"}}],
        }))
        yield str(kubeconfig), seen
    finally:
        await runner.cleanup()
        await session.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def _kubectl(kubeconfig: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    home = str(Path(kubeconfig).parent)  # a private discovery/openapi cache
    proc = await asyncio.create_subprocess_exec(
        KUBECTL_BIN, "--kubeconfig", kubeconfig, *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOME": home, "KUBECACHEDIR": f"{home}/cache"},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


LIST_YAML = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: proto-cm
    namespace: default
  data:
    key: value
- apiVersion: v1
  kind: Service
  metadata:
    name: proto-svc
    namespace: default
  spec:
    ports:
    - port: 80
      targetPort: 8080
    selector:
      app: proto
"""


@pytest.mark.kubectl
async def test_kubectl_explain_reads_protobuf(proxy: tuple[str, list[str]]) -> None:
    kubeconfig, seen = proxy
    code, out, err = await _kubectl(kubeconfig, "explain", "pod.spec.containers",
                                    "--output=plaintext-openapiv2")
    assert code == 0, err
    assert any(wants_protobuf(accept=accept) for accept in seen), seen
    assert out.startswith("KIND:     Pod\nVERSION:  v1\n"), out
    assert "RESOURCE: containers <[]Object>" in out  # an array of a $ref'd kind, as kubectl names it
    lines = [line.strip() for line in out.splitlines() if line.startswith("   ") and "\t" in line]
    fields = dict(line.split("\t", 1) for line in lines)
    assert fields["name"] == "<string> -required-"  # `required` came through
    assert fields["args"] == "<[]string>" and fields["stdin"] == "<boolean>"
    assert fields["livenessProbe"] == "<Object>" and fields["volumeMounts"] == "<[]Object>"
    assert {"image", "imagePullPolicy", "ports", "resources", "securityContext", "env"} <= set(fields)


@pytest.mark.kubectl
async def test_kubectl_create_list_with_validation(proxy: tuple[str, list[str]]) -> None:
    kubeconfig, seen = proxy
    code, out, err = await _kubectl(kubeconfig, "create", "--validate=true", "-f", "-", stdin=LIST_YAML)
    assert code == 0, err
    assert any(wants_protobuf(accept=accept) for accept in seen), seen  # validation read our document
    assert out.splitlines() == ["configmap/proto-cm created", "service/proto-svc created"], out
    code, out, err = await _kubectl(kubeconfig, "get", "-n", "default", "-o", "name",
                                    "configmap/proto-cm", "service/proto-svc")
    assert code == 0, err
    assert out.split() == ["configmap/proto-cm", "service/proto-svc"]
    await _kubectl(kubeconfig, "delete", "configmap/proto-cm", "service/proto-svc", "-n", "default")


@pytest.mark.kubectl
async def test_kubectl_validates_list_items_against_the_definitions(proxy: tuple[str, list[str]]) -> None:
    kubeconfig, _ = proxy
    bad = LIST_YAML.replace("    selector:\n", "    bogusField: 1\n    selector:\n")
    code, _, err = await _kubectl(kubeconfig, "create", "--validate=true", "-f", "-", stdin=bad)
    assert code != 0
    # kubectl's own (client-side) check, made with the models it built from the protobuf definitions
    assert 'unknown field "bogusField" in io.k8s.api.core.v1.ServiceSpec' in err, err
