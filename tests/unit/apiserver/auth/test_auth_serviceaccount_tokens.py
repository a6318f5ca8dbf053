"""Service-account JWTs: issuing (TokenRequest rules) and authentication, on a fake clock."""

from __future__ import annotations

import datetime
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kybernetes.apiserver.auth import build_authenticator
from kybernetes.apiserver.auth.authn import AuthenticationFailed, UserInfo
from kybernetes.apiserver.auth.pki import Pki
from kybernetes.apiserver.auth.serviceaccount_tokens import (
    ISSUER,
    ServiceAccountTokenAuthenticator,
    TokenIssuer,
    key_id,
)
from kybernetes.machinery.errors import BadRequestError, InvalidError, UnauthorizedError

NOW = 1_700_000_000.0
SA_UID = "0d4f6c1e-0000-4000-8000-000000000001"
POD_UID = "0d4f6c1e-0000-4000-8000-0000000000aa"
HMAC_KEY = "an-hmac-key-of-thirty-two-bytes!"


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Accounts:
    """The live ServiceAccounts and bound objects, as the API server's callbacks would see them."""

    def __init__(self) -> None:
        self.service_accounts: dict[tuple[str, str], str] = {("team", "builder"): SA_UID}
        self.objects: dict[tuple[str, str, str], str] = {("Pod", "team", "web-0"): POD_UID}

    async def lookup(self, namespace: str, name: str) -> str | None:
        return self.service_accounts.get((namespace, name))

    async def bound(self, kind: str, namespace: str, name: str) -> str | None:
        return self.objects.get((kind, namespace, name))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


def _issuer(pki: Pki, clock: FakeClock) -> TokenIssuer:
    return TokenIssuer(private_key=pki.sa_private_key, clock=clock, max_expiration_seconds=48 * 3600)


def _authenticator(pki: Pki, clock: FakeClock, accounts: Accounts, **kwargs: object) -> ServiceAccountTokenAuthenticator:
    return ServiceAccountTokenAuthenticator(
        public_keys=[pki.sa_public_key], lookup=accounts.lookup, bound_object_lookup=accounts.bound,
        clock=clock, **kwargs,  # type: ignore[arg-type]
    )


def _issue(issuer: TokenIssuer, **overrides: object) -> str:
    arguments: dict[str, object] = {
        "namespace": "team", "sa_name": "builder", "sa_uid": SA_UID, "audiences": None,
        "expiration_seconds": 3600, "bound_object": None,
    }
    arguments.update(overrides)
    token, _ = issuer.issue_token(**arguments)  # type: ignore[arg-type]
    return token


async def _auth(authenticator: ServiceAccountTokenAuthenticator, token: str) -> UserInfo | None:
    return await authenticator.authenticate(request_headers={"Authorization": f"Bearer {token}"}, peer_cert=None)


def test_claims_as_kubernetes_issues_them(pki: Pki, clock: FakeClock) -> None:
    token, expires = _issuer(pki, clock).issue_token(
        namespace="team", sa_name="builder", sa_uid=SA_UID, audiences=None, expiration_seconds=3600,
        bound_object={"kind": "Pod", "apiVersion": "v1", "name": "web-0", "uid": POD_UID},
    )
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == key_id(pki.sa_public_key)
    claims = jwt.decode(token, options={"verify_signature": False})
    jti = claims.pop("jti")
    assert len(jti) == 36
    assert claims == {
        "aud": [ISSUER],
        "exp": int(NOW) + 3600,
        "iat": int(NOW),
        "nbf": int(NOW),
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": "system:serviceaccount:team:builder",
        "kubernetes.io": {
            "namespace": "team",
            "serviceaccount": {"name": "builder", "uid": SA_UID},
            "pod": {"name": "web-0", "uid": POD_UID},
        },
    }
    assert expires == datetime.datetime.fromtimestamp(int(NOW) + 3600, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert expires.endswith("Z") and "T" in expires


def test_expiration_bounds(pki: Pki, clock: FakeClock) -> None:
    issuer = _issuer(pki, clock)
    with pytest.raises(InvalidError) as caught:
        _issue(issuer, expiration_seconds=599)
    assert caught.value.code == 422
    assert caught.value.message == (
        'TokenRequest.authentication.k8s.io "builder" is invalid: '
        "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"
    )
    assert caught.value.to_status()["details"]["causes"] == [{
        "reason": "FieldValueInvalid",
        "message": "Invalid value: 599: may not specify a duration less than 10 minutes",
        "field": "spec.expirationSeconds",
    }]
    with pytest.raises(InvalidError, match="larger than 2"):
        _issue(issuer, expiration_seconds=(1 << 32) + 1)
    # Exactly ten minutes is fine; more than the maximum is capped, not refused.
    _issue(issuer, expiration_seconds=600)
    token, expires = issuer.issue_token(
        namespace="team", sa_name="builder", sa_uid=SA_UID, audiences=None,
        expiration_seconds=365 * 24 * 3600, bound_object=None,
    )
    assert jwt.decode(token, options={"verify_signature": False})["exp"] == int(NOW) + 48 * 3600
    assert expires == "2023-11-16T22:13:20Z"


def test_unsupported_bound_kind_is_bad_request(pki: Pki, clock: FakeClock) -> None:
    with pytest.raises(BadRequestError):
        _issue(_issuer(pki, clock), bound_object={"kind": "ConfigMap", "name": "x", "uid": "y"})


async def test_issue_and_verify(pki: Pki, clock: FakeClock, accounts: Accounts) -> None:
    token = _issue(_issuer(pki, clock))
    user = await _auth(_authenticator(pki, clock, accounts), token)
    assert user is not None
    assert user.name == "system:serviceaccount:team:builder"
    assert user.uid == SA_UID
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert user.extra == {"authentication.kubernetes.io/credential-id": [f"JTI={jti}"]}


async def test_pod_bound_token(pki: Pki, clock: FakeClock, accounts: Accounts) -> None:
    token = _issue(_issuer(pki, clock), bound_object={"kind": "Pod", "name": "web-0", "uid": POD_UID})
    authenticator = _authenticator(pki, clock, accounts)
    user = await _auth(authenticator, token)
    assert user is not None
    assert user.extra["authentication.kubernetes.io/pod-name"] == ["web-0"]
    assert user.extra["authentication.kubernetes.io/pod-uid"] == [POD_UID]

    accounts.objects[("Pod", "team", "web-0")] = "another-uid"  # the pod was recreated
    with pytest.raises(AuthenticationFailed, match="bound Pod"):
        await _auth(authenticator, token)
    del accounts.objects[("Pod", "team", "web-0")]
    with pytest.raises(AuthenticationFailed, match="deleted"):
        await _auth(authenticator, token)


async def test_expiry_with_leeway(pki: Pki, clock: FakeClock, accounts: Accounts) -> None:
    token = _issue(_issuer(pki, clock), expiration_seconds=600)
    authenticator = _authenticator(pki, clock, accounts, leeway_seconds=60)
    clock.now = NOW + 600 + 59
    assert await _auth(authenticator, token) is not None
    clock.now = NOW + 600 + 61
    with pytest.raises(AuthenticationFailed, match="expired"):
        await _auth(authenticator, token)


async def test_not_yet_valid(pki: Pki, clock: FakeClock, accounts: Accounts) -> None:
    token = _issue(_issuer(pki, clock))
    clock.now = NOW - 120
    with pytest.raises(AuthenticationFailed, match="not valid yet"):
        await _auth(_authenticator(pki, clock, accounts), token)


async def test_audiences(pki: Pki, clock: FakeClock, accounts: Accounts) -> None:
    token = _issue(_issuer(pki, clock), audiences=["vault"])
    with pytest.raises(AuthenticationFailed, match="audiences"):
        await _auth(_authenticator(pki, clock, accounts), token)
    both = _authenticator(pki, clock, accounts, audiences=[ISSUER, "vault"])
    assert await _auth(both, token) is not None


async def test_deleted_or_recreated_account(pki: Pki, clock: FakeClock, accounts: Accounts) -> None:
    token = _issue(_issuer(pki, clock))
    authenticator = _authenticator(pki, clock, accounts)
    accounts.service_accounts[("team", "builder")] = "new-uid"
    with pytest.raises(AuthenticationFailed, match="now new-uid"):
        await _auth(authenticator, token)
    del accounts.service_accounts[("team", "builder")]
    with pytest.raises(AuthenticationFailed, match="deleted"):
        await _auth(authenticator, token)


async def test_foreign_key_and_tampering(pki: Pki, clock: FakeClock, accounts: Accounts) -> None:
    authenticator = _authenticator(pki, clock, accounts)
    foreign = TokenIssuer(private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048), clock=clock)
    with pytest.raises(AuthenticationFailed, match="signature"):
        await _auth(authenticator, _issue(foreign))

    header, payload, signature = _issue(_issuer(pki, clock)).split(".")
    claims = jwt.decode(f"{header}.{payload}.{signature}", options={"verify_signature": False})
    claims["sub"] = "system:serviceaccount:kube-system:admin"
    forged_payload = jwt.encode(claims, HMAC_KEY, algorithm="HS256").split(".")[1]
    with pytest.raises(AuthenticationFailed):
        await _auth(authenticator, f"{header}.{forged_payload}.{signature}")

    # An HS256 token "signed" with the public key must not pass as ours (algorithm confusion).
    hs = jwt.encode(claims | {"sub": "system:serviceaccount:team:builder"}, HMAC_KEY, algorithm="HS256")
    with pytest.raises(AuthenticationFailed):
        await _auth(authenticator, hs)


async def test_tokens_of_other_issuers_are_not_ours(pki: Pki, clock: FakeClock, accounts: Accounts) -> None:
    authenticator = _authenticator(pki, clock, accounts)
    other = jwt.encode({"iss": "https://accounts.example.com", "sub": "x"}, HMAC_KEY, algorithm="HS256")
    assert await _auth(authenticator, other) is None
    assert await _auth(authenticator, "static-token") is None
    assert await _auth(authenticator, "a.b.c") is None


async def test_ecdsa_signing_key(clock: FakeClock, accounts: Accounts) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = TokenIssuer(private_key=key, clock=clock)
    token = _issue(issuer)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    authenticator = ServiceAccountTokenAuthenticator(
        public_keys=[key.public_key()], lookup=accounts.lookup, clock=clock
    )
    assert await _auth(authenticator, token) is not None
    jwk = issuer.jwks()["keys"][0]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-256", "ES256")


def test_jwks_verifies_tokens(pki: Pki, clock: FakeClock) -> None:
    issuer = _issuer(pki, clock)
    token = _issue(issuer)
    (jwk,) = issuer.jwks()["keys"]
    assert jwk["kid"] == jwt.get_unverified_header(token)["kid"]
    assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA", "RS256", "sig")
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=ISSUER, options={"verify_exp": False})
    assert claims["sub"] == "system:serviceaccount:team:builder"
    assert issuer.openid_configuration() == {
        "issuer": ISSUER,
        "jwks_uri": f"{ISSUER}/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


async def test_full_chain_with_service_account(pki: Pki, tmp_path: Path, clock: FakeClock, accounts: Accounts) -> None:
    # build_authenticator uses the real clock; issue with it too.
    issuer = TokenIssuer(private_key=pki.sa_private_key)
    chain, _ = build_authenticator(pki=pki, token_file=tmp_path / "tokens.csv", sa_lookup=accounts.lookup)
    token = _issue(issuer)
    user = await chain.authenticate(request_headers={"Authorization": f"Bearer {token}"}, peer_cert=None)
    assert user.name == "system:serviceaccount:team:builder"
    del accounts.service_accounts[("team", "builder")]
    with pytest.raises(UnauthorizedError):
        await chain.authenticate(request_headers={"Authorization": f"Bearer {token}"}, peer_cert=None)


async def test_legacy_secret_token(pki: Pki, clock: FakeClock, accounts: Accounts) -> None:
    issuer = _issuer(pki, clock)
    token = issuer.issue_legacy_token(namespace="team", sa_name="builder", sa_uid=SA_UID, secret_name="builder-token")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims == {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "team",
        "kubernetes.io/serviceaccount/secret.name": "builder-token",
        "kubernetes.io/serviceaccount/service-account.name": "builder",
        "kubernetes.io/serviceaccount/service-account.uid": SA_UID,
        "sub": "system:serviceaccount:team:builder",
    }
    secrets: dict[tuple[str, str], str] = {("team", "builder-token"): token}

    async def secret_token(namespace: str, name: str) -> str | None:
        return secrets.get((namespace, name))

    # Without a way to check the Secret, legacy tokens are refused.
    with pytest.raises(AuthenticationFailed, match="legacy"):
        await _auth(_authenticator(pki, clock, accounts), token)

    authenticator = _authenticator(pki, clock, accounts, legacy_secret_lookup=secret_token)
    clock.now = NOW + 10 * 365 * 24 * 3600  # no expiry
    user = await _auth(authenticator, token)
    assert user == UserInfo(
        name="system:serviceaccount:team:builder", uid=SA_UID,
        groups=("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"),
    )
    secrets[("team", "builder-token")] = "something-else"
    with pytest.raises(AuthenticationFailed, match="no longer holds"):
        await _auth(authenticator, token)
    secrets[("team", "builder-token")] = token
    del accounts.service_accounts[("team", "builder")]
    with pytest.raises(AuthenticationFailed, match="deleted"):
        await _auth(authenticator, token)
