"""Bootstrap tokens: format, the Secret's fields, and authentication from the Secret."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kybernetes.api.bootstraptoken import (
    DEFAULT_EXTRA_GROUP,
    SECRET_TYPE,
    BootstrapToken,
    TokenFormatError,
    from_secret,
    generate_token,
    is_token,
    new_token,
    parse_token,
    parse_ttl,
)
from kybernetes.apiserver.auth.authn import AuthenticationFailed, AuthenticatorChain
from kybernetes.apiserver.auth.bootstrap import BootstrapTokenAuthenticator
from kybernetes.cmd.token import format_table
from kybernetes.machinery.errors import UnauthorizedError

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_parse_and_generate() -> None:
    assert parse_token("abcdef.0123456789abcdef") == ("abcdef", "0123456789abcdef")
    for bad in ("abcdef0123456789abcdef", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef",
                "abcdef.0123456789abcde", "abcdef.0123456789abcdef.x", ""):
        with pytest.raises(TokenFormatError):
            parse_token(bad)
        assert not is_token(bad)
    tokens = {generate_token() for _ in range(50)}
    assert len(tokens) == 50 and all(is_token(t) for t in tokens)


def test_secret_fields_as_kubernetes_names_them() -> None:
    token = new_token(now=NOW, ttl=timedelta(hours=24), description="for n1", token="abcdef.0123456789abcdef")
    secret = token.secret()
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert secret["type"] == SECRET_TYPE == "bootstrap.kubernetes.io/token"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "token-id": "abcdef", "token-secret": "0123456789abcdef", "expiration": "2026-01-03T03:04:05Z",
        "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
        "auth-extra-groups": DEFAULT_EXTRA_GROUP, "description": "for n1",
    }
    assert from_secret(secret) == token
    # stringData (as kubectl create secret --from-literal writes it) reads the same.
    assert from_secret({"type": SECRET_TYPE, "stringData": data}) == token


def test_never_expiring_and_bad_groups() -> None:
    token = new_token(now=NOW, ttl=parse_ttl("0"), token="abcdef.0123456789abcdef", extra_groups=[])
    assert token.expiration is None and "expiration" not in token.secret_data() and not token.expired(now=NOW)
    with pytest.raises(TokenFormatError):
        new_token(now=NOW, ttl=None, extra_groups=["system:masters"])
    with pytest.raises(TokenFormatError):
        from_secret({"type": "Opaque", "data": {}})
    assert parse_ttl("1h30m") == timedelta(minutes=90)
    with pytest.raises(ValueError):
        parse_ttl("soon")


def test_list_table_like_kubeadm() -> None:
    tokens = [
        new_token(now=NOW, ttl=timedelta(hours=24), token="abcdef.0123456789abcdef"),
        BootstrapToken(token_id="zzzzzz", token_secret="0123456789abcdef", description="old",
                       expiration=NOW - timedelta(seconds=1), usage_signing=False),
    ]
    lines = format_table(tokens, now=NOW).splitlines()
    assert lines[0].split() == ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA", "GROUPS"]
    assert lines[1].split() == ["abcdef.0123456789abcdef", "1d", "2026-01-03T03:04:05Z", "authentication,signing",
                                "<none>", DEFAULT_EXTRA_GROUP]
    assert lines[2].split() == ["zzzzzz.0123456789abcdef", "<invalid>", "2026-01-02T03:04:04Z", "authentication",
                                "old", "<none>"]
    assert lines[0].index("TTL") == lines[1].index("1d")


class Secrets:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.fresh_reads = 0

    async def __call__(self, name: str, fresh: bool) -> Mapping[str, Any] | None:
        self.fresh_reads += fresh
        return self.items.get(name)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_authenticates_from_the_secret() -> None:
    secrets = Secrets()
    token = new_token(now=NOW, ttl=timedelta(hours=1), token="abcdef.0123456789abcdef")
    secrets.items["bootstrap-token-abcdef"] = token.secret()
    auth = BootstrapTokenAuthenticator(lookup=secrets, now=lambda: NOW)
    user = await auth.authenticate(request_headers=_headers(token.token), peer_cert=None)
    assert user is not None
    assert user.name == "system:bootstrap:abcdef"
    assert user.groups == ("system:bootstrappers", DEFAULT_EXTRA_GROUP)
    # Other bearer tokens are not this authenticator's.
    assert await auth.authenticate(request_headers=_headers("some-jwt.value"), peer_cert=None) is None
    assert await auth.authenticate(request_headers={}, peer_cert=None) is None


@pytest.mark.parametrize("case", ["unknown", "wrong-secret", "expired", "no-auth-usage", "deleting"])
async def test_refusals_say_why(case: str) -> None:
    secrets = Secrets()
    token = new_token(now=NOW, ttl=timedelta(hours=1), token="abcdef.0123456789abcdef")
    secret = token.secret()
    presented, now = token.token, NOW
    if case == "wrong-secret":
        presented = "abcdef.aaaaaaaaaaaaaaaa"
    elif case == "expired":
        now = NOW + timedelta(hours=2)
    elif case == "no-auth-usage":
        secret["data"]["usage-bootstrap-authentication"] = base64.b64encode(b"false").decode()
    elif case == "deleting":
        secret["metadata"]["deletionTimestamp"] = "2026-01-02T03:04:05Z"
    if case != "unknown":
        secrets.items["bootstrap-token-abcdef"] = secret
    auth = BootstrapTokenAuthenticator(lookup=secrets, now=lambda: now)
    with pytest.raises(AuthenticationFailed) as failed:
        await auth.authenticate(request_headers=_headers(presented), peer_cert=None)
    message = failed.value.client_message or ""
    if case == "expired":
        assert "expired at 2026-01-02T04:04:05Z" in message
    elif case == "no-auth-usage":
        assert "may not be used for authentication" in message
    else:
        assert message == "Unauthorized: the bootstrap token is invalid or was deleted"
    if case in ("unknown", "wrong-secret"):
        assert secrets.fresh_reads == 1  # a miss is re-read after the cache caught up
    # Through the chain: a 401 with that message, never anonymous.
    chain = AuthenticatorChain(authenticators=[auth])
    with pytest.raises(UnauthorizedError) as unauthorized:
        await chain.authenticate(request_headers=_headers(presented), peer_cert=None)
    assert unauthorized.value.message == message
