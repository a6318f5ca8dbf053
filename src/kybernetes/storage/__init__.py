"""Storage: the Store protocol (etcd v3 semantics over keys and revisions) and its backends.

Storage knows keys, bytes and revisions, nothing of objects or HTTP; the API server's registry layer
translates its errors into Kubernetes `Status` errors.
"""

from kybernetes.storage.protocol import (
    CompactedError,
    ConflictError,
    Event,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StorageError,
    Store,
    Watch,
    WatchOverflowError,
)

__all__ = [
    "CompactedError",
    "ConflictError",
    "Event",
    "EventType",
    "FutureRevisionError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyValue",
    "ListResult",
    "StorageError",
    "Store",
    "Watch",
    "WatchOverflowError",
]
