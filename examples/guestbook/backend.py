"""The guestbook's back end: a tiny key-value store over HTTP (standard library only).

    GET    /keys          every key and value, as one JSON object
    GET    /keys/<k>      the value (text/plain), or 404
    PUT    /keys/<k>      store the request body as the value (201 when new, 200 when replaced)
    DELETE /keys/<k>      remove it (204), or 404
    GET    /healthz       "ok", for probes

Values live in memory and in `$DATA_DIR/store.json` (written to a temporary file and renamed on each change,
so a crash never leaves half a file), which the Deployment puts on an emptyDir: a container restart keeps
the data, a new pod starts empty. Listens on `$PORT` (default 8080).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_VALUE = 64 * 1024


class Store:
    """A dict mirrored to a JSON file; one lock, since the server handles requests in threads."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.data: dict[str, str] = {}
        if path.exists():
            self.data = json.loads(path.read_text())

    def get(self, key: str) -> str | None:
        with self.lock:
            return self.data.get(key)

    def items(self) -> dict[str, str]:
        with self.lock:
            return dict(self.data)

    def put(self, key: str, value: str) -> bool:
        with self.lock:
            new = key not in self.data
            self.data[key] = value
            self._save()
            return new

    def delete(self, key: str) -> bool:
        with self.lock:
            if self.data.pop(key, None) is None:
                return False
            self._save()
            return True

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, sort_keys=True))
        os.replace(tmp, self.path)


class Handler(BaseHTTPRequestHandler):
    store: Store  # set on the class by main()
    server_version = "guestbook-backend"

    def _reply(self, code: int, body: str, *, content_type: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _key(self) -> str | None:
        path = urllib.parse.urlsplit(self.path).path
        if not path.startswith("/keys/") or len(path) == len("/keys/"):
            return None
        return urllib.parse.unquote(path.removeprefix("/keys/"))

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/healthz":
            self._reply(200, "ok\n")
        elif path in ("/keys", "/keys/"):
            self._reply(200, json.dumps(self.store.items(), sort_keys=True) + "\n", content_type="application/json")
        elif (key := self._key()) is not None and (value := self.store.get(key)) is not None:
            self._reply(200, value)
        else:
            self._reply(404, "not found\n")

    def do_PUT(self) -> None:
        key = self._key()
        length = int(self.headers.get("Content-Length") or 0)
        if key is None:
            self._reply(404, "not found\n")
        elif length > MAX_VALUE:
            self._reply(413, f"values are at most {MAX_VALUE} bytes\n")
        else:
            value = self.rfile.read(length).decode(errors="replace")
            self._reply(201 if self.store.put(key, value) else 200, "stored\n")

    def do_DELETE(self) -> None:
        key = self._key()
        if key is not None and self.store.delete(key):
            self._reply(204, "")
        else:
            self._reply(404, "not found\n")

    def log_message(self, format: str, *args: object) -> None:
        if not self.path.startswith("/healthz"):  # probes every few seconds would drown the log
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> None:
    Handler.store = Store(path=Path(os.environ.get("DATA_DIR", "/data")) / "store.json")
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    # As its container's PID 1 this process would ignore SIGTERM (the kernel drops signals init does not
    # handle), and each pod deletion would wait out the grace period before SIGKILL: exit at once instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"guestbook-backend listening on :{port}, {len(Handler.store.items())} keys", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
