"""A small stdlib client for the part of Ollama's HTTP API the agent itself calls (toolkit.md §8).

The official ``ollama`` package pulls in httpx and pydantic (~15 MB RSS in a long-running agent, and ~25 ms of CPU
per client for an SSL context); the agent only lists, pulls, copies, warms and unloads models, so it speaks those
endpoints with ``http.client``. The speed test (an explicit operation) still uses the official client.
Same host rules as the official client (``OLLAMA_HOST`` style: bare ``host[:port]`` means ``http://…:11434``) and
the same ``OLLAMA_API_KEY`` bearer header.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORT = 11434


class OllamaResponseError(Exception):
    """Ollama answered with an error (HTTP status, or an ``error`` line in a stream); ``error`` is its text."""

    def __init__(self, error: str, status_code: int = -1):
        super().__init__(error)
        self.error = error
        self.status_code = status_code


def parse_host(host: str | None) -> tuple[str, str, int, str]:
    """(scheme, host, port, path prefix), as the official client reads ``OLLAMA_HOST``."""
    host = (host or "").strip() or "127.0.0.1:11434"
    scheme, _, rest = host.rpartition("://") if "://" in host else ("http", "", host)
    default = DEFAULT_PORT if "://" not in host else (443 if scheme == "https" else 80)
    parts = urlsplit(f"{scheme}://{rest}")
    return scheme, parts.hostname or "127.0.0.1", parts.port or default, parts.path.rstrip("/")


class OllamaHttp:
    """One Ollama endpoint with a fixed timeout (None = wait as long as it takes, e.g. a pull)."""

    def __init__(self, host: str, timeout: float | None = None):
        self.scheme, self.host, self.port, self.prefix = parse_host(host)
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "User-Agent": "lcai-tray"}
        if os.environ.get("OLLAMA_API_KEY"):
            self.headers["Authorization"] = f"Bearer {os.environ['OLLAMA_API_KEY']}"
        self._ssl: ssl.SSLContext | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ssl)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _open(self, method: str, path: str, body: dict | None = None):
        conn = self._connection()
        try:
            conn.request(method, self.prefix + path, json.dumps(body).encode() if body is not None else None,
                         self.headers)
            resp = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        if resp.status >= 400:
            raw = resp.read()
            conn.close()
            try:
                err = json.loads(raw).get("error") or raw.decode(errors="replace")
            except (ValueError, AttributeError):
                err = raw.decode(errors="replace")
            raise OllamaResponseError(err or f"HTTP {resp.status}", resp.status)
        return conn, resp

    def _json(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        conn, resp = self._open(method, path, body)
        try:
            raw = resp.read()
        finally:
            conn.close()
        return json.loads(raw) if raw.strip() else {}

    # --- the calls the agent makes ----------------------------------------------------------------------
    def list(self) -> list[str]:
        """Installed model names (``/api/tags``)."""
        return [m.get("model") or m.get("name") or "" for m in self._json("GET", "/api/tags").get("models") or []]

    def ps(self) -> list[str]:
        """Resident model names (``/api/ps``)."""
        return [m.get("model") or m.get("name") or "" for m in self._json("GET", "/api/ps").get("models") or []]

    def copy(self, source: str, destination: str) -> None:
        self._json("POST", "/api/copy", {"source": source, "destination": destination})

    def generate(self, model: str, prompt: str = "", *, keep_alive: Any = None,
                 options: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "prompt": prompt, "stream": False}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        if options:
            body["options"] = options
        return self._json("POST", "/api/generate", body)

    def pull(self, model: str) -> Iterator[dict[str, Any]]:
        """Progress lines of a pull (``status``, ``digest``, ``total``, ``completed``); an error line raises."""
        conn, resp = self._open("POST", "/api/pull", {"model": model, "stream": True})
        try:
            for line in resp:
                if not line.strip():
                    continue
                ev = json.loads(line)
                if ev.get("error"):
                    raise OllamaResponseError(str(ev["error"]))
                yield ev
        finally:
            conn.close()
