"""The kubelet's image service: pull from OCI registries, a content-addressed store, shared layers, GC.

`LocalImageService(data_dir=..., config=ImageServiceConfig(mirrors=..., insecure=...))` implements
`kybernetes.kubelet.runtime.protocol.ImageService`; `auth_from_docker_config` turns an imagePullSecret's
`.dockerconfigjson` into `RegistryAuth`. Modules: `reference` (parsing/normalizing names), `manifest`
(media types, platform choice), `auth` (docker config, challenges), `registry` (the distribution API client),
`unpack` (layers in overlay form), `store` (disk layout and index), `archive` (OCI layout / docker-save
import), `service` (the whole).
"""

from kybernetes.kubelet.images.archive import ArchiveError
from kybernetes.kubelet.images.auth import auth_from_docker_config
from kybernetes.kubelet.images.reference import InvalidReference, Reference, normalize, parse_reference
from kybernetes.kubelet.images.registry import ImageServiceConfig
from kybernetes.kubelet.images.service import InvalidImageName, LocalImageService
from kybernetes.kubelet.images.unpack import LayerError

__all__ = [
    "ArchiveError",
    "ImageServiceConfig",
    "InvalidImageName",
    "InvalidReference",
    "LayerError",
    "LocalImageService",
    "Reference",
    "auth_from_docker_config",
    "normalize",
    "parse_reference",
]
