"""Static bearer tokens from a CSV file in Kubernetes' `--token-auth-file` format.

Each line is `token,user,uid[,"group1,group2,..."]` (a CSV record; the optional fourth field is itself a
comma-separated group list, quoted). Blank lines are skipped; a line with fewer than three fields, or an empty
token or user, is an error naming the line, as Kubernetes refuses such a file at start.

`ensure_admin_token` creates `DIR/tokens.csv` on the first start with one random token for
`kubernetes-admin` in `system:masters` (the same identity as the admin client certificate), so an admin
kubeconfig can carry a token instead of a certificate. Tokens are looked up by their SHA-256 digest, so the
table holds no plain tokens in memory and lookups do not depend on how much of a guess matches.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path

from kybernetes.apiserver.auth.authn import GROUP_AUTHENTICATED, PeerCert, UserInfo, bearer_token
from kybernetes.apiserver.auth.pki import ADMIN_GROUP, ADMIN_USER


class TokenFileError(ValueError):
    """The token file is malformed."""


def parse_token_file(text: str, *, source: str = "tokens.csv") -> dict[str, UserInfo]:
    """Token → user for every record of a token file's text."""
    users: dict[str, UserInfo] = {}
    for line_number, record in enumerate(csv.reader(io.StringIO(text), skipinitialspace=True), start=1):
        if not record or all(not field.strip() for field in record):
            continue
        if len(record) < 3:
            raise TokenFileError(f"{source}:{line_number}: need at least token,user,uid")
        token, name, uid = (field.strip() for field in record[:3])
        if not token or not name:
            raise TokenFileError(f"{source}:{line_number}: token and user must not be empty")
        groups: tuple[str, ...] = ()
        if len(record) > 3:
            groups = tuple(g.strip() for g in record[3].split(",") if g.strip())
        users[token] = UserInfo(name=name, uid=uid, groups=groups)
    return users


def format_token_line(*, token: str, user: str, uid: str, groups: list[str]) -> str:
    """One record of a token file (quoted as Kubernetes documents it)."""
    if any(c in token for c in ',"\n\r'):
        raise ValueError("a token may not contain commas, quotes or line breaks")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([token, user, uid, ",".join(groups)] if groups else [token, user, uid])
    return buffer.getvalue()


def generate_token() -> str:
    # 32 random bytes, URL-safe: no commas or quotes, so it fits the CSV and HTTP headers unquoted.
    return secrets.token_urlsafe(32)


def append_token(*, path: Path, token: str, user: str, uid: str, groups: list[str]) -> None:
    """Add a record to the token file (created 0600 if missing); a running server sees it after `reload`."""
    line = format_token_line(token=token, user=user, uid=uid, groups=groups)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(line)


def ensure_admin_token(*, path: Path) -> str:
    """The admin's token from the token file, creating the file with a fresh one on the first start."""
    if path.exists():
        for token, user in parse_token_file(path.read_text(), source=str(path)).items():
            if user.name == ADMIN_USER and ADMIN_GROUP in user.groups:
                return token
    token = generate_token()
    path.parent.mkdir(parents=True, exist_ok=True)
    append_token(path=path, token=token, user=ADMIN_USER, uid=str(uuid.uuid4()), groups=[ADMIN_GROUP])
    return token


class StaticTokenAuthenticator:
    """Bearer tokens listed in a token file. Unknown tokens are not this authenticator's to reject."""

    def __init__(self, *, tokens: Mapping[str, UserInfo]) -> None:
        self._by_digest = {_digest(token): user for token, user in tokens.items()}

    @classmethod
    def from_file(cls, path: Path) -> StaticTokenAuthenticator:
        return cls(tokens=parse_token_file(path.read_text(), source=str(path)) if path.exists() else {})

    def reload(self, path: Path) -> None:
        """Re-read the file (blocking I/O: call it off the event loop or at start)."""
        tokens = parse_token_file(path.read_text(), source=str(path)) if path.exists() else {}
        self._by_digest = {_digest(token): user for token, user in tokens.items()}

    async def authenticate(
        self, *, request_headers: Mapping[str, str], peer_cert: PeerCert | None
    ) -> UserInfo | None:
        token = bearer_token(request_headers)
        if token is None:
            return None
        user = self._by_digest.get(_digest(token))
        if user is None:
            return None
        if GROUP_AUTHENTICATED not in user.groups:
            user = UserInfo(name=user.name, uid=user.uid, groups=(*user.groups, GROUP_AUTHENTICATED))
        return user


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
