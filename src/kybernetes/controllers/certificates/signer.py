"""The CSR signer (`csrsigning`): certificates from the cluster CA for approved requests.

Signers served: `kubernetes.io/kube-apiserver-client-kubelet` (the request must pass the kubelet client
rules; a failing one gets `Failed` / `SignerValidationFailure`), `kubernetes.io/kube-apiserver-client` (any
client subject: a person approved it) and `kubernetes.io/kubelet-serving` (CN `system:node:<name>`, O
`system:nodes`). The certificate keeps the request's subject, public key and subject alternative names,
gets the requested usages, and lasts `spec.expirationSeconds` capped by the `cluster-signing-duration`
option (default one year, as Kubernetes') and by the CA's own expiry; notBefore is backdated five minutes
for clocks a little behind.

Without the `cluster-signing-cert-file` / `cluster-signing-key-file` options the controller runs but signs
nothing (and says so once), as Kubernetes' signer does when it has no CA.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from kybernetes.api.bootstraptoken import parse_ttl
from kybernetes.api.certificates import (
    APPROVED,
    DENIED,
    FAILED,
    NODES_GROUP,
    SIGNER_CLIENT,
    SIGNER_KUBELET_CLIENT,
    SIGNER_KUBELET_SERVING,
    RequestError,
    common_name,
    encode_bytes_field,
    kubelet_client_problems,
    organizations,
    parse_request,
)
from kybernetes.api.models.certificates_v1 import CertificateSigningRequest
from kybernetes.client import Client, Clock, Informer, WorkQueue
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.certificates import conditions, name_of, put_subresource
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.common.wire import wire
from kybernetes.machinery.errors import NotFoundError
from kybernetes.machinery.timefmt import now_rfc3339

__all__ = ["CSRSigner", "SigningCA", "load_ca", "new", "sign", "signer_problems"]

log = logging.getLogger(__name__)

SIGNERS = (SIGNER_KUBELET_CLIENT, SIGNER_CLIENT, SIGNER_KUBELET_SERVING)
DEFAULT_DURATION = datetime.timedelta(days=365)
BACKDATE = datetime.timedelta(minutes=5)
_EKU = {
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}


_ISSUER_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey,
                dsa.DSAPrivateKey)


class SigningCA:
    def __init__(self, *, cert: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> None:
        self.cert, self.key = cert, key


def load_ca(*, cert_file: str, key_file: str) -> SigningCA:
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    if not isinstance(key, _ISSUER_KEYS):
        raise ValueError(f"{key_file}: not a key that can sign certificates")
    return SigningCA(cert=cert, key=key)


def signer_problems(*, signer: str, request: x509.CertificateSigningRequest, usages: list[str]) -> list[str]:
    """Why the signer will not sign this request (empty: it will)."""
    if signer == SIGNER_KUBELET_CLIENT:
        return kubelet_client_problems(csr=request, usages=usages)
    if signer == SIGNER_KUBELET_SERVING:
        problems = []
        if organizations(request) != [NODES_GROUP] or not common_name(request).startswith("system:node:"):
            problems.append('subject must be O "system:nodes", CN "system:node:<name>"')
        if "server auth" not in usages:
            problems.append('usages must include "server auth"')
        return problems
    if "client auth" not in usages:
        return ['usages must include "client auth"']
    return []


def sign(
    *, request: x509.CertificateSigningRequest, usages: list[str], ca: SigningCA, now: datetime.datetime,
    duration: datetime.timedelta,
) -> x509.Certificate:
    """A certificate for `request` from `ca` (see the module docstring)."""
    not_after = min(now + duration, ca.cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca.cert.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature="digital signature" in usages or "signing" in usages,
            content_commitment="content commitment" in usages, key_encipherment="key encipherment" in usages,
            data_encipherment="data encipherment" in usages, key_agreement="key agreement" in usages,
            key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    ekus = [_EKU[u] for u in usages if u in _EKU]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    try:
        san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        builder = builder.add_extension(san.value, critical=False)
    except x509.ExtensionNotFound:
        pass
    algorithm = None if isinstance(ca.key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    return builder.sign(ca.key, algorithm)


class CSRSigner:
    name = "csrsigning"

    def __init__(
        self, *, client: Client, csrs: Informer[CertificateSigningRequest], ca: SigningCA | None, clock: Clock,
        max_duration: datetime.timedelta = DEFAULT_DURATION,
    ) -> None:
        self.client = client
        self.csrs = csrs
        self.ca = ca
        self.max_duration = max_duration
        self.queue = WorkQueue(name=self.name, clock=clock)
        csrs.add_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new))

    def _enqueue(self, csr: CertificateSigningRequest) -> None:
        if name_of(csr):
            self.queue.add(name_of(csr))

    async def run(self, *, workers: int) -> None:
        if self.ca is None:
            log.warning("csrsigning: no --cluster-signing-cert-file/--cluster-signing-key-file: "
                        "certificate signing requests will not be signed")
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    async def sync(self, name: str) -> None:
        csr = self.csrs.get(name)
        if csr is None or self.ca is None or csr.spec is None or csr.spec.signer_name not in SIGNERS:
            return
        state = conditions(csr)
        if APPROVED not in state or DENIED in state or FAILED in state:
            return
        if csr.status is not None and csr.status.certificate:
            return
        usages = list(csr.spec.usages or [])
        obj = wire(csr)
        status = obj.setdefault("status", {})
        try:
            request = parse_request(csr.spec.request or "")
            problems = signer_problems(signer=csr.spec.signer_name or "", request=request, usages=usages)
        except RequestError as e:
            problems = [str(e)]
        if problems:
            now = now_rfc3339()
            status["conditions"] = [*(status.get("conditions") or []), {
                "type": FAILED, "status": "True", "reason": "SignerValidationFailure",
                "message": "; ".join(problems), "lastUpdateTime": now, "lastTransitionTime": now,
            }]
            log.info("certificate signing request %s failed validation: %s", name, "; ".join(problems))
        else:
            duration = self.max_duration
            if csr.spec.expiration_seconds:
                duration = min(duration, datetime.timedelta(seconds=csr.spec.expiration_seconds))
            cert = sign(request=request, usages=usages, ca=self.ca, now=datetime.datetime.now(datetime.UTC),
                        duration=duration)
            status["certificate"] = encode_bytes_field(cert.public_bytes(serialization.Encoding.PEM))
        try:
            await put_subresource(client=self.client, obj=obj, subresource="status")
        except NotFoundError:
            return
        if not problems:
            log.info("signed certificate signing request %s for %s", name, common_name(request))


def _duration(text: str) -> datetime.timedelta:
    parsed = parse_ttl(text)
    return parsed if parsed is not None else DEFAULT_DURATION


def new(ctx: ControllerContext) -> CSRSigner:
    cert_file = ctx.options.get("cluster-signing-cert-file", "")
    key_file = ctx.options.get("cluster-signing-key-file", "")
    ca = load_ca(cert_file=cert_file, key_file=key_file) if cert_file and key_file else None
    return CSRSigner(client=ctx.client, csrs=ctx.informers.informer(CertificateSigningRequest), ca=ca,
                     clock=ctx.clock, max_duration=_duration(ctx.options.get("cluster-signing-duration", "")))
