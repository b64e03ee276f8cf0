"""A loopback JSON-RPC proxy that counts HTTP requests (and JSON-RPC calls inside batches) on their way to anvil.

With ``attribute=True`` every request is also counted for the process that sent it (the client socket's owner,
found with psutil; needs root for other users' processes): the agent, the devnet consumer and the worker
container share one RPC URL, and only the agent's requests are the agent's cost."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class CountingProxy:
    def __init__(self, upstream: str, attribute: bool = False):
        self.upstream = upstream
        self.attribute = attribute
        self.requests = 0
        self.calls = 0
        self.methods: dict[str, int] = {}
        self.by_pid: dict[int, dict] = {}  # pid -> {"requests", "calls", "methods"}
        self._port_pid: dict[int, int] = {}
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
                pid = proxy._pid_of(self.client_address[1]) if proxy.attribute else 0
                with proxy._lock:
                    proxy.requests += 1
                    proxy.calls += len(items)
                    mine = proxy.by_pid.setdefault(pid, {"requests": 0, "calls": 0, "methods": {}})
                    mine["requests"] += 1
                    mine["calls"] += len(items)
                    for it in items:
                        m = it.get("method", "?") if isinstance(it, dict) else "?"
                        proxy.methods[m] = proxy.methods.get(m, 0) + 1
                        mine["methods"][m] = mine["methods"].get(m, 0) + 1
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
            self.by_pid = {}

    def _pid_of(self, client_port: int) -> int:
        """PID owning the client end of a loopback connection to this proxy (0 when unknown); cached per port."""
        pid = self._port_pid.get(client_port)
        if pid is not None:
            return pid
        import psutil

        me = self.server.server_address[1]
        for c in psutil.net_connections(kind="tcp"):
            if c.laddr and c.raddr and c.laddr.port == client_port and c.raddr.port == me and c.pid:
                pid = c.pid
                break
        self._port_pid[client_port] = pid or 0
        return pid or 0

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
