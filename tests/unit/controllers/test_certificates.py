"""CSR parsing, the approver's rules and the signer's certificates."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.api.certificates import (
    SIGNER_CLIENT,
    SIGNER_KUBELET_CLIENT,
    RequestError,
    common_name,
    encode_bytes_field,
    kubelet_client_problems,
    node_client_request,
    organizations,
    parse_request,
)
from kybernetes.api.models.certificates_v1 import CertificateSigningRequest
from kybernetes.controllers.certificates.approver import decide
from kybernetes.controllers.certificates.signer import SigningCA, sign, signer_problems

KEY = ec.generate_private_key(ec.SECP256R1())


def _request(*, cn: str, orgs: list[str], dns: list[str] | None = None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _csr(*, request: bytes, username: str, groups: list[str], signer: str = SIGNER_KUBELET_CLIENT,
         usages: list[str] | None = None, conditions: list[dict[str, Any]] | None = None) -> CertificateSigningRequest:
    return msgspec.convert({
        "metadata": {"name": "node-csr-x"},
        "spec": {"request": encode_bytes_field(request), "signerName": signer, "username": username,
                 "groups": groups, "usages": usages or ["digital signature", "client auth"]},
        "status": {"conditions": conditions or []},
    }, CertificateSigningRequest)


def test_node_request_parses_and_passes_the_kubelet_rules() -> None:
    pem = node_client_request(key=KEY, node_name="n1")
    csr = parse_request(encode_bytes_field(pem))
    assert common_name(csr) == "system:node:n1" and organizations(csr) == ["system:nodes"]
    assert kubelet_client_problems(csr=csr, usages=["digital signature", "client auth"]) == []
    assert kubelet_client_problems(csr=csr, usages=["key encipherment", "digital signature", "client auth"]) == []


@pytest.mark.parametrize(("cn", "orgs", "dns", "usages", "problem"), [
    ("alice", ["system:nodes"], None, ["client auth"], "common name"),
    ("system:node:n1", ["system:masters"], None, ["client auth"], "organization"),
    ("system:node:n1", ["system:nodes", "x"], None, ["client auth"], "organization"),
    ("system:node:n1", ["system:nodes"], ["n1.example"], ["client auth"], "alternative names"),
    ("system:node:n1", ["system:nodes"], None, ["digital signature", "server auth"], "server auth"),
    ("system:node:n1", ["system:nodes"], None, ["digital signature"], "client auth"),
])
def test_kubelet_rules_refuse(cn: str, orgs: list[str], dns: list[str] | None, usages: list[str],
                              problem: str) -> None:
    csr = parse_request(_request(cn=cn, orgs=orgs, dns=dns))
    problems = kubelet_client_problems(csr=csr, usages=usages)
    assert any(problem in p for p in problems), problems


def test_parse_refuses_garbage() -> None:
    for value in ("not base64!", encode_bytes_field(b"hello"),
                  encode_bytes_field(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")):
        with pytest.raises(RequestError):
            parse_request(value)


def test_approver_approves_joining_and_renewing_nodes_only() -> None:
    node = node_client_request(key=KEY, node_name="n1")
    bootstrappers = ["system:bootstrappers", "system:bootstrappers:kybernetes:default-node-token"]
    assert decide(_csr(request=node, username="system:bootstrap:abcdef", groups=bootstrappers)) == "nodeclient"
    assert decide(_csr(request=node, username="system:node:n1", groups=["system:nodes"])) == "selfnodeclient"
    # Another node renewing for n1, an ordinary user, a bootstrap user without the group: left alone.
    assert decide(_csr(request=node, username="system:node:n2", groups=["system:nodes"])) is None
    assert decide(_csr(request=node, username="alice", groups=[])) is None
    assert decide(_csr(request=node, username="system:bootstrap:abcdef", groups=[])) is None
    # Another signer, bad usages, a subject that is not a node's, or already decided: left alone.
    assert decide(_csr(request=node, username="system:bootstrap:abcdef", groups=bootstrappers,
                       signer=SIGNER_CLIENT)) is None
    assert decide(_csr(request=node, username="system:bootstrap:abcdef", groups=bootstrappers,
                       usages=["server auth"])) is None
    assert decide(_csr(request=_request(cn="system:node:n1", orgs=["system:masters"]),
                       username="system:bootstrap:abcdef", groups=bootstrappers)) is None
    assert decide(_csr(request=node, username="system:bootstrap:abcdef", groups=bootstrappers,
                       conditions=[{"type": "Denied", "status": "True"}])) is None


def _ca() -> SigningCA:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return SigningCA(cert=cert, key=key)


def test_signer_issues_a_client_certificate() -> None:
    ca = _ca()
    request = parse_request(node_client_request(key=KEY, node_name="n1"))
    now = datetime.datetime.now(datetime.UTC)
    cert = sign(request=request, usages=["digital signature", "client auth"], ca=ca, now=now,
                duration=datetime.timedelta(days=365))
    cert.verify_directly_issued_by(ca.cert)
    assert cert.subject == request.subject
    assert cert.public_key() == KEY.public_key()
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH])
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Capped by the CA's own expiry; backdated a little.
    assert cert.not_valid_after_utc == ca.cert.not_valid_after_utc
    assert cert.not_valid_before_utc < now
    short = sign(request=request, usages=["client auth"], ca=ca, now=now, duration=datetime.timedelta(hours=1))
    assert short.not_valid_after_utc - now <= datetime.timedelta(hours=1)


def test_signer_rules() -> None:
    node = parse_request(node_client_request(key=KEY, node_name="n1"))
    alice = parse_request(_request(cn="alice", orgs=["dev"]))
    assert signer_problems(signer=SIGNER_KUBELET_CLIENT, request=node, usages=["client auth"]) == []
    assert signer_problems(signer=SIGNER_KUBELET_CLIENT, request=alice, usages=["client auth"])
    assert signer_problems(signer=SIGNER_CLIENT, request=alice, usages=["client auth"]) == []
    assert signer_problems(signer=SIGNER_CLIENT, request=alice, usages=["server auth"])
