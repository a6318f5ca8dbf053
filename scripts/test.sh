#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs lint, types, layer contracts and pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh --test
export PATH="$here/.tools/bin:$PATH"
.venv/bin/ruff check src tests bench scripts examples
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
