"""Image reference parsing and normalization (Docker's and containerd's rules)."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.images.reference import InvalidReference, normalize, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "expected"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("registry-1.docker.io/bitnami/nginx", "docker.io/bitnami/nginx:latest"),
    ("bitnami/nginx:1.2.3", "docker.io/bitnami/nginx:1.2.3"),
    ("quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5"),
    ("localhost/app", "localhost/app:latest"),
    ("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app:v1"),
    ("myreg:5000/app", "myreg:5000/app:latest"),
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
    (f"myreg:5000/app:v1@{DIGEST}", f"myreg:5000/app:v1@{DIGEST}"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("a/b/c/d-e__f.g:T_a-g.1", "docker.io/a/b/c/d-e__f.g:T_a-g.1"),
])
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_parts_and_forms() -> None:
    ref = parse_reference(f"127.0.0.1:5000/team/app:v1@{DIGEST}")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("127.0.0.1:5000", "team/app", "v1", DIGEST)
    assert ref.api_ref == DIGEST
    assert ref.name == "127.0.0.1:5000/team/app"
    assert parse_reference("busybox").familiar() == "busybox:latest"
    assert parse_reference("bitnami/nginx:1").familiar() == "bitnami/nginx:1"
    assert parse_reference("busybox:1").api_ref == "1"


@pytest.mark.parametrize("text", [
    "", " busybox", "Busybox", "team/App", "busybox:", "busybox:-bad", "busybox@sha256:abc",
    "busybox@sha256:" + "AB" * 32, "a//b", "/busybox", "busybox:" + "x" * 129, "ab" * 32, "host:5000/",
    "my_reg.io:x/app",
])
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_reference(text)
