"""The agent shows an update notice from a configured release feed (real HTTP on loopback), never installs."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from tray_agent.core.agent import Agent


def test_release_feed_setting_produces_a_notice(paths, tmp_path):
    feed = {"version": "99.0.0", "url": "https://example.invalid/lcai-tray-99.tar.gz", "sha256": "ab" * 32,
            "notes": "new things"}

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(feed).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    agent = Agent(paths, "devnet", secrets_file=tmp_path / "s.json", manage_worker=False)
    events = agent.bus.subscribe({"notify"})[1]
    try:
        agent.update_settings({"release_feed": f"http://127.0.0.1:{srv.server_port}/feed.json"})
        deadline = time.time() + 10
        while time.time() < deadline and "update" not in agent.status().extra:
            time.sleep(0.1)
        upd = agent.status().extra["update"]
        assert upd["latest"] == "99.0.0" and "is available" in upd["message"]
        assert events.get(timeout=5).data["kind"] == "update_available"
    finally:
        srv.shutdown()
        agent.history.close()
