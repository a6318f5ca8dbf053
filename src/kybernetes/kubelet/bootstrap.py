"""TLS bootstrap of a node: from a bootstrap token to a client certificate of its own.

`ensure_kubelet_kubeconfig(options)` returns `<data-dir>/kubelet.kubeconfig`, making it on the first start:

1. the cluster CA: `--certificate-authority FILE`; or, with `--ca-cert-hash sha256:<hex>`, the
   `kube-public/kube-root-ca.crt` ConfigMap read over an unverified connection and accepted only if the hash
   of its public key matches (kubeadm's discovery by CA pin); with neither, that ConfigMap trusted blindly
   (a warning says so);
2. a private key, kept in `<data-dir>/pki/kubelet-client.key` so a restart during the wait reuses it;
3. a CertificateSigningRequest for CN `system:node:<name>`, O `system:nodes`, signer
   `kubernetes.io/kube-apiserver-client-kubelet`, sent with the token; the controller-manager approves it
   for a valid token and signs it;
4. once `status.certificate` is set, a kubeconfig with the CA, the server, the certificate and the key
   (self-contained, 0600), written through a temporary file and a rename.

From then on the node uses that kubeconfig and never the token. Failures are `BootstrapError`s with a
one-line message that says what to do (an invalid or expired token, an unreachable server, a CA that does
not match, a request denied or never approved).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kybernetes.api.certificates import (
    APPROVED,
    DENIED,
    FAILED,
    KUBELET_CLIENT_USAGES,
    SIGNER_KUBELET_CLIENT,
    conditions_of,
    decode_bytes_field,
    encode_bytes_field,
    node_client_request,
)
from kybernetes.client import APIConnectionError, Client, ClientConfig
from kybernetes.machinery.errors import StatusError, UnauthorizedError

log = logging.getLogger(__name__)

KUBECONFIG_NAME = "kubelet.kubeconfig"
KEY_NAME = "pki/kubelet-client.key"
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
ROOT_CA_PATH = "/api/v1/namespaces/kube-public/configmaps/kube-root-ca.crt"
TOKEN_INVALID = "the bootstrap token is invalid or expired: create one with `kyb token create` on the server"


class BootstrapError(Exception):
    """The node cannot join; the message is one line for the person running `kyb agent`."""


@dataclass(frozen=True, kw_only=True)
class BootstrapOptions:
    server: str
    token: str
    node_name: str
    data_dir: Path
    ca_file: str | None = None
    ca_cert_hash: str | None = None
    # How long to wait for the request to be approved and signed.
    wait: float = 300.0
    poll_interval: float = 0.5


def kubeconfig_path(data_dir: Path) -> Path:
    return data_dir / KUBECONFIG_NAME


async def ensure_kubelet_kubeconfig(options: BootstrapOptions) -> Path:
    """The node's kubeconfig, bootstrapped with the token if it does not exist yet."""
    path = kubeconfig_path(options.data_dir)
    if path.exists():
        return path
    ca_pem = await discover_ca(options)
    key = await asyncio.to_thread(_load_or_create_key, options.data_dir / KEY_NAME)
    context = ssl.create_default_context(cadata=ca_pem.decode())
    config = ClientConfig(server=options.server.rstrip("/"), ssl_context=context, token=options.token,
                          component="kubelet-bootstrap", max_retries=2, timeout=15.0)
    async with Client(config) as client:
        name = await _submit(client, key=key, node_name=options.node_name)
        log.info("certificate signing request %s sent for node %s; waiting for approval", name,
                 options.node_name)
        cert_pem = await _wait_signed(client, name=name, options=options)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    text = render_kubeconfig(server=config.server, ca_pem=ca_pem, user=f"system:node:{options.node_name}",
                             cert_pem=cert_pem, key_pem=key_pem)
    await asyncio.to_thread(_write_private, path, text.encode())
    log.info("node %s joined: client certificate in %s", options.node_name, path)
    return path


async def discover_ca(options: BootstrapOptions) -> bytes:
    """The cluster CA (PEM) per the module docstring."""
    if options.ca_file:
        try:
            return await asyncio.to_thread(Path(options.ca_file).read_bytes)
        except OSError as e:
            raise BootstrapError(f"cannot read --certificate-authority {options.ca_file}: {e.strerror}") from None
    if not options.ca_cert_hash:
        log.warning("no --certificate-authority or --ca-cert-hash: trusting the CA the server hands out "
                    "(anyone between this node and the server could impersonate it)")
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
    config = ClientConfig(server=options.server.rstrip("/"), ssl_context=unverified, token=options.token,
                          component="kubelet-bootstrap", max_retries=2, timeout=15.0)
    async with Client(config) as client:
        body = await _call(client, "GET", ROOT_CA_PATH, server=options.server, missing=(
            "the server publishes no CA (kube-public/kube-root-ca.crt): is its controller-manager running?"))
    ca_pem = str((body.get("data") or {}).get("ca.crt", "")).encode()
    if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise BootstrapError("kube-public/kube-root-ca.crt holds no CA certificate")
    if options.ca_cert_hash:
        want = options.ca_cert_hash.strip().lower()
        got = ca_hash(ca_pem)
        if want != got:
            raise BootstrapError(f"the server's CA does not match --ca-cert-hash: it is {got}")
    return ca_pem


def ca_hash(ca_pem: bytes) -> str:
    """`sha256:<hex>` of the (first) CA certificate's SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


async def _call(client: Client, method: str, path: str, *, server: str, body: bytes | None = None,
                missing: str = "") -> dict[str, Any]:
    try:
        response = await client.request(method, path, body=body)
    except UnauthorizedError:
        raise BootstrapError(TOKEN_INVALID) from None
    except APIConnectionError as e:
        cause = e.__cause__ or e
        raise BootstrapError(f"cannot reach the API server at {server}: {_reason(cause)}") from None
    except StatusError as e:
        if e.code == 404 and missing:
            raise BootstrapError(missing) from None
        raise BootstrapError(f"the API server refused {method} {path}: {e.message}") from None
    decoded: dict[str, Any] = msgspec.json.decode(response.body)
    return decoded


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(error):
        return "its certificate is not signed by the cluster CA given"
    text = str(getattr(error, "os_error", None) or error)
    return text.splitlines()[0] if text else type(error).__name__


async def _submit(client: Client, *, key: ec.EllipticCurvePrivateKey, node_name: str) -> str:
    request = node_client_request(key=key, node_name=node_name)
    csr = {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "node-csr-"},
        "spec": {"request": encode_bytes_field(request), "signerName": SIGNER_KUBELET_CLIENT,
                 "usages": list(KUBELET_CLIENT_USAGES)},
    }
    created = await _call(client, "POST", CSR_PATH, server=client.config.server,
                          body=msgspec.json.encode(csr))
    return str(created["metadata"]["name"])


async def _wait_signed(client: Client, *, name: str, options: BootstrapOptions) -> bytes:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.wait
    while True:
        csr = await _call(client, "GET", f"{CSR_PATH}/{name}", server=options.server)
        state = conditions_of(csr)
        for kind in (DENIED, FAILED):
            if kind in state:
                reason = next((c.get("message") or c.get("reason") or "" for c in csr["status"]["conditions"]
                               if c.get("type") == kind), "")
                raise BootstrapError(f"certificate signing request {name} was {kind.lower()}: {reason}")
        certificate = (csr.get("status") or {}).get("certificate")
        if APPROVED in state and certificate:
            return decode_bytes_field(certificate)
        if loop.time() >= deadline:
            raise BootstrapError(
                f"certificate signing request {name} was not {'signed' if APPROVED in state else 'approved'} "
                f"within {options.wait:g}s: is the controller-manager running on the server?")
        await asyncio.sleep(options.poll_interval)


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key
    key = ec.generate_private_key(ec.SECP256R1())
    _write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return key


def render_kubeconfig(*, server: str, ca_pem: bytes, user: str, cert_pem: bytes, key_pem: bytes) -> str:
    """A self-contained single-context kubeconfig for the node."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "kybernetes", "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": _b64(cert_pem),
                                          "client-key-data": _b64(key_pem)}}],
        "contexts": [{"name": "kybernetes", "context": {"cluster": "kybernetes", "user": user}}],
        "current-context": "kybernetes",
    }, sort_keys=False, default_flow_style=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
