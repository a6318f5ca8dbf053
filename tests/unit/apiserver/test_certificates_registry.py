"""The CertificateSigningRequest strategy: create, status and approval rules."""

from __future__ import annotations

import copy
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from kybernetes.api.certificates import encode_bytes_field, node_client_request
from kybernetes.api.resources import lookup
from kybernetes.apiserver.auth.authn import UserInfo
from kybernetes.apiserver.registry.certificates import (
    ApprovalStrategy,
    CertificateSigningRequestStrategy,
    validate_spec,
)
from kybernetes.apiserver.rest import RequestContext

_INFO = lookup("certificates.k8s.io", "v1", "certificatesigningrequests")
assert _INFO is not None
INFO = _INFO
REQUEST = encode_bytes_field(node_client_request(key=ec.generate_private_key(ec.SECP256R1()), node_name="n1"))
CERT = encode_bytes_field(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def _csr(**status: Any) -> dict[str, Any]:
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": "x", "resourceVersion": "5"},
            "spec": {"request": REQUEST, "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                     "usages": ["digital signature", "client auth"], "username": "system:bootstrap:abcdef"},
            "status": status}


def _paths(causes: list[Any]) -> list[str]:
    return [c.path for c in causes]


def test_spec_validation() -> None:
    assert validate_spec(_csr()) == []
    bad = _csr()
    bad["spec"].update(request=encode_bytes_field(b"nope"), signerName="no-slash", usages=["client auth", "fly"])
    bad["spec"]["expirationSeconds"] = 60
    assert _paths(validate_spec(bad)) == ["spec.request", "spec.signerName", "spec.usages[1]",
                                          "spec.expirationSeconds"]
    assert _paths(validate_spec({"spec": {}})) == ["spec.request", "spec.signerName", "spec.usages"]


async def test_requestor_comes_from_the_user() -> None:
    strategy = CertificateSigningRequestStrategy(INFO)
    obj = _csr()
    obj["spec"]["username"] = "system:admin"  # a lie
    strategy.prepare_for_create(obj=obj)
    assert obj["status"] == {} and "username" not in obj["spec"]
    user = UserInfo(name="system:bootstrap:abcdef", uid="u1", groups=("system:bootstrappers",))
    await strategy.before_create(ctx=RequestContext(user=user), obj=obj)
    assert obj["spec"]["username"] == "system:bootstrap:abcdef"
    assert obj["spec"]["groups"] == ["system:bootstrappers"] and obj["spec"]["uid"] == "u1"


def test_main_resource_keeps_spec_and_status() -> None:
    strategy = CertificateSigningRequestStrategy(INFO)
    old = _csr(conditions=[{"type": "Approved", "status": "True"}])
    new = copy.deepcopy(old)
    new["spec"]["usages"] = ["server auth"]
    new["status"] = {}
    new["metadata"]["labels"] = {"a": "b"}
    strategy.prepare_for_update(new=new, old=old)
    assert new["spec"] == old["spec"] and new["status"] == old["status"] and new["metadata"]["labels"] == {"a": "b"}


def test_approval_sets_only_conditions() -> None:
    strategy = ApprovalStrategy(INFO)
    old = _csr()
    new = copy.deepcopy(old)
    new["spec"]["signerName"] = "example.com/other"
    new["status"] = {"certificate": CERT, "conditions": [{"type": "Approved", "reason": "KubectlApprove"}]}
    strategy.prepare_for_update(new=new, old=old)
    assert new["spec"] == old["spec"] and "certificate" not in new["status"]
    (condition,) = new["status"]["conditions"]
    assert condition["status"] == "True" and condition["lastUpdateTime"] and condition["lastTransitionTime"]
    assert strategy.validate_update(new=new, old=old) == []


def test_approval_rules() -> None:
    strategy = ApprovalStrategy(INFO)
    both = _csr(conditions=[{"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}])
    assert any("mutually exclusive" in c.describe() for c in strategy.validate_update(new=both, old=_csr()))
    approved = _csr(conditions=[{"type": "Approved", "status": "True"}])
    removed = strategy.validate_update(new=_csr(), old=approved)
    assert any("may not remove a condition of type 'Approved'" in c.describe() for c in removed)
    false = _csr(conditions=[{"type": "Approved", "status": "False"}])
    assert _paths(strategy.validate_update(new=false, old=_csr())) == ["status.conditions[0].status"]


def test_status_certificate_rules() -> None:
    strategy = CertificateSigningRequestStrategy(INFO)
    pending, approved = _csr(), _csr(conditions=[{"type": "Approved", "status": "True"}])
    new = _csr(certificate=CERT)
    strategy.prepare_for_status_update(new=new, old=pending)
    assert any("only be set when the request is approved" in c.describe()
               for c in strategy.validate_status_update(new=new, old=pending))
    # The signer's write keeps the approval it did not send, and may set the certificate once.
    new = _csr(certificate=CERT)
    strategy.prepare_for_status_update(new=new, old=approved)
    assert [c["type"] for c in new["status"]["conditions"]] == ["Approved"]
    assert strategy.validate_status_update(new=new, old=approved) == []
    issued = _csr(certificate=CERT, conditions=[{"type": "Approved", "status": "True"}])
    changed = _csr(certificate=encode_bytes_field(b"-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"),
                   conditions=[{"type": "Approved", "status": "True"}])
    assert any("may not modify existing certificate" in c.describe()
               for c in strategy.validate_status_update(new=changed, old=issued))
    # Denial cannot come in through status.
    denied = _csr(conditions=[{"type": "Denied", "status": "True"}])
    strategy.prepare_for_status_update(new=denied, old=pending)
    assert "conditions" not in denied["status"]
