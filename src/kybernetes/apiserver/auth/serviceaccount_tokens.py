"""Service-account tokens: issuing them (TokenRequest) and authenticating requests that carry them.

Tokens are JWTs signed with the cluster's service-account key (`sa.key`; RS256 for RSA, ES256/384/512 for EC)
carrying the claims Kubernetes puts in bound tokens:

    iss  "https://kubernetes.default.svc.cluster.local"      sub  "system:serviceaccount:<ns>:<name>"
    aud  the requested audiences (default: the API server's)  exp, iat, nbf (seconds), jti (a UUID)
    "kubernetes.io": {"namespace": ns, "serviceaccount": {"name", "uid"}, and "pod" / "secret" / "node":
                      {"name", "uid"} when the token is bound to that object}

The header's `kid` is the unpadded base64url SHA-256 of the public key's DER, as Kubernetes computes it, so
the JWKS we publish (`jwks()`, `openid_configuration()`) lets outside OIDC consumers verify our tokens.

`ServiceAccountTokenAuthenticator` accepts a bearer token only if its (unverified) issuer is one of ours, then
checks signature, exp/nbf (with a small leeway for clock skew between hosts), audience (must intersect the API
server's audiences), the claim shape, and finally asks the API server through `lookup(namespace, name)` for
the live ServiceAccount's uid: a token whose account was deleted, or deleted and recreated, fails. When a
`bound_object_lookup` is given, a token bound to a pod / secret / node also dies with that object.

Legacy tokens (issuer `kubernetes/serviceaccount`, no expiry, no audience), which the token controller puts
into Secrets of type `kubernetes.io/service-account-token`, are issued by `issue_legacy_token` and accepted only
while that Secret still holds exactly this token (`legacy_secret_lookup`); without that callback they are
refused.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from kybernetes.apiserver.auth.authn import (
    GROUP_AUTHENTICATED,
    AuthenticationFailed,
    PeerCert,
    UserInfo,
    bearer_token,
)
from kybernetes.machinery.errors import BadRequestError, InvalidError, invalid

ISSUER = "https://kubernetes.default.svc.cluster.local"
LEGACY_ISSUER = "kubernetes/serviceaccount"
_LEGACY = "kubernetes.io/serviceaccount/"
DEFAULT_AUDIENCES = (ISSUER,)
MIN_EXPIRATION_SECONDS = 600
DEFAULT_EXPIRATION_SECONDS = 3600
# Validation's upper bound (Kubernetes: 2^32 s); the issuer then caps to its configured maximum.
VALIDATION_MAX_SECONDS = 1 << 32
DEFAULT_MAX_EXPIRATION_SECONDS = 365 * 24 * 3600
USER_PREFIX = "system:serviceaccount:"
GROUP_ALL_SERVICEACCOUNTS = "system:serviceaccounts"
# Kinds a token may be bound to, and the claim key each gets inside "kubernetes.io".
BOUND_KINDS = {"Pod": "pod", "Secret": "secret", "Node": "node"}

# Extra keys Kubernetes attaches to service-account users.
EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name"
EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid"
EXTRA_NODE_NAME = "authentication.kubernetes.io/node-name"
EXTRA_NODE_UID = "authentication.kubernetes.io/node-uid"
EXTRA_CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


class ServiceAccountLookup(Protocol):
    def __call__(self, namespace: str, name: str) -> Awaitable[str | None]:
        """The uid of the live ServiceAccount `namespace/name`, or None if it does not exist."""
        ...


class BoundObjectLookup(Protocol):
    def __call__(self, kind: str, namespace: str, name: str) -> Awaitable[str | None]:
        """The uid of the live Pod / Secret / Node (namespace "" for nodes), or None if it does not exist."""
        ...


class LegacySecretLookup(Protocol):
    def __call__(self, namespace: str, name: str) -> Awaitable[str | None]:
        """The decoded `data.token` of the live Secret `namespace/name`, or None if there is none."""
        ...


def service_account_user_name(*, namespace: str, name: str) -> str:
    return f"{USER_PREFIX}{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return (GROUP_ALL_SERVICEACCOUNTS, f"{GROUP_ALL_SERVICEACCOUNTS}:{namespace}", GROUP_AUTHENTICATED)


def key_id(public_key: PublicKeyTypes) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64url(hashlib.sha256(der).digest())


def validate_expiration(*, expiration_seconds: int, name: str) -> None:
    """Kubernetes' TokenRequest validation of `spec.expirationSeconds` (422 Invalid)."""
    message = ""
    if expiration_seconds < MIN_EXPIRATION_SECONDS:
        message = "may not specify a duration less than 10 minutes"
    elif expiration_seconds > VALIDATION_MAX_SECONDS:
        message = "may not specify a duration larger than 2^32 seconds"
    if message:
        raise InvalidError.of(
            kind="TokenRequest", group="authentication.k8s.io", name=name,
            causes=[invalid("spec.expirationSeconds", expiration_seconds, message)],
        )


class TokenIssuer:
    """Signs service-account tokens with the cluster's SA key."""

    def __init__(
        self,
        *,
        private_key: PrivateKeyTypes,
        issuer: str = ISSUER,
        default_audiences: Sequence[str] = DEFAULT_AUDIENCES,
        max_expiration_seconds: int = DEFAULT_MAX_EXPIRATION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = private_key
        self._algorithm = _algorithm(private_key.public_key())
        self._kid = key_id(private_key.public_key())
        self.issuer = issuer
        self.default_audiences = tuple(default_audiences)
        self.max_expiration_seconds = max_expiration_seconds
        self._clock = clock

    def issue_token(
        self,
        *,
        namespace: str,
        sa_name: str,
        sa_uid: str,
        audiences: list[str] | None,
        expiration_seconds: int,
        bound_object: dict[str, Any] | None,
    ) -> tuple[str, str]:
        """(token, expirationTimestamp in RFC 3339) for a TokenRequest; 422 for a too short or long duration.

        `bound_object` is the request's `boundObjectRef` (kind, name, uid) with the uid already checked
        against the live object by the caller.
        """
        validate_expiration(expiration_seconds=expiration_seconds, name=sa_name)
        seconds = min(expiration_seconds, self.max_expiration_seconds)
        now = int(self._clock())
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": sa_name, "uid": sa_uid},
        }
        if bound_object:
            kind = bound_object.get("kind", "")
            claim = BOUND_KINDS.get(kind)
            if claim is None:
                raise BadRequestError(f"cannot bind token to object of kind {kind!r}")
            private[claim] = {"name": bound_object.get("name", ""), "uid": bound_object.get("uid", "")}
        claims = {
            "aud": list(audiences) if audiences else list(self.default_audiences),
            "exp": now + seconds,
            "iat": now,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": now,
            "sub": service_account_user_name(namespace=namespace, name=sa_name),
        }
        token = jwt.encode(claims, self._key, algorithm=self._algorithm, headers={"kid": self._kid})  # type: ignore[arg-type]
        expires = datetime.datetime.fromtimestamp(now + seconds, datetime.UTC)
        return token, expires.strftime("%Y-%m-%dT%H:%M:%SZ")

    def issue_legacy_token(self, *, namespace: str, sa_name: str, sa_uid: str, secret_name: str) -> str:
        """A non-expiring token for a `kubernetes.io/service-account-token` Secret (the token controller's)."""
        claims = {
            "iss": LEGACY_ISSUER,
            _LEGACY + "namespace": namespace,
            _LEGACY + "secret.name": secret_name,
            _LEGACY + "service-account.name": sa_name,
            _LEGACY + "service-account.uid": sa_uid,
            "sub": service_account_user_name(namespace=namespace, name=sa_name),
        }
        return jwt.encode(claims, self._key, algorithm=self._algorithm, headers={"kid": self._kid})  # type: ignore[arg-type]

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set served at /openid/v1/jwks."""
        return {"keys": [public_jwk(self._key.public_key())]}

    def openid_configuration(self, *, jwks_uri: str | None = None) -> dict[str, Any]:
        """The OIDC discovery document served at /.well-known/openid-configuration."""
        return {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri or f"{self.issuer}/openid/v1/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self._algorithm],
        }


def public_jwk(public_key: PublicKeyTypes) -> dict[str, Any]:
    """A public key as a JWK (RFC 7517) with `use`, `alg` and our `kid`."""
    jwk: dict[str, Any] = {"use": "sig", "alg": _algorithm(public_key), "kid": key_id(public_key)}
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        jwk |= {"kty": "RSA", "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        size = (public_key.curve.key_size + 7) // 8
        point = public_key.public_numbers()
        jwk |= {
            "kty": "EC",
            "crv": _CURVES[public_key.curve.name][0],
            "x": _b64url(point.x.to_bytes(size, "big")),
            "y": _b64url(point.y.to_bytes(size, "big")),
        }
    return jwk


class ServiceAccountTokenAuthenticator:
    """Authenticates bearer tokens this cluster's TokenIssuer signed (see the module docstring)."""

    def __init__(
        self,
        *,
        public_keys: Sequence[PublicKeyTypes],
        lookup: ServiceAccountLookup,
        issuers: Sequence[str] = (ISSUER,),
        audiences: Sequence[str] = DEFAULT_AUDIENCES,
        bound_object_lookup: BoundObjectLookup | None = None,
        legacy_secret_lookup: LegacySecretLookup | None = None,
        leeway_seconds: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = {key_id(key): (key, _algorithm(key)) for key in public_keys}
        self._lookup = lookup
        self._issuers = frozenset(issuers) | {LEGACY_ISSUER}
        self._audiences = frozenset(audiences)
        self._bound_object_lookup = bound_object_lookup
        self._legacy_secret_lookup = legacy_secret_lookup
        self._leeway = leeway_seconds
        self._clock = clock

    async def authenticate(
        self, *, request_headers: Mapping[str, str], peer_cert: PeerCert | None
    ) -> UserInfo | None:
        token = bearer_token(request_headers)
        if token is None or token.count(".") != 2:
            return None
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None  # not a JWT: some other authenticator's token, or nobody's
        if unverified.get("iss") not in self._issuers:
            return None
        claims = self._verify_signature(token)
        if claims.get("iss") == LEGACY_ISSUER:
            return await self._authenticate_legacy(token=token, claims=claims)
        self._verify_times_and_audience(claims)
        namespace, name, uid, private = _service_account_claims(claims)
        await self._check_account(namespace=namespace, name=name, uid=uid)
        extra: dict[str, list[str]] = {}
        for kind, claim in BOUND_KINDS.items():
            bound = private.get(claim)
            if not isinstance(bound, dict):
                continue
            await self._check_bound(kind=kind, namespace=namespace if kind != "Node" else "", ref=bound)
            if kind == "Pod":
                extra[EXTRA_POD_NAME] = [str(bound.get("name", ""))]
                extra[EXTRA_POD_UID] = [str(bound.get("uid", ""))]
            elif kind == "Node":
                extra[EXTRA_NODE_NAME] = [str(bound.get("name", ""))]
                extra[EXTRA_NODE_UID] = [str(bound.get("uid", ""))]
        if claims.get("jti"):
            extra[EXTRA_CREDENTIAL_ID] = [f"JTI={claims['jti']}"]
        return UserInfo(
            name=service_account_user_name(namespace=namespace, name=name),
            uid=uid,
            groups=service_account_groups(namespace),
            extra=extra,
        )

    async def _authenticate_legacy(self, *, token: str, claims: dict[str, Any]) -> UserInfo:
        if self._legacy_secret_lookup is None:
            raise AuthenticationFailed("legacy service-account tokens are not accepted")
        values = [claims.get(_LEGACY + key) for key in
                  ("namespace", "service-account.name", "service-account.uid", "secret.name")]
        if not all(isinstance(v, str) and v for v in values):
            raise AuthenticationFailed("legacy token lacks namespace, service account or secret claims")
        namespace, name, uid, secret_name = (str(v) for v in values)
        if claims.get("sub") != service_account_user_name(namespace=namespace, name=name):
            raise AuthenticationFailed("token subject does not match its service-account claims")
        stored = await self._legacy_secret_lookup(namespace, secret_name)
        if stored is None or not hmac.compare_digest(stored.encode(), token.encode()):
            raise AuthenticationFailed(f"secret {namespace}/{secret_name} no longer holds this token")
        await self._check_account(namespace=namespace, name=name, uid=uid)
        return UserInfo(
            name=service_account_user_name(namespace=namespace, name=name),
            uid=uid,
            groups=service_account_groups(namespace),
        )

    async def _check_account(self, *, namespace: str, name: str, uid: str) -> None:
        live_uid = await self._lookup(namespace, name)
        if live_uid is None:
            raise AuthenticationFailed(f"service account {namespace}/{name} has been deleted")
        if live_uid != uid:
            raise AuthenticationFailed(f"service account {namespace}/{name} uid {uid} is now {live_uid}")

    def _verify_signature(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise AuthenticationFailed(f"malformed token header: {err}") from err
        kid = header.get("kid")
        candidates = [self._keys[kid]] if kid in self._keys else list(self._keys.values())
        claims: dict[str, Any] | None = None
        for key, algorithm in candidates:
            try:
                claims = jwt.decode(
                    token, key,  # type: ignore[arg-type]
                    algorithms=[algorithm],
                    # Time and audience are checked below against our clock and our rules.
                    options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
                )
                break
            except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
                continue  # another key (of another type, during a rotation) may have signed it
            except jwt.PyJWTError as err:
                raise AuthenticationFailed(f"invalid token: {err}") from err
        if claims is None:
            raise AuthenticationFailed("token signature does not verify with any service-account key")
        return claims

    def _verify_times_and_audience(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or now > exp + self._leeway:
            raise AuthenticationFailed("token has expired")
        if isinstance(nbf, int | float) and now < nbf - self._leeway:
            raise AuthenticationFailed("token is not valid yet")
        audiences = claims.get("aud")
        if isinstance(audiences, str):
            audiences = [audiences]
        if not isinstance(audiences, list) or not self._audiences.intersection(audiences):
            raise AuthenticationFailed(f"token audiences {audiences!r} are not this server's")

    async def _check_bound(self, *, kind: str, namespace: str, ref: dict[str, Any]) -> None:
        if self._bound_object_lookup is None:
            return
        name, uid = str(ref.get("name", "")), str(ref.get("uid", ""))
        live_uid = await self._bound_object_lookup(kind, namespace, name)
        if live_uid is None:
            raise AuthenticationFailed(f"bound {kind} {namespace}/{name} has been deleted")
        if uid and live_uid != uid:
            raise AuthenticationFailed(f"bound {kind} {namespace}/{name} uid {uid} is now {live_uid}")


def _service_account_claims(claims: dict[str, Any]) -> tuple[str, str, str, dict[str, Any]]:
    private = claims.get("kubernetes.io")
    if not isinstance(private, dict):
        raise AuthenticationFailed("token has no kubernetes.io claim")
    account = private.get("serviceaccount")
    namespace = private.get("namespace")
    if not isinstance(account, dict) or not isinstance(namespace, str) or not namespace:
        raise AuthenticationFailed("token's kubernetes.io claim lacks namespace or serviceaccount")
    name, uid = account.get("name"), account.get("uid")
    if not isinstance(name, str) or not name or not isinstance(uid, str) or not uid:
        raise AuthenticationFailed("token's serviceaccount claim lacks name or uid")
    if claims.get("sub") != service_account_user_name(namespace=namespace, name=name):
        raise AuthenticationFailed("token subject does not match its serviceaccount claim")
    return namespace, name, uid, private


_CURVES = {"secp256r1": ("P-256", "ES256"), "secp384r1": ("P-384", "ES384"), "secp521r1": ("P-521", "ES512")}


def _algorithm(public_key: PublicKeyTypes) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name in _CURVES:
        return _CURVES[public_key.curve.name][1]
    raise ValueError(f"unsupported service-account key type {type(public_key).__name__}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_int(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))
