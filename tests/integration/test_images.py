"""Images end to end with Debian's real `docker-registry` on loopback: push test images built from this
machine's files, pull them through a docker.io mirror, run what was unpacked, import archives with
`kyb image`, and collect garbage."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagebuild import (
    LayerBuilder,
    LocalRegistry,
    OciLayout,
    build_busybox_image,
    build_image,
    build_python_image,
    layout_to_docker_save,
    layout_to_tar,
    push_index,
    push_layout,
)
from kybernetes.cmd import image as image_cmd
from kybernetes.kubelet.images import ImageServiceConfig, LocalImageService
from kybernetes.kubelet.runtime.protocol import ImagePullError, RegistryAuth

pytestmark = [
    pytest.mark.registry,
    pytest.mark.skipif(not os.path.exists("/usr/bin/docker-registry"), reason="needs Debian's docker-registry"),
    pytest.mark.skipif(not os.path.exists("/usr/bin/busybox"), reason="needs Debian's busybox-static"),
]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts and whiteout devices need root")


@pytest.fixture(scope="module")
def registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as reg:
        yield reg


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory, registry: LocalRegistry) -> OciLayout:
    layout = build_busybox_image(tmp_path_factory.mktemp("busybox"))
    push_layout(layout, registry.url, "library/busybox", "latest", chunk_size=256 * 1024)  # chunked upload
    push_layout(layout, registry.url, "library/busybox", "1.35")  # monolithic (blobs already there)
    return layout


async def run(argv: list[str | Path], *, check: bool = True,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    if argv[0] == "chroot":
        argv = [shutil.which("chroot") or "/usr/sbin/chroot", *argv[1:]]
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, check=check, env=env)


def service(tmp_path: Path, registry: LocalRegistry) -> LocalImageService:
    return LocalImageService(data_dir=tmp_path / "data",
                             config=ImageServiceConfig(mirrors={"docker.io": [registry.url]}))


async def test_pull_busybox_through_a_mirror_and_run_it(tmp_path: Path, registry: LocalRegistry,
                                                        busybox: OciLayout) -> None:
    async with service(tmp_path, registry) as svc:
        ref = await svc.pull_image(image="busybox")
        assert ref.id == busybox.config_digest
        assert ref.repo_tags == ("docker.io/library/busybox:latest",)
        assert ref.repo_digest == f"docker.io/library/busybox@{busybox.manifest_digest}"
        assert ref.config.cmd == ("sh",)
        [layer] = ref.layers
        out = await run([layer / "bin/busybox", "echo", "hi"])
        assert out.stdout == b"hi\n"
        assert os.lstat(layer / "bin/sh").st_ino == os.lstat(layer / "bin/busybox").st_ino
        assert (layer / "etc/passwd").read_text().startswith("root:x:0:0:")
        assert oct(os.lstat(layer / "tmp").st_mode & 0o7777) == "0o1777"

        # Pulling again (and by another tag of the same image) reuses the unpacked layer as it is.
        inode = os.lstat(layer).st_ino
        again = await svc.pull_image(image="docker.io/library/busybox:1.35")
        assert again.layers == ref.layers and os.lstat(layer).st_ino == inode
        assert set(again.repo_tags) == {"docker.io/library/busybox:latest", "docker.io/library/busybox:1.35"}

        # By digest.
        by_digest = await svc.pull_image(image=f"busybox@{busybox.manifest_digest}")
        assert by_digest.id == ref.id
        assert await svc.image_status(image=f"docker.io/library/busybox@{busybox.manifest_digest}") is not None
        assert [i.id for i in await svc.list_images()] == [ref.id]


async def test_missing_image_fails_fast_with_the_registrys_reason(tmp_path: Path, registry: LocalRegistry,
                                                                  busybox: OciLayout) -> None:
    async with service(tmp_path, registry) as svc:
        start = time.monotonic()
        with pytest.raises(ImagePullError) as info:
            await svc.pull_image(image="nope")
        assert time.monotonic() - start < 5
        message = str(info.value)
        assert message.startswith('failed to resolve reference "docker.io/library/nope:latest": ')
        assert "not found" in message and "manifest unknown" in message.lower()
        with pytest.raises(ImagePullError, match="not found"):
            await svc.pull_image(image="busybox:no-such-tag")
        with pytest.raises(ImagePullError, match="not found"):
            await svc.pull_image(image=f"{registry.host}/library/busybox@sha256:" + "0" * 64)


async def test_multi_platform_index(tmp_path: Path, registry: LocalRegistry, busybox: OciLayout) -> None:
    other = build_image(tmp_path / "arm", [LayerBuilder().file("arch", b"arm64\n")], name="x:arm",
                        architecture="arm64")
    push_index(registry.url, "multi/busybox", "v1", [
        (other, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        (busybox, {"os": "linux", "architecture": "amd64"}),
    ])
    async with service(tmp_path, registry) as svc:
        ref = await svc.pull_image(image=f"{registry.host}/multi/busybox:v1")
    assert ref.id == busybox.config_digest
    assert (ref.layers[0] / "bin/busybox").exists()


async def test_basic_auth_with_htpasswd(tmp_path: Path, busybox: OciLayout) -> None:
    with LocalRegistry(htpasswd={"alice": "s3cret"}) as reg:
        push_layout(busybox, reg.url, "private/busybox", "v1", auth=("alice", "s3cret"))
        image = f"{reg.host}/private/busybox:v1"
        async with LocalImageService(data_dir=tmp_path / "data") as svc:
            with pytest.raises(ImagePullError, match="pull access denied"):
                await svc.pull_image(image=image)
            with pytest.raises(ImagePullError, match="unauthorized"):
                await svc.pull_image(image=image, auth=RegistryAuth(username="alice", password="nope"))
            ref = await svc.pull_image(image=image, auth=RegistryAuth(username="alice", password="s3cret"))
            assert ref.id == busybox.config_digest


def run_cli(action: str, data: str | Path, *argv: str) -> int:
    """`kyb image ACTION --data-dir DATA ARGV...` in this process (through the command's own parser)."""
    parser = argparse.ArgumentParser()
    image_cmd.add_arguments(parser)
    return image_cmd.run(parser.parse_args([action, "--data-dir", str(data), *argv]))


async def test_kyb_image_import_and_list(tmp_path: Path, busybox: OciLayout,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    oci_tar = layout_to_tar(busybox, tmp_path / "busybox-oci.tar")
    saved = layout_to_docker_save(busybox, tmp_path / "busybox-docker.tar", repo_tags=["mybox:saved"])
    assert await asyncio.to_thread(run_cli, "import", str(data), str(oci_tar)) == 0
    assert await asyncio.to_thread(run_cli, "import", str(data), str(saved), "--tag",
                                   "registry.local/box:air") == 0
    assert await asyncio.to_thread(run_cli, "list", str(data)) == 0
    out = capsys.readouterr().out
    for tag in ("docker.io/library/busybox:latest", "docker.io/library/mybox:saved", "registry.local/box:air"):
        assert tag in out
    assert await asyncio.to_thread(run_cli, "import", str(data), str(tmp_path / "missing.tar")) == 1
    assert "error:" in capsys.readouterr().err
    async with LocalImageService(data_dir=data) as svc:
        ref = await svc.image_status(image="mybox:saved")
        assert ref is not None and ref.id == busybox.config_digest
        assert ref == await svc.image_status(image="busybox")  # one image, three names
        out_run = await run([ref.layers[0] / "bin/echo", "air-gapped"])
        assert out_run.stdout == b"air-gapped\n"


async def test_kyb_image_pull_and_rm(tmp_path: Path, registry: LocalRegistry, busybox: OciLayout,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    assert await asyncio.to_thread(run_cli, "pull", data, "busybox:1.35",
                                   "--mirror", f"docker.io={registry.url}") == 0
    assert busybox.manifest_digest in capsys.readouterr().out
    assert await asyncio.to_thread(run_cli, "pull", data, "nope:1",
                                   "--mirror", f"docker.io={registry.url}") == 1
    assert 'failed to resolve reference "docker.io/library/nope:1"' in capsys.readouterr().err
    assert await asyncio.to_thread(run_cli, "rm", data, "busybox:1.35") == 0
    assert await asyncio.to_thread(run_cli, "rm", data, "busybox:1.35") == 1


async def test_gc_removes_an_unused_image(tmp_path: Path, registry: LocalRegistry, busybox: OciLayout) -> None:
    app = build_image(tmp_path / "app", [busybox.layers[0], LayerBuilder().file("app/data", os.urandom(100_000))],
                      name="x:app", cmd=["cat", "/app/data"])
    push_layout(app, registry.url, "team/app", "v1")
    async with service(tmp_path, registry) as svc:
        base = await svc.pull_image(image="busybox")
        ref = await svc.pull_image(image=f"{registry.host}/team/app:v1")
        assert ref.layers[0] == base.layers[0]
        removed = await svc.garbage_collect(high_percent=0, low_percent=0, in_use={"busybox"})
        assert removed == [ref.id]
        assert await svc.image_status(image=f"{registry.host}/team/app:v1") is None
        assert not ref.layers[1].exists() and base.layers[0].exists()
        assert await svc.image_status(image="busybox") is not None


def _overlay(layers: tuple[Path, ...], work: Path) -> Iterator[Path]:
    upper, workdir, merged = work / "upper", work / "work", work / "merged"
    for d in (upper, workdir, merged):
        d.mkdir(parents=True)
    lower = ":".join(str(p) for p in reversed(layers))
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={upper},workdir={workdir}", str(merged)], check=True)
    try:
        yield merged
    finally:
        subprocess.run(["umount", str(merged)], check=True)


@needs_root
async def test_whiteouts_work_under_a_real_overlay(tmp_path: Path, registry: LocalRegistry,
                                                   busybox: OciLayout) -> None:
    lower = LayerBuilder().file("etc/old.conf", b"old").file("data/a", b"a").file("data/b", b"b")
    upper = LayerBuilder().whiteout("etc/old.conf").opaque("data").file("data/c", b"c")
    layout = build_image(tmp_path / "wh", [busybox.layers[0], lower, upper], name="x:wh")
    push_layout(layout, registry.url, "team/whiteouts", "v1")
    async with service(tmp_path, registry) as svc:
        ref = await svc.pull_image(image=f"{registry.host}/team/whiteouts:v1")
    for merged in _overlay(ref.layers, tmp_path / "mnt"):
        assert not (merged / "etc/old.conf").exists()
        assert (merged / "etc/passwd").exists()
        assert sorted(os.listdir(merged / "data")) == ["c"]
        out = await run(["chroot", str(merged), "/bin/sh", "-c", "ls /data; cat /data/c"])
        assert out.stdout == b"c\nc"


@needs_root
async def test_python_image(tmp_path: Path, registry: LocalRegistry) -> None:
    layout = build_python_image()  # cached under /tmp per Python version
    push_layout(layout, registry.url, "library/python", "3-kyb")
    async with service(tmp_path, registry) as svc:
        ref = await svc.pull_image(image="python:3-kyb")
    assert len(ref.layers) == 2
    code = "import json, ssl, sqlite3, http.server, hashlib; print(json.dumps({'ok': ssl.OPENSSL_VERSION[:7]}))"
    for merged in _overlay(ref.layers, tmp_path / "mnt"):
        out = await run(["chroot", str(merged), "/usr/bin/python3", "-c", code], check=False,
                        env={"PATH": "/usr/bin:/bin"})
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == b'{"ok": "OpenSSL"}'
    shutil.rmtree(tmp_path / "data", ignore_errors=True)
