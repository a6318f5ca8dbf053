#!/bin/bash
# Runs the README's "A worked example" end to end on this machine and prints each command with its output,
# which is how the README's transcript was made:
#
#     sudo examples/walkthrough.sh            # from the checkout; kyb and kubectl on PATH (or .venv/bin)
#
# It uses kyb up's defaults (/var/lib/kybernetes, ~/.kube/config, API on :6443, DNS on :53, NodePort 30080), so
# nothing else may be using them; it ends with `kyb down`, which removes the cluster again.
# tests/e2e/test_e2e_example.py runs the same steps with unique names and asserts on them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

show() {  # print the command as typed, then run it
    printf '\n$ %s\n' "$*"
    eval "$@" 2>&1
}
until_ok() {  # run quietly until it succeeds (at most $1 seconds)
    local deadline=$((SECONDS + $1)); shift
    until eval "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { echo "gave up waiting for: $*" >&2; return 1; }
        sleep 0.5
    done
}

log=$(mktemp)
kyb up >"$log" 2>&1 &
up_pid=$!
trap 'kill "$up_pid" 2>/dev/null || true; kyb down >/dev/null 2>&1 || true; rm -f "$log"' EXIT
until_ok 60 grep -q "'Kybernetes is up'" "$log"
printf '$ kyb up\n'
cat "$log"

show examples/build-images.py
until_ok 30 kubectl get serviceaccount default
show kubectl apply -f examples/guestbook/
show kubectl rollout status deployment/backend
show kubectl rollout status deployment/frontend
show kubectl get pods,services -o wide

show "NODE_IP=\$(kubectl get nodes -o jsonpath='{.items[0].status.addresses[?(@.type==\"InternalIP\")].address}')"
until_ok 20 curl -sf "http://$NODE_IP:30080/"  # once the proxy has both Services' endpoints
show curl -s "http://\$NODE_IP:30080/"
show "curl -s -d 'Hello from the README' http://\$NODE_IP:30080/entries"

printf '\n$ kubectl port-forward svc/frontend 8080:80 &\n'
kubectl port-forward svc/frontend 8080:80 >"$log.pf" 2>&1 &
pf_pid=$!
until_ok 10 grep -q Forwarding "$log.pf"
cat "$log.pf"
show curl -s localhost:8080/
kill "$pf_pid"; wait "$pf_pid" 2>/dev/null || true; rm -f "$log.pf"

show kubectl scale deployment frontend --replicas=3
show kubectl rollout status deployment/frontend
# quietly: until the Service lists the three ready pods (the proxy follows within a moment)
until_ok 20 "[ \$(kubectl get endpointslices -l kubernetes.io/service-name=frontend -o jsonpath='{.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}' | wc -w) = 3 ]"
sleep 1
show "for i in \$(seq 9); do curl -s http://\$NODE_IP:30080/ | grep -o 'frontend v[0-9] on [a-z0-9-]*'; done"

show kubectl set image deployment/frontend frontend=example.local/guestbook-frontend:v2
show kubectl rollout status deployment/frontend
show "for i in \$(seq 3); do curl -s http://\$NODE_IP:30080/ | grep -o 'frontend v[0-9] on [a-z0-9-]*'; done"
show curl -s "http://\$NODE_IP:30080/entries"

show kubectl rollout undo deployment/frontend
show kubectl rollout status deployment/frontend
show kubectl rollout history deployment/frontend
show "for i in \$(seq 3); do curl -s http://\$NODE_IP:30080/ | grep -o 'frontend v[0-9] on [a-z0-9-]*'; done"

show kubectl get pods
until_ok 60 "kyb top pods | grep -q backend"
show kyb top pods

show kyb down
wait "$up_pid" || true  # kyb down stops the kyb up in the first terminal too
trap 'rm -f "$log"' EXIT
