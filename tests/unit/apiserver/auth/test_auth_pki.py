"""PKI generation, reuse, SAN coverage and renewal."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.apiserver.auth import pki as pki_module
from kybernetes.apiserver.auth.pki import (
    ADMIN_GROUP,
    ADMIN_USER,
    CA_NAME,
    certificate_sans,
    ensure_pki,
    issue_client_cert,
    issue_serving_cert,
    split_sans,
)

KEY_FILES = ("ca.key", "apiserver.key", "admin.key", "sa.key")
CERT_FILES = ("ca.crt", "apiserver.crt", "admin.crt", "sa.pub")


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _orgs(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_first_start_generates_everything(fresh_pki_dir: Path) -> None:
    p = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=["Api.Example.com"], sans_ip=["192.0.2.10", "2001:db8::1"])

    for name in KEY_FILES:
        assert stat.S_IMODE((fresh_pki_dir / name).stat().st_mode) == 0o600, name
    for name in CERT_FILES:
        assert (fresh_pki_dir / name).is_file(), name
    assert stat.S_IMODE(fresh_pki_dir.stat().st_mode) == 0o700

    assert _cn(p.ca_cert) == CA_NAME
    assert p.ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert isinstance(p.ca_key, ec.EllipticCurvePrivateKey)

    p.serving_cert.verify_directly_issued_by(p.ca_cert)
    assert _eku(p.serving_cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    dns, ips = certificate_sans(p.serving_cert)
    assert {
        "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local", socket.gethostname().lower(), "api.example.com",
    } <= dns
    assert {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.96.0.1", "192.0.2.10", "2001:db8::1")} <= ips

    p.admin_cert.verify_directly_issued_by(p.ca_cert)
    assert _cn(p.admin_cert) == ADMIN_USER
    assert _orgs(p.admin_cert) == [ADMIN_GROUP]
    assert _eku(p.admin_cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]

    assert isinstance(p.sa_private_key, rsa.RSAPrivateKey) and p.sa_private_key.key_size == 2048
    loaded_pub = serialization.load_pem_public_key(p.sa_pub_path.read_bytes())
    assert loaded_pub == p.sa_public_key
    # The files on disk are what the object says.
    assert x509.load_pem_x509_certificate(p.serving_cert_path.read_bytes()) == p.serving_cert


def test_later_start_reuses_files(fresh_pki_dir: Path) -> None:
    first = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=["a.example"], sans_ip=["192.0.2.1"])
    mtimes = {f.name: f.stat().st_mtime_ns for f in fresh_pki_dir.iterdir()}

    # Fewer SANs than before are still covered: nothing changes.
    second = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])

    assert second.ca_cert == first.ca_cert
    assert second.serving_cert == first.serving_cert
    assert second.admin_cert == first.admin_cert
    assert second.sa_public_key == first.sa_public_key
    assert {f.name: f.stat().st_mtime_ns for f in fresh_pki_dir.iterdir()} == mtimes


def test_uncovered_san_regenerates_only_the_serving_cert(fresh_pki_dir: Path) -> None:
    first = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])
    second = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=["new.example"], sans_ip=["198.51.100.7"])

    assert second.serving_cert.serial_number != first.serving_cert.serial_number
    dns, ips = certificate_sans(second.serving_cert)
    assert "new.example" in dns and ipaddress.ip_address("198.51.100.7") in ips
    second.serving_cert.verify_directly_issued_by(second.ca_cert)
    assert second.ca_cert == first.ca_cert
    assert second.admin_cert == first.admin_cert
    # The key file on disk matches the new certificate.
    key = serialization.load_pem_private_key(second.serving_key_path.read_bytes(), password=None)
    assert key.public_key() == second.serving_cert.public_key()


def test_new_ca_reissues_leaf_certificates(fresh_pki_dir: Path) -> None:
    first = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])
    (fresh_pki_dir / "ca.crt").unlink()
    (fresh_pki_dir / "ca.key").unlink()

    second = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])

    assert second.ca_cert != first.ca_cert
    second.serving_cert.verify_directly_issued_by(second.ca_cert)
    second.admin_cert.verify_directly_issued_by(second.ca_cert)
    # The signing key for service-account tokens is independent of the CA and survives.
    assert second.sa_public_key == first.sa_public_key


def test_serving_cert_close_to_expiry_is_renewed(fresh_pki_dir: Path) -> None:
    first = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])
    dns, ips = certificate_sans(first.serving_cert)
    key = ec.generate_private_key(ec.SECP256R1())
    short = pki_module._sign_leaf(
        subject=first.serving_cert.subject, public_key=key.public_key(), ca_cert=first.ca_cert,
        ca_key=first.ca_key, now=datetime.datetime.now(datetime.UTC), days=2, server=True,
        dns=sorted(dns), ips=sorted(ips, key=str),
    )
    first.serving_cert_path.write_bytes(short.public_bytes(serialization.Encoding.PEM))
    first.serving_key_path.write_bytes(pki_module._key_pem(key))

    second = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])

    assert second.serving_cert.serial_number != short.serial_number
    assert second.serving_cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=300)


def test_mismatched_serving_key_is_replaced(fresh_pki_dir: Path) -> None:
    first = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])
    first.serving_key_path.write_bytes(pki_module._key_pem(ec.generate_private_key(ec.SECP256R1())))

    second = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])

    key = serialization.load_pem_private_key(second.serving_key_path.read_bytes(), password=None)
    assert key.public_key() == second.serving_cert.public_key()


def test_issue_client_cert(fresh_pki_dir: Path) -> None:
    p = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])
    cert_pem, key_pem = issue_client_cert(pki=p, user="system:node:worker-1", groups=["system:nodes", "x"], days=7)

    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert.verify_directly_issued_by(p.ca_cert)
    assert key.public_key() == cert.public_key()
    assert _cn(cert) == "system:node:worker-1"
    assert _orgs(cert) == ["system:nodes", "x"]
    assert _eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=7) <= lifetime <= datetime.timedelta(days=7, minutes=10)


def test_issue_serving_cert(fresh_pki_dir: Path) -> None:
    p = ensure_pki(pki_dir=fresh_pki_dir, sans_dns=[], sans_ip=[])
    cert_pem, _ = issue_serving_cert(pki=p, common_name="worker-1", sans_dns=["worker-1"], sans_ip=["10.0.0.5"], days=30)
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(p.ca_cert)
    assert certificate_sans(cert) == ({"worker-1"}, {ipaddress.ip_address("10.0.0.5")})
    assert _eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_split_sans() -> None:
    assert split_sans(["0.0.0.0", "::", "Node-A", "[fe80::1]", "10.1.2.3", ""]) == (
        ["node-a"],
        ["fe80::1", "10.1.2.3"],
    )
