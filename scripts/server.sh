#!/usr/bin/env bash
# Installs what is needed and starts the API server on the embedded SQLite store in the foreground.
# The admin kubeconfig is written to $DATA_DIR/admin.kubeconfig.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
exec .venv/bin/kyb server --data-dir "${DATA_DIR:-/var/lib/kybernetes}" --listen "${LISTEN:-127.0.0.1:6443}" "$@"
