"""The one client of the agent's local API (stdlib only), used by the tray, the windows, the CLI and tests.

The port and token come from the agent's ``api.json`` (mode 0600). The token only travels in the
Authorization header; windows and browsers get a one-time login URL instead (:meth:`ApiClient.login_url`).
"Is the agent alive" has one answer here (:func:`find_agent`): the instance file names a port and the
agent answers on it. No signal is ever sent to a pid (``os.kill(pid, 0)`` terminates a process on Windows).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from .errors import AgentError
from .status import Status

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 30.0


class ApiError(AgentError):
    """An error answer of the API (``{"error": {code, message, fix, field}}``) or a transport failure.

    ``status`` is the HTTP status (0 when the agent did not answer).
    """

    code = "api_error"

    def __init__(self, code: str, message: str = "", fix: str = "", status: int = 0, field: str | None = None):
        super().__init__(message or code, fix=fix, code=code, field=field)
        self.status = status


class AgentNotRunning(ApiError):
    """No agent answers for this profile (no instance file, or nothing listens on its port)."""

    code = "agent_not_running"

    def __init__(self, message: str = "no agent is running for this profile",
                 fix: str = "start it with 'lcai-tray' or 'lcai-tray serve --headless'"):
        super().__init__(self.code, message, fix)


@dataclass(frozen=True)
class AgentInfo:
    """Contents of ``api.json`` written by a running agent."""

    port: int
    token: str
    pid: int = 0
    profile: str = ""
    network: str = ""

    def __repr__(self) -> str:  # never print the token
        return f"AgentInfo(port={self.port}, pid={self.pid}, profile={self.profile!r}, network={self.network!r})"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgentInfo:
        return cls(int(d["port"]), str(d["token"]), int(d.get("pid") or 0), str(d.get("profile", "")),
                   str(d.get("network", "")))

    @classmethod
    def read(cls, path: Path) -> AgentInfo | None:
        """The instance file's contents, or None when it is missing or unreadable (says nothing about liveness)."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def iter_sse(lines: Iterable[bytes]) -> Iterator[tuple[str, dict]]:
    """Parse a ``text/event-stream`` into ``(event, data)``; data is JSON, comments and non-JSON events are skipped."""
    event, data = "message", []
    for line in lines:
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            if data:
                try:
                    yield event, json.loads("\n".join(data))
                except ValueError:
                    log.debug("ignored a non-JSON %s event", event)
            event, data = "message", []
        elif text.startswith(":"):
            continue
        else:
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


class ApiClient:
    """Blocking JSON client; one short-lived connection per call (thread-safe)."""

    def __init__(self, info: AgentInfo | dict[str, Any], host: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT_S):
        self.info = info if isinstance(info, AgentInfo) else AgentInfo.from_dict(info)
        self.host, self.timeout = host, timeout

    @classmethod
    def from_api_file(cls, path: Path, **kw: Any) -> ApiClient | None:
        """A client for the agent the instance file names (not checked for liveness: see :func:`find_agent`)."""
        info = AgentInfo.read(path)
        return cls(info, **kw) if info else None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.info.port}"

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info.token}", "Accept": accept}

    def request(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> Any:
        """JSON in, JSON out (text for non-JSON answers); an error answer raises :class:`ApiError`."""
        conn = http.client.HTTPConnection(self.host, self.info.port, timeout=timeout or self.timeout)
        headers = self._headers()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            ctype = resp.getheader("Content-Type", "")
        except (OSError, http.client.HTTPException) as e:
            raise AgentNotRunning(f"the agent is not answering ({e.__class__.__name__})",
                                  "check it is running: 'lcai-tray status'") from None
        finally:
            conn.close()
        if resp.status < 400 and "json" not in ctype and raw:
            return raw.decode("utf-8", "replace")
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {}
        if resp.status >= 400:
            err = payload.get("error", {}) if isinstance(payload, dict) else {}
            err = err if isinstance(err, dict) else {}
            raise ApiError(str(err.get("code") or f"http_{resp.status}"), str(err.get("message") or f"HTTP {resp.status}"),
                           str(err.get("fix") or ""), resp.status, err.get("field"))
        return payload

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: dict | None = None, **kw: Any) -> Any:
        return self.request("POST", path, body or {}, **kw)

    # --- typed helpers --------------------------------------------------------------------------------
    def status(self) -> Status:
        return Status.from_dict(self.get("/api/status"))

    def op(self, kind: str, **body: Any) -> str:
        """Start an operation; returns its op_id (raises ApiError ``busy`` when another one runs)."""
        return str(self.post(f"/api/ops/{quote(kind)}", body).get("op_id", ""))

    def settings(self, **changes: Any) -> dict:
        return self.post("/api/settings", changes) if changes else self.get("/api/settings")

    def shutdown(self, keep_worker: bool) -> None:
        self.post("/api/shutdown", {"keep_worker": keep_worker})

    def login_url(self, next_path: str = "/ui/dashboard.html") -> str:
        """A one-time URL that sets the session cookie and redirects to ``next_path`` (60 s, single use)."""
        code = self.post("/api/login-code", {"next": next_path}).get("code", "")
        if not code:
            raise ApiError("no_login_code", "the agent did not issue a login code")
        return f"{self.base_url}/auth?{urlencode({'code': code, 'next': next_path})}"

    def ping(self, timeout: float = 2.0) -> bool:
        """Whether the agent answers (with this token) within ``timeout`` seconds."""
        try:
            self.request("GET", "/api/status", timeout=timeout)
            return True
        except ApiError:
            return False

    # --- server-sent events ------------------------------------------------------------------------------
    def events(self, stop: threading.Event | None = None, read_timeout: float = 45.0,
               on_open: Callable[[], None] | None = None) -> Iterator[tuple[str, dict]]:
        """Yield ``(event, data)`` from ``/api/events`` until the stream ends, fails or ``stop`` is set."""
        stop = stop or threading.Event()
        conn = http.client.HTTPConnection(self.host, self.info.port, timeout=read_timeout)
        done = threading.Event()  # ends the closer thread when this connection ends by itself
        try:
            conn.request("GET", "/api/events", headers=self._headers("text/event-stream"))
            # keep the socket: getresponse() hands it to the response and clears conn.sock
            closer = threading.Thread(target=_close_on(stop, done, conn.sock), daemon=True, name="sse-closer")
            resp = conn.getresponse()
            if resp.status != 200:
                raise ApiError(f"http_{resp.status}", "event stream refused", status=resp.status)
            if on_open:
                on_open()
            closer.start()
            for item in iter_sse(iter(resp.readline, b"")):
                if stop.is_set():
                    return
                yield item
        except (OSError, http.client.HTTPException) as e:
            if not stop.is_set():
                raise AgentNotRunning(f"event stream lost ({e.__class__.__name__})") from None
        finally:
            done.set()
            conn.close()


def _close_on(stop: threading.Event, done: threading.Event, sock: socket.socket | None) -> Callable[[], None]:
    """Shut the socket down when ``stop`` is set, so a blocked readline() returns at once."""
    def run() -> None:
        while not stop.wait(0.5):
            if done.is_set():
                return
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    return run


def find_agent(api_file: Path, timeout: float = 2.0, **kw: Any) -> ApiClient | None:
    """THE liveness check: a client for the agent named by the instance file if it answers, else None."""
    client = ApiClient.from_api_file(api_file, **kw)
    return client if client is not None and client.ping(timeout) else None


def connect(api_file: Path, **kw: Any) -> ApiClient:
    """Like :func:`find_agent`, but raise :class:`AgentNotRunning` when no agent answers."""
    client = find_agent(api_file, **kw)
    if client is None:
        raise AgentNotRunning()
    return client


def wait_for_agent(api_file: Path, timeout: float, stop: threading.Event | None = None,
                   pid: int | None = None) -> ApiClient | None:
    """Poll until the agent behind ``api_file`` answers (and, with ``pid``, is that process), or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        client = find_agent(api_file)
        if client is not None and (pid is None or client.info.pid == pid):
            return client
        time.sleep(0.25)
    return None
