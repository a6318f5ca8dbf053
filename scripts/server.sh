#!/usr/bin/env bash
# Installs what is needed and starts a whole cluster on this machine in the foreground (`kyb up`): the
# control plane on the embedded SQLite store (API server, scheduler, controller-manager, DNS) and this
# machine as a node (kubelet with runc, Service proxy). Needs root. The admin kubeconfig is merged into
# ~/.kube/config (context "kybernetes") and kept in $DATA_DIR/server/admin.kubeconfig. Ctrl-C stops it;
# running it again brings the same cluster back; `.venv/bin/kyb down` removes it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
exec .venv/bin/kyb up --data-dir "${DATA_DIR:-/var/lib/kybernetes}" --listen "${LISTEN:-0.0.0.0:6443}" "$@"
