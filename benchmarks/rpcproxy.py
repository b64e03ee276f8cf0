"""A loopback JSON-RPC proxy that counts HTTP requests (and JSON-RPC calls inside batches) on their way to anvil."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class CountingProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.requests = 0
        self.calls = 0
        self.methods: dict[str, int] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                try:
                    req = json.loads(body)
                    items = req if isinstance(req, list) else [req]
                except ValueError:
                    items = []
                with proxy._lock:
                    proxy.requests += 1
                    proxy.calls += len(items)
                    for it in items:
                        m = it.get("method", "?") if isinstance(it, dict) else "?"
                        proxy.methods[m] = proxy.methods.get(m, 0) + 1
                up = urllib.request.Request(proxy.upstream, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(up, timeout=30) as r:
                    out = r.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._t = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> CountingProxy:
        self._t.start()
        return self

    def reset(self) -> None:
        with self._lock:
            self.requests = self.calls = 0
            self.methods = {}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
