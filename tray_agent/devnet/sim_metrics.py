"""Metrics of the simulated worker: the Prometheus text and the loopback-only listener (spec/toolkit.md §9.1)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOPBACK = ("127.0.0.1", "localhost", "::1")
PUBLIC_REFUSED = "metrics: listen address must be loopback unless WORKER_METRICS_ALLOW_PUBLIC=true"


class MetricsConfigError(Exception):
    """A startup error (§9.1: a public address without WORKER_METRICS_ALLOW_PUBLIC=true)."""


def tier(model: str) -> str:
    return "max" if model.lower().endswith("-max") else "standard"  # §8: tier label


class Metrics:
    """Counters and gauges; ``active`` is read from the worker at scrape time (the truth about running jobs)."""

    def __init__(self, max_jobs: int, active: Callable[[], int]):
        self.max_jobs = max_jobs
        self.active = active
        self.jobs: Counter[tuple[str, str, str]] = Counter()  # (outcome, reason, model) -> n
        self.pending = 0
        self.released = 0
        self._mu = threading.Lock()

    def job_done(self, outcome: str, reason: str, model: str) -> None:
        with self._mu:
            self.jobs[(outcome, reason, model)] += 1

    @property
    def ok(self) -> int:
        return sum(n for (o, _, _), n in self.jobs.items() if o == "ok")

    def text(self) -> str:
        lines = [
            "# HELP worker_active_jobs In-flight jobs.", "# TYPE worker_active_jobs gauge",
            f"worker_active_jobs {self.active()}",
            "# HELP worker_max_jobs MAX_CONCURRENT_JOBS.", "# TYPE worker_max_jobs gauge",
            f"worker_max_jobs {self.max_jobs}",
            "# HELP worker_jobs_total Jobs by outcome.", "# TYPE worker_jobs_total counter",
        ]
        with self._mu:
            items = sorted(self.jobs.items())
        for (outcome, reason, model), n in items:
            lines.append(f'worker_jobs_total{{outcome="{outcome}",reason="{reason}",model="{model}",'
                         f'tier="{tier(model)}",delivery="stream"}} {n}')
        lines += [
            "# TYPE worker_release_pending gauge", f"worker_release_pending {self.pending}",
            "# TYPE worker_release_released_total counter", f"worker_release_released_total {self.released}",
            "# TYPE worker_release_failed_total counter", "worker_release_failed_total 0",
            # §9.1: set only by the Redis monitor, so they stay 0 in the external profile
            "# TYPE worker_ollama_up gauge", "worker_ollama_up 0",
            "# TYPE worker_heartbeat_last_emit_timestamp_seconds gauge",
            "worker_heartbeat_last_emit_timestamp_seconds 0",
        ]
        return "\n".join(lines) + "\n"


def check_address(addr: str, allow_public: bool) -> tuple[str, int] | None:
    """(host, port) to bind, None when disabled (empty address). Raises MetricsConfigError (§9.1)."""
    if not addr:
        return None
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    if host not in LOOPBACK and not allow_public:  # an empty host means every interface: public too
        raise MetricsConfigError(PUBLIC_REFUSED)
    return host or "0.0.0.0", int(port)


def serve(bind: tuple[str, int], metrics: Metrics, hung: threading.Event,
          stop: threading.Event) -> ThreadingHTTPServer:
    """Start /healthz + /metrics on ``bind``; OSError (port taken) is the caller's to log — non-fatal (§9.1)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            while hung.is_set() and not stop.is_set():
                time.sleep(0.2)
            if self.path.startswith("/healthz"):
                body, ctype = b"ok", "text/plain"
            elif self.path.startswith("/metrics"):
                body, ctype = metrics.text().encode(), "text/plain; version=0.0.4"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(bind, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
