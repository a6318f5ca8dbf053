"""Merging the cluster's admin credentials into the user's kubeconfig (`kyb up`) and taking them out again
(`kyb down`).

The server writes a single-context admin kubeconfig into its data dir. `merge_kubeconfig` copies its
cluster, user and context into the user's file under one name (cluster and context `NAME`, user
`NAME-admin`), replacing entries of those names and keeping every other one, and makes the context current,
as `kubectl config` edits do. `unmerge_kubeconfig` removes those three entries (and the current-context if it
was ours), and the file when nothing else is left in it. Files are written 0600 through a temporary file and a rename, so kubectl never reads half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KubeconfigError", "merge_kubeconfig", "unmerge_kubeconfig"]

SECTIONS = ("clusters", "users", "contexts")


class KubeconfigError(Exception):
    pass


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise KubeconfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise KubeconfigError(f"{path} is not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict) or any(not isinstance(doc.get(s) or [], list) for s in SECTIONS):
        raise KubeconfigError(f"{path} is not a kubeconfig (expected clusters, users and contexts lists)")
    return doc


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.kyb-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(doc, f, default_flow_style=False, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _put(entries: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace the entry of the same name in place, or append it."""
    out = [e for e in entries if isinstance(e, dict)]
    for i, e in enumerate(out):
        if e.get("name") == entry["name"]:
            out[i] = entry
            return out
    return [*out, entry]


def merge_kubeconfig(*, path: Path, source: Path, name: str = "kybernetes") -> None:
    """Merge `source`'s current cluster/user/context into `path` under `name`; make it the current context."""
    src = _load(source)
    try:
        ctx_name = src.get("current-context") or src["contexts"][0]["name"]
        ctx = next(c["context"] for c in src["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in src["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in src["users"] if u["name"] == ctx["user"])
    except (KeyError, IndexError, StopIteration, TypeError):
        raise KubeconfigError(f"{source} has no complete context to merge") from None
    doc = _load(path)
    doc.setdefault("apiVersion", "v1")
    doc.setdefault("kind", "Config")
    doc.setdefault("preferences", {})
    user_name = f"{name}-admin"
    context = {"cluster": name, "user": user_name}
    if ctx.get("namespace"):
        context["namespace"] = ctx["namespace"]
    doc["clusters"] = _put(doc.get("clusters") or [], {"name": name, "cluster": cluster})
    doc["users"] = _put(doc.get("users") or [], {"name": user_name, "user": user})
    doc["contexts"] = _put(doc.get("contexts") or [], {"name": name, "context": context})
    doc["current-context"] = name
    _write(path, doc)


def unmerge_kubeconfig(*, path: Path, name: str = "kybernetes") -> bool:
    """Remove what `merge_kubeconfig` added; returns whether the file changed."""
    doc = _load(path)
    if not doc:
        return False
    wanted = {"clusters": name, "users": f"{name}-admin", "contexts": name}
    changed = False
    for section, entry_name in wanted.items():
        entries = doc.get(section) or []
        kept = [e for e in entries if not (isinstance(e, dict) and e.get("name") == entry_name)]
        changed |= len(kept) != len(entries)
        doc[section] = kept
    if doc.get("current-context") == name:
        doc["current-context"] = ""
        changed = True
    if changed and not any(doc.get(s) for s in SECTIONS):
        path.unlink()  # only ours was in it (kyb up created it)
    elif changed:
        _write(path, doc)
    return changed
