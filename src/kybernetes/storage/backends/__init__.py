"""Store backends: memory (unit tests), SQLite (the embedded default) and etcd v3 (JSON gateway)."""

from kybernetes.storage.backends.compactor import run_compactor
from kybernetes.storage.backends.etcd import EtcdStore
from kybernetes.storage.backends.memory import MemoryStore
from kybernetes.storage.backends.sqlite import SQLiteStore

__all__ = ["EtcdStore", "MemoryStore", "SQLiteStore", "run_compactor"]
