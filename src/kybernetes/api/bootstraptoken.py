"""Bootstrap tokens: the short-lived shared secrets a new node joins the cluster with, as Kubernetes stores them.

A token is `<id>.<secret>` with a 6-character id and a 16-character secret, both `[a-z0-9]`. It lives in a
Secret `kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token` whose data keys are the
ones Kubernetes (and kubeadm) use:

  token-id, token-secret              the two halves
  expiration                          RFC 3339; absent means the token never expires
  usage-bootstrap-authentication      "true": the token may authenticate to the API server
  usage-bootstrap-signing             "true": the token may sign the cluster-info ConfigMap
  auth-extra-groups                   comma-separated groups, each `system:bootstrappers:...`
  description                         free text

A token authenticates as user `system:bootstrap:<id>` in `system:bootstrappers` plus its extra groups.

Everything here is pure: parsing, formatting and the Secret's fields, so that `kyb token` (the writer), the
API server's authenticator (the reader) and the tests agree on one definition.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kybernetes.machinery.timefmt import format_rfc3339, parse_rfc3339

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
USER_PREFIX = "system:bootstrap:"
GROUP = "system:bootstrappers"
DEFAULT_EXTRA_GROUP = "system:bootstrappers:kybernetes:default-node-token"

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
ID_RE = re.compile(r"^[a-z0-9]{6}$")
_EXTRA_GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class TokenFormatError(ValueError):
    """Text that is not a bootstrap token, or a Secret that does not hold one."""


def parse_token(text: str) -> tuple[str, str]:
    """(id, secret) of a token `<id>.<secret>`; raises `TokenFormatError` for anything else."""
    match = TOKEN_RE.match(text.strip())
    if match is None:
        raise TokenFormatError(
            f"{text!r} is not a bootstrap token: want <id>.<secret>, 6 and 16 characters of [a-z0-9]"
        )
    return match.group(1), match.group(2)


def is_token(text: str) -> bool:
    return TOKEN_RE.match(text.strip()) is not None


def generate_token() -> str:
    """A fresh random token (secrets-module randomness)."""
    return f"{_random(6)}.{_random(16)}"


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def secret_name(token_id: str) -> str:
    return SECRET_PREFIX + token_id


def user_name(token_id: str) -> str:
    return USER_PREFIX + token_id


def validate_extra_groups(groups: list[str]) -> list[str]:
    """The groups a token may add; each must be in the `system:bootstrappers:` namespace, as Kubernetes
    requires (a token must never grant e.g. `system:masters`)."""
    bad = [g for g in groups if not _EXTRA_GROUP_RE.match(g)]
    if bad:
        raise TokenFormatError(
            f"auth-extra-groups: {', '.join(bad)}: each group must match system:bootstrappers:[a-z0-9:-]*"
        )
    return groups


@dataclass(frozen=True, slots=True)
class BootstrapToken:
    """A token as its Secret describes it."""

    token_id: str
    token_secret: str
    expiration: datetime | None = None
    description: str = ""
    usage_authentication: bool = True
    usage_signing: bool = True
    extra_groups: tuple[str, ...] = ()

    @property
    def token(self) -> str:
        return f"{self.token_id}.{self.token_secret}"

    def expired(self, *, now: datetime) -> bool:
        return self.expiration is not None and now >= self.expiration

    def secret_data(self) -> dict[str, str]:
        """The Secret's fields as plain strings (write them as `stringData`, or base64 them for `data`)."""
        data = {
            "token-id": self.token_id,
            "token-secret": self.token_secret,
            "usage-bootstrap-authentication": "true" if self.usage_authentication else "false",
            "usage-bootstrap-signing": "true" if self.usage_signing else "false",
        }
        if self.expiration is not None:
            data["expiration"] = format_rfc3339(self.expiration)
        if self.extra_groups:
            data["auth-extra-groups"] = ",".join(self.extra_groups)
        if self.description:
            data["description"] = self.description
        return data

    def secret(self) -> dict[str, Any]:
        """The whole Secret object (wire form, base64 `data`)."""
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret_name(self.token_id), "namespace": SECRET_NAMESPACE},
            "type": SECRET_TYPE,
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in self.secret_data().items()},
        }

    def groups(self) -> tuple[str, ...]:
        return (GROUP, *self.extra_groups)


def new_token(
    *, now: datetime, ttl: timedelta | None, description: str = "", extra_groups: list[str] | None = None,
    token: str | None = None,
) -> BootstrapToken:
    """A token expiring `ttl` after `now` (never when ttl is None or zero)."""
    token_id, token_secret = parse_token(token or generate_token())
    groups = validate_extra_groups(list(extra_groups) if extra_groups is not None else [DEFAULT_EXTRA_GROUP])
    return BootstrapToken(
        token_id=token_id, token_secret=token_secret, expiration=(now + ttl) if ttl else None,
        description=description, extra_groups=tuple(groups),
    )


def from_secret(secret: Mapping[str, Any]) -> BootstrapToken:
    """The token a bootstrap-token Secret (wire form: base64 `data`, or `stringData`) describes."""
    if secret.get("type") != SECRET_TYPE:
        raise TokenFormatError(f"secret type is {secret.get('type')!r}, not {SECRET_TYPE}")
    fields = _secret_fields(secret)
    token_id, token_secret = fields.get("token-id", ""), fields.get("token-secret", "")
    if not ID_RE.match(token_id) or not re.match(r"^[a-z0-9]{16}$", token_secret):
        raise TokenFormatError("token-id or token-secret malformed")
    name = (secret.get("metadata") or {}).get("name", "")
    if name and name != secret_name(token_id):
        raise TokenFormatError(f"secret {name} holds token id {token_id}")
    expiration = None
    if fields.get("expiration"):
        try:
            expiration = parse_rfc3339(fields["expiration"])
        except ValueError as e:
            raise TokenFormatError(f"expiration {fields['expiration']!r}: {e}") from None
    groups = [g.strip() for g in fields.get("auth-extra-groups", "").split(",") if g.strip()]
    return BootstrapToken(
        token_id=token_id,
        token_secret=token_secret,
        expiration=expiration,
        description=fields.get("description", ""),
        usage_authentication=fields.get("usage-bootstrap-authentication") == "true",
        usage_signing=fields.get("usage-bootstrap-signing") == "true",
        extra_groups=tuple(validate_extra_groups(groups)),
    )


def _secret_fields(secret: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, TypeError, ValueError):
            raise TokenFormatError(f"data[{key}] is not base64 text") from None
    for key, value in (secret.get("stringData") or {}).items():
        out[key] = str(value)
    return out


def parse_ttl(text: str) -> timedelta | None:
    """A Go-style duration (`24h`, `90m`, `1h30m`, `0` for never): kubeadm's `--ttl`. None means never."""
    text = text.strip()
    if text in ("0", "0s", ""):
        return None
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: want e.g. 24h, 30m, 1h30m, or 0 for never")
    unit = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    return timedelta(seconds=sum(float(n) * unit[u] for n, u in parts))
