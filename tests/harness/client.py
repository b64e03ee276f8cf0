"""The one test client of the agent's local API (stdlib only, independent of the product's own clients).

``request`` never raises on an HTTP error: it returns an ``ApiResult`` (status + decoded body) so fault tests
can assert on 4xx/5xx answers. ``get``/``post`` return the decoded body and raise ``ApiError`` (status, code,
message, fix, field) on an error answer, for tests that follow a happy path.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tray_agent.common.status import WorkerState

READY_STATES = frozenset(s.value for s in WorkerState)


@dataclass
class ApiResult:
    status: int
    body: Any

    @property
    def error(self) -> dict:
        return (self.body or {}).get("error", {}) if isinstance(self.body, dict) else {}

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class ApiError(Exception):
    """An error answer of the agent: HTTP status plus the error shape (code, message, fix, field)."""

    def __init__(self, status: int, body: Any):
        err = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.body = body
        self.code = err.get("code", "http_error")
        self.message = err.get("message", f"HTTP {status}")
        self.fix = err.get("fix", "")
        self.field = err.get("field")
        super().__init__(f"{status} {self.code}: {self.message}")


def read_api_file(api_file: Path) -> dict | None:
    """The agent's api.json (port, token, pid) or None when it is missing or half written."""
    try:
        info = json.loads(Path(api_file).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("port") and info.get("token") else None


class ApiClient:
    """Bearer-token client of one agent (``info`` is its api.json)."""

    def __init__(self, info: dict, host: str = "127.0.0.1", timeout: float = 30.0):
        self.info = info
        self.host = host
        self.port = int(info["port"])
        self.token = str(info["token"])
        self.pid = info.get("pid")
        self.timeout = timeout

    @classmethod
    def from_api_file(cls, api_file: Path, **kw: Any) -> ApiClient | None:
        info = read_api_file(api_file)
        return cls(info, **kw) if info else None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(self, method: str, path: str, body: Any = None, timeout: float | None = None,
                raw: bytes | None = None, headers: dict[str, str] | None = None) -> ApiResult:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                text, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            text, status = e.read(), e.code
        try:
            return ApiResult(status, json.loads(text) if text else None)
        except ValueError:
            return ApiResult(status, text.decode(errors="replace"))

    def _checked(self, res: ApiResult) -> Any:
        if not res.ok:
            raise ApiError(res.status, res.body)
        return res.body

    def get(self, path: str, **kw: Any) -> Any:
        return self._checked(self.request("GET", path, **kw))

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self._checked(self.request("POST", path, {} if body is None else body, **kw))

    def op(self, kind: str, **body: Any) -> str:
        """Start an operation; its op_id."""
        return self.post(f"/api/ops/{kind}", body)["op_id"]

    def status(self) -> dict:
        return self.get("/api/status")

    def login_url(self, next_path: str = "/ui/dashboard.html") -> str:
        """A one-time sign-in link for a browser (POST /api/login-code; 60 s, single use)."""
        code = self.post("/api/login-code", {"next": next_path})["code"]
        return f"{self.base_url}/auth?{urllib.parse.urlencode({'code': code, 'next': next_path})}"

    def ready(self, timeout: float = 2.0) -> bool:
        """The one meaning of "ready": /api/status answers 200 with a known state (see ``is_ready``)."""
        try:
            res = self.request("GET", "/api/status", timeout=timeout)
        except (OSError, urllib.error.URLError):
            return False
        return is_ready(res)

    def ping(self, timeout: float = 2.0) -> bool:
        return self.ready(timeout)


def is_ready(res: ApiResult) -> bool:
    """An agent is ready when /api/status answers 200 with one of the WorkerState values and, once the agent
    publishes it, ``ready: true`` (its start-up — chain/devnet and supervisor — finished)."""
    body = res.body if isinstance(res.body, dict) else {}
    if res.status != 200 or body.get("state") not in READY_STATES:
        return False
    return body.get("ready", True) is not False
