"""Real TLS on 127.0.0.1: client certificates through `server_ssl_context`, and real clients on our kubeconfig.

The aiohttp server answers `/whoami` with the authenticated user (401 Status for bad credentials), which is
what the API server's authentication layer will do; the official Python client and (if installed) kubectl
connect to it with kubeconfigs from `write_admin_kubeconfig`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kybernetes.apiserver.auth import build_authenticator
from kybernetes.apiserver.auth.authn import (
    AuthenticatorChain,
    ClientCertAuthenticator,
    authenticate_request,
    server_ssl_context,
)
from kybernetes.apiserver.auth.kubeconfig import load_kubeconfig, write_admin_kubeconfig, write_kubeconfig
from kybernetes.apiserver.auth.pki import Pki, ensure_pki, issue_client_cert
from kybernetes.apiserver.auth.tokenfile import ensure_admin_token
from kybernetes.machinery.errors import StatusError


async def _no_service_accounts(namespace: str, name: str) -> str | None:
    return None


# --- plain asyncio TLS server ---------------------------------------------------------------------------


async def _echo_user_server(pki: Pki) -> asyncio.Server:
    chain = AuthenticatorChain(authenticators=[ClientCertAuthenticator(ca_cert=pki.ca_cert)])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            user = await chain.authenticate(request_headers={}, peer_cert=writer.get_extra_info("peercert"))
            writer.write(json.dumps({"name": user.name, "groups": list(user.groups)}).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ssl_context(pki))


async def _ask(port: int, context: ssl.SSLContext, server_hostname: str = "127.0.0.1") -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_hostname)
    try:
        answer: dict[str, Any] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()


def _client_context(pki: Pki, cert_pem: bytes | None, key_pem: bytes | None, tmp_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=pki.ca_pem().decode())
    if cert_pem is not None and key_pem is not None:
        (tmp_path / "c.crt").write_bytes(cert_pem)
        (tmp_path / "c.key").write_bytes(key_pem)
        context.load_cert_chain(tmp_path / "c.crt", tmp_path / "c.key")
    return context


async def test_client_certificate_identifies_the_user(pki: Pki, tmp_path: Path) -> None:
    server = await _echo_user_server(pki)
    port = server.sockets[0].getsockname()[1]
    try:
        context = _client_context(
            pki, pki.admin_cert_path.read_bytes(), pki.admin_key_path.read_bytes(), tmp_path
        )
        # Both an IP SAN and a DNS SAN of the serving certificate verify.
        for hostname in ("127.0.0.1", "localhost", "kubernetes.default.svc"):
            answer = await _ask(port, context, server_hostname=hostname)
            assert answer == {
                "name": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"],
            }
        cert, key = issue_client_cert(pki=pki, user="alice", groups=["dev", "ops"], days=1)
        answer = await _ask(port, _client_context(pki, cert, key, tmp_path))
        assert answer == {"name": "alice", "groups": ["dev", "ops", "system:authenticated"]}
    finally:
        server.close()
        await server.wait_closed()


async def test_no_client_certificate_is_anonymous(pki: Pki, tmp_path: Path) -> None:
    server = await _echo_user_server(pki)
    port = server.sockets[0].getsockname()[1]
    try:
        answer = await _ask(port, _client_context(pki, None, None, tmp_path))
        assert answer == {"name": "system:anonymous", "groups": ["system:unauthenticated"]}
    finally:
        server.close()
        await server.wait_closed()


async def test_certificate_from_another_ca_is_refused(pki: Pki, tmp_path: Path) -> None:
    other = ensure_pki(pki_dir=tmp_path / "other", sans_dns=[], sans_ip=[])
    cert, key = issue_client_cert(pki=other, user="mallory", groups=["system:masters"], days=1)
    server = await _echo_user_server(pki)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, json.JSONDecodeError)):
            # With TLS 1.3 the client learns of the rejection on its first read.
            await _ask(port, _client_context(pki, cert, key, tmp_path))
    finally:
        server.close()
        await server.wait_closed()


def test_server_context_settings(pki: Pki) -> None:
    context = server_ssl_context(pki)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_OPTIONAL
    ca = x509.load_der_x509_certificate(context.get_ca_certs(binary_form=True)[0])
    assert ca.public_bytes(serialization.Encoding.PEM) == pki.ca_pem()


# --- aiohttp server with the full chain, real clients ---------------------------------------------------


@pytest.fixture
async def whoami_server(pki: Pki, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """An HTTPS aiohttp server answering /whoami; yields (server URL, admin token)."""
    token = ensure_admin_token(path=tmp_path / "tokens.csv")
    chain, _ = build_authenticator(pki=pki, token_file=tmp_path / "tokens.csv", sa_lookup=_no_service_accounts)

    async def whoami(request: web.Request) -> web.Response:
        try:
            user = await authenticate_request(chain, request)
        except StatusError as err:
            return web.json_response(err.to_status(), status=err.code)
        return web.json_response({"name": user.name, "groups": list(user.groups)})

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(pki))
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"https://127.0.0.1:{port}", token
    finally:
        await runner.cleanup()


def _python_client_whoami(config_file: Path) -> tuple[int, Any]:
    """(HTTP status, JSON body) of GET /whoami through the official client's own transport and auth."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(config_file), client_configuration=configuration)
    with kubernetes.client.ApiClient(configuration) as api:
        method, url, headers, body, post = api.param_serialize(
            "GET", "/whoami", header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
        )
        response = api.call_api(method, url, header_params=headers, body=body, post_params=post)
        response.read()
        return response.status, json.loads(response.data)


def test_official_python_client_loads_admin_kubeconfig(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "admin.conf"
    write_admin_kubeconfig(path=path, server_url="https://127.0.0.1:6443", pki=pki)
    assert path.stat().st_mode & 0o777 == 0o600

    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.ssl_ca_cert and configuration.cert_file and configuration.key_file
    assert Path(configuration.ssl_ca_cert).read_bytes() == pki.ca_pem()
    assert Path(configuration.cert_file).read_bytes() == pki.admin_cert_path.read_bytes()
    assert Path(configuration.key_file).read_bytes() == pki.admin_key_path.read_bytes()
    assert configuration.verify_ssl is True


async def test_official_python_client_connects_with_admin_certificate(
    pki: Pki, tmp_path: Path, whoami_server: tuple[str, str]
) -> None:
    url, _ = whoami_server
    path = tmp_path / "admin.conf"
    write_admin_kubeconfig(path=path, server_url=url, pki=pki)

    answer = await asyncio.to_thread(_python_client_whoami, path)
    assert answer == (200, {"name": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]})


async def test_official_python_client_with_token_kubeconfig(
    pki: Pki, tmp_path: Path, whoami_server: tuple[str, str]
) -> None:
    url, token = whoami_server
    path = tmp_path / "token.conf"
    write_admin_kubeconfig(path=path, server_url=url, pki=pki, token=token)
    assert load_kubeconfig(path).client_cert_data is None

    answer = await asyncio.to_thread(_python_client_whoami, path)
    assert answer == (200, {"name": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]})

    write_admin_kubeconfig(path=path, server_url=url, pki=pki, token="wrong-token")
    status, body = await asyncio.to_thread(_python_client_whoami, path)
    assert status == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["message"] == "Unauthorized"


async def test_own_kubeconfig_reader_connects(pki: Pki, tmp_path: Path, whoami_server: tuple[str, str]) -> None:
    url, _ = whoami_server
    path = tmp_path / "admin.conf"
    write_admin_kubeconfig(path=path, server_url=url, pki=pki)
    config = load_kubeconfig(path)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", int(url.rsplit(":", 1)[1]), ssl=config.ssl_context(), server_hostname="127.0.0.1"
    )
    try:
        writer.write(b"GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        response = await reader.read()
    finally:
        writer.close()
    assert response.startswith(b"HTTP/1.1 200")
    assert json.loads(response.split(b"\r\n\r\n", 1)[1])["name"] == "kubernetes-admin"


async def _kubectl(config: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(config), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(config.parent)},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, stdout.decode(), stderr.decode()


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
async def test_kubectl_uses_admin_kubeconfig(pki: Pki, tmp_path: Path, whoami_server: tuple[str, str]) -> None:
    url, token = whoami_server
    cert_conf, token_conf, bad_conf = tmp_path / "cert.conf", tmp_path / "token.conf", tmp_path / "bad.conf"
    write_admin_kubeconfig(path=cert_conf, server_url=url, pki=pki)
    write_admin_kubeconfig(path=token_conf, server_url=url, pki=pki, token=token)
    write_kubeconfig(path=bad_conf, server_url=url, ca_pem=pki.ca_pem(), cluster_name="kybernetes", user="x",
                     token="nope")

    for config in (cert_conf, token_conf):
        code, out, err = await _kubectl(config, "get", "--raw", "/whoami")
        assert code == 0, err
        assert json.loads(out)["name"] == "kubernetes-admin"

    code, out, err = await _kubectl(bad_conf, "get", "--raw", "/whoami")
    assert code != 0
    assert "Unauthorized" in err
