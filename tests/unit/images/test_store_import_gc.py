"""The store without a registry: archive import, tags, shared layers, removal and GC."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from imagebuild import LayerBuilder, OciLayout, build_image, layout_to_docker_save, layout_to_tar
from kybernetes.kubelet.images import ArchiveError, LocalImageService
from kybernetes.kubelet.images.policy import ErrImageNeverPull, PullBackoff, default_pull_policy, ensure_image
from kybernetes.kubelet.runtime.protocol import ImagePullError


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, OciLayout]:
    base = tmp_path_factory.mktemp("layouts")
    shared = LayerBuilder().file("etc/base", b"base\n").build(base / "shared")
    out = {}
    for name in ("one", "two", "three"):
        top = LayerBuilder().file(f"app/{name}", name.encode() * 1000)
        out[name] = build_image(base / name, [shared, top], name=f"example.com/app/{name}:v1", cmd=[name],
                                env=[f"NAME={name}"], working_dir="/app")
    return out


async def test_import_oci_dir_tar_and_docker_save(tmp_path: Path, images: dict[str, OciLayout]) -> None:
    async with LocalImageService(data_dir=tmp_path / "data") as svc:
        [ref] = await svc.import_archive(path=images["one"].path)
        assert ref.repo_tags == ("example.com/app/one:v1",)
        assert ref.repo_digest == f"example.com/app/one@{images['one'].manifest_digest}"
        assert ref.config.cmd == ("one",) and ref.config.env == ("NAME=one",) and ref.config.working_dir == "/app"
        assert (ref.layers[1] / "app/one").read_bytes() == b"one" * 1000

        [ref2] = await svc.import_archive(path=layout_to_tar(images["two"], tmp_path / "two.tar"),
                                          tags=["two:extra"])
        assert set(ref2.repo_tags) == {"example.com/app/two:v1", "docker.io/library/two:extra"}
        assert ref2.layers[0] == ref.layers[0]

        saved = layout_to_docker_save(images["three"], tmp_path / "three.tar", repo_tags=["three:1", "reg:5000/t:2"])
        [ref3] = await svc.import_archive(path=saved)
        assert ref3.id == images["three"].config_digest  # same config, same image id as when pulled
        assert set(ref3.repo_tags) == {"docker.io/library/three:1", "reg:5000/t:2"}
        assert ref3.repo_digest == ""  # docker save carries no registry digest
        assert ref3.layers[0] == ref.layers[0]  # diff_ids match whatever the compression
        assert await svc.image_status(image="three:1") == ref3
        assert await svc.image_status(image=ref3.id) == ref3
        assert await svc.image_status(image="three:2") is None
        assert len(await svc.list_images()) == 3


async def test_bad_archives(tmp_path: Path, images: dict[str, OciLayout]) -> None:
    async with LocalImageService(data_dir=tmp_path / "data") as svc:
        junk = tmp_path / "junk"
        junk.write_bytes(b"not a tar")
        with pytest.raises(ArchiveError):
            await svc.import_archive(path=junk)
        empty = tmp_path / "empty"
        empty.mkdir()
        with pytest.raises(ArchiveError, match="neither"):
            await svc.import_archive(path=empty)
        corrupt = tmp_path / "corrupt"
        shutil.copytree(images["one"].path, corrupt)
        layer_blob = corrupt / "blobs/sha256" / images["one"].layers[1].digest.split(":", 1)[1]
        layer_blob.write_bytes(layer_blob.read_bytes() + b"x")
        with pytest.raises(ArchiveError, match="digest mismatch"):
            await svc.import_archive(path=corrupt)
        assert await svc.list_images() == []


async def test_retag_remove_and_shared_layers(tmp_path: Path, images: dict[str, OciLayout]) -> None:
    async with LocalImageService(data_dir=tmp_path / "data") as svc:
        [one] = await svc.import_archive(path=images["one"].path, tags=["app:latest"])
        [two] = await svc.import_archive(path=images["two"].path, tags=["app:latest"])
        # The tag moved: "one" keeps only its own name.
        assert (await svc.image_status(image="app")) == two
        assert (await svc.image_status(image=one.id)).repo_tags == ("example.com/app/one:v1",)  # type: ignore[union-attr]

        await svc.remove_image(image="example.com/app/one:v1")
        assert await svc.image_status(image=one.id) is None
        assert not one.layers[1].exists()  # its own layer went
        assert one.layers[0].exists()  # the shared one stays for "two"
        assert not svc.store.has_blob(images["one"].layers[1].digest)
        assert svc.store.has_blob(images["one"].layers[0].digest)
        assert not svc.store.has_blob(images["one"].manifest_digest)
        await svc.remove_image(image="example.com/app/one:v1")  # absent: no error

        await svc.remove_image(image="app:latest")
        assert await svc.list_images() == []
        assert list(svc.store.layers_dir.iterdir()) == []
        assert list(svc.store.blobs_dir.iterdir()) == []
        index = json.loads(svc.store.index_path.read_text())
        assert index["tags"] == {} and index["images"] == {} and index["layerSizes"] == {}


async def test_garbage_collect(tmp_path: Path, images: dict[str, OciLayout]) -> None:
    async with LocalImageService(data_dir=tmp_path / "data") as svc:
        refs = {}
        for name in ("one", "two", "three"):
            [refs[name]] = await svc.import_archive(path=images[name].path)
        used, capacity = await svc.fs_usage()
        assert used > 3000 and capacity > used
        # Below the threshold: nothing happens.
        assert await svc.garbage_collect(high_percent=100, low_percent=50, in_use=set()) == []
        # Down to 0 %: every unused image goes, least recently used first ("three" was used after "one");
        # the one in use stays.
        await svc.mark_used(image=refs["three"].id)
        removed = await svc.garbage_collect(high_percent=0, low_percent=0, in_use={"example.com/app/two:v1"})
        assert removed == [refs["one"].id, refs["three"].id]
        assert [r.id for r in await svc.list_images()] == [refs["two"].id]
        assert all(layer.exists() for layer in refs["two"].layers)
        after, _ = await svc.fs_usage()
        assert after < used
        # A threshold just below the current usage frees the least recently used image and stops.
        [refs["one"]] = await svc.import_archive(path=images["one"].path)
        used, capacity = await svc.fs_usage()
        percent = used * 100 / capacity
        removed = await svc.garbage_collect(high_percent=percent * 0.99, low_percent=percent * 0.99, in_use=set())
        assert removed == [refs["two"].id]  # imported before "one" was re-imported: least recently used
        assert await svc.image_status(image=refs["one"].id) is not None


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_pull_policy_and_backoff(tmp_path: Path, images: dict[str, OciLayout]) -> None:
    assert default_pull_policy("busybox") == "Always"
    assert default_pull_policy("busybox:1.36") == "IfNotPresent"
    assert default_pull_policy("busybox@sha256:" + "a" * 64) == "IfNotPresent"
    async with LocalImageService(data_dir=tmp_path / "data") as svc:
        await svc.import_archive(path=images["one"].path)
        # Present locally: IfNotPresent and Never use it without any registry.
        for policy in ("IfNotPresent", "Never"):
            ref = await ensure_image(service=svc, image="example.com/app/one:v1", pull_policy=policy)
            assert ref.id == images["one"].config_digest
        with pytest.raises(ErrImageNeverPull) as never:
            await ensure_image(service=svc, image="example.com/app/two:v1", pull_policy="Never")
        assert never.value.reason == "ErrImageNeverPull"
        # Always goes to the registry (here one that does not exist): ErrImagePull.
        with pytest.raises(ImagePullError) as pull:
            await ensure_image(service=svc, image="127.0.0.1:9/app/one:v1", pull_policy="Always")
        assert pull.value.reason == "ErrImagePull"

    clock = _Clock()
    backoff = PullBackoff(clock=clock)
    assert not backoff.in_backoff("x")
    assert [backoff.failed("x") for _ in range(7)] == [10, 20, 40, 80, 160, 300, 300]
    assert backoff.in_backoff("x")
    clock.now = 301
    assert not backoff.in_backoff("x")
    backoff.succeeded("x")
    assert backoff.failed("x") == 10
