"""Reading -f arguments: YAML streams, JSON streams, Lists, directories, file:// URLs, stdin."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kybernetes.cli.context import CliError
from kybernetes.cli.manifests import parse_documents, read_manifests

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}


def test_multi_document_yaml_skips_empty_documents() -> None:
    text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Secret\n"
    assert [d["kind"] for d in parse_documents(text, source="x")] == ["ConfigMap", "Secret"]


def test_json_stream_and_lists_expand() -> None:
    listed = {"apiVersion": "v1", "kind": "List", "items": [CM, {**CM, "metadata": {"name": "b"}}]}
    text = json.dumps(CM) + "\n" + json.dumps(listed)
    assert [d["metadata"]["name"] for d in parse_documents(text, source="x")] == ["a", "a", "b"]


def test_missing_kind_is_an_error() -> None:
    with pytest.raises(CliError, match="kind not set"):
        parse_documents("apiVersion: v1\nmetadata: {name: a}\n", source="f.yaml")


def test_directories_urls_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    (tmp_path / "a.json").write_text(json.dumps(CM))
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    names = [m.obj["metadata"]["name"] for m in read_manifests([str(tmp_path)])]
    assert names == ["a", "b"]
    assert [m.obj["metadata"]["name"] for m in read_manifests([str(tmp_path)], recursive=True)] == ["a", "b", "c"]
    url = f"file://{tmp_path / 'b.yaml'}"
    assert [m.source for m in read_manifests([url])] == [str(tmp_path / "b.yaml")]
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(CM)))
    assert [m.source for m in read_manifests(["-"])] == ["STDIN"]
    with pytest.raises(CliError, match="does not exist"):
        read_manifests([str(tmp_path / "missing.yaml")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CliError, match="no objects passed to create"):
        read_manifests([str(tmp_path / "empty")], verb="create")
