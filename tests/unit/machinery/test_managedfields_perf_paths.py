"""The fast paths of managedFields bookkeeping give exactly what the plain algorithm gives.

`reference_update` is the straightforward algorithm `update` started from: every entry decoded without the
cache, the whole object compared without shortcuts, every entry re-encoded from its field set. Random
sequences of writes (creates, PUTs with and without the client's managedFields, `/status` writes, several
managers, type-confusable values such as `true`/`1`/`1.0`) must give byte-identical objects.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from kybernetes.api.schema import definitions as served_definitions
from kybernetes.machinery.managedfields import FieldSet, OpenAPIFieldSchema, update
from kybernetes.machinery.managedfields.entries import (
    Entry,
    EntryKey,
    cap_update_entries,
    decode_entries,
    entry_key,
    fields_from_v1,
    is_reset_request,
)
from kybernetes.machinery.managedfields.operations import _UNTRACKED
from kybernetes.machinery.managedfields.walk import compare, unchanged

T = [f"2026-01-01T00:00:{i:02d}Z" for i in range(60)]


@pytest.fixture(scope="module")
def schemas() -> dict[str, OpenAPIFieldSchema]:
    defs = served_definitions()
    return {"v1": OpenAPIFieldSchema.for_definition(defs, "io.k8s.api.core.v1.Pod"),
            "apps/v1": OpenAPIFieldSchema.for_definition(defs, "io.k8s.api.apps.v1.Deployment")}


# --- the oracle -------------------------------------------------------------------------------------------


def _tracked(fields: FieldSet, prefixes: list[tuple[str, ...]]) -> FieldSet:
    return FieldSet(p for p in fields.paths
                    if p not in _UNTRACKED and not any(p[: len(r)] == r for r in prefixes))


def _decode(raw: Any) -> dict[EntryKey, Entry]:
    return decode_entries(raw, cached=False)


def reference_update(*, old: dict[str, Any] | None, new: dict[str, Any], manager: str, api_version: str,
                     schema: Any, now: str, subresource: str = "") -> dict[str, Any]:
    result = copy.deepcopy(new)
    meta = result["metadata"]
    sent = meta.get("managedFields")
    stored = ((old or {}).get("metadata") or {}).get("managedFields")
    entries: dict[EntryKey, Entry] | None = None
    if not subresource:
        if is_reset_request(sent):
            entries = {}
        else:
            try:
                entries = _decode(sent) or None
            except ValueError:
                entries = None
    if entries is None:
        try:
            entries = _decode(stored)
        except ValueError:
            entries = {}
    meta.pop("managedFields", None)
    before: dict[str, Any] = {}
    if old is not None:
        before = dict(old)
        before["metadata"] = {k: v for k, v in old["metadata"].items() if k != "managedFields"}
    prefixes: list[tuple[str, ...]] = [("f:status",)] if not subresource else [("f:spec",)]
    diff = compare(old=before, new=result, schema=schema, shortcut=False)
    changed = _tracked(FieldSet(diff.added | diff.modified), prefixes)
    removed = _tracked(FieldSet(diff.removed), prefixes)
    out: dict[EntryKey, Entry] = {}
    for k, e in entries.items():
        fields = FieldSet(e.fields.paths - changed.paths - removed.paths)
        out[k] = e if fields == e.fields else Entry(e.manager, e.operation, e.api_version, e.time, fields,
                                                      e.subresource)
    if changed:
        key = entry_key(manager=manager, operation="Update", api_version=api_version, subresource=subresource)
        previous = out.get(key)
        fields = FieldSet(changed.paths | previous.fields.paths) if previous else changed
        out[key] = Entry(manager, "Update", api_version, now, fields, subresource)
    kept = cap_update_entries({k: e for k, e in out.items() if e.fields})
    ordered = sorted(kept.values(), key=lambda e: (e.operation, e.time or "", e.manager, e.api_version,
                                                   e.subresource))
    encoded = []
    for e in ordered:
        item: dict[str, Any] = {"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version}
        if e.time is not None:
            item["time"] = e.time
        item["fieldsType"] = "FieldsV1"
        item["fieldsV1"] = e.fields.to_fields_v1()
        if e.subresource:
            item["subresource"] = e.subresource
        encoded.append(item)
    if encoded:
        meta["managedFields"] = encoded
    return result


# --- objects ----------------------------------------------------------------------------------------------


def pod(rng: random.Random) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": f"img:{rng.randint(1, 3)}",
                   "ports": [{"containerPort": 80 + i, "protocol": "TCP"}],
                   "env": [{"name": "A", "value": "1"}],
                   "resources": {"requests": {"cpu": "10m"}}} for i in range(rng.randint(1, 3))]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "uid": "u", "resourceVersion": "1",
                         "labels": {"app": "web"}, "annotations": {"a": "b"}},
            "spec": {"containers": containers, "restartPolicy": "Always", "enableServiceLinks": True,
                     "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 300}]},
            "status": {"phase": "Pending"}}


def deployment(rng: random.Random) -> dict[str, Any]:
    p = pod(rng)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"replicas": rng.randint(1, 3), "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": p["spec"]}}}


CONFUSABLE: list[Any] = [True, 1, 1.0, False, 0, None, "1", [], {}]


def mutate(rng: random.Random, obj: dict[str, Any]) -> None:
    meta, spec = obj["metadata"], obj["spec"]
    pod_spec = spec["template"]["spec"] if "template" in spec else spec
    for _ in range(rng.randint(1, 3)):
        choice = rng.randrange(10)
        if choice == 0:
            meta.setdefault("labels", {})[rng.choice("xyz")] = rng.choice("abc")
        elif choice == 1 and meta.get("labels"):
            meta["labels"].pop(rng.choice(sorted(meta["labels"])), None)
        elif choice == 2:
            rng.choice(pod_spec["containers"])["image"] = f"img:{rng.randint(1, 5)}"
        elif choice == 3:
            pod_spec["containers"].append({"name": f"n{rng.randint(0, 9)}", "image": "x"})
        elif choice == 4 and len(pod_spec["containers"]) > 1:
            pod_spec["containers"].pop(rng.randrange(len(pod_spec["containers"])))
        elif choice == 5:
            pod_spec["enableServiceLinks"] = rng.choice(CONFUSABLE)
        elif choice == 6:
            pod_spec["tolerations"][0]["tolerationSeconds"] = rng.choice(CONFUSABLE)
        elif choice == 7:
            obj["status"] = {"phase": rng.choice(["Pending", "Running"]), "ready": rng.choice(CONFUSABLE),
                             "conditions": [{"type": t, "status": rng.choice(["True", "False"])}
                                            for t in rng.sample(["Ready", "Initialized", "PodScheduled"], 2)]}
        elif choice == 8:
            meta.setdefault("annotations", {})["note"] = rng.choice(CONFUSABLE)
        else:
            spec["extra"] = {"k": rng.choice(CONFUSABLE)}


def as_bytes(obj: dict[str, Any]) -> str:
    return json.dumps(obj)  # keeps key order: equal strings mean the same bytes on the wire


# --- tests ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_random_write_sequences_match_the_reference(schemas: dict[str, Any], seed: int) -> None:
    rng = random.Random(seed)
    api_version = rng.choice(["v1", "apps/v1"])
    schema = schemas[api_version]
    first = pod(rng) if api_version == "v1" else deployment(rng)
    stored = reference_update(old=None, new=first, manager="creator", api_version=api_version, schema=schema,
                              now=T[0])
    fast = update(old=None, new=copy.deepcopy(first), manager="creator", api_version=api_version,
                  schema=schema, now=T[0], in_place=True)
    assert as_bytes(fast) == as_bytes(stored)
    for step in range(1, 25):
        new = copy.deepcopy(stored)
        mutate(rng, new)
        subresource = rng.choice(["", "", "status"])
        kind = rng.randrange(4)
        if kind == 0:
            new["metadata"].pop("managedFields", None)  # a client unaware of managed fields
        elif kind == 1 and new["metadata"].get("managedFields"):
            # A client that re-serialises entries with its own key order (still the same sets).
            new["metadata"]["managedFields"] = [
                {**e, "fieldsV1": _reordered(e["fieldsV1"])} for e in reversed(new["metadata"]["managedFields"])]
        elif kind == 2:
            new["metadata"]["managedFields"] = rng.choice([[{}], [], [{"operation": "Bogus"}],
                                                           [{"operation": "Update", "fieldsV1": {"f:x": 1}}]])
        manager = rng.choice(["kubectl", "kubelet", "controller", "creator"])
        now = T[step]
        expected = reference_update(old=stored, new=new, manager=manager, api_version=api_version,
                                    schema=schema, now=now, subresource=subresource)
        copied = update(old=stored, new=new, manager=manager, api_version=api_version, schema=schema,
                        now=now, subresource=subresource)
        in_place = update(old=stored, new=copy.deepcopy(new), manager=manager, api_version=api_version,
                          schema=schema, now=now, subresource=subresource, in_place=True)
        assert as_bytes(copied) == as_bytes(expected)
        assert as_bytes(in_place) == as_bytes(expected)
        stored = expected


def _reordered(trie: dict[str, Any]) -> dict[str, Any]:
    return {k: _reordered(v) for k, v in reversed(list(trie.items()))}


def test_status_write_through_deepcopied_object_matches(schemas: dict[str, Any]) -> None:
    # The shape of a kubelet status write: everything but status is a copy of the stored object.
    rng = random.Random(7)
    schema = schemas["v1"]
    stored = reference_update(old=None, new=pod(rng), manager="rs", api_version="v1", schema=schema, now=T[0])
    for i in range(1, 6):
        new = copy.deepcopy(stored)
        new["status"] = {"phase": "Running", "podIP": f"10.0.0.{i}", "conditions": [
            {"type": "Ready", "status": "True" if i % 2 else "False", "lastTransitionTime": T[i]}]}
        expected = reference_update(old=stored, new=new, manager="kubelet", api_version="v1", schema=schema,
                                    now=T[i], subresource="status")
        got = update(old=stored, new=new, manager="kubelet", api_version="v1", schema=schema, now=T[i],
                     subresource="status", in_place=True)
        assert as_bytes(got) == as_bytes(expected)
        stored = expected


def test_entries_never_share_fields_v1_dicts(schemas: dict[str, Any]) -> None:
    schema = schemas["v1"]
    rng = random.Random(3)
    a = update(old=None, new=pod(rng), manager="m", api_version="v1", schema=schema, now=T[0])
    b = update(old=None, new=pod(random.Random(3)), manager="m", api_version="v1", schema=schema, now=T[0])
    assert a["metadata"]["managedFields"] == b["metadata"]["managedFields"]
    assert a["metadata"]["managedFields"][0]["fieldsV1"] is not b["metadata"]["managedFields"][0]["fieldsV1"]
    a["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"] = {}  # mutating one result leaves the other
    assert b["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"] != {}


def test_unchanged_tells_json_types_apart() -> None:
    assert unchanged({"a": [1, {"b": "c"}]}, {"a": [1, {"b": "c"}]})
    assert not unchanged({"a": True}, {"a": 1})
    assert not unchanged({"a": 1}, {"a": 1.0})  # `same` equates these; unchanged just declines
    assert not unchanged({"a": 0}, {"a": False})
    assert not unchanged({"a": object()}, {"a": object()})


def test_compare_shortcut_gives_the_full_result(schemas: dict[str, Any]) -> None:
    rng = random.Random(11)
    schema = schemas["apps/v1"]
    for _ in range(50):
        old = deployment(rng)
        new = copy.deepcopy(old)
        mutate(rng, new)
        slow = compare(old=old, new=new, schema=schema, shortcut=False)
        fast = compare(old=old, new=new, schema=schema)
        assert (fast.added, fast.modified, fast.removed) == (slow.added, slow.modified, slow.removed)


def test_cached_decoding_is_the_plain_decoding() -> None:
    trie = {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {'k:{"name":"c0"}': {".": {}, "f:image": {}}}}}
    first = fields_from_v1(trie)
    assert first == FieldSet.from_fields_v1(trie)
    assert fields_from_v1(copy.deepcopy(trie)) is first
    with pytest.raises(ValueError):
        fields_from_v1({"f:a": 1})
    assert first.fresh_fields_v1() == first.to_fields_v1()
    assert json.dumps(first.fresh_fields_v1()) == json.dumps(first.to_fields_v1())

