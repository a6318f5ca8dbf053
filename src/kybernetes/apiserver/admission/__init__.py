"""Admission: plugins that see every write after decoding and before it is stored.

The chain runs in order; a plugin may change the object (mutating) or refuse the request with a Status
error. Those here are the ones a Kubernetes cluster always runs: NamespaceLifecycle, ServiceAccount and
Priority. They read other objects through the API server's own caches (`Lookup`), never the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kybernetes.apiserver.rest import ResourceREST

# qualified resource name (e.g. "namespaces", "priorityclasses.scheduling.k8s.io") → its REST, if served
Lookup = Callable[[str], "ResourceREST | None"]
