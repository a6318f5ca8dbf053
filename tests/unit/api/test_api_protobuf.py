"""Protobuf request bodies: real kubectl bodies, a table-driven round trip, Go JSON semantics, and errors.

`fixtures/protobuf/*.bin` are bodies kubectl v1.37 sent (captured from its `-v=9` request dump); the
`.json` next to each is kubectl's own `--dry-run=client -o json` of the same command (for `create token`
and `auth ...`, which have no dry run, the decoded form checked by hand against the Go types). The live
test does the same capture against a closed port, so no server is needed.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kybernetes.api import protobuf
from kybernetes.api.protobuf import MAGIC, decode_protobuf, go_duration, schema
from kybernetes.api.resources import RESOURCES
from kybernetes.machinery.errors import BadRequestError

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"
REPO = Path(__file__).resolve().parents[3]

# --- a test-only encoder: dicts through the same table, writing what gogo writes -------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative ints as 64-bit two's complement, as gogo writes int32/int64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _value(number: int, type_: str, value: Any) -> bytes:
    if type_ == "string":
        return _len(number, value.encode())
    if type_ == "bytes":
        return _len(number, base64.b64decode(value))
    if type_ in ("int32", "int64", "bool"):
        return _key(number, 0) + _varint(int(value))
    return _len(number, encode_message(type_, value))


def encode_message(name: str, obj: Any) -> bytes:
    if name == protobuf.TIME:
        return b"" if obj is None else _key(1, 0) + _varint(_epoch(obj))
    if name == protobuf.MICRO_TIME:
        seconds, micros = obj.rstrip("Z").split(".")
        return _key(1, 0) + _varint(_epoch(seconds + "Z")) + _key(2, 0) + _varint(int(micros) * 1000)
    if name == protobuf.QUANTITY:
        return _len(1, obj.encode())
    if name == protobuf.INT_OR_STRING:
        if isinstance(obj, str):
            return _key(1, 0) + _varint(1) + _key(2, 0) + _varint(0) + _len(3, obj.encode())
        return _key(1, 0) + _varint(0) + _key(2, 0) + _varint(obj) + _len(3, b"")
    if name in (protobuf.RAW_EXTENSION, protobuf.FIELDS_V1):
        return b"" if obj is None else _len(1, json.dumps(obj).encode())
    if name in schema().wrappers:
        return b"".join(_value(1, schema().wrappers[name], item) for item in obj)
    out = bytearray()
    for field in schema().messages[name]:
        if field.inline:
            out += _len(field.number, encode_message(field.type, obj))
            continue
        value = obj.get(field.json)
        if field.is_map:
            for key, item in (value or {}).items():
                out += _len(field.number, _len(1, key.encode()) + _value(2, field.type, item))
        elif field.repeated:
            for item in value or ():
                out += _value(field.number, field.type, item)
        elif field.pointer:
            if value is not None:
                out += _value(field.number, field.type, value)
        elif field.type in ("string", "int32", "int64", "bool"):
            out += _value(field.number, field.type, value or {"string": ""}.get(field.type, 0))
        else:  # non-pointer structs are always written, empty or not
            out += _value(field.number, field.type, value if value is not None else _empty(field.type))
    return bytes(out)


def _empty(type_: str) -> Any:
    return None if type_ in (protobuf.TIME, protobuf.RAW_EXTENSION, protobuf.FIELDS_V1) else {}


def _epoch(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def frame(*, api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _len(1, api_version.encode()) + _len(2, kind.encode())
    return MAGIC + _len(1, type_meta) + _len(2, raw) + _len(3, b"") + _len(4, b"")


def encode(obj: dict[str, Any]) -> bytes:
    message = schema().message_for(api_version=obj["apiVersion"], kind=obj["kind"])
    assert message is not None
    return frame(api_version=obj["apiVersion"], kind=obj["kind"], raw=encode_message(message, obj))


# --- real kubectl bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.bin")))
def test_kubectl_body_decodes_to_the_json_kubectl_means(name: str) -> None:
    expected = json.loads((FIXTURES / f"{name}.json").read_text())
    assert decode_protobuf((FIXTURES / f"{name}.bin").read_bytes()) == expected


def test_fixture_details_that_omitempty_gets_wrong_without_go_facts() -> None:
    deployment = decode_protobuf((FIXTURES / "deployment.bin").read_bytes())
    assert deployment["spec"]["replicas"] == 0  # pointer: present and zero stays
    assert "minReadySeconds" not in deployment["spec"]  # non-pointer omitempty zero goes
    assert "creationTimestamp" not in deployment["metadata"]  # omitzero
    assert deployment["status"] == {}  # non-pointer struct stays
    secret = decode_protobuf((FIXTURES / "secret.bin").read_bytes())
    raw = base64.b64decode(secret["data"]["bin"])
    assert raw.endswith(b"a\x00\xff\xfe") and secret["data"]["user"] == base64.b64encode(b"admin").decode()
    ports = [
        decode_protobuf((FIXTURES / f"{n}.bin").read_bytes())["spec"]["ports"][0]["targetPort"]
        for n in ("service-int", "service-str")
    ]
    assert ports == [8080, "https"]


def _kubectl() -> str | None:
    local = REPO / ".tools" / "bin" / "kubectl"
    return str(local) if local.exists() else shutil.which("kubectl")


LIVE = {
    "namespace": ["create", "namespace", "live"],
    "deployment": ["create", "deployment", "d", "--image=nginx", "--replicas=0", "--port=80"],
    "secret": ["create", "secret", "generic", "s", "--from-file=k=BINFILE", "--type=Opaque"],
    "service": ["create", "service", "loadbalancer", "lb", "--tcp=80:http", "--tcp=81:8081"],
    "cronjob": ["create", "cronjob", "c", "--image=busybox", "--schedule=@hourly", "--restart=Never"],
    "job": ["create", "job", "j", "--image=busybox"],
    "clusterrolebinding": ["create", "clusterrolebinding", "crb", "--clusterrole=view", "--group=g"],
    "quota": ["create", "quota", "q", "--hard=requests.storage=5Gi,count/pods=3"],
    "pdb": ["create", "pdb", "p", "--selector=a=b", "--max-unavailable=1"],
    "priorityclass": ["create", "priorityclass", "pc", "--value=0", "--global-default"],
}
_HEX = re.compile(r"^\s*[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2})+)")


@pytest.mark.kubectl
@pytest.mark.skipif(_kubectl() is None, reason="needs the kubectl binary")
@pytest.mark.parametrize("name", sorted(LIVE))
def test_live_kubectl_body(name: str, tmp_path: Path) -> None:
    kubectl = _kubectl()
    assert kubectl is not None
    (tmp_path / "bin").write_bytes(bytes(range(256)))
    args = [a.replace("BINFILE", str(tmp_path / "bin")) for a in LIVE[name]]
    with socket.socket() as sock:  # a port nobody listens on: kubectl logs the body, then fails to connect
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]\n"
    )
    base = [kubectl, "--kubeconfig", str(config), "--request-timeout=5s"]
    dumped = subprocess.run([*base, *args, "-v=9"], capture_output=True, text=True, timeout=60)
    body = _body_from_dump(dumped.stderr)
    dry = subprocess.run(
        [*base, *args, "--dry-run=client", "-o", "json"], capture_output=True, text=True, timeout=60, check=True
    )
    assert decode_protobuf(body) == json.loads(dry.stdout)


def _body_from_dump(log: str) -> bytes:
    body: bytearray | None = None
    for line in log.splitlines():
        if '"Request Body"' in line:
            body = bytearray()
        elif body is not None:
            match = _HEX.match(line)
            if not match:
                if body.startswith(MAGIC):
                    return bytes(body)
                body = None
                continue
            body += bytes.fromhex(match.group(1).replace(" ", ""))
    raise AssertionError(f"no protobuf request body in kubectl's log:\n{log[-3000:]}")


# --- table-driven round trip and Go JSON semantics --------------------------------------------------------

POD: dict[str, Any] = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {
        "name": "p",
        "namespace": "ns",
        "labels": {"a": "b"},
        "creationTimestamp": "2024-05-06T07:08:09Z",
        "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u", "controller": False}],
        "managedFields": [
            {"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}
        ],
    },
    "spec": {
        "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "h", "hostPath": {"path": "/x"}}],
        "containers": [
            {
                "name": "c",
                "image": "i",
                "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
                "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 0},
                "readinessProbe": {"tcpSocket": {"port": 8080}},
                "securityContext": {"runAsUser": 0, "privileged": False},
            }
        ],
        "terminationGracePeriodSeconds": 0,
    },
    "status": {},
}


def test_round_trip_through_the_table() -> None:
    got = decode_protobuf(encode(POD))
    container = got["spec"]["containers"][0]
    assert got["metadata"]["creationTimestamp"] == "2024-05-06T07:08:09Z"
    assert got["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {}}
    assert got["metadata"]["ownerReferences"][0]["controller"] is False  # pointer, present
    assert got["spec"]["volumes"] == POD["spec"]["volumes"]  # VolumeSource inlined back
    assert container["resources"] == {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}}
    assert container["livenessProbe"] == {"httpGet": {"path": "/", "port": "http"}}  # periodSeconds: omitempty
    assert container["readinessProbe"] == {"tcpSocket": {"port": 8080}}
    assert container["securityContext"] == {"runAsUser": 0, "privileged": False}
    assert got["spec"]["terminationGracePeriodSeconds"] == 0
    assert got["status"] == {}


def test_absent_fields_become_what_go_json_writes_for_zero_values() -> None:
    role = decode_protobuf(frame(api_version="rbac.authorization.k8s.io/v1", kind="Role", raw=b""))
    # metadata: a non-pointer struct, always written; rules: a nil slice Go writes as null, left out
    assert role == {"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {}}
    binding = decode_protobuf(frame(api_version="v1", kind="Binding", raw=b""))
    assert binding["target"] == {}
    pc = decode_protobuf(frame(api_version="scheduling.k8s.io/v1", kind="PriorityClass", raw=b""))
    assert pc["value"] == 0  # non-pointer, no omitempty


def test_special_types() -> None:
    event = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": {"name": "e"},
        "eventTime": "2024-01-02T03:04:05.123456Z",
        "reportingController": "c",
        "deprecatedFirstTimestamp": None,
    }
    got = decode_protobuf(encode(event))
    assert got["eventTime"] == "2024-01-02T03:04:05.123456Z"
    assert "deprecatedFirstTimestamp" not in got  # a zero Time is JSON null: left out
    revision = {
        "kind": "ControllerRevision",
        "apiVersion": "apps/v1",
        "metadata": {"name": "r"},
        "data": {"spec": {"x": [1, "two"]}},
        "revision": 3,
    }
    assert decode_protobuf(encode(revision)) == revision
    review = {
        "kind": "SubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": {"user": "u", "extra": {"scopes": ["a", "b"]}, "nonResourceAttributes": {"path": "/", "verb": "get"}},
    }
    spec = decode_protobuf(encode(review))["spec"]
    assert spec["extra"] == {"scopes": ["a", "b"]}  # a named slice, wrapped as `items` on the wire


def test_subresource_kinds_and_delete_options() -> None:
    scale = {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "d"}, "spec": {"replicas": 0}}
    assert decode_protobuf(encode(scale))["spec"] == {}  # ScaleSpec.replicas is a non-pointer omitempty
    eviction = {
        "kind": "Eviction",
        "apiVersion": "policy/v1",
        "metadata": {"name": "p", "namespace": "ns"},
        "deleteOptions": {"gracePeriodSeconds": 0, "dryRun": ["All"]},
    }
    assert decode_protobuf(encode(eviction)) == eviction
    options = {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", "propagationPolicy": "Foreground"}
    assert decode_protobuf(encode(options)) == options


def test_every_served_kind_has_a_complete_table() -> None:
    tables = schema()
    kinds = [(r.api_version, r.kind) for r in RESOURCES] + [
        ("autoscaling/v1", "Scale"),
        ("policy/v1", "Eviction"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("v1", "DeleteOptions"),
        ("apps/v1", "DeleteOptions"),
    ]
    for api_version, kind in kinds:
        assert tables.message_for(api_version=api_version, kind=kind), (api_version, kind)
    known = set(tables.messages) | set(tables.wrappers) | set(protobuf._SPECIAL)
    scalars = {"string", "bytes", "int32", "int64", "uint32", "uint64", "bool", "double", "float"}
    for fields in tables.messages.values():
        for field in fields:
            assert field.type in known | scalars, field


def test_unknown_fields_and_packed_repeated() -> None:
    raw = _len(1, _len(1, b"n")) + _key(99, 0) + _varint(5) + _len(98, b"junk") + _key(97, 1) + b"\0" * 8
    assert decode_protobuf(frame(api_version="v1", kind="ServiceAccount", raw=raw))["metadata"] == {"name": "n"}
    # A repeated int32 sent packed: a Job's podFailurePolicy.rules[].onExitCodes.values.
    rule = _len(2, _len(2, b"In") + _len(3, _varint(1) + _varint(2)))  # onExitCodes: operator, packed values
    spec = _len(11, _len(1, _len(1, b"FailJob") + rule))
    job = decode_protobuf(frame(api_version="batch/v1", kind="Job", raw=_len(2, spec)))
    assert job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [1, 2]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{}", "magic"),
        (MAGIC + b"\x0a\xff", "truncated"),
        (MAGIC + b"\x0a\x05\x0a\x02v1", "truncated"),
        (MAGIC + b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "varint"),
        (MAGIC + b"\x0b", "wire type 3"),
        (frame(api_version="v1", kind="Nope", raw=b""), "no protobuf schema for kind 'Nope'"),
        (frame(api_version="v1", kind="Namespace", raw=_len(1, _len(1, b"\xff"))), "UTF-8"),
        (frame(api_version="v1", kind="Namespace", raw=_key(1, 0) + b"\x01"), "expected a message"),
        (MAGIC + _len(1, _len(1, b"v1") + _len(2, b"Namespace")) + _len(3, b"gzip"), "encoding"),
        (frame(api_version="apps/v1", kind="ControllerRevision", raw=_len(2, _len(1, b"{"))), "JSON"),
    ],
)
def test_malformed_bodies_are_bad_requests(body: bytes, message: str) -> None:
    with pytest.raises(BadRequestError, match=re.escape(message)):
        decode_protobuf(body)


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_500_000_000, "1.5s"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (-(3723 * 10**9 + 5 * 10**8), "-1h2m3.5s"),
    ],
)
def test_go_duration(nanoseconds: int, text: str) -> None:
    assert go_duration(nanoseconds) == text


# --- the generator's readers (scripts/gen_protobuf_schema.py) ---------------------------------------------


def _generator() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_protobuf_schema", REPO / "scripts" / "gen_protobuf_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_generator_joins_proto_numbers_with_go_facts() -> None:
    gen = _generator()
    proto = gen.parse_proto(
        "package k8s.io.api.x.v1;\n"
        "message Spec {\n"
        "  // +optional\n"
        "  optional int32 replicas = 1;\n"
        "  repeated .k8s.io.api.core.v1.Volume volumes = 2;\n"
        "  map<string, bytes> data = 3;\n"
        "  optional Source source = 4;\n"
        "}\n"
    )
    fields = proto["k8s.io.api.x.v1.Spec"]
    assert (fields[1].type, fields[1].repeated) == ("int32", False)
    assert (fields[2].type, fields[2].repeated) == ("k8s.io.api.core.v1.Volume", True)
    assert (fields[3].type, fields[3].is_map) == ("bytes", True)
    assert fields[4].type == "k8s.io.api.x.v1.Source"
    structs = gen.parse_go_structs(
        "type Spec struct {\n"
        "\t// Replicas is a pointer.\n"
        '\tReplicas *int32 `json:"replicas,omitempty" protobuf:"varint,1,opt,name=replicas"`\n'
        '\tVolumes []Volume `json:"volumes" protobuf:"bytes,2,rep,name=volumes"`\n'
        '\tData map[string][]byte `json:"data,omitempty" protobuf:"bytes,3,rep,name=data"`\n'
        '\tSource `json:",inline" protobuf:"bytes,4,opt,name=source"`\n'
        '\tmetav1.TypeMeta `json:",inline"`\n'
        '\tCreated Time `json:"created,omitempty,omitzero" protobuf:"bytes,5,opt,name=created"`\n'
        "}\n"
    )
    by_number = dict(structs["Spec"])
    assert by_number[1] == gen.GoField("replicas", pointer=True, omitempty=True, omitzero=False, inline=False)
    assert by_number[2] == gen.GoField("volumes", pointer=False, omitempty=False, omitzero=False, inline=False)
    assert by_number[4].inline and not by_number[4].pointer
    assert by_number[5].omitzero
    assert sorted(by_number) == [1, 2, 3, 4, 5]  # TypeMeta has no protobuf tag
