"""`kyb token create|list|delete`: bootstrap tokens for joining nodes, as `kubeadm token` manages them.

    kyb token create [--ttl 24h] [--description TEXT] [--groups G,...] [--print-join-command]
    kyb token list
    kyb token delete TOKEN_ID|TOKEN...

A token is a Secret `kube-system/bootstrap-token-<id>` (`kybernetes.api.bootstraptoken`), written and read
with the admin kubeconfig. `create` prints the token (or, with `--print-join-command`, the `kyb agent`
command line with the server URL and the CA's public-key hash); `list` prints kubeadm's table (TOKEN, TTL,
EXPIRES, USAGES, DESCRIPTION, EXTRA GROUPS; TTL `<forever>` / `<invalid>` once expired); `delete` takes
ids or whole tokens.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kybernetes.api.bootstraptoken import (
    ID_RE,
    SECRET_NAMESPACE,
    SECRET_TYPE,
    BootstrapToken,
    TokenFormatError,
    from_secret,
    new_token,
    parse_token,
    parse_ttl,
    secret_name,
)
from kybernetes.client import Client, ClientConfig
from kybernetes.cmd.adminconfig import CommandError, add_kubeconfig_flag, admin_config, run_admin
from kybernetes.machinery.errors import NotFoundError
from kybernetes.machinery.timefmt import format_rfc3339, utcnow

SECRETS = f"/api/v1/namespaces/{SECRET_NAMESPACE}/secrets"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="token_command", metavar="create|list|delete", required=True)
    create = sub.add_parser("create", help="create a bootstrap token and print it")
    create.add_argument("--ttl", default="24h", help="how long the token lasts (e.g. 24h, 30m; 0: forever)")
    create.add_argument("--description", default="", help="what the token is for")
    create.add_argument("--groups", default=None,
                        help="extra groups, comma-separated (default: system:bootstrappers:kybernetes:default-node-token)")
    create.add_argument("--print-join-command", action="store_true",
                        help="print the `kyb agent` command that joins a node with the new token")
    add_kubeconfig_flag(create)
    listing = sub.add_parser("list", help="list bootstrap tokens")
    add_kubeconfig_flag(listing)
    delete = sub.add_parser("delete", help="delete bootstrap tokens")
    delete.add_argument("tokens", nargs="+", metavar="TOKEN_ID", help="token ids (or whole tokens)")
    add_kubeconfig_flag(delete)


def run(args: argparse.Namespace) -> int:
    return run_admin(_main(args))


async def _main(args: argparse.Namespace) -> int:
    config = admin_config(args.kubeconfig, component="kyb-token")
    async with Client(config) as client:
        if args.token_command == "create":
            return await create(client=client, config=config, args=args)
        if args.token_command == "list":
            print(format_table(await list_tokens(client=client), now=utcnow()), end="")
            return 0
        return await delete(client=client, tokens=args.tokens)


async def create(*, client: Client, config: ClientConfig, args: argparse.Namespace) -> int:
    try:
        ttl = parse_ttl(args.ttl)
        groups = None if args.groups is None else [g.strip() for g in args.groups.split(",") if g.strip()]
        token = new_token(now=utcnow(), ttl=ttl, description=args.description, extra_groups=groups)
    except (TokenFormatError, ValueError) as e:
        raise CommandError(str(e)) from None
    await client.request("POST", SECRETS, body=json.dumps(token.secret()).encode())
    if args.print_join_command:
        print(join_command(server=config.server, token=token.token, ca_hash=ca_cert_hash(config)))
    else:
        print(token.token)
    return 0


async def list_tokens(*, client: Client) -> list[BootstrapToken]:
    response = await client.request("GET", SECRETS, params={"fieldSelector": f"type={SECRET_TYPE}"})
    tokens = []
    for item in response.json().get("items") or []:
        try:
            tokens.append(from_secret(item))
        except TokenFormatError:
            continue  # not a well-formed token: kubeadm skips those too
    return sorted(tokens, key=lambda t: t.token_id)


async def delete(*, client: Client, tokens: list[str]) -> int:
    for text in tokens:
        token_id = text if ID_RE.match(text) else _id_of(text)
        try:
            await client.request("DELETE", f"{SECRETS}/{secret_name(token_id)}")
        except NotFoundError:
            raise CommandError(f'bootstrap token "{token_id}" not found') from None
        print(f'bootstrap token "{token_id}" deleted')
    return 0


def _id_of(text: str) -> str:
    try:
        return parse_token(text)[0]
    except TokenFormatError:
        raise CommandError(f'{text!r} is neither a token id ([a-z0-9]{{6}}) nor a token') from None


def format_table(tokens: list[BootstrapToken], *, now: datetime) -> str:
    """kubeadm's `token list` table: columns padded to the widest cell plus three spaces."""
    rows = [["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]]
    for token in tokens:
        usages = [u for u, on in (("authentication", token.usage_authentication),
                                   ("signing", token.usage_signing)) if on]
        rows.append([
            token.token,
            _ttl(token, now=now),
            format_rfc3339(token.expiration) if token.expiration else "<never>",
            ",".join(usages) or "<none>",
            token.description or "<none>",
            ",".join(token.extra_groups) or "<none>",
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["".join(cell.ljust(widths[i] + 3) for i, cell in enumerate(row[:-1])) + row[-1] for row in rows]
    return "\n".join(lines) + "\n"


def _ttl(token: BootstrapToken, *, now: datetime) -> str:
    if token.expiration is None:
        return "<forever>"
    left = token.expiration - now
    if left <= timedelta(0):
        return "<invalid>"
    return _short_duration(left)


def _short_duration(delta: timedelta) -> str:
    """Like Go's duration.ShortHumanDuration: 59s, 45m, 23h, 6d, 2y."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    if seconds < 86400 * 365:
        return f"{seconds // 86400}d"
    return f"{seconds // (86400 * 365)}y"


def ca_cert_hash(config: ClientConfig) -> str:
    """`sha256:<hex>` of the cluster CA's SubjectPublicKeyInfo (kubeadm's --discovery-token-ca-cert-hash)."""
    context = config.ssl_context
    certs = context.get_ca_certs(binary_form=True) if context is not None else []
    if not certs:
        raise CommandError("the kubeconfig names no certificate authority: cannot compute --ca-cert-hash")
    return spki_hash(x509.load_der_x509_certificate(certs[0]))


def spki_hash(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def join_command(*, server: str, token: str, ca_hash: str) -> str:
    return f"kyb agent --server {server} --token {token} --ca-cert-hash {ca_hash}"
