"""Authentication: who is making a request, as Kubernetes decides it.

Each way of proving identity is an `Authenticator`: it looks at the request headers and the (already
TLS-verified) peer certificate and answers with a `UserInfo`, with `None` ("not a credential I handle"), or by
raising `AuthenticationFailed` ("a credential I handle, and it is bad"). `AuthenticatorChain` asks them in
order and takes the first user, like Kubernetes' union authenticator:

* some authenticator accepts the request → that user, plus the group `system:authenticated`;
* a credential was presented (a bearer token, or a certificate some authenticator rejected) and nobody accepted
  it → 401 `Unauthorized`; a wrong token is never silently downgraded to anonymous;
* no credential at all → the anonymous user `system:anonymous` in `system:unauthenticated` (when enabled;
  authorization decides what anonymous may do).

Client certificates are verified by the TLS layer (`server_ssl_context`: our CA, `CERT_OPTIONAL`), so by the
time a request is handled, a certificate in `peercert` is one our CA signed; the subject's CN is the user name
and each O is a group. Bearer tokens come from `Authorization: Bearer <token>` or, for browsers' WebSockets,
from the `base64url.bearer.authorization.k8s.io.<token>` subprotocol, as Kubernetes accepts them.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeAlias

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from kybernetes.apiserver.auth.pki import Pki
from kybernetes.machinery.errors import UnauthorizedError

log = logging.getLogger(__name__)

ANONYMOUS_USER = "system:anonymous"
GROUP_UNAUTHENTICATED = "system:unauthenticated"
GROUP_AUTHENTICATED = "system:authenticated"

# What `ssl.SSLSocket.getpeercert()` returns for a verified certificate, or the certificate itself.
PeerCert: TypeAlias = dict[str, Any] | x509.Certificate

_WS_TOKEN_PREFIX = "base64url.bearer.authorization.k8s.io."


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated (or anonymous) user, as Kubernetes' user.Info: name, uid, groups, extra."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_anonymous(self) -> bool:
        return self.name == ANONYMOUS_USER


ANONYMOUS = UserInfo(name=ANONYMOUS_USER, groups=(GROUP_UNAUTHENTICATED,))


class AuthenticationFailed(Exception):
    """A credential was recognised but is invalid; the message is for the server log, not the client.
    `client_message`, when given, is what the 401 says (e.g. that a bootstrap token expired)."""

    def __init__(self, message: str, *, client_message: str | None = None) -> None:
        super().__init__(message)
        self.client_message = client_message


class Authenticator(Protocol):
    async def authenticate(
        self, *, request_headers: Mapping[str, str], peer_cert: PeerCert | None
    ) -> UserInfo | None:
        """The user the credentials prove, None if they are not this authenticator's kind, or raise
        `AuthenticationFailed` if they are and do not check out."""
        ...


class AuthenticatorChain:
    """Tries authenticators in order; falls back to anonymous only when no credential was presented."""

    def __init__(self, *, authenticators: Sequence[Authenticator], anonymous: bool = True) -> None:
        self._authenticators = tuple(authenticators)
        self._anonymous = anonymous

    async def authenticate(
        self, *, request_headers: Mapping[str, str], peer_cert: PeerCert | None
    ) -> UserInfo:
        """The request's user; raises `UnauthorizedError` (401) for a credential nobody accepts."""
        failures: list[str] = []
        client_message = "Unauthorized"
        for authenticator in self._authenticators:
            try:
                user = await authenticator.authenticate(request_headers=request_headers, peer_cert=peer_cert)
            except AuthenticationFailed as err:
                failures.append(f"{type(authenticator).__name__}: {err}")
                client_message = err.client_message or client_message
                continue
            if user is not None:
                return with_authenticated_group(user)
        if failures or bearer_token(request_headers) is not None or not self._anonymous:
            if failures:
                log.info("authentication failed: %s", "; ".join(failures))
            raise UnauthorizedError(client_message)
        return ANONYMOUS

    def append(self, authenticator: Authenticator) -> None:
        """Ask `authenticator` after the others (the server adds the bootstrap-token one once it has a
        Secret cache to read)."""
        self._authenticators = (*self._authenticators, authenticator)


def with_authenticated_group(user: UserInfo) -> UserInfo:
    """Every user who proved an identity is in `system:authenticated` (Kubernetes adds it the same way)."""
    if GROUP_AUTHENTICATED in user.groups:
        return user
    return replace(user, groups=(*user.groups, GROUP_AUTHENTICATED))


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The bearer token of a request, from `Authorization` or the WebSocket subprotocol; None if absent."""
    authorization = _header(headers, "Authorization")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    protocols = _header(headers, "Sec-WebSocket-Protocol")
    if protocols:
        for protocol in protocols.split(","):
            protocol = protocol.strip()
            if protocol.startswith(_WS_TOKEN_PREFIX):
                encoded = protocol[len(_WS_TOKEN_PREFIX):]
                try:
                    token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
                except (binascii.Error, UnicodeDecodeError):
                    return encoded  # still a credential: it must fail, not fall back to anonymous
                return token or None
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # Plain dicts (tests, other servers) are case-sensitive; HTTP header names are not.
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


# --- client certificates --------------------------------------------------------------------------------


class ClientCertAuthenticator:
    """Maps a verified client certificate to a user: CN is the name, each O a group.

    A `getpeercert()` dict was verified by the TLS layer against our CA. An `x509.Certificate` may come from
    anywhere (e.g. `getpeercert(binary_form=True)`), so it is checked against `ca_cert` and its validity here.
    """

    def __init__(self, *, ca_cert: x509.Certificate | None = None) -> None:
        self._ca_cert = ca_cert

    async def authenticate(
        self, *, request_headers: Mapping[str, str], peer_cert: PeerCert | None
    ) -> UserInfo | None:
        if not peer_cert:
            return None  # None, or {} which ssl returns for a certificate it did not verify
        if isinstance(peer_cert, x509.Certificate):
            self._verify(peer_cert)
            common_names = _x509_values(peer_cert, NameOID.COMMON_NAME)
            organizations = _x509_values(peer_cert, NameOID.ORGANIZATION_NAME)
        else:
            common_names = _dict_values(peer_cert, "commonName")
            organizations = _dict_values(peer_cert, "organizationName")
        if not common_names or not common_names[-1]:
            raise AuthenticationFailed("client certificate has an empty common name")
        # Go's pkix.Name keeps the last CN of the subject; Kubernetes uses that one.
        return UserInfo(name=common_names[-1], groups=(*organizations, GROUP_AUTHENTICATED))

    def _verify(self, cert: x509.Certificate) -> None:
        if self._ca_cert is None:
            raise AuthenticationFailed("no CA configured to verify a raw client certificate")
        try:
            cert.verify_directly_issued_by(self._ca_cert)
        except (ValueError, TypeError, InvalidSignature) as err:
            raise AuthenticationFailed(f"client certificate not signed by the cluster CA: {err}") from err
        now = datetime.datetime.now(datetime.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise AuthenticationFailed("client certificate expired or not yet valid")


def _x509_values(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in cert.subject.get_attributes_for_oid(oid)]


def _dict_values(peer_cert: dict[str, Any], name: str) -> list[str]:
    # getpeercert()'s subject: a tuple of RDNs, each a tuple of (attribute name, value) pairs.
    return [value for rdn in peer_cert.get("subject", ()) for key, value in rdn if key == name]


# --- TLS and aiohttp glue -------------------------------------------------------------------------------


def server_ssl_context(pki: Pki) -> ssl.SSLContext:
    """The API server's TLS context: TLS 1.2+, our serving certificate, client certificates verified if sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.serving_cert_path, pki.serving_key_path)
    context.load_verify_locations(cadata=pki.ca_pem().decode())
    # Optional: token and anonymous clients connect without a certificate; one that is sent must verify.
    context.verify_mode = ssl.CERT_OPTIONAL
    # We serve HTTP/1.1 only; Go clients offer h2 first and fall back on this answer.
    context.set_alpn_protocols(["http/1.1"])
    return context


def peer_certificate(request: web.BaseRequest) -> dict[str, Any] | None:
    """The verified client certificate of the request's TLS connection (`getpeercert()` form), if any."""
    transport = request.transport
    if transport is None:
        return None
    peercert = transport.get_extra_info("peercert")
    return peercert or None


async def authenticate_request(authenticator: AuthenticatorChain, request: web.BaseRequest) -> UserInfo:
    """Authenticate an aiohttp request; raises `UnauthorizedError` (401) when its credentials are bad."""
    return await authenticator.authenticate(request_headers=request.headers, peer_cert=peer_certificate(request))
