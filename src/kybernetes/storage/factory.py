"""Build the Store a `--datastore` string names.

- "sqlite" (the default): SQLite in DATA_DIR/state.db
- "memory": in-process, gone at exit (tests, demos)
- "etcd://HOST:PORT[,HOST:PORT...]": etcd v3 over plain HTTP
- "etcd+https://HOST:PORT[,...][?ca=FILE&cert=FILE&key=FILE]": etcd over TLS, optionally with a CA bundle
  and a client certificate

The store is returned unstarted: the caller runs `await store.start()` and later `await store.close()`.
"""

from __future__ import annotations

import pathlib
import ssl
from urllib.parse import parse_qs

from kybernetes.storage.backends.etcd import EtcdStore
from kybernetes.storage.backends.memory import MemoryStore
from kybernetes.storage.backends.sqlite import SQLiteStore
from kybernetes.storage.protocol import Store


def open_store(*, datastore: str, data_dir: pathlib.Path) -> Store:
    if datastore == "sqlite":
        return SQLiteStore(path=data_dir / "state.db")
    if datastore == "memory":
        return MemoryStore()
    for scheme, http_scheme in (("etcd://", "http"), ("etcd+http://", "http"), ("etcd+https://", "https")):
        if datastore.startswith(scheme):
            return _etcd(datastore.removeprefix(scheme), http_scheme=http_scheme)
    raise ValueError(
        f"unknown datastore {datastore!r} (expected sqlite, memory, etcd://HOST:PORT or etcd+https://...)"
    )


def _etcd(rest: str, *, http_scheme: str) -> EtcdStore:
    hosts, _, query = rest.partition("?")
    endpoints = [host.strip().rstrip("/") for host in hosts.split(",") if host.strip()]
    if not endpoints:
        raise ValueError("etcd datastore needs at least one HOST:PORT")
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    unknown = set(options) - {"ca", "cert", "key"}
    if unknown:
        raise ValueError(f"unknown etcd datastore options: {', '.join(sorted(unknown))}")
    context: ssl.SSLContext | None = None
    if http_scheme == "https":
        context = ssl.create_default_context(cafile=options.get("ca"))
        if "cert" in options:
            context.load_cert_chain(options["cert"], options.get("key"))
    elif options:
        raise ValueError("ca/cert/key options need etcd+https://")
    return EtcdStore(endpoints=endpoints, scheme=http_scheme, ssl_context=context)
