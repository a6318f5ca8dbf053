"""`imagePullPolicy` and pull back-off, for the kubelet's pod workers.

- `default_pull_policy`: Always for `:latest` or no tag, else IfNotPresent (the API server defaults it so;
  this is for specs that arrive without it).
- `ensure_image`: Always pulls (cheap when nothing changed: one manifest request); IfNotPresent uses the
  local image if there is one; Never fails with `ErrImageNeverPull` when absent. Credentials from several
  imagePullSecrets are tried in turn, as the kubelet does, then anonymously.
- `PullBackoff`: after a failed pull the container waits (ImagePullBackOff) 10 s, doubling to 300 s,
  per image; a success resets it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kybernetes.kubelet.images.reference import InvalidReference, parse_reference
from kybernetes.kubelet.runtime.protocol import ImagePullError, ImageRef, ImageService, RegistryAuth


class ErrImageNeverPull(ImagePullError):
    reason = "ErrImageNeverPull"


def default_pull_policy(image: str) -> str:
    try:
        ref = parse_reference(image)
    except InvalidReference:
        return "IfNotPresent"
    return "Always" if ref.tag == "latest" and not ref.digest else "IfNotPresent"


def _is_auth_failure(error: ImagePullError) -> bool:
    text = str(error).lower()
    return "unauthorized" in text or "access denied" in text or "authentication" in text or "denied" in text


async def ensure_image(*, service: ImageService, image: str, pull_policy: str = "",
                       auths: Sequence[RegistryAuth] = ()) -> ImageRef:
    """The image for a container per its pull policy; raises `ImagePullError` (or a subclass)."""
    policy = pull_policy or default_pull_policy(image)
    if policy != "Always":
        present = await service.image_status(image=image)
        if present is not None:
            return present
        if policy == "Never":
            raise ErrImageNeverPull(f'Container image "{image}" is not present with pull policy of Never')
    candidates: list[RegistryAuth | None] = [*auths, None] if auths else [None]
    last: ImagePullError | None = None
    for auth in candidates:
        try:
            return await service.pull_image(image=image, auth=auth)
        except ImagePullError as e:
            last = e
            if not _is_auth_failure(e):
                raise
    assert last is not None
    raise last


@dataclass
class PullBackoff:
    """Per-image back-off after failed pulls (Kubernetes: 10 s initial, 300 s cap)."""

    initial: float = 10.0
    cap: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)  # image → (delay, retry at)

    def in_backoff(self, image: str) -> bool:
        state = self._state.get(image)
        return state is not None and self.clock() < state[1]

    def failed(self, image: str) -> float:
        """Record a failure; returns the delay before the next attempt."""
        previous = self._state.get(image)
        delay = self.initial if previous is None else min(previous[0] * 2, self.cap)
        self._state[image] = (delay, self.clock() + delay)
        return delay

    def succeeded(self, image: str) -> None:
        self._state.pop(image, None)
