"""The image service against an in-process fake registry: auth flows, verification, index, dedup, mirrors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from imagebuild import OCI_INDEX, OCI_MANIFEST, LayerBuilder, OciLayout, build_image
from kybernetes.kubelet.images import ImageServiceConfig, LocalImageService
from kybernetes.kubelet.images.reference import parse_reference
from kybernetes.kubelet.images.registry import endpoints_for
from kybernetes.kubelet.runtime.protocol import ImagePullError, RegistryAuth


@dataclass
class FakeRegistry:
    """Serves manifests and blobs from memory; `mode` is "none", "basic" or "bearer"."""

    mode: str = "none"
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    url: str = ""
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def add(self, repo: str, tag: str, layout: OciLayout) -> None:
        self.manifests[(repo, tag)] = (layout.manifest, OCI_MANIFEST)
        self.manifests[(repo, layout.manifest_digest)] = (layout.manifest, OCI_MANIFEST)
        self.blobs[layout.config_digest] = layout.config
        for layer in layout.layers:
            self.blobs[layer.digest] = layer.path.read_bytes()

    def authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.mode == "none":
            return True
        if self.mode == "basic":
            return header == "Basic " + base64.b64encode(b"alice:secret").decode()
        return header == "Bearer tok-alice"

    def challenge(self, repo: str) -> web.Response:
        if self.mode == "basic":
            value = 'Basic realm="fake"'
        else:
            value = f'Bearer realm="{self.url}/token",service="fake",scope="repository:{repo}:pull"'
        body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
        return web.Response(status=401, text=body, headers={"WWW-Authenticate": value},
                            content_type="application/json")

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests.append(dict(request.query))
        if request.headers.get("Authorization") != "Basic " + base64.b64encode(b"alice:secret").decode():
            return web.json_response({"details": "incorrect username or password"}, status=401)
        return web.json_response({"token": "tok-alice", "expires_in": 300})

    async def manifest(self, request: web.Request) -> web.Response:
        repo, ref = request.match_info["repo"], request.match_info["ref"]
        self.hits[f"manifest:{ref}"] += 1
        if not self.authorized(request):
            return self.challenge(repo)
        found = self.manifests.get((repo, ref))
        if found is None:
            return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                                     status=404)
        return web.Response(body=found[0], headers={"Content-Type": found[1]})

    async def blob(self, request: web.Request) -> web.Response:
        repo, digest = request.match_info["repo"], request.match_info["digest"]
        self.hits[f"blob:{digest}"] += 1
        if not self.authorized(request):
            return self.challenge(repo)
        await asyncio.sleep(0.01)  # keep a download in flight long enough for concurrent pulls to overlap
        return web.Response(body=self.blobs[digest])


@pytest.fixture
async def fake() -> AsyncIterator[FakeRegistry]:
    registry = FakeRegistry()
    app = web.Application()
    app.router.add_get("/v2/{repo:.+}/manifests/{ref}", registry.manifest)
    app.router.add_get("/v2/{repo:.+}/blobs/{digest}", registry.blob)
    app.router.add_get("/token", registry.token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    registry.url = f"http://127.0.0.1:{port}"
    try:
        yield registry
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, OciLayout]:
    base = tmp_path_factory.mktemp("layouts")
    shared = LayerBuilder().file("etc/os-release", b"ID=kyb\n").build(base / "shared")
    return {
        "a": build_image(base / "a", [shared, LayerBuilder().file("app/a", b"A")], name="x/a:1", cmd=["a"]),
        "b": build_image(base / "b", [shared, LayerBuilder().file("app/b", b"B")], name="x/b:1", cmd=["b"]),
        "arm": build_image(base / "arm", [LayerBuilder().file("arch", b"arm64")], name="x/a:arm",
                           architecture="arm64"),
    }


def host(fake: FakeRegistry) -> str:
    return fake.url.removeprefix("http://")


async def test_anonymous_pull_and_layer_sharing(tmp_path: Path, fake: FakeRegistry,
                                                layouts: dict[str, OciLayout]) -> None:
    fake.add("team/a", "1", layouts["a"])
    fake.add("team/b", "1", layouts["b"])
    async with LocalImageService(data_dir=tmp_path) as svc:
        a = await svc.pull_image(image=f"{host(fake)}/team/a:1")
        b = await svc.pull_image(image=f"{host(fake)}/team/b:1")
    assert a.config.cmd == ("a",) and b.config.cmd == ("b",)
    assert a.layers[0] == b.layers[0]  # the shared base layer, unpacked once
    assert fake.hits[f"blob:{layouts['a'].layers[0].digest}"] == 1
    assert (a.layers[1] / "app/a").read_bytes() == b"A"
    assert a.repo_digest == f"{host(fake)}/team/a@{layouts['a'].manifest_digest}"
    assert a.repo_tags == (f"{host(fake)}/team/a:1",)


async def test_basic_auth(tmp_path: Path, fake: FakeRegistry, layouts: dict[str, OciLayout]) -> None:
    fake.mode = "basic"
    fake.add("team/a", "1", layouts["a"])
    image = f"{host(fake)}/team/a:1"
    async with LocalImageService(data_dir=tmp_path) as svc:
        with pytest.raises(ImagePullError, match=r"pull access denied.*authentication required"):
            await svc.pull_image(image=image)
        with pytest.raises(ImagePullError, match="authentication required"):
            await svc.pull_image(image=image, auth=RegistryAuth(username="alice", password="wrong"))
        ref = await svc.pull_image(image=image, auth=RegistryAuth(username="alice", password="secret"))
    assert ref.id == layouts["a"].config_digest


async def test_bearer_token_auth(tmp_path: Path, fake: FakeRegistry, layouts: dict[str, OciLayout]) -> None:
    fake.mode = "bearer"
    fake.add("team/a", "1", layouts["a"])
    image = f"{host(fake)}/team/a:1"
    async with LocalImageService(data_dir=tmp_path) as svc:
        with pytest.raises(ImagePullError, match="incorrect username or password"):
            await svc.pull_image(image=image)
        ref = await svc.pull_image(image=image, auth=RegistryAuth(username="alice", password="secret"))
    assert ref.layers[1].joinpath("app/a").read_bytes() == b"A"
    assert fake.token_requests[-1]["scope"] == "repository:team/a:pull"
    assert fake.token_requests[-1]["service"] == "fake"
    # The token is reused for the blobs: one token fetch for the whole successful pull.
    assert len(fake.token_requests) == 2


async def test_corrupt_blob_is_rejected(tmp_path: Path, fake: FakeRegistry, layouts: dict[str, OciLayout]) -> None:
    fake.add("team/a", "1", layouts["a"])
    bad = layouts["a"].layers[1].digest
    fake.blobs[bad] = fake.blobs[bad][:-1] + bytes([fake.blobs[bad][-1] ^ 1])
    async with LocalImageService(data_dir=tmp_path) as svc:
        with pytest.raises(ImagePullError, match=f"blob {bad}: digest mismatch"):
            await svc.pull_image(image=f"{host(fake)}/team/a:1")
        assert await svc.list_images() == []
        assert not list(svc.store.tmp_dir.iterdir())
        assert not svc.store.has_blob(bad)


async def test_index_picks_this_platform_and_digest_refs_are_verified(
        tmp_path: Path, fake: FakeRegistry, layouts: dict[str, OciLayout]) -> None:
    fake.add("team/a", "amd", layouts["a"])
    fake.add("team/a", "arm", layouts["arm"])
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": layouts["arm"].manifest_digest, "size": len(layouts["arm"].manifest),
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": OCI_MANIFEST, "digest": layouts["a"].manifest_digest, "size": len(layouts["a"].manifest),
         "platform": {"os": "linux", "architecture": "amd64"}},
    ]}).encode()
    import hashlib
    index_digest = "sha256:" + hashlib.sha256(index).hexdigest()
    fake.manifests[("team/a", "multi")] = (index, OCI_INDEX)
    fake.manifests[("team/a", index_digest)] = (index, OCI_INDEX)
    # A registry answering a digest request with other content is caught.
    fake.manifests[("team/a", "sha256:" + "1" * 64)] = (layouts["a"].manifest, OCI_MANIFEST)
    async with LocalImageService(data_dir=tmp_path) as svc:
        ref = await svc.pull_image(image=f"{host(fake)}/team/a:multi")
        assert ref.id == layouts["a"].config_digest
        assert ref.repo_digest == f"{host(fake)}/team/a@{index_digest}"
        by_digest = await svc.pull_image(image=f"{host(fake)}/team/a@{index_digest}")
        assert by_digest.id == ref.id
        assert await svc.image_status(image=f"{host(fake)}/team/a@{index_digest}") is not None
        with pytest.raises(ImagePullError, match="digest mismatch"):
            await svc.pull_image(image=f"{host(fake)}/team/a@sha256:" + "1" * 64)


async def test_concurrent_pulls_are_deduplicated(tmp_path: Path, fake: FakeRegistry,
                                                 layouts: dict[str, OciLayout]) -> None:
    fake.add("team/a", "1", layouts["a"])
    fake.add("team/b", "1", layouts["b"])
    async with LocalImageService(data_dir=tmp_path) as svc:
        refs = await asyncio.gather(*(svc.pull_image(image=f"{host(fake)}/team/a:1") for _ in range(5)),
                                    svc.pull_image(image=f"{host(fake)}/team/b:1"))
    assert len({r.id for r in refs[:5]}) == 1
    for digest in [layer.digest for layer in layouts["a"].layers] + [layouts["b"].layers[1].digest]:
        assert fake.hits[f"blob:{digest}"] == 1, digest


async def test_mirrors_in_order_then_upstream(tmp_path: Path, fake: FakeRegistry,
                                              layouts: dict[str, OciLayout]) -> None:
    fake.add("library/busybox", "latest", layouts["a"])
    dead = "http://127.0.0.1:9"  # discard port: connection refused
    config = ImageServiceConfig(mirrors={"docker.io": [dead, fake.url]})
    async with LocalImageService(data_dir=tmp_path, config=config) as svc:
        ref = await svc.pull_image(image="busybox")
        assert ref.repo_tags == ("docker.io/library/busybox:latest",)
        assert ref.repo_digest.startswith("docker.io/library/busybox@sha256:")
        with pytest.raises(ImagePullError) as info:
            await svc.pull_image(image="nope")
        # The mirror's answer is the reason, not the unreachable upstream.
        assert str(info.value).startswith(
            'failed to resolve reference "docker.io/library/nope:latest": docker.io/library/nope:latest: not found')
        assert "manifest unknown" in str(info.value)
        assert info.value.reason == "ErrImagePull"
        with pytest.raises(ImagePullError) as invalid:
            await svc.pull_image(image="UPPER/case")
        assert invalid.value.reason == "InvalidImageName"


def test_endpoints() -> None:
    config = ImageServiceConfig(mirrors={"docker.io": ["http://127.0.0.1:5000", "mirror.local:5000/",
                                                       "https://m.example/v2"]},
                                insecure=["myreg:5000", "mirror.local:5000"])
    bases = [e.base for e in endpoints_for(parse_reference("busybox"), config)]
    assert bases == ["http://127.0.0.1:5000", "http://mirror.local:5000", "https://m.example",
                     "https://registry-1.docker.io"]
    assert [e.base for e in endpoints_for(parse_reference("myreg:5000/a"), config)] == ["http://myreg:5000"]
    assert [e.base for e in endpoints_for(parse_reference("other:5000/a"), config)] == ["https://other:5000"]
    assert [e.base for e in endpoints_for(parse_reference("localhost:5000/a"), config)] == ["http://localhost:5000"]
    assert [e.base for e in endpoints_for(parse_reference("[::1]:5000/a"), config)] == ["http://[::1]:5000"]
