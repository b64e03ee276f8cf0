"""The agent's Prometheus listener: ``GET /metrics`` and nothing else, on its own port, off by default.

``--metrics-listen 127.0.0.1:9464`` turns it on. A non-loopback address needs ``--metrics-token-file PATH``:
every request must then carry ``Authorization: Bearer <token>`` (compared in constant time; Prometheus sends it
with ``authorization: {credentials_file: …}``). Every other path answers 404, other methods 405, a missing or
wrong token 401 — the listener never serves actions, keys or the dashboard.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tray_agent.common.errors import ValidationError

if TYPE_CHECKING:  # prometheus_client is imported only when the listener serves (the CLI parser imports this module)
    from prometheus_client.registry import CollectorRegistry

log = logging.getLogger(__name__)

DEFAULT_PORT = 9464
MIN_TOKEN_CHARS = 16


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` / ``[v6]:PORT`` / ``:PORT`` (loopback) → (host, port)."""
    v = value.strip()
    host, sep, port_s = v.rpartition(":")
    if not sep:
        raise ValidationError(f"--metrics-listen {value!r} needs HOST:PORT", fix="e.g. 127.0.0.1:9464",
                              field="metrics_listen")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_s)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValidationError(f"--metrics-listen {value!r}: bad port", fix="a port from 1 to 65535, e.g. 9464",
                              field="metrics_listen")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: Path) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as e:
        raise ValidationError(f"cannot read the metrics token file: {e.strerror}", fix="check --metrics-token-file",
                              field="metrics_token_file") from None
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ValidationError(f"the metrics token must be at least {MIN_TOKEN_CHARS} characters without spaces",
                              fix="e.g. openssl rand -hex 32 > FILE; chmod 600 FILE", field="metrics_token_file")
    return token


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "lcai-metrics"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("metrics %s %s", self.address_string(), format % args)

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        got = self.headers.get("Authorization", "")
        scheme, _, cred = got.partition(" ")
        ok = hmac.compare_digest(cred.strip().encode(), token.encode())
        return scheme.lower() == "bearer" and ok

    def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8", head: bool = False,
               extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _get(self, head: bool) -> None:
        if not self._authorized():
            self._reply(401, b"unauthorized\n", head=head, extra={"WWW-Authenticate": 'Bearer realm="metrics"'})
            return
        if self.path.split("?", 1)[0] != "/metrics":
            self._reply(404, b"not found\n", head=head)
            return
        from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

        try:
            body = generate_latest(self.server.registry)
        except Exception:
            log.exception("metrics: collection failed")
            self._reply(500, b"collection failed\n", head=head)
            return
        self._reply(200, body, CONTENT_TYPE_PLAIN_0_0_4, head=head)

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self._get(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._get(head=True)

    def _refuse(self) -> None:
        code = 405 if self._authorized() else 401
        self._reply(code, b"method not allowed\n" if code == 405 else b"unauthorized\n", extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], registry: CollectorRegistry | None, token: str | None):
        if ":" in addr[0]:
            import socket

            self.address_family = socket.AF_INET6
        self.registry = registry
        self.token = token
        super().__init__(addr, _Handler)


class MetricsServer:
    """Serves one registry on ``host:port`` in a daemon thread. ``bind()`` takes the port (errors surface at once),
    ``start()`` binds if needed and serves."""

    def __init__(self, registry: CollectorRegistry | None, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 token: str | None = None):
        if not is_loopback(host) and not token:
            raise ValidationError(f"the metrics listener on {host} needs a bearer token",
                                  fix="add --metrics-token-file PATH, or listen on 127.0.0.1",
                                  field="metrics_token_file")
        self.registry, self.host, self.port, self.token = registry, host, port, token
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> MetricsServer:
        if self._httpd is None:
            try:
                self._httpd = _Server((self.host, self.port), self.registry, self.token)
            except OSError as e:
                raise ValidationError(f"cannot listen for metrics on {self.host}:{self.port}: {e.strerror}",
                                      fix="choose another --metrics-listen address or port",
                                      field="metrics_listen") from None
            self.port = self._httpd.server_address[1]
        return self

    def start(self, registry: CollectorRegistry | None = None) -> MetricsServer:
        if registry is not None:
            self.registry = registry
        if self.registry is None:
            raise ValueError("MetricsServer.start needs a registry")
        self.bind()
        assert self._httpd is not None
        self._httpd.registry = self.registry
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="metrics-http", daemon=True)
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics%s", self.host, self.port, " (bearer token)" if self.token else "")
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def listener_from_options(listen: str | None, token_file: Path | None) -> MetricsServer | None:
    """A bound (not yet serving) MetricsServer for the options, or None when ``listen`` is not set. Validates
    everything (address, loopback/token rule, token file, free port) before the agent starts."""
    if not listen:
        if token_file:
            raise ValidationError("--metrics-token-file needs --metrics-listen", fix="add --metrics-listen HOST:PORT",
                                  field="metrics_listen")
        return None
    host, port = parse_listen(listen)
    token = read_token(token_file) if token_file else None
    return MetricsServer(None, host, port, token).bind()


def from_options(registry: CollectorRegistry, listen: str | None, token_file: Path | None) -> MetricsServer | None:
    """A serving MetricsServer for the options, or None when ``listen`` is not set."""
    server = listener_from_options(listen, token_file)
    return server.start(registry) if server is not None else None


def agent_registry(agent: Any) -> CollectorRegistry:
    """The registry of an in-process Agent: its Status plus the facts only the process knows."""
    from tray_agent.core.metrics_export import agent_facts, build_registry

    return build_registry(lambda: agent.status().to_dict(), lambda: agent_facts(agent))
