"""Where the Kubernetes OpenAPI reference document is: `../shared/reference/` beside the checkout (as CI
lays it out), else the workplace's copy. Tests that compare against it skip when neither exists."""

from __future__ import annotations

from pathlib import Path

_NAME = "kubernetes-openapi-v2.json"
_ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = (_ROOT.parent / "shared" / "reference" / _NAME, Path("/work/shared/reference") / _NAME)


def reference_path() -> Path | None:
    for candidate in CANDIDATES:
        if candidate.exists():
            return candidate
    return None
