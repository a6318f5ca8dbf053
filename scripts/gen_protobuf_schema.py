#!/usr/bin/env python3
"""Generate `kybernetes/api/data/protobuf.json`: the field table `kybernetes.api.protobuf` decodes with.

Usage: `python scripts/gen_protobuf_schema.py --api DIR --apimachinery DIR [--out PATH]`, where each DIR is a
checkout of github.com/kubernetes/api and github.com/kubernetes/apimachinery: a work tree, or a bare git
directory (its HEAD is read with `git show`).

Why two sources: a Kubernetes protobuf body only carries field numbers, and turning it back into the JSON the
client meant needs Go facts the .proto files do not keep.
- `generated.proto` gives, per message, each field's number, proto type (scalar, message, `map<,>`) and whether
  it repeats.
- The Go structs (`types.go` and friends) give, per `protobuf:"...,N,..."` tag, the JSON name, `omitempty` /
  `omitzero`, whether the Go field is a pointer (present-and-zero is meaningful) and whether it is an embedded
  struct Go's JSON encoder inlines (`json:""` / `json:",inline"`).

It starts from every kind the resource table (`kybernetes.api.resources`) serves plus the kinds sent to
subresources and review endpoints, follows message-typed fields, and keeps only the reachable messages. The
apimachinery types with their own wire form (Time, MicroTime, Duration, FieldsV1, Quantity, IntOrString,
RawExtension) are named but not described: the decoder knows them.

Output, deterministic and compact:
  {"source": {"api": "<commit>", "apimachinery": "<commit>"},
   "kinds": {"apps/v1 Deployment": "k8s.io.api.apps.v1.Deployment", "* DeleteOptions": ...},
   "wrappers": {"k8s.io.api.authorization.v1.ExtraValue": "string"},
   "messages": {"k8s.io.api.apps.v1.DeploymentSpec": [[1, "replicas", "int32", "po"], ...]}}
A field is [number, json name, type, flags] in Go declaration order; type is a proto scalar (string, int32,
int64, bool, bytes, double, float) or a full message name; for maps, the value type (keys are strings).
Flags: r repeated, m map, p Go pointer, o omitempty, z omitzero, i inlined into the parent object.
"wrappers" are Go named slices (`type ExtraValue []string`): protobuf wraps the slice as repeated field 1 of
a message, JSON writes the bare array; the value is the item type.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "src" / "kybernetes" / "api" / "data" / "protobuf.json"

SCALARS = frozenset({"string", "int32", "int64", "uint32", "uint64", "bool", "bytes", "double", "float"})
META = "k8s.io.apimachinery.pkg.apis.meta.v1"
# Messages whose JSON form is not their fields: the decoder handles them by name.
SPECIAL = frozenset(
    {
        f"{META}.Time",
        f"{META}.MicroTime",
        f"{META}.Duration",
        f"{META}.FieldsV1",
        "k8s.io.apimachinery.pkg.runtime.RawExtension",
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
        "k8s.io.apimachinery.pkg.api.resource.Quantity",
    }
)
APIMACHINERY_DIRS = ("pkg/apis/meta/v1", "pkg/runtime", "pkg/util/intstr", "pkg/api/resource")

# Request bodies besides the served kinds (the reviews are served kinds): subresources and DeleteOptions.
EXTRA_KINDS = (
    ("autoscaling", "v1", "Scale"),
    ("", "v1", "Binding"),
    ("policy", "v1", "Eviction"),
    ("authentication.k8s.io", "v1", "TokenRequest"),
)
# Kinds every group version speaks, looked up under "*".
ANY_GROUP_KINDS = ("DeleteOptions",)


class Source:
    """Files of one checkout: a work tree or a bare git directory (read at HEAD)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bare = not (path / ".git").exists() and (path / "HEAD").exists()

    def files(self, directory: str) -> list[str]:
        if self.bare:
            out = self._git("ls-tree", "--name-only", f"HEAD:{directory}")
            return [f"{directory}/{name}" for name in out.splitlines()]
        return [f"{directory}/{p.name}" for p in sorted((self.path / directory).iterdir()) if p.is_file()]

    def protos(self) -> list[str]:
        """Directories holding a generated.proto, relative to the checkout."""
        if self.bare:
            paths = self._git("ls-tree", "-r", "--name-only", "HEAD").splitlines()
        else:
            paths = [str(p.relative_to(self.path)) for p in self.path.rglob("generated.proto")]
        return sorted(p.rsplit("/", 1)[0] for p in paths if p.endswith("/generated.proto"))

    def read(self, path: str) -> str:
        if self.bare:
            return self._git("show", f"HEAD:{path}")
        return (self.path / path).read_text()

    def commit(self) -> str:
        """The commit read, for the record; "" for a work tree outside git."""
        git_dir = self.path if self.bare else self.path / ".git"
        if not git_dir.exists():
            return ""
        return subprocess.run(
            ["git", f"--git-dir={git_dir}", "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", f"--git-dir={self.path}", *args], check=True, capture_output=True, text=True
        ).stdout


@dataclass
class ProtoField:
    number: int
    type: str  # scalar or full message name; for maps the value type
    repeated: bool
    is_map: bool


@dataclass
class GoField:
    json: str
    pointer: bool
    omitempty: bool
    omitzero: bool
    inline: bool


_PROTO_FIELD = re.compile(
    r"^\s*(optional|repeated|required)?\s*(map<\s*(\S+?)\s*,\s*(\S+?)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;"
)


def parse_proto(text: str) -> dict[str, dict[int, ProtoField]]:
    """`{full message name: {number: field}}` of one go-to-protobuf file (flat messages, no nesting)."""
    package = re.search(r"^package\s+([\w.]+)\s*;", text, re.M)
    assert package, "no package line"
    pkg = package.group(1)

    def resolve(name: str) -> str:
        if name in SCALARS:
            return name
        return name[1:] if name.startswith(".") else f"{pkg}.{name}"

    messages: dict[str, dict[int, ProtoField]] = {}
    current: dict[int, ProtoField] | None = None
    for line in text.splitlines():
        stripped = line.split("//", 1)[0]
        start = re.match(r"^message\s+(\w+)\s*\{", stripped)
        if start:
            current = messages.setdefault(f"{pkg}.{start.group(1)}", {})
            continue
        if stripped.startswith("}"):
            current = None
            continue
        match = _PROTO_FIELD.match(stripped)
        if current is None or not match:
            continue
        label, type_, key, value, _name, number = match.groups()
        if key is not None:
            assert key == "string", f"map key {key} in {line!r}"
            current[int(number)] = ProtoField(int(number), resolve(value), repeated=False, is_map=True)
        else:
            current[int(number)] = ProtoField(int(number), resolve(type_), label == "repeated", is_map=False)
    return messages


_STRUCT_START = re.compile(r"^type\s+(\w+)\s+struct\s*\{\s*$")
_SLICE_TYPE = re.compile(r"^type\s+(\w+)\s+\[\]\w+\s*$", re.M)
_NAMED_FIELD = re.compile(r"^\s*(\w+)\s+(\S+)\s+`([^`]*)`")
_EMBEDDED_FIELD = re.compile(r"^\s*(\S+)\s+`([^`]*)`")
_TAG = re.compile(r'(\w+):"([^"]*)"')


def parse_go_structs(text: str) -> dict[str, list[tuple[int, GoField]]]:
    """`{struct name: [(protobuf number, field), ...]}` in declaration order, for fields with a protobuf tag."""
    structs: dict[str, list[tuple[int, GoField]]] = {}
    current: list[tuple[int, GoField]] | None = None
    for line in text.splitlines():
        start = _STRUCT_START.match(line)
        if start:
            current = structs.setdefault(start.group(1), [])
            continue
        if current is None:
            continue
        if line.startswith("}"):
            current = None
            continue
        if line.strip().startswith("//"):
            continue
        named = _NAMED_FIELD.match(line)
        if named:
            go_name, go_type, tag = named.groups()
            embedded = False
        else:
            embedded_match = _EMBEDDED_FIELD.match(line)
            if not embedded_match:
                continue
            go_type, tag = embedded_match.groups()
            go_name = go_type.lstrip("*").rsplit(".", 1)[-1]
            embedded = True
        tags = dict(_TAG.findall(tag))
        if "protobuf" not in tags or tags["protobuf"] == "-":
            continue
        number = int(tags["protobuf"].split(",")[1])
        json_name, *options = tags.get("json", "").split(",")
        inline = embedded and json_name == ""
        if json_name == "-":
            continue
        current.append(
            (
                number,
                GoField(
                    json=json_name or go_name,
                    pointer=go_type.startswith("*"),
                    omitempty="omitempty" in options,
                    omitzero="omitzero" in options,
                    inline=inline,
                ),
            )
        )
    return structs


@dataclass
class Package:
    proto_package: str
    group: str | None  # None for apimachinery packages (no served kinds of their own)
    version: str
    messages: dict[str, dict[int, ProtoField]]
    structs: dict[str, list[tuple[int, GoField]]]
    slices: set[str]  # Go named slice types (`type ExtraValue []string`): proto wraps them in `items`


def load_package(source: Source, directory: str, *, api: bool) -> Package | None:
    files = source.files(directory)
    proto_path = f"{directory}/generated.proto"
    if proto_path not in files:
        return None
    proto_text = source.read(proto_path)
    messages = parse_proto(proto_text)
    package = re.search(r"^package\s+([\w.]+)\s*;", proto_text, re.M)
    assert package
    structs: dict[str, list[tuple[int, GoField]]] = {}
    slices: set[str] = set()
    for path in files:
        name = path.rsplit("/", 1)[-1]
        if not name.endswith(".go") or name.endswith("_test.go") or name.startswith(("zz_", "generated.")):
            continue
        text = source.read(path)
        structs.update(parse_go_structs(text))
        slices.update(_SLICE_TYPE.findall(text))
    group: str | None = None
    if api:
        register = source.read(f"{directory}/register.go") if f"{directory}/register.go" in files else ""
        found = re.search(r'^const GroupName = "([^"]*)"', register, re.M)
        if found is None:
            return None
        group = found.group(1)
    return Package(package.group(1), group, directory.rsplit("/", 1)[-1], messages, structs, slices)


def root_kinds() -> list[tuple[str, str, str]]:
    sys.path.insert(0, str(ROOT / "src"))
    from kybernetes.api.resources import RESOURCES

    kinds = [(r.group, r.version, r.kind) for r in RESOURCES]
    return list(dict.fromkeys([*kinds, *EXTRA_KINDS]))


def build(api: Source, apimachinery: Source) -> dict[str, object]:
    packages: list[Package] = []
    for directory in api.protos():
        # Only group/version packages (`apps/v1`); not vendored or test trees.
        if directory.count("/") == 1:
            loaded = load_package(api, directory, api=True)
            if loaded is not None:
                packages.append(loaded)
    for directory in APIMACHINERY_DIRS:
        loaded = load_package(apimachinery, directory, api=False)
        assert loaded is not None, directory
        packages.append(loaded)

    by_proto: dict[str, dict[int, ProtoField]] = {}
    go_fields: dict[str, list[tuple[int, GoField]]] = {}
    slices: set[str] = set()
    by_gvk: dict[tuple[str, str, str], str] = {}
    for pkg in packages:
        by_proto.update(pkg.messages)
        for name, struct_fields in pkg.structs.items():
            go_fields[f"{pkg.proto_package}.{name}"] = struct_fields
        slices.update(f"{pkg.proto_package}.{name}" for name in pkg.slices)
        if pkg.group is not None:
            for full in pkg.messages:
                by_gvk[(pkg.group, pkg.version, full.rsplit(".", 1)[-1])] = full

    kinds: dict[str, str] = {}
    for group, version, kind in root_kinds():
        found = by_gvk.get((group, version, kind))
        if found is None:
            raise SystemExit(f"no protobuf message for {group}/{version} {kind}")
        kinds[f"{group}/{version} {kind}" if group else f"{version} {kind}"] = found
    for kind in ANY_GROUP_KINDS:
        kinds[f"* {kind}"] = f"{META}.{kind}"

    out: dict[str, list[list[object]]] = {}
    wrappers: dict[str, str] = {}
    todo = sorted(set(kinds.values()))
    while todo:
        name = todo.pop()
        if name in out or name in wrappers or name in SPECIAL:
            continue
        proto = by_proto.get(name)
        if name in slices and proto is not None and list(proto) == [1] and proto[1].repeated:
            # JSON writes the slice itself; protobuf wraps it as field 1 (`items`) of a message.
            wrappers[name] = proto[1].type
            if proto[1].type not in SCALARS:
                todo.append(proto[1].type)
            continue
        go = go_fields.get(name)
        if proto is None or go is None:
            raise SystemExit(f"message {name}: proto={proto is not None} go={go is not None}")
        fields: list[list[object]] = []
        for number, gf in go:
            pf = proto.get(number)
            if pf is None:
                raise SystemExit(f"{name}: Go field {gf.json} (#{number}) is not in generated.proto")
            flags = "".join(
                flag
                for flag, on in (
                    ("r", pf.repeated),
                    ("m", pf.is_map),
                    ("p", gf.pointer),
                    ("o", gf.omitempty),
                    ("z", gf.omitzero),
                    ("i", gf.inline),
                )
                if on
            )
            fields.append([number, gf.json, pf.type, flags])
            if pf.type not in SCALARS:
                todo.append(pf.type)
        missing = set(proto) - {n for n, _ in go}
        if missing:
            raise SystemExit(f"{name}: proto fields {sorted(missing)} have no Go field")
        out[name] = fields
    return {
        "source": {"api": api.commit(), "apimachinery": apimachinery.commit()},
        "kinds": dict(sorted(kinds.items())),
        "wrappers": dict(sorted(wrappers.items())),
        "messages": dict(sorted(out.items())),
    }


def write(data: dict[str, object], path: Path) -> None:
    # One message per line: small, and diffs stay readable when Kubernetes adds a field.
    lines = [
        "{",
        f'"source": {json.dumps(data["source"], separators=(",", ":"))},',
        f'"kinds": {json.dumps(data["kinds"], separators=(",", ":"))},',
        f'"wrappers": {json.dumps(data["wrappers"], separators=(",", ":"))},',
        '"messages": {',
    ]
    messages = data["messages"]
    assert isinstance(messages, dict)
    items = list(messages.items())
    for i, (name, fields) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"{json.dumps(name)}: {json.dumps(fields, separators=(',', ':'))}{comma}")
    lines += ["}", "}", ""]
    path.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", type=Path, required=True, help="checkout of github.com/kubernetes/api")
    parser.add_argument("--apimachinery", type=Path, required=True, help="checkout of kubernetes/apimachinery")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    data = build(Source(args.api), Source(args.apimachinery))
    write(data, args.out)
    messages = data["messages"]
    assert isinstance(messages, dict)
    print(f"wrote {args.out}: {len(data['kinds'])} kinds, {len(messages)} messages")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
