"""Who is calling: the cluster's TLS material, kubeconfigs, and request authentication.

* `pki` — the CA, the API serving certificate, the admin client certificate and the service-account signing
  key in `DIR/pki/`, generated on the first start and reused (and renewed where needed) afterwards.
* `kubeconfig` — writes self-contained kubeconfigs (admin, later nodes) and reads one back for our tools.
* `authn` — `UserInfo`, the `Authenticator` protocol, the chain (first success wins; a bad credential is
  401, no credential is anonymous), client-certificate authentication and the server's `ssl.SSLContext`.
* `tokenfile` — static bearer tokens from `DIR/tokens.csv` (Kubernetes' token-auth-file format).
* `serviceaccount_tokens` — TokenRequest issuing of service-account JWTs and their authenticator.

`build_authenticator` wires the standard chain in Kubernetes' order: client certificate, static token,
service-account token, then anonymous. Authorization is a separate layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kybernetes.apiserver.auth.authn import (
    ANONYMOUS,
    AuthenticationFailed,
    Authenticator,
    AuthenticatorChain,
    ClientCertAuthenticator,
    UserInfo,
    authenticate_request,
    bearer_token,
    peer_certificate,
    server_ssl_context,
)
from kybernetes.apiserver.auth.kubeconfig import KubeConfig, load_kubeconfig, write_admin_kubeconfig
from kybernetes.apiserver.auth.pki import Pki, ensure_pki, issue_client_cert, issue_serving_cert, split_sans
from kybernetes.apiserver.auth.serviceaccount_tokens import (
    DEFAULT_AUDIENCES,
    BoundObjectLookup,
    LegacySecretLookup,
    ServiceAccountLookup,
    ServiceAccountTokenAuthenticator,
    TokenIssuer,
)
from kybernetes.apiserver.auth.tokenfile import StaticTokenAuthenticator, ensure_admin_token

__all__ = [
    "ANONYMOUS",
    "AuthenticationFailed",
    "Authenticator",
    "AuthenticatorChain",
    "BoundObjectLookup",
    "ClientCertAuthenticator",
    "KubeConfig",
    "LegacySecretLookup",
    "Pki",
    "ServiceAccountLookup",
    "ServiceAccountTokenAuthenticator",
    "StaticTokenAuthenticator",
    "TokenIssuer",
    "UserInfo",
    "authenticate_request",
    "bearer_token",
    "build_authenticator",
    "ensure_admin_token",
    "ensure_pki",
    "issue_client_cert",
    "issue_serving_cert",
    "load_kubeconfig",
    "peer_certificate",
    "server_ssl_context",
    "split_sans",
    "write_admin_kubeconfig",
]


def build_authenticator(
    *,
    pki: Pki,
    token_file: Path,
    sa_lookup: ServiceAccountLookup,
    audiences: Sequence[str] = DEFAULT_AUDIENCES,
    bound_object_lookup: BoundObjectLookup | None = None,
    legacy_secret_lookup: LegacySecretLookup | None = None,
    anonymous: bool = True,
) -> tuple[AuthenticatorChain, StaticTokenAuthenticator]:
    """The API server's chain, and its token-file authenticator (to `reload` when the file changes)."""
    tokens = StaticTokenAuthenticator.from_file(token_file)
    chain = AuthenticatorChain(
        authenticators=[
            ClientCertAuthenticator(ca_cert=pki.ca_cert),
            tokens,
            ServiceAccountTokenAuthenticator(
                public_keys=[pki.sa_public_key],
                lookup=sa_lookup,
                audiences=audiences,
                bound_object_lookup=bound_object_lookup,
                legacy_secret_lookup=legacy_secret_lookup,
            ),
        ],
        anonymous=anonymous,
    )
    return chain, tokens
