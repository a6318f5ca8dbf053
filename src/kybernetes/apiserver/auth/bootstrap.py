"""Bootstrap-token authentication: a bearer `<id>.<secret>` proves `system:bootstrap:<id>`.

The token's Secret `kube-system/bootstrap-token-<id>` (see `kybernetes.api.bootstraptoken`) is read through
`lookup`, the API server's Secret watch cache; a miss re-reads after the cache caught up with the store, so a
token created a moment ago already works. A bearer token of another shape is not this authenticator's
(None); one of this shape that does not check out is a 401 whose message says why in terms a person joining
a node can act on (unknown or deleted, expired, not for authentication), without telling a guesser whether
an id exists. The secret half is compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from kybernetes.api.bootstraptoken import (
    TokenFormatError,
    from_secret,
    is_token,
    parse_token,
    secret_name,
    user_name,
)
from kybernetes.apiserver.auth.authn import AuthenticationFailed, PeerCert, UserInfo, bearer_token
from kybernetes.machinery.timefmt import format_rfc3339, utcnow

log = logging.getLogger(__name__)

# lookup(secret name, fresh) -> the kube-system Secret of that name (wire form) or None; with fresh=True the
# answer must include every committed write.
SecretLookup = Callable[[str, bool], Awaitable[Mapping[str, Any] | None]]

INVALID_MESSAGE = "Unauthorized: the bootstrap token is invalid or was deleted"


class BootstrapTokenAuthenticator:
    def __init__(self, *, lookup: SecretLookup, now: Callable[[], datetime] = utcnow) -> None:
        self._lookup = lookup
        self._now = now

    async def authenticate(
        self, *, request_headers: Mapping[str, str], peer_cert: PeerCert | None
    ) -> UserInfo | None:
        token = bearer_token(request_headers)
        if token is None or not is_token(token):
            return None
        token_id, token_secret = parse_token(token)
        name = secret_name(token_id)
        secret = await self._lookup(name, False)
        if secret is None or not _matches(secret, token_secret):
            secret = await self._lookup(name, True)
        if secret is None:
            raise AuthenticationFailed(f"bootstrap token {token_id}: no secret kube-system/{name}",
                                       client_message=INVALID_MESSAGE)
        try:
            found = from_secret(secret)
        except TokenFormatError as e:
            raise AuthenticationFailed(f"bootstrap token {token_id}: {e}", client_message=INVALID_MESSAGE) from None
        if not hmac.compare_digest(found.token_secret.encode(), token_secret.encode()):
            raise AuthenticationFailed(f"bootstrap token {token_id}: wrong secret", client_message=INVALID_MESSAGE)
        if (secret.get("metadata") or {}).get("deletionTimestamp"):
            raise AuthenticationFailed(f"bootstrap token {token_id}: being deleted", client_message=INVALID_MESSAGE)
        if found.expiration is not None and found.expired(now=self._now()):
            raise AuthenticationFailed(
                f"bootstrap token {token_id}: expired at {format_rfc3339(found.expiration)}",
                client_message=f"Unauthorized: the bootstrap token expired at {format_rfc3339(found.expiration)}",
            )
        if not found.usage_authentication:
            raise AuthenticationFailed(
                f"bootstrap token {token_id}: usage-bootstrap-authentication is not true",
                client_message="Unauthorized: the bootstrap token may not be used for authentication",
            )
        return UserInfo(name=user_name(token_id), groups=found.groups())


def _matches(secret: Mapping[str, Any], token_secret: str) -> bool:
    try:
        return hmac.compare_digest(from_secret(secret).token_secret.encode(), token_secret.encode())
    except TokenFormatError:
        return False
