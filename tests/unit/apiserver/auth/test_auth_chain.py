"""The authenticator chain's decisions, bearer-token extraction and client-certificate mapping."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

import pytest
from cryptography import x509

from kybernetes.apiserver.auth.authn import (
    ANONYMOUS,
    AuthenticationFailed,
    AuthenticatorChain,
    ClientCertAuthenticator,
    PeerCert,
    UserInfo,
    bearer_token,
)
from kybernetes.apiserver.auth.pki import Pki, ensure_pki, issue_client_cert
from kybernetes.apiserver.auth.tokenfile import StaticTokenAuthenticator
from kybernetes.machinery.errors import UnauthorizedError

ADMIN_PEERCERT = {"subject": ((("organizationName", "system:masters"),), (("commonName", "kubernetes-admin"),))}


class Rejecting:
    async def authenticate(self, *, request_headers: Mapping[str, str], peer_cert: PeerCert | None) -> UserInfo | None:
        raise AuthenticationFailed("no")


def _chain(*, anonymous: bool = True) -> AuthenticatorChain:
    tokens = StaticTokenAuthenticator(tokens={"good": UserInfo(name="tok-user", uid="1", groups=("g",))})
    return AuthenticatorChain(authenticators=[ClientCertAuthenticator(), tokens], anonymous=anonymous)


async def test_no_credentials_is_anonymous() -> None:
    user = await _chain().authenticate(request_headers={}, peer_cert=None)
    assert user == ANONYMOUS
    assert user.name == "system:anonymous" and user.groups == ("system:unauthenticated",) and user.is_anonymous


async def test_anonymous_disabled_is_401() -> None:
    with pytest.raises(UnauthorizedError):
        await _chain(anonymous=False).authenticate(request_headers={}, peer_cert=None)


async def test_good_token_and_bad_token() -> None:
    user = await _chain().authenticate(request_headers={"Authorization": "Bearer good"}, peer_cert=None)
    assert user == UserInfo(name="tok-user", uid="1", groups=("g", "system:authenticated"))
    with pytest.raises(UnauthorizedError) as caught:
        await _chain().authenticate(request_headers={"Authorization": "Bearer bad"}, peer_cert=None)
    assert caught.value.to_status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401,
    }


async def test_client_certificate_wins_over_a_bad_token() -> None:
    user = await _chain().authenticate(request_headers={"Authorization": "Bearer bad"}, peer_cert=ADMIN_PEERCERT)
    assert user.name == "kubernetes-admin"
    assert user.groups == ("system:masters", "system:authenticated")


async def test_rejected_credential_is_401_even_without_a_token() -> None:
    chain = AuthenticatorChain(authenticators=[Rejecting()])
    with pytest.raises(UnauthorizedError):
        await chain.authenticate(request_headers={}, peer_cert=None)


async def test_basic_auth_is_not_a_credential() -> None:
    user = await _chain().authenticate(request_headers={"Authorization": "Basic dTpw"}, peer_cert=None)
    assert user == ANONYMOUS


async def test_unverified_peercert_dict_is_ignored() -> None:
    # ssl returns {} for a certificate it did not verify.
    assert await _chain().authenticate(request_headers={}, peer_cert={}) == ANONYMOUS


async def test_certificate_with_empty_common_name_is_401() -> None:
    with pytest.raises(UnauthorizedError):
        await _chain().authenticate(
            request_headers={}, peer_cert={"subject": ((("organizationName", "g"),),)}
        )


async def test_last_common_name_is_the_user() -> None:
    peer = {"subject": ((("commonName", "first"),), (("commonName", "second"),))}
    user = await ClientCertAuthenticator().authenticate(request_headers={}, peer_cert=peer)
    assert user is not None and user.name == "second" and user.groups == ("system:authenticated",)


async def test_x509_objects_are_verified_against_the_ca(pki: Pki, tmp_path: Path) -> None:
    authenticator = ClientCertAuthenticator(ca_cert=pki.ca_cert)
    cert_pem, _ = issue_client_cert(pki=pki, user="bob", groups=["a", "b"], days=1)
    user = await authenticator.authenticate(request_headers={}, peer_cert=x509.load_pem_x509_certificate(cert_pem))
    assert user == UserInfo(name="bob", groups=("a", "b", "system:authenticated"))

    other = ensure_pki(pki_dir=tmp_path / "other", sans_dns=[], sans_ip=[])
    foreign_pem, _ = issue_client_cert(pki=other, user="bob", groups=[], days=1)
    with pytest.raises(AuthenticationFailed):
        await authenticator.authenticate(request_headers={}, peer_cert=x509.load_pem_x509_certificate(foreign_pem))
    with pytest.raises(AuthenticationFailed):
        await ClientCertAuthenticator().authenticate(
            request_headers={}, peer_cert=x509.load_pem_x509_certificate(cert_pem)
        )


def test_bearer_token_sources() -> None:
    assert bearer_token({"Authorization": "Bearer  abc "}) == "abc"
    assert bearer_token({"AUTHORIZATION": "BEARER abc"}) == "abc"
    assert bearer_token({"Authorization": "Bearer "}) is None
    assert bearer_token({"Authorization": "Basic abc"}) is None
    assert bearer_token({}) is None
    encoded = base64.urlsafe_b64encode(b"ws-token").rstrip(b"=").decode()
    header = f"v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.{encoded}"
    assert bearer_token({"Sec-WebSocket-Protocol": header}) == "ws-token"
    assert bearer_token({"Sec-WebSocket-Protocol": "v5.channel.k8s.io"}) is None
