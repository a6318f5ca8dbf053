"""Reading `-f` arguments into objects: files, directories, `-` (stdin) and URLs, as kubectl reads them.

`read_manifests(["app.yaml", "dir/", "-", "file:///tmp/x.yaml"], recursive=False)` returns `Manifest`s
(the object and where it came from) in order. A directory contributes its `.yaml`, `.yml` and `.json`
files sorted by name (with `recursive`, its subdirectories' too). A document may be multi-document YAML
(`---`), one JSON object, or a stream of JSON objects one after another; a `List` (or any `...List` kind with
`items`) contributes its items; empty documents are skipped. `file://` URLs name local files; `http(s)://`
URLs are fetched.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from kybernetes.cli.context import CliError

__all__ = ["EXTENSIONS", "Manifest", "parse_documents", "read_manifests"]

EXTENSIONS = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Manifest:
    source: str  # the file (or "STDIN", or the URL) as kubectl names it in messages
    obj: dict[str, Any]


def parse_documents(text: str, *, source: str) -> list[dict[str, Any]]:
    """The objects in one file's text (see the module docstring)."""
    stripped = text.lstrip()
    documents: list[Any]
    if stripped.startswith(("{", "[")):
        documents = _json_stream(stripped, source=source)
    else:
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            raise CliError(f'error parsing {source}: {e}') from None
    out: list[dict[str, Any]] = []
    for document in documents:
        out.extend(_flatten(document, source=source))
    return out


def _json_stream(text: str, *, source: str) -> list[Any]:
    decoder = json.JSONDecoder()
    documents, index = [], 0
    while index < len(text):
        try:
            document, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError as e:
            raise CliError(f"error parsing {source}: {e}") from None
        documents.append(document)
        index = end
        while index < len(text) and text[index].isspace():
            index += 1
    return documents


def _flatten(document: Any, *, source: str) -> list[dict[str, Any]]:
    if document is None:
        return []
    if isinstance(document, list):
        return [o for d in document for o in _flatten(d, source=source)]
    if not isinstance(document, dict):
        raise CliError(f"error validating data from {source}: not an object")
    kind = str(document.get("kind", ""))
    if kind.endswith("List") and isinstance(document.get("items"), list):
        return [o for item in document["items"] for o in _flatten(item, source=source)]
    if not document.get("apiVersion") or not kind:
        missing = "apiVersion" if not document.get("apiVersion") else "kind"
        raise CliError(f'error validating "{source}": error validating data: {missing} not set')
    return [document]


def _files(path: Path, *, recursive: bool) -> list[Path]:
    out: list[Path] = []
    for entry in sorted(path.iterdir()):
        if entry.is_dir():
            if recursive:
                out.extend(_files(entry, recursive=recursive))
        elif entry.suffix in EXTENSIONS:
            out.append(entry)
    return out


def _read_one(arg: str, *, recursive: bool) -> list[Manifest]:
    if arg == "-":
        return [Manifest("STDIN", o) for o in parse_documents(sys.stdin.read(), source="STDIN")]
    scheme = urlsplit(arg).scheme
    if scheme == "file":
        arg = unquote(urlsplit(arg).path)
    elif scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(arg, timeout=30) as response:
                text = response.read().decode()
        except OSError as e:
            raise CliError(f'unable to read URL "{arg}": {e}') from None
        return [Manifest(arg, o) for o in parse_documents(text, source=arg)]
    path = Path(arg)
    if path.is_dir():
        return [m for f in _files(path, recursive=recursive) for m in _read_one(str(f), recursive=recursive)]
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CliError(f'the path "{arg}" does not exist') from None
    except OSError as e:
        raise CliError(f'unable to read "{arg}": {e}') from None
    return [Manifest(arg, o) for o in parse_documents(text, source=arg)]


def read_manifests(args: list[str], *, recursive: bool = False, verb: str = "apply") -> list[Manifest]:
    """Every object named by `-f` arguments, in order; an argument that yields nothing is an error."""
    out: list[Manifest] = []
    for arg in args:
        out.extend(_read_one(arg, recursive=recursive))
    if not out:
        raise CliError(f"no objects passed to {verb}")
    return out
