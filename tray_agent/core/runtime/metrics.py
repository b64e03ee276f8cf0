"""Worker health from its local metrics endpoint (Prometheus text, parsed with prometheus-client) and its logs.

``worker_heartbeat_last_emit_timestamp_seconds`` and ``worker_ollama_up`` stay 0 on sortition builds (toolkit.md
§9.1), so "online" never depends on them: it is ``/healthz`` == 200 plus the connection state read from the
worker's JSON log lines (gateway authenticated/stream connected, or the service-running line without a gateway).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

CONNECT_MSGS = ("authenticated with worker-gateway", "gateway stream connected", "websocket connected to gateway")
RUNNING_MSGS = ("worker sidecar running", "worker service initialized")
DISCONNECT_MSGS = ("gateway stream disconnected", "websocket disconnected", "gateway stream closed",
                   "gateway stream error", "websocket read error")
FATAL_HINTS = ("config validation failed", "failed to decrypt keystore", "is not registered on-chain",
               "does not match on-chain key", "authenticate with worker-gateway", "release store",
               "load ecdh keystore", "cannot reach the chain rpc", "simulated fatal", "simulated crash")


@dataclass(frozen=True)
class MetricsSnapshot:
    """Figures from /metrics (absent metrics are 0)."""

    active_jobs: int = 0
    max_jobs: int = 0
    jobs_ok: float = 0.0
    jobs_error: float = 0.0
    release_pending: int = 0
    release_released: float = 0.0
    release_failed: float = 0.0
    stuck_nonce_tracked: int = 0
    samples: dict[str, float] = field(default_factory=dict, repr=False)


def parse_metrics(text: str) -> MetricsSnapshot:
    """Parse Prometheus exposition text into a MetricsSnapshot (exact metric names, no substring matching)."""
    samples: dict[str, float] = {}
    ok = err = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "worker_jobs_total":
                if s.labels.get("outcome") == "ok":
                    ok += s.value
                elif s.labels.get("outcome") in ("error", "panic"):
                    err += s.value
                continue
            if not s.labels:
                samples[s.name] = s.value
            else:
                samples[s.name] = samples.get(s.name, 0.0) + s.value

    def g(name: str) -> float:
        return samples.get(name, 0.0)

    return MetricsSnapshot(
        active_jobs=int(g("worker_active_jobs")), max_jobs=int(g("worker_max_jobs")), jobs_ok=ok, jobs_error=err,
        release_pending=int(g("worker_release_pending")), release_released=g("worker_release_released_total"),
        release_failed=g("worker_release_failed_total"), stuck_nonce_tracked=int(g("worker_stuck_nonce_tracked")),
        samples=samples,
    )


@dataclass
class LogSignals:
    """Connection state folded from log lines in order (idempotent: re-reading a line changes nothing)."""

    gateway_connected: bool = False
    service_running: bool = False
    last_error: str = ""
    last_msg: str = ""
    lines_seen: int = 0

    def feed(self, lines: Iterable[str]) -> LogSignals:
        for raw in lines:
            msg, level = _msg(raw)
            if not msg:
                continue
            self.lines_seen += 1
            self.last_msg = msg
            low = msg.lower()
            if any(m in low for m in CONNECT_MSGS):
                self.gateway_connected = True
            elif any(m in low for m in DISCONNECT_MSGS):
                self.gateway_connected = False
            if any(m in low for m in RUNNING_MSGS):
                self.service_running = True
            if level in ("error", "fatal") or any(h in low for h in FATAL_HINTS):
                self.last_error = msg
            elif "shutdown signal received" in low or low == "worker stopped":
                self.gateway_connected = self.service_running = False
        return self


def _msg(raw: str) -> tuple[str, str]:
    raw = raw.strip()
    if not raw:
        return "", ""
    if raw.startswith("{"):
        try:
            d = json.loads(raw)
            msg = str(d.get("msg") or d.get("message") or "")
            err = d.get("error")
            return (f"{msg}: {err}" if err and d.get("level") in ("error", "fatal") else msg), str(d.get("level", ""))
        except ValueError:
            pass
    return raw, ("error" if " ERROR " in raw or " FATAL " in raw else "")


@dataclass(frozen=True)
class WorkerHealth:
    """One reading of the worker: HTTP reachability, metrics and log-derived connection state."""

    healthz_ok: bool
    metrics: MetricsSnapshot | None
    gateway_connected: bool
    sortition_running: bool
    expects_gateway: bool
    last_error: str = ""
    error: str = ""  # why the endpoint could not be read

    @property
    def active_jobs(self) -> int:
        return self.metrics.active_jobs if self.metrics else 0

    @property
    def connected(self) -> bool:
        """Taking jobs: endpoint answers and connected (gateway profile) / service running (no gateway)."""
        if not self.healthz_ok:
            return False
        return self.gateway_connected if self.expects_gateway else (self.sortition_running or self.gateway_connected)


def _get(url: str, timeout: float) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"User-Agent": "lcai-worker-tray"})
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback URL built by us
        return r.status, r.read(2_000_000).decode("utf-8", "replace")


def fetch_metrics(base_url: str, timeout: float = 3.0) -> tuple[bool, MetricsSnapshot | None, str]:
    """(healthz ok, metrics or None, error text) from ``base_url`` (e.g. http://127.0.0.1:9101)."""
    base = base_url.rstrip("/")
    try:
        code, body = _get(f"{base}/healthz", timeout)
        healthy = code == 200 and body.strip() == "ok"
        _, text = _get(f"{base}/metrics", timeout)
        return healthy, parse_metrics(text), ""
    except (urllib.error.URLError, OSError, ValueError) as e:
        return False, None, str(getattr(e, "reason", e))


def health(base_url: str, logs: LogSignals, expects_gateway: bool, timeout: float = 3.0) -> WorkerHealth:
    ok, snap, err = fetch_metrics(base_url, timeout)
    return WorkerHealth(healthz_ok=ok, metrics=snap, gateway_connected=logs.gateway_connected,
                        sortition_running=logs.service_running, expects_gateway=expects_gateway,
                        last_error=logs.last_error, error=err)


# --- container logs --------------------------------------------------------------------------------------
def parse_ts(text: str) -> float | None:
    """RFC 3339 with nanoseconds (Docker) → epoch seconds."""
    if not text or text.startswith("0001-"):
        return None
    try:
        t = text.rstrip("Z")
        if "." in t:
            head, frac = t.split(".", 1)
            frac = "".join(ch for ch in frac if ch.isdigit())[:6]
            t = f"{head}.{frac}"
        return dt.datetime.fromisoformat(t).replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        return None


def new_log_lines(raw: bytes, started: float, after: float) -> tuple[list[str], float]:
    """Lines of ``docker logs --timestamps`` output from this run (≥ ``started``) newer than ``after``;
    returns (lines, timestamp of the last one, or ``after``)."""
    lines, last = [], after
    for line in raw.decode("utf-8", "replace").splitlines():
        ts, _, text = line.partition(" ")
        t = parse_ts(ts)
        if t is None or t < started - 0.001 or (last and t <= last):
            continue
        last = t
        lines.append(text)
    return lines, last
