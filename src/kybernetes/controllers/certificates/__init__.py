"""CertificateSigningRequest controllers: the approver of node client requests and the cluster CA's signer.

* `approver` (`csrapproving`) — approves, through the `approval` subresource, a request for the
  `kubernetes.io/kube-apiserver-client-kubelet` signer that is a well-formed kubelet client request
  (`kybernetes.api.certificates.kubelet_client_problems`) and comes either from a bootstrap-token user
  (`system:bootstrap:<id>` in `system:bootstrappers`: a node joining) or from the node it names (a node
  renewing its own certificate). Anything else is left for a person (`kubectl certificate approve|deny`).
* `signer` (`csrsigning`) — issues the certificate of every Approved (not Denied, not Failed) request for the
  signers it serves from the cluster CA whose files the controller-manager was given
  (`--cluster-signing-cert-file` / `--cluster-signing-key-file`, as Kubernetes names them); a request its
  signer's rules refuse gets a `Failed` condition instead.

Both follow the controller shape: informer handlers enqueue the CSR's name; `sync(name)` re-reads the cache
and acts once; writes go through the API (the approval and status subresources).
"""

from __future__ import annotations

from typing import Any

import msgspec

from kybernetes.api.models.certificates_v1 import CertificateSigningRequest
from kybernetes.client import Client

CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def conditions(csr: CertificateSigningRequest) -> dict[str, str]:
    """Condition type → status of a CSR."""
    found = (csr.status.conditions if csr.status is not None else None) or []
    return {c.type or "": c.status or "" for c in found}


def name_of(csr: CertificateSigningRequest) -> str:
    return (csr.metadata.name if csr.metadata is not None else None) or ""


async def put_subresource(*, client: Client, obj: dict[str, Any], subresource: str) -> None:
    """PUT a CSR (wire form, with its resourceVersion: a compare-and-swap) to `status` or `approval`."""
    name = obj["metadata"]["name"]
    await client.request("PUT", f"{CSR_PATH}/{name}/{subresource}", body=msgspec.json.encode(obj))
