"""The guestbook's front end: a page of entries kept by the back end (standard library only).

    GET  /          an HTML page: the greeting, the entries, a form to add one, and this program's version
                    and pod name (so a rolling update and the spread over replicas are visible)
    GET  /entries   the entries as a JSON list, oldest first
    POST /entries   add one: a form field `text=...` or the bare body; 303 back to /
    GET  /healthz   "ok", for the readiness and liveness probes (it does not call the back end: a slow back
                    end must not get healthy front ends restarted); 503 once it is stopping

On SIGTERM it keeps serving for `$DRAIN_SECONDS` (default 2) and then exits, so that a rolling update loses no
request (see `main`).

The greeting comes from `$GREETING` (the Deployment sets it from the ConfigMap `guestbook-config`); the back
end is `$BACKEND_URL` (default http://backend:8080, the back end's Service by its DNS name); the version is the
file /app/VERSION baked into the image (`examples/build-images.py`); the pod name is `$POD_NAME` (downward API)
or the host name. Listens on `$PORT` (default 8080). Entries are keys named by the time they were added.
"""

from __future__ import annotations

import html
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BACKEND_URL = os.environ.get("BACKEND_URL", "http://backend:8080").rstrip("/")
GREETING = os.environ.get("GREETING", "Hello!")
POD_NAME = os.environ.get("POD_NAME") or socket.gethostname()
VERSION_FILE = Path(__file__).with_name("VERSION")
VERSION = VERSION_FILE.read_text().strip() if VERSION_FILE.exists() else os.environ.get("APP_VERSION", "dev")
MAX_ENTRY = 500
DRAIN_SECONDS = float(os.environ.get("DRAIN_SECONDS", "2"))


class BackendError(Exception):
    pass


def backend(method: str, path: str, body: bytes | None = None) -> bytes:
    request = urllib.request.Request(BACKEND_URL + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return bytes(response.read())
    except (OSError, urllib.error.HTTPError) as e:
        raise BackendError(f"back end {BACKEND_URL}: {e}") from None


def entries() -> list[str]:
    data: dict[str, str] = json.loads(backend("GET", "/keys"))
    return [data[key] for key in sorted(data)]


def page(items: list[str]) -> str:
    rows = "\n".join(f"<li>{html.escape(item)}</li>" for item in items) or "<li><i>no entries yet</i></li>"
    return (f"<!doctype html>\n<title>Guestbook</title>\n<h1>{html.escape(GREETING)}</h1>\n<ul>\n{rows}\n</ul>\n"
            f'<form method="post" action="/entries"><input name="text"><button>Sign</button></form>\n'
            f"<p><small>guestbook-frontend {html.escape(VERSION)} on {html.escape(POD_NAME)}</small></p>\n")


class Handler(BaseHTTPRequestHandler):
    server_version = "guestbook-frontend"
    draining = False  # set on SIGTERM

    def _reply(self, code: int, body: str, *, content_type: str = "text/plain; charset=utf-8",
               headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Served-By", POD_NAME)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path == "/healthz":
                self._reply(503 if self.draining else 200, "shutting down\n" if self.draining else "ok\n")
            elif path == "/":
                self._reply(200, page(entries()), content_type="text/html; charset=utf-8")
            elif path == "/entries":
                self._reply(200, json.dumps(entries()) + "\n", content_type="application/json")
            else:
                self._reply(404, "not found\n")
        except BackendError as e:
            self._reply(502, f"{e}\n")

    def do_POST(self) -> None:
        if urllib.parse.urlsplit(self.path).path != "/entries":
            self._reply(404, "not found\n")
            return
        body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 64 * 1024)).decode(errors="replace")
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            # A browser's form sends text=...; `curl -d 'some words'` sends the same type with a bare body.
            body = urllib.parse.parse_qs(body).get("text", [body])[0]
        text = body.strip()[:MAX_ENTRY]
        if not text:
            self._reply(400, "an entry needs some text (form field text=...)\n")
            return
        try:
            backend("PUT", f"/keys/{time.time_ns()}", text.encode())
        except BackendError as e:
            self._reply(502, f"{e}\n")
            return
        self._reply(303, f"added {text!r}\n", headers={"Location": "/"})

    def log_message(self, format: str, *args: object) -> None:
        if not self.path.startswith("/healthz"):  # probes every few seconds would drown the log
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)

    def drain(*_: object) -> None:
        # As its container's PID 1 this process would ignore SIGTERM (the kernel drops signals init does not
        # handle) and every pod deletion would wait out the grace period. Nor does it stop at once: the
        # Service's proxies send new connections here until they see the pod terminating, so it keeps
        # answering for DRAIN_SECONDS (with /healthz failing) and then stops.
        Handler.draining = True
        threading.Timer(DRAIN_SECONDS, server.shutdown).start()

    signal.signal(signal.SIGTERM, drain)
    print(f"guestbook-frontend {VERSION} listening on :{port}, back end {BACKEND_URL}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
