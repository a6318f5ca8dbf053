"""Service-account tokens from the TokenRequest API, used by kubectl with --token: a valid token
authenticates, a garbage one gets kubectl's "You must be logged in" error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import Kubectl, configmap


def _service_account(k: Kubectl, name: str) -> None:
    k.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})


def _token_via_raw(k: Kubectl, namespace: str, sa: str, tmp_path: Path) -> str:
    request = tmp_path / "tokenrequest.json"
    request.write_text(json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                   "spec": {"expirationSeconds": 600}}))
    out = json.loads(k.ok("create", "--raw", f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token",
                          "-f", str(request)))
    assert out["kind"] == "TokenRequest" and out["apiVersion"] == "authentication.k8s.io/v1"
    assert out["status"]["expirationTimestamp"].endswith("Z")
    token: str = out["status"]["token"]
    assert token.count(".") == 2  # a JWT
    return token


def _as_token(k: Kubectl, token: str) -> Kubectl:
    """A runner that talks to the same server with only a bearer token (no kubeconfig credentials)."""

    class TokenKubectl(Kubectl):
        def argv(self, args: tuple[str, ...]) -> list[str]:
            base = super().argv(args)
            return [base[0], "--kubeconfig=/dev/null", f"--server={self.server.url}",
                    f"--certificate-authority={self.server.data_dir / 'pki' / 'ca.crt'}", f"--token={token}",
                    *base[1:]]

    return TokenKubectl(server=k.server, namespace=k.namespace)


@pytest.mark.both_stores
def test_token_request_authenticates(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    _service_account(k, "robot")
    token = _token_via_raw(k, namespace, "robot", tmp_path)
    k.create(configmap("visible"))
    as_robot = _as_token(k, token)
    # No authorizer restricts service accounts yet, so the request succeeds as the service account.
    assert as_robot.ok("get", "configmaps", "-o", "name") == "configmap/visible\n"


def test_garbage_token_is_unauthorized(k: Kubectl) -> None:
    as_nobody = _as_token(k, "not-a-token")
    assert as_nobody.fail("get", "pods") == "error: You must be logged in to the server (Unauthorized)\n"


def test_token_for_missing_service_account(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    request = tmp_path / "tr.json"
    request.write_text(json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}))
    err = k.fail("create", "--raw", f"/api/v1/namespaces/{namespace}/serviceaccounts/ghost/token",
                 "-f", str(request))
    assert 'serviceaccounts "ghost" not found' in err, err


def test_create_token_subcommand(k: Kubectl) -> None:
    _service_account(k, "robot")
    token = k.ok("create", "token", "robot", "--duration=10m").strip()
    assert token.count(".") == 2
    assert _as_token(k, token).ok("get", "pods") == ""


def test_auth_whoami_as_service_account(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    _service_account(k, "robot")
    token = _token_via_raw(k, namespace, "robot", tmp_path)
    out = _as_token(k, token).ok("auth", "whoami")
    assert f"system:serviceaccount:{namespace}:robot" in out
