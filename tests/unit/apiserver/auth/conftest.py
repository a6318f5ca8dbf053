"""Shared fixtures: one generated PKI per test module (generation is cheap, but there is no need to repeat it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.apiserver.auth.pki import Pki, ensure_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return ensure_pki(pki_dir=tmp_path_factory.mktemp("data") / "pki", sans_dns=[], sans_ip=[])


@pytest.fixture
def fresh_pki_dir(tmp_path: Path) -> Path:
    return tmp_path / "pki"
