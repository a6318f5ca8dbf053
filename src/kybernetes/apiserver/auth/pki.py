"""The cluster's TLS material: a CA, the API serving certificate, the admin client certificate, the SA key.

`ensure_pki` is called on every start of a data directory. The first call generates everything into
`DIR/pki/` (file names as kubeadm uses them: `ca.crt`, `ca.key`, `apiserver.crt`, `apiserver.key`,
`admin.crt`, `admin.key`, `sa.key`, `sa.pub`); later calls load the files and regenerate only what is
missing, not issued by the current CA, close to expiry, or (for the serving certificate) not covering every
requested subject alternative name. A CA that exists is never replaced, so an operator can drop in their own
`ca.crt` / `ca.key` before the first start.

Certificates and their keys use ECDSA P-256 (small, fast to make, understood by Go, OpenSSL and every
client we care about). The service-account signing key is RSA 2048 because RS256 is what Kubernetes issues by
default and what OIDC consumers of our JWKS expect. Keys are written 0600, certificates 0644, both through a
temporary file and a rename so a crash never leaves half a file; a lock file serialises concurrent starts.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "kybernetes-ca"
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"
API_SERVER_CN = "kube-apiserver"
# The first address of the default service CIDR 10.96.0.0/12: the `kubernetes` Service's ClusterIP.
FIRST_SERVICE_IP = "10.96.0.1"
DEFAULT_DNS_SANS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
DEFAULT_IP_SANS = ("127.0.0.1", "::1")

CA_DAYS = 3650
LEAF_DAYS = 365
# Leaf certificates are renewed on start once they have less than this left.
RENEW_BEFORE = datetime.timedelta(days=30)
# Backdate notBefore so a peer whose clock is slightly behind accepts a fresh certificate.
BACKDATE = datetime.timedelta(minutes=5)

IpAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Pki:
    """Paths of the PKI files and the loaded objects; the one handle other modules take."""

    dir: Path
    ca_cert: x509.Certificate
    ca_key: CertificateIssuerPrivateKeyTypes
    serving_cert: x509.Certificate
    admin_cert: x509.Certificate
    sa_private_key: PrivateKeyTypes
    sa_public_key: PublicKeyTypes

    @property
    def ca_cert_path(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key_path(self) -> Path:
        return self.dir / "ca.key"

    @property
    def serving_cert_path(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def serving_key_path(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def admin_cert_path(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key_path(self) -> Path:
        return self.dir / "admin.key"

    @property
    def sa_key_path(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub_path(self) -> Path:
        return self.dir / "sa.pub"

    def ca_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)


def split_sans(hosts: Iterable[str]) -> tuple[list[str], list[str]]:
    """Sort host names and addresses into (DNS SANs, IP SANs); wildcard listen addresses are dropped."""
    dns: list[str] = []
    ips: list[str] = []
    for host in hosts:
        host = host.strip().strip("[]")
        if not host:
            continue
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            dns.append(host.lower())
            continue
        if not address.is_unspecified:
            ips.append(str(address))
    return dns, ips


def ensure_pki(
    *,
    pki_dir: Path,
    sans_dns: list[str],
    sans_ip: list[str],
    service_ip: str = FIRST_SERVICE_IP,
) -> Pki:
    """Create or load the PKI in `pki_dir`; `sans_*` are added to the default serving-certificate SANs."""
    pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    dns = _unique([*DEFAULT_DNS_SANS, socket.gethostname().lower(), *(d.lower() for d in sans_dns)])
    ips = _unique_ips([*DEFAULT_IP_SANS, service_ip, *sans_ip])
    now = _now()
    with _locked(pki_dir / ".lock"):
        ca_cert, ca_key = _ensure_ca(pki_dir=pki_dir, now=now)
        serving_cert = _ensure_leaf(
            cert_path=pki_dir / "apiserver.crt",
            key_path=pki_dir / "apiserver.key",
            ca_cert=ca_cert,
            ca_key=ca_key,
            now=now,
            subject=_name(common_name=API_SERVER_CN, organizations=[]),
            server=True,
            dns=dns,
            ips=ips,
        )
        admin_cert = _ensure_leaf(
            cert_path=pki_dir / "admin.crt",
            key_path=pki_dir / "admin.key",
            ca_cert=ca_cert,
            ca_key=ca_key,
            now=now,
            subject=_name(common_name=ADMIN_USER, organizations=[ADMIN_GROUP]),
            server=False,
            dns=[],
            ips=[],
        )
        sa_private, sa_public = _ensure_sa_keys(pki_dir=pki_dir)
    return Pki(
        dir=pki_dir,
        ca_cert=ca_cert,
        ca_key=ca_key,
        serving_cert=serving_cert,
        admin_cert=admin_cert,
        sa_private_key=sa_private,
        sa_public_key=sa_public,
    )


def issue_client_cert(*, pki: Pki, user: str, groups: list[str], days: int) -> tuple[bytes, bytes]:
    """A client certificate for `user` (CN) in `groups` (O), signed by the cluster CA: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _sign_leaf(
        subject=_name(common_name=user, organizations=groups),
        public_key=key.public_key(),
        ca_cert=pki.ca_cert,
        ca_key=pki.ca_key,
        now=_now(),
        days=days,
        server=False,
        dns=[],
        ips=[],
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_serving_cert(
    *, pki: Pki, common_name: str, sans_dns: list[str], sans_ip: list[str], days: int
) -> tuple[bytes, bytes]:
    """A serving certificate (e.g. a kubelet's) signed by the cluster CA: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _sign_leaf(
        subject=_name(common_name=common_name, organizations=[]),
        public_key=key.public_key(),
        ca_cert=pki.ca_cert,
        ca_key=pki.ca_key,
        now=_now(),
        days=days,
        server=True,
        dns=_unique([d.lower() for d in sans_dns]),
        ips=_unique_ips(sans_ip),
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def certificate_sans(cert: x509.Certificate) -> tuple[set[str], set[IpAddress]]:
    """The DNS names and IP addresses a certificate is valid for."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    ips = {ip for ip in san.get_values_for_type(x509.IPAddress) if isinstance(ip, IpAddress)}
    return set(san.get_values_for_type(x509.DNSName)), ips


# --- generation and reuse -------------------------------------------------------------------------------


def _ensure_ca(*, pki_dir: Path, now: datetime.datetime) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    cert_path, key_path = pki_dir / "ca.crt", pki_dir / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, _ISSUER_KEY_TYPES):
            raise ValueError(f"{key_path}: unsupported CA key type {type(key).__name__}")
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name=CA_NAME, organizations=[])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    # The key goes first: a CA certificate without its key would be reused but useless.
    _write(key_path, _key_pem(key), mode=0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert, key


def _ensure_leaf(
    *,
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    now: datetime.datetime,
    subject: x509.Name,
    server: bool,
    dns: list[str],
    ips: list[IpAddress],
) -> x509.Certificate:
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if _leaf_reusable(cert=cert, key=key, ca_cert=ca_cert, now=now, subject=subject, dns=dns, ips=ips):
            return cert
    new_key = ec.generate_private_key(ec.SECP256R1())
    cert = _sign_leaf(
        subject=subject, public_key=new_key.public_key(), ca_cert=ca_cert, ca_key=ca_key, now=now,
        days=LEAF_DAYS, server=server, dns=dns, ips=ips,
    )
    _write(key_path, _key_pem(new_key), mode=0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert


def _leaf_reusable(
    *,
    cert: x509.Certificate,
    key: PrivateKeyTypes,
    ca_cert: x509.Certificate,
    now: datetime.datetime,
    subject: x509.Name,
    dns: list[str],
    ips: list[IpAddress],
) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.subject != subject or cert.not_valid_after_utc - now < RENEW_BEFORE:
        return False
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        return False
    have_dns, have_ips = certificate_sans(cert)
    return set(dns) <= have_dns and set(ips) <= have_ips


def _sign_leaf(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    now: datetime.datetime,
    days: int,
    server: bool,
    dns: list[str],
    ips: list[IpAddress],
) -> x509.Certificate:
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if dns or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ip) for ip in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, _signature_hash(ca_key))


def _ensure_sa_keys(*, pki_dir: Path) -> tuple[PrivateKeyTypes, PublicKeyTypes]:
    key_path, pub_path = pki_dir / "sa.key", pki_dir / "sa.pub"
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write(key_path, _key_pem(key), mode=0o600)
    public = key.public_key()
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if not pub_path.exists() or pub_path.read_bytes() != public_pem:
        _write(pub_path, public_pem, mode=0o644)
    return key, public


# --- small pieces ---------------------------------------------------------------------------------------

_ISSUER_KEY_TYPES = (
    rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey,
)


def _signature_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    # Edwards-curve keys sign the message itself; the others sign a SHA-256 digest.
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def _name(*, common_name: str, organizations: list[str]) -> x509.Name:
    # Kubernetes reads groups from every O attribute, one RDN each.
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key_pem(key: PrivateKeyTypes) -> bytes:
    # PKCS#8 PEM: readable by OpenSSL, Python's ssl module, Go's tls.X509KeyPair and kubectl.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _unique_ips(values: Iterable[str]) -> list[IpAddress]:
    return list(dict.fromkeys(ipaddress.ip_address(v.strip("[]")) for v in values if v))


def _write(path: Path, data: bytes, *, mode: int) -> None:
    """Write atomically with `mode` set before any byte lands, so a key is never briefly world-readable."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)  # the umask may have narrowed, an old temp file widened, the mode
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
