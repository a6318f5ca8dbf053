"""`kyb up`'s kubeconfig merge: the user's other clusters stay, ours is added or replaced and made current;
`kyb down` takes exactly ours out again."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from kybernetes.cmd.up_kubeconfig import KubeconfigError, merge_kubeconfig, unmerge_kubeconfig


def _admin(path: Path, *, server: str = "https://192.0.2.2:6443", cert: str = "Q0VSVA==") -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kybernetes",
        "clusters": [{"name": "kybernetes", "cluster": {"server": server, "certificate-authority-data": "Q0E="}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": cert, "client-key-data": "S0VZ"}}],
        "contexts": [{"name": "kybernetes", "context": {"cluster": "kybernetes", "user": "admin"}}],
    }))
    return path


def _user_config(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "work",
        "clusters": [{"name": "work", "cluster": {"server": "https://work.example:6443"}}],
        "users": [{"name": "me", "user": {"token": "t0k3n"}}],
        "contexts": [{"name": "work", "context": {"cluster": "work", "user": "me", "namespace": "dev"}}],
        "preferences": {"colors": True},
    }))
    return path


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def _names(doc: dict[str, Any], section: str) -> list[str]:
    return [e["name"] for e in doc[section]]


def test_merge_into_a_missing_file_creates_it_private(tmp_path: Path) -> None:
    target = tmp_path / "home" / ".kube" / "config"
    merge_kubeconfig(path=target, source=_admin(tmp_path / "admin.kubeconfig"))
    doc = _load(target)
    assert doc["current-context"] == "kybernetes"
    assert _names(doc, "clusters") == ["kybernetes"]
    assert _names(doc, "users") == ["kybernetes-admin"]
    assert doc["contexts"] == [{"name": "kybernetes", "context": {"cluster": "kybernetes", "user": "kybernetes-admin"}}]
    assert doc["clusters"][0]["cluster"]["server"] == "https://192.0.2.2:6443"
    assert doc["users"][0]["user"]["client-key-data"] == "S0VZ"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_merge_keeps_the_users_other_contexts(tmp_path: Path) -> None:
    target = _user_config(tmp_path / "config")
    target.chmod(0o644)
    merge_kubeconfig(path=target, source=_admin(tmp_path / "admin.kubeconfig"))
    doc = _load(target)
    assert _names(doc, "contexts") == ["work", "kybernetes"]
    assert _names(doc, "clusters") == ["work", "kybernetes"]
    assert _names(doc, "users") == ["me", "kybernetes-admin"]
    assert doc["contexts"][0]["context"] == {"cluster": "work", "user": "me", "namespace": "dev"}
    assert doc["users"][0]["user"] == {"token": "t0k3n"}
    assert doc["preferences"] == {"colors": True}
    assert doc["current-context"] == "kybernetes"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_merging_again_replaces_ours_in_place(tmp_path: Path) -> None:
    target = _user_config(tmp_path / "config")
    merge_kubeconfig(path=target, source=_admin(tmp_path / "a1"))
    merge_kubeconfig(path=target, source=_admin(tmp_path / "a2", server="https://198.51.100.7:7443", cert="TkVX"))
    doc = _load(target)
    assert _names(doc, "clusters") == ["work", "kybernetes"]
    assert doc["clusters"][1]["cluster"]["server"] == "https://198.51.100.7:7443"
    assert doc["users"][1]["user"]["client-certificate-data"] == "TkVX"


def test_merge_under_another_name(tmp_path: Path) -> None:
    target = tmp_path / "config"
    merge_kubeconfig(path=target, source=_admin(tmp_path / "admin"), name="lab")
    doc = _load(target)
    assert (doc["current-context"], _names(doc, "users")) == ("lab", ["lab-admin"])


@pytest.mark.parametrize("text", ["clusters: [unclosed", "just a string", "clusters: {a: 1}\n"])
def test_a_broken_kubeconfig_is_refused_and_left_alone(tmp_path: Path, text: str) -> None:
    target = tmp_path / "config"
    target.write_text(text)
    with pytest.raises(KubeconfigError, match=str(target)):
        merge_kubeconfig(path=target, source=_admin(tmp_path / "admin"))
    assert target.read_text() == text


def test_unmerge_takes_out_only_ours(tmp_path: Path) -> None:
    target = _user_config(tmp_path / "config")
    merge_kubeconfig(path=target, source=_admin(tmp_path / "admin"))
    assert unmerge_kubeconfig(path=target) is True
    doc = _load(target)
    assert (_names(doc, "clusters"), _names(doc, "users"), _names(doc, "contexts")) == (["work"], ["me"], ["work"])
    assert doc["current-context"] == ""
    assert unmerge_kubeconfig(path=target) is False  # idempotent


def test_unmerge_keeps_another_current_context(tmp_path: Path) -> None:
    target = _user_config(tmp_path / "config")
    merge_kubeconfig(path=target, source=_admin(tmp_path / "admin"))
    doc = _load(target)
    doc["current-context"] = "work"
    target.write_text(yaml.safe_dump(doc))
    unmerge_kubeconfig(path=target)
    assert _load(target)["current-context"] == "work"


def test_unmerge_removes_a_file_only_we_wrote_and_tolerates_none(tmp_path: Path) -> None:
    target = tmp_path / "config"
    merge_kubeconfig(path=target, source=_admin(tmp_path / "admin"))
    assert unmerge_kubeconfig(path=target) is True
    assert not target.exists()
    assert unmerge_kubeconfig(path=target) is False
