"""Stdlib HTTP client of the agent's local API (no web3, no docker): JSON calls, SSE status stream.

The port and token come from the agent's ``api.json`` (mode 0600). The token only travels in the
Authorization header; windows and browsers get a one-time login URL instead (:meth:`ApiClient.login_url`).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from tray_agent.common.status import Status

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer of the API (``{"error": {code, message, fix}}``) or a transport failure."""

    def __init__(self, code: str, message: str = "", fix: str = "", status: int = 0):
        super().__init__(message or code)
        self.code, self.message, self.fix, self.status = code, message or code, fix, status


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
    def read(cls, path: Path) -> AgentInfo | None:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(d["port"]), str(d["token"]), int(d.get("pid") or 0), str(d.get("profile", "")),
                       str(d.get("network", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None


class ApiClient:
    """Blocking JSON client; one short-lived connection per call (thread-safe)."""

    def __init__(self, info: AgentInfo, host: str = "127.0.0.1", timeout: float = 10.0):
        self.info, self.host, self.timeout = info, host, timeout

    @classmethod
    def from_api_file(cls, path: Path, **kw) -> ApiClient | None:
        info = AgentInfo.read(path)
        return cls(info, **kw) if info else None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.info.port}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info.token}", "Accept": "application/json"}

    def request(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
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
        except (OSError, http.client.HTTPException) as e:
            raise ApiError("unreachable", f"the agent is not answering ({e.__class__.__name__})",
                           "start it with: lcai-tray serve") from e
        finally:
            conn.close()
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {}
        if resp.status >= 400:
            err = payload.get("error", {}) if isinstance(payload, dict) else {}
            raise ApiError(err.get("code", f"http_{resp.status}"), err.get("message", ""), err.get("fix", ""),
                           resp.status)
        return payload

    def get(self, path: str, **kw) -> dict:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: dict | None = None, **kw) -> dict:
        return self.request("POST", path, body or {}, **kw)

    # --- typed helpers --------------------------------------------------------------------------------
    def status(self) -> Status:
        return Status.from_dict(self.get("/api/status"))

    def op(self, kind: str, **body) -> str:
        """Start an operation; returns its op_id (raises ApiError ``busy`` when another one runs)."""
        return str(self.post(f"/api/ops/{quote(kind)}", body).get("op_id", ""))

    def settings(self, **changes) -> dict:
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
        try:
            self.request("GET", "/api/status", timeout=timeout)
            return True
        except ApiError:
            return False

    # --- server-sent events ------------------------------------------------------------------------------
    def events(self, stop: threading.Event, read_timeout: float = 45.0,
               on_open: Callable[[], None] | None = None) -> Iterator[tuple[str, dict]]:
        """Yield ``(event, data)`` from ``/api/events`` until the stream ends, fails or ``stop`` is set."""
        conn = http.client.HTTPConnection(self.host, self.info.port, timeout=read_timeout)
        done = threading.Event()  # ends the closer thread when this connection ends by itself
        try:
            headers = self._headers()
            headers["Accept"] = "text/event-stream"
            conn.request("GET", "/api/events", headers=headers)
            # keep the socket: getresponse() hands it to the response and clears conn.sock
            closer = threading.Thread(target=_close_on(stop, done, conn.sock), daemon=True, name="sse-closer")
            resp = conn.getresponse()
            if resp.status != 200:
                raise ApiError(f"http_{resp.status}", "event stream refused", status=resp.status)
            if on_open:
                on_open()
            closer.start()
            event, data = "message", []
            while not stop.is_set():
                line = resp.readline()
                if not line:
                    return
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
        except (OSError, http.client.HTTPException) as e:
            if not stop.is_set():
                raise ApiError("unreachable", f"event stream lost ({e.__class__.__name__})") from e
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


class StatusStream:
    """Background thread: follow ``/api/events`` and reconnect (re-reading api.json) when it drops.

    Callbacks run on the stream thread; the tray hands them to its dispatcher.
    """

    def __init__(self, api_file: Path, on_status: Callable[[Status], None],
                 on_disconnect: Callable[[str], None] | None = None,
                 on_event: Callable[[str, dict], None] | None = None, retry_s: float = 2.0):
        self.api_file, self.on_status, self.on_disconnect, self.on_event = api_file, on_status, on_disconnect, on_event
        self.retry_s = retry_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="status-stream")
        self.client: ApiClient | None = None

    def start(self) -> StatusStream:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            client = ApiClient.from_api_file(self.api_file)
            reason = "the agent is not running"
            if client is not None:
                self.client = client
                try:
                    # initial snapshot first, so the icon updates even before the first event arrives
                    self.on_status(client.status())
                    for event, data in client.events(self._stop):
                        if event == "status":
                            self.on_status(Status.from_dict(data))
                        elif self.on_event:
                            self.on_event(event, data)
                    reason = "the agent closed the connection"
                except ApiError as e:
                    reason = e.message
                except Exception as e:  # a callback failed: keep the stream alive
                    log.exception("status stream callback failed")
                    reason = str(e)
            if self._stop.is_set():
                return
            if self.on_disconnect:
                self.on_disconnect(reason)
            self._stop.wait(self.retry_s)


def wait_for_agent(api_file: Path, timeout: float, stop: threading.Event | None = None) -> ApiClient | None:
    """Poll until the agent behind ``api_file`` answers, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        client = ApiClient.from_api_file(api_file)
        if client and client.ping():
            return client
        time.sleep(0.25)
    return None
