"""CertificateSigningRequests (certificates.k8s.io/v1): parsing the request and the rules of the node signers.

A CSR's `spec.request` is a PEM `CERTIFICATE REQUEST` (base64 on the wire, as every `[]byte` field is);
`status.certificate` is the issued PEM certificate, also base64. The functions here are pure and shared by
the API server (validation), the controllers (approver, signer) and the node agent (making its request):

* `parse_request` — the x509 request from the wire value, with its self-signature checked;
* `kubelet_client_problems` — why a request is not a valid kubelet client certificate request for the
  `kubernetes.io/kube-apiserver-client-kubelet` signer (CN `system:node:<name>`, O `system:nodes` only, no
  subject alternative names, usages within digital signature / key encipherment / client auth, client auth
  required), an empty list when it is;
* `node_client_request` — the PEM request a node sends for itself.
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SIGNER_KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
SIGNER_CLIENT = "kubernetes.io/kube-apiserver-client"
SIGNER_KUBELET_SERVING = "kubernetes.io/kubelet-serving"
SIGNER_LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"

APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"

# Kubernetes' KeyUsage values (certificates/v1), in its order.
KEY_USAGES = (
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
    "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
    "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc",
)
KUBELET_CLIENT_USAGES = ("digital signature", "client auth")
_KUBELET_CLIENT_ALLOWED = frozenset({"digital signature", "key encipherment", "client auth"})


class RequestError(ValueError):
    """`spec.request` is not a PEM certificate request with a valid signature."""


def decode_bytes_field(value: str | bytes) -> bytes:
    """A `[]byte` field's wire value (base64 text) as bytes."""
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("not base64 data") from None


def encode_bytes_field(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_request(value: str | bytes) -> x509.CertificateSigningRequest:
    """The request in a CSR's `spec.request` (base64 text of PEM, or the PEM bytes themselves)."""
    pem = decode_bytes_field(value) if isinstance(value, str) else value
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        raise RequestError("PEM block type must be CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as e:
        raise RequestError(f"cannot parse the certificate request: {e}") from None
    if not csr.is_signature_valid:
        raise RequestError("the certificate request's signature is invalid")
    return csr


def common_name(csr: x509.CertificateSigningRequest) -> str:
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[-1].value) if names else ""


def organizations(csr: x509.CertificateSigningRequest) -> list[str]:
    return [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def _has_sans(csr: x509.CertificateSigningRequest) -> bool:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return len(list(san)) > 0


def kubelet_client_problems(*, csr: x509.CertificateSigningRequest, usages: list[str]) -> list[str]:
    """Why `csr` with `usages` is not a kubelet client request (empty: it is one)."""
    problems: list[str] = []
    if organizations(csr) != [NODES_GROUP]:
        problems.append(f'subject organization must be exactly ["{NODES_GROUP}"], got {organizations(csr)}')
    cn = common_name(csr)
    if not cn.startswith(NODE_USER_PREFIX) or len(cn) == len(NODE_USER_PREFIX):
        problems.append(f'subject common name must be "{NODE_USER_PREFIX}<node name>", got "{cn}"')
    if _has_sans(csr):
        problems.append("subject alternative names are not allowed")
    extra = sorted(set(usages) - _KUBELET_CLIENT_ALLOWED)
    if extra:
        problems.append(f"usages not allowed: {', '.join(extra)}")
    if "client auth" not in usages:
        problems.append('usages must include "client auth"')
    return problems


def node_name_of(user: str) -> str | None:
    """`system:node:<name>` → `<name>`; None for any other user."""
    if user.startswith(NODE_USER_PREFIX) and len(user) > len(NODE_USER_PREFIX):
        return user[len(NODE_USER_PREFIX):]
    return None


def node_client_request(*, key: ec.EllipticCurvePrivateKey, node_name: str) -> bytes:
    """The PEM request a node sends for its client certificate: CN system:node:<name>, O system:nodes."""
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
        x509.NameAttribute(NameOID.COMMON_NAME, NODE_USER_PREFIX + node_name),
    ])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def conditions_of(obj: dict[str, object]) -> dict[str, str]:
    """A CSR dict's condition type → status ("True"/"False")."""
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    out: dict[str, str] = {}
    for c in conditions or []:
        if isinstance(c, dict) and isinstance(c.get("type"), str):
            out[c["type"]] = str(c.get("status", ""))
    return out
