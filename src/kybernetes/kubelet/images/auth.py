"""Registry credentials: docker config JSON (imagePullSecrets) and the WWW-Authenticate challenge.

`auth_from_docker_config` reads a `.dockerconfigjson` (`{"auths": {...}}`) or a legacy `.dockercfg` (the
map alone) and picks the entry for a registry host the way the kubelet's credential keyring does: the key
may be a bare host, a URL (`https://index.docker.io/v1/`), or a wildcard host (`*.example.com`); Docker
Hub's aliases are one registry. An entry gives `auth` (base64 `user:password`) or `username`/`password`,
and optionally `identitytoken` / `registrytoken`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kybernetes.kubelet.images.reference import DOCKER_HUB, DOCKER_HUB_ALIASES
from kybernetes.kubelet.runtime.protocol import RegistryAuth

_HUB_KEYS = DOCKER_HUB_ALIASES | {"index.docker.io/v1", "index.docker.io/v1/"}


def _key_host(key: str) -> str:
    """The host[:port] of a docker config key (a host, or a URL with a scheme and path)."""
    key = key.strip()
    if "://" in key:
        key = urlsplit(key).netloc
    host = key.split("/", 1)[0].lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def _host_matches(pattern: str, host: str) -> bool:
    if pattern == host:
        return True
    if "*" not in pattern:
        return False
    # Wildcards match one DNS label each, and the ports must agree (the kubelet's rule).
    p_name, _, p_port = pattern.partition(":")
    h_name, _, h_port = host.partition(":")
    if p_port != h_port:
        return False
    p_labels, h_labels = p_name.split("."), h_name.split(".")
    if len(p_labels) != len(h_labels):
        return False
    return all(re.fullmatch(re.escape(p).replace(r"\*", "[^.]*"), h) for p, h in zip(p_labels, h_labels, strict=True))


def _entry_auth(entry: Mapping[str, Any]) -> RegistryAuth | None:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    encoded = entry.get("auth")
    if encoded and not (username or password):
        try:
            decoded = base64.b64decode(str(encoded), validate=False).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep:
            return None
    auth = RegistryAuth(username=username, password=password,
                        identity_token=str(entry.get("identitytoken") or ""),
                        registry_token=str(entry.get("registrytoken") or ""))
    if not (auth.username or auth.password or auth.identity_token or auth.registry_token):
        return None
    return auth


def auth_from_docker_config(config: str | bytes | Mapping[str, Any], registry_host: str) -> RegistryAuth | None:
    """The credentials for `registry_host` (e.g. `docker.io`, `myreg:5000`) in a docker config, or None.

    An exact host beats a wildcard. Malformed JSON gives None (a bad secret must not stop other pulls).
    """
    if isinstance(config, str | bytes):
        try:
            obj: Any = json.loads(config)
        except ValueError:
            return None
    else:
        obj = config
    if not isinstance(obj, Mapping):
        return None
    nested = obj.get("auths")
    auths: Mapping[str, Any] = nested if isinstance(nested, Mapping) else obj
    host = _key_host(registry_host)
    wildcard: RegistryAuth | None = None
    for key, entry in auths.items():
        if not isinstance(entry, Mapping) or not isinstance(key, str):
            continue
        pattern = _key_host(key)
        if pattern == host:
            found = _entry_auth(entry)
            if found is not None:
                return found
        elif wildcard is None and _host_matches(pattern, host):
            wildcard = _entry_auth(entry)
    return wildcard


def parse_www_authenticate(header: str) -> tuple[str, dict[str, str]]:
    """(scheme lower-cased, parameters) of a challenge like `Bearer realm="...",service="...",scope="..."`."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for m in re.finditer(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))', rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


def basic_header(auth: RegistryAuth) -> str:
    return "Basic " + base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
