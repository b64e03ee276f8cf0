"""A tiny stand-in for the agent's local API (stdlib only) for tray/client tests: api.json, status, SSE, ops.

It speaks the documented contract (docs/api.md) so the tray code under test is the real one; the Playwright
tests run against the real agent instead.
"""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tray_agent.common.status import Status


class FakeAgent:
    def __init__(self, api_file: Path, status: Status | None = None, token: str = "fake-token-123"):
        self.api_file, self.token = api_file, token
        self.status = status or Status()
        self.ops: list[tuple[str, dict]] = []
        self.settings = {"autostart": False, "keep_awake": True}
        self.shutdowns: list[dict] = []
        self.autosettle_posts: list[dict] = []
        self.codes: list[str] = []
        self._subs: list[queue.Queue] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeAgent:
        self.thread.start()
        self.api_file.parent.mkdir(parents=True, exist_ok=True)
        self.api_file.write_text(json.dumps({"port": self.port, "token": self.token, "pid": 0, "profile": "test",
                                             "network": self.status.network}))
        return self

    def stop(self) -> None:
        with self._lock:
            for q in self._subs:
                q.put(None)
        self.server.shutdown()
        self.server.server_close()

    def publish(self, status: Status) -> None:
        self.status = status
        self.send("status", status.to_dict())

    def send(self, event: str, data: dict) -> None:
        with self._lock:
            for q in self._subs:
                q.put((event, data))

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def _handler(self):
        agent = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _json(self, code: int, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _auth(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {agent.token}":
                    self._json(401, {"error": {"code": "unauthorized", "message": "missing or wrong API token"}})
                    return False
                return True

            def _body(self) -> dict:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}") if n else {}

            def do_GET(self):  # noqa: N802
                if not self._auth():
                    return
                if self.path == "/api/status":
                    return self._json(200, agent.status.to_dict())
                if self.path == "/api/settings":
                    return self._json(200, agent.settings)
                if self.path == "/api/events":
                    q: queue.Queue = queue.Queue()
                    with agent._lock:
                        agent._subs.append(q)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    try:
                        self.wfile.write(f"event: status\ndata: {json.dumps(agent.status.to_dict())}\n\n".encode())
                        self.wfile.flush()
                        while True:
                            try:
                                item = q.get(timeout=5)
                            except queue.Empty:
                                self.wfile.write(b": keep-alive\n\n")
                                self.wfile.flush()
                                continue
                            if item is None:
                                return
                            ev, data = item
                            self.wfile.write(f"event: {ev}\ndata: {json.dumps(data)}\n\n".encode())
                            self.wfile.flush()
                    except OSError:
                        return
                    finally:
                        with agent._lock:
                            agent._subs.remove(q)
                        self.close_connection = True
                return self._json(404, {"error": {"code": "not_found", "message": self.path}})

            def do_POST(self):  # noqa: N802
                if not self._auth():
                    return
                body = self._body()
                if self.path.startswith("/api/ops/"):
                    kind = self.path.rsplit("/", 1)[1]
                    if kind == "busy_test":
                        return self._json(409, {"error": {"code": "busy", "message": "another operation is running",
                                                          "fix": "wait for it to finish"}})
                    agent.ops.append((kind, body))
                    return self._json(202, {"op_id": f"op-{len(agent.ops)}"})
                if self.path == "/api/settings":
                    agent.settings.update(body)
                    return self._json(200, agent.settings)
                if self.path == "/api/login-code":
                    code = f"code{len(agent.codes)}"
                    agent.codes.append(code)
                    return self._json(200, {"code": code, "url": f"http://127.0.0.1:{agent.port}/auth?code={code}"})
                if self.path == "/api/autosettle/pause":
                    agent.autosettle_posts.append(body)
                    return self._json(200, {"paused": body.get("paused")})
                if self.path == "/api/shutdown":
                    agent.shutdowns.append(body)
                    return self._json(200, {"ok": True})
                return self._json(404, {"error": {"code": "not_found", "message": self.path}})

        return H
