"""Manifest parsing, platform choice from an index, docker config credentials, auth challenges."""

from __future__ import annotations

import base64
import json

import pytest

from kybernetes.kubelet.images import auth_from_docker_config
from kybernetes.kubelet.images.auth import parse_www_authenticate
from kybernetes.kubelet.images.manifest import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Index,
    Manifest,
    ManifestError,
    digest_hex,
    machine_platform,
    parse,
    select_platform,
)
from kybernetes.kubelet.runtime.protocol import RegistryAuth


def d(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def entry(n: int, os_: str | None, arch: str | None = None, variant: str | None = None,
          media_type: str = OCI_MANIFEST) -> dict[str, object]:
    e: dict[str, object] = {"mediaType": media_type, "digest": d(n), "size": 10}
    if os_ is not None:
        plat = {"os": os_, "architecture": arch}
        if variant:
            plat["variant"] = variant
        e["platform"] = plat
    return e


def index(*entries: dict[str, object], media_type: str = OCI_INDEX) -> Index:
    parsed = parse(json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": list(entries)}).encode())
    assert isinstance(parsed, Index)
    return parsed


def test_parse_manifest_types() -> None:
    body = {"schemaVersion": 2, "config": {"mediaType": "x", "digest": d(1), "size": 3},
            "layers": [{"mediaType": "y", "digest": d(2), "size": 4}]}
    for media_type in (OCI_MANIFEST, DOCKER_MANIFEST):
        m = parse(json.dumps({**body, "mediaType": media_type}).encode())
        assert isinstance(m, Manifest) and m.media_type == media_type
        assert m.config.digest == d(1) and [x.digest for x in m.layers] == [d(2)]
    # No mediaType in the body: the Content-Type decides, else the shape.
    assert isinstance(parse(json.dumps(body).encode(), content_type=DOCKER_MANIFEST + "; charset=utf-8"), Manifest)
    assert isinstance(parse(json.dumps(body).encode()), Manifest)
    assert isinstance(parse(json.dumps({"schemaVersion": 2, "manifests": []}).encode()), Index)
    assert isinstance(parse(json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": []}).encode()),
                      Index)


@pytest.mark.parametrize("body", [
    b"not json", b"[]",
    json.dumps({"schemaVersion": 1, "mediaType": DOCKER_MANIFEST, "config": {}, "layers": []}).encode(),
    json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": [],
                "mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws"}).encode(),
    json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": "md5:abc"},
                "layers": []}).encode(),
    json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": "sha256:../../etc"},
                "layers": []}).encode(),
])
def test_parse_rejects(body: bytes) -> None:
    with pytest.raises(ManifestError):
        parse(body)


def test_digest_hex_is_safe_as_a_file_name() -> None:
    assert digest_hex(d(7)) == f"{7:064x}"
    for bad in ("sha256:../x", "sha512:" + "a" * 128, "sha256:" + "A" * 64, "nope"):
        with pytest.raises(ManifestError):
            digest_hex(bad)


def test_select_platform() -> None:
    idx = index(entry(1, "linux", "arm64", "v8"), entry(2, "windows", "amd64"), entry(3, "linux", "amd64"),
                entry(4, "unknown", "unknown"), entry(5, "linux", "arm", "v7"), media_type=DOCKER_LIST)
    assert select_platform(idx, os="linux", architecture="amd64").digest == d(3)
    assert select_platform(idx, os="linux", architecture="arm64", variant="v8").digest == d(1)
    assert select_platform(idx, os="linux", architecture="arm", variant="v7").digest == d(5)
    with pytest.raises(ManifestError, match="no match for platform linux/s390x"):
        select_platform(idx, os="linux", architecture="s390x")
    with pytest.raises(ManifestError):
        select_platform(idx, os="linux", architecture="arm", variant="v6")
    # The machine's own platform by default.
    _, arch, _ = machine_platform()
    assert select_platform(index(entry(8, "linux", "other"), entry(9, "linux", arch))).digest == d(9)


def test_select_platform_prefers_an_exact_variant_and_takes_a_bare_entry_last() -> None:
    idx = index(entry(1, "linux", "arm64"), entry(2, "linux", "arm64", "v8"))
    assert select_platform(idx, os="linux", architecture="arm64", variant="v8").digest == d(2)
    assert select_platform(index(entry(3, None)), os="linux", architecture="amd64").digest == d(3)
    assert select_platform(index(entry(3, None), entry(4, "linux", "amd64")), os="linux",
                           architecture="amd64").digest == d(4)
    # Attestations and other artifacts are not images.
    with pytest.raises(ManifestError):
        select_platform(index(entry(5, "linux", "amd64", media_type="application/vnd.in-toto+json")),
                        os="linux", architecture="amd64")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_docker_config_auth() -> None:
    config = {"auths": {
        "https://index.docker.io/v1/": {"auth": b64("hub:hubpw")},
        "myreg:5000": {"username": "me", "password": "pw"},
        "https://quay.io/v2/": {"auth": b64("q:a:b")},  # a password may contain ':'
        "*.example.com": {"auth": b64("wild:card")},
        "exact.example.com": {"identitytoken": "idtok"},
        "token.io": {"registrytoken": "rt"},
        "broken.io": {"auth": "%%%"},
    }}
    assert auth_from_docker_config(config, "docker.io") == RegistryAuth(username="hub", password="hubpw")
    assert auth_from_docker_config(json.dumps(config), "registry-1.docker.io") == RegistryAuth("hub", "hubpw")
    assert auth_from_docker_config(json.dumps(config).encode(), "myreg:5000") == RegistryAuth("me", "pw")
    assert auth_from_docker_config(config, "myreg") is None
    assert auth_from_docker_config(config, "quay.io") == RegistryAuth("q", "a:b")
    assert auth_from_docker_config(config, "exact.example.com") == RegistryAuth(identity_token="idtok")
    assert auth_from_docker_config(config, "other.example.com") == RegistryAuth("wild", "card")
    assert auth_from_docker_config(config, "a.b.example.com") is None
    assert auth_from_docker_config(config, "other.example.com:5000") is None
    assert auth_from_docker_config(config, "token.io") == RegistryAuth(registry_token="rt")
    assert auth_from_docker_config(config, "broken.io") is None
    # Legacy .dockercfg: the map without "auths".
    assert auth_from_docker_config({"myreg:5000": {"auth": b64("old:style")}}, "myreg:5000") == RegistryAuth(
        "old", "style")
    assert auth_from_docker_config("{not json", "docker.io") is None
    assert auth_from_docker_config("[]", "docker.io") is None


def test_www_authenticate() -> None:
    scheme, params = parse_www_authenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull",error="insufficient_scope"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:library/busybox:pull", "error": "insufficient_scope"}
    assert parse_www_authenticate('Basic realm="kyb \\"test\\""') == ("basic", {"realm": 'kyb "test"'})
    assert parse_www_authenticate("Bearer realm=http://x/token, service=s") == (
        "bearer", {"realm": "http://x/token", "service": "s"})
