"""Tiny stdlib client of the local API (used by the CLI; the tray has its own light copy)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tray_agent.common.errors import AgentError


class AgentNotRunning(AgentError):
    code = "agent_not_running"


class ApiError(AgentError):
    def __init__(self, status: int, body: dict):
        err = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(err.get("message", f"HTTP {status}"), fix=err.get("fix", ""),
                         code=err.get("code", "http_error"), field=err.get("field"))
        self.status = status


def read_api_info(api_file: Path) -> dict | None:
    """The running agent's port/token, or None when no live agent wrote it."""
    try:
        info = json.loads(Path(api_file).read_text())
    except (OSError, ValueError):
        return None
    pid = info.get("pid")
    if not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return info


class ApiClient:
    def __init__(self, info: dict, timeout: float = 30.0):
        self.base = f"http://127.0.0.1:{info['port']}"
        self.token = info["token"]
        self.timeout = timeout

    @classmethod
    def for_file(cls, api_file: Path, timeout: float = 30.0) -> ApiClient:
        info = read_api_info(api_file)
        if info is None:
            raise AgentNotRunning("no agent is running for this profile", fix="start it with 'lcai-tray' or 'lcai-tray serve --headless'")
        return cls(info, timeout)

    def request(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                raw = r.read()
                ctype = r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            try:
                payload = json.loads(e.read() or b"{}")
            except ValueError:
                payload = {}
            raise ApiError(e.code, payload) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise AgentNotRunning(f"the agent did not answer ({e})", fix="check it is running: 'lcai-tray status'") from None
        return json.loads(raw) if "json" in ctype else raw.decode()

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict | None = None) -> Any:
        return self.request("POST", path, body or {})

    def events(self, timeout: float = 60.0) -> Iterator[tuple[str, dict]]:
        """Yield (event, data) from /api/events until the connection closes."""
        req = urllib.request.Request(self.base + "/api/events")
        req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            event, data = "message", []
            for raw in r:
                line = raw.decode().rstrip("\n")
                if not line:
                    if data:
                        yield event, json.loads("\n".join(data))
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
