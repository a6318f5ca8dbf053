"""An in-memory runtime and image service (`FakeRuntime`, `FakeImageService`) for unit tests and the node
simulator: no processes, container lives computed from behaviours and an injectable clock."""

from kybernetes.kubelet.runtime.fake.runtime import (
    FakeBehavior,
    FakeExecSession,
    FakeImageService,
    FakeRuntime,
)

__all__ = ["FakeBehavior", "FakeExecSession", "FakeImageService", "FakeRuntime"]
