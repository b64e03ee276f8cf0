"""Stand-in for the official worker image (toolkit.md §2, §3, §9, §11), run as ``python -m tray_agent.devnet.sim_worker``.

It reads the official environment variables, logs the healthy startup lines as JSON (``msg`` field), serves
``/healthz`` and ``/metrics`` on ``WORKER_METRICS_ADDR``, drains and exits on SIGTERM, and — when ``RPC_URL`` is
set and ``tray_agent.devnet.sim_chain`` is importable — drives ``sim_chain.JobProcessor(...).step()`` in its loop.

Fault injection (for tests and demos), by env ``SIM_WORKER_MODE`` or by a control file (``SIM_CONTROL_FILE``,
default ``<dir of SESSION_KEY_FILE>/sim-control``; re-read every loop) holding one word:
``crash`` (exit 1 at once, also on every restart while the file says so), ``hang`` (stop answering HTTP and
stop logging), ``disconnect`` (log a gateway disconnect and stay disconnected), ``busy`` (report one in-flight
job), ``ok`` (normal).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_REQUIRED = ("WORKER_KEYSTORE_PATH", "WORKER_KEYSTORE_PASSWORD", "CHAIN_ID", "WORKER_REGISTRY_ADDRESS",
             "SUPPORTED_MODELS")


def log(msg: str, level: str = "info", **fields) -> None:
    """One JSON log line on stderr, like the Go worker's default (LOG_FORMAT=json)."""
    if os.environ.get("LOG_FORMAT", "json") == "text":
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {level.upper()} {msg} {extra}".rstrip()
    else:
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level,
                           "msg": msg, **fields})
    print(line, file=sys.stderr, flush=True)


class SimWorker:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.models = [m.strip() for m in env.get("SUPPORTED_MODELS", "").split(",") if m.strip()]
        self.max_jobs = int(env.get("MAX_CONCURRENT_JOBS", "2") or 2)
        self.stop = threading.Event()
        self.hung = threading.Event()
        self.connected = False
        self.jobs_ok = 0
        self.jobs_error = 0
        self.active_jobs = 0
        self.processor = None
        self.server: ThreadingHTTPServer | None = None
        session = env.get("SESSION_KEY_FILE", "data/session-keys.enc")
        self.control = Path(env.get("SIM_CONTROL_FILE") or Path(session).parent / "sim-control")

    # --- control -----------------------------------------------------------------------------------
    def mode(self) -> str:
        try:
            return self.control.read_text().strip().lower() or "ok"
        except OSError:
            return (self.env.get("SIM_WORKER_MODE") or "ok").strip().lower()

    # --- startup -----------------------------------------------------------------------------------
    def validate(self) -> None:
        missing = [k for k in _REQUIRED if not self.env.get(k)]
        errors = [f"{k} is required" for k in missing]
        if self.env.get("SORTITION_ENABLED", "").lower() in _TRUE and not self.env.get("SESSION_MANAGER_ADDRESS"):
            errors.append("SESSION_MANAGER_ADDRESS is required when SORTITION_ENABLED=true")
        if errors:
            log("config validation failed", "error", error="; ".join(errors))
            sys.exit(1)

    def unlock(self) -> bytes:
        path = Path(self.env["WORKER_KEYSTORE_PATH"])
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            log("failed to read keystore", "error", path=str(path), error=type(e).__name__)
            sys.exit(1)
        try:
            from eth_account import Account

            return bytes(Account.decrypt(data, self.env["WORKER_KEYSTORE_PASSWORD"]))
        except ValueError:
            log("failed to decrypt keystore: WORKER_KEYSTORE_PASSWORD must be the password the key was created with",
                "error")
            sys.exit(1)

    def check_ollama(self) -> None:
        url = self.env.get("OLLAMA_URL", "http://localhost:11434").rstrip("/")
        try:
            with urllib.request.urlopen(f"{url}/api/tags", timeout=3) as r:
                names = {m.get("name", "") for m in json.loads(r.read()).get("models", [])}
        except Exception as e:
            log("ollama model verification failed (non-fatal)", "warn", error=str(e)[:200])
            return
        missing = [m for m in self.models if m not in names and f"{m}:latest" not in names]
        if missing:
            log("ollama model verification failed (non-fatal)", "warn",
                error=f"missing models on Ollama server: {','.join(missing)}")

    def start_chain(self, key: bytes) -> None:
        rpc = self.env.get("RPC_URL", "")
        if not rpc:
            return
        try:
            from tray_agent.devnet import sim_chain  # written alongside the devnet chain replica
        except ImportError:
            log("sim chain module not available; serving no jobs", "warn")
            return
        try:
            self.processor = sim_chain.JobProcessor(rpc, int(self.env["CHAIN_ID"]), key, list(self.models))
        except Exception as e:
            log("cannot reach the chain RPC", "error", error=str(e)[:300])
            sys.exit(1)

    # --- http ----------------------------------------------------------------------------------------
    def metrics_text(self) -> str:
        lines = [
            "# HELP worker_active_jobs In-flight jobs.", "# TYPE worker_active_jobs gauge",
            f"worker_active_jobs {self.active_jobs}",
            "# HELP worker_max_jobs MAX_CONCURRENT_JOBS.", "# TYPE worker_max_jobs gauge",
            f"worker_max_jobs {self.max_jobs}",
            "# HELP worker_jobs_total Jobs by outcome.", "# TYPE worker_jobs_total counter",
        ]
        for m in self.models or ["none"]:
            tier = "max" if m.lower().endswith("-max") else "standard"
            lines.append(f'worker_jobs_total{{outcome="ok",reason="",model="{m}",tier="{tier}",delivery="stream"}} '
                         f"{self.jobs_ok if m == (self.models or ['none'])[0] else 0}")
        lines += [
            f'worker_jobs_total{{outcome="error",reason="unknown",model="",tier="standard",delivery="stream"}} '
            f"{self.jobs_error}",
            "# TYPE worker_release_pending gauge", "worker_release_pending 0",
            "# TYPE worker_release_failed_total counter", "worker_release_failed_total 0",
            "# TYPE worker_ollama_up gauge", "worker_ollama_up 0",
            "# TYPE worker_heartbeat_last_emit_timestamp_seconds gauge",
            "worker_heartbeat_last_emit_timestamp_seconds 0",
        ]
        return "\n".join(lines) + "\n"

    def serve(self) -> None:
        addr = self.env.get("WORKER_METRICS_ADDR", "127.0.0.1:9101")
        if not addr:
            return
        host, _, port = addr.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
        if host not in ("127.0.0.1", "localhost", "::1") and \
                self.env.get("WORKER_METRICS_ALLOW_PUBLIC", "").lower() not in _TRUE:
            log("metrics: listen address must be loopback unless WORKER_METRICS_ALLOW_PUBLIC=true", "error")
            sys.exit(1)
        worker = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                while worker.hung.is_set() and not worker.stop.is_set():
                    time.sleep(0.2)
                if self.path.startswith("/healthz"):
                    body, ctype = b"ok", "text/plain"
                elif self.path.startswith("/metrics"):
                    body, ctype = worker.metrics_text().encode(), "text/plain; version=0.0.4"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        try:
            self.server = ThreadingHTTPServer((host, int(port)), Handler)
        except OSError as e:
            log("metrics endpoint failed (job processing continues)", "error", error=str(e))
            return
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True).start()
        log("metrics endpoint listening", addr=addr)

    # --- main ----------------------------------------------------------------------------------------
    def connect_gateway(self) -> None:
        if self.env.get("WORKER_GATEWAY_URL"):
            log("authenticated with worker-gateway")
            log("gateway stream connected")
        self.connected = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.validate()
        if self.mode() == "crash":
            log("simulated fatal startup error (sim-control: crash)", "error")
            return 1
        key = self.unlock()
        sortition = self.env.get("SORTITION_ENABLED", "").lower() in _TRUE
        gateway = self.env.get("WORKER_GATEWAY_URL", "")
        self.start_chain(key)
        del key
        log("worker registration validated - on-chain key matches local key")
        if sortition and gateway:
            log("external worker profile: sortition assignment with gateway egress (responses, heartbeat, "
                "drain via worker-gateway)")
        self.check_ollama()
        self.serve()
        self.connect_gateway()
        if sortition:
            log("worker sidecar running (sortition mode) — waiting for shutdown signal")
        else:
            log(f"worker service initialized (gateway mode) models={len(self.models)}")
        while not self.stop.is_set():
            mode = self.mode()
            if mode == "crash":
                log("simulated crash (sim-control: crash)", "error")
                return 1
            if mode == "hang":
                self.hung.set()
            elif mode == "busy":  # one simulated in-flight job (drain tests)
                self.active_jobs = 1
            else:
                if self.processor is None:
                    self.active_jobs = 0
                self.hung.clear()
                if mode == "disconnect" and self.connected:
                    self.connected = False
                    log("gateway stream disconnected", "warn", error="simulated")
                elif mode == "ok" and not self.connected:
                    self.connect_gateway()
                if self.processor is not None and mode == "ok":
                    self.step()
            self.stop.wait(0.5)
        return self.shutdown()

    def _on_signal(self, *_args) -> None:
        """Drain on the main loop; if a chain step blocks (RPC gone), exit anyway after a short grace."""
        if self.stop.is_set():
            return
        self.stop.set()
        grace = float(self.env.get("SIM_SHUTDOWN_GRACE", "5") or 5)

        def force() -> None:
            log("shutdown timeout exceeded", "error")
            os._exit(1)

        t = threading.Timer(grace, force)
        t.daemon = True
        t.start()

    def step(self) -> None:
        try:
            done = self.processor.step()  # type: ignore[union-attr]
            if isinstance(done, dict):  # sim_chain: counts of this pass
                ok, errors = int(done.get("completed", 0)), int(done.get("errors", 0))
            else:
                ok, errors = int(done or 0), 0
            self.jobs_ok += ok
            self.jobs_error += errors
            if ok:
                log("job completed", count=ok)
            # worker_active_jobs = jobs in a pipeline right now. step() runs each job to its end, so none is
            # in flight between steps; open on-chain jobs it will not serve (past deadline, other model) are
            # not in flight either (the real worker drops them at stage 0). Counting them would make every
            # drain-before-transaction wait forever.
            self.active_jobs = 0
        except Exception as e:  # a job failure is logged, never fatal (like the real worker)
            self.jobs_error += 1
            self.active_jobs = 0
            log("job failed", "error", error=str(e)[:300])

    def shutdown(self) -> int:
        log("shutdown signal received, draining")
        if self.env.get("WORKER_GATEWAY_URL"):
            log("drain marker written")
        # Jobs are processed synchronously inside step(), so nothing is mid-flight here. Like the sortition
        # worker (toolkit.md §11), claimed-but-unfinished jobs are not waited for: they stay open on chain.
        if self.active_jobs:
            log("shutdown: open jobs left unfinished", "warn", count=self.active_jobs)
        if self.server is not None:
            self.server.shutdown()
        log("worker stopped")
        return 0


def main() -> int:
    return SimWorker(dict(os.environ)).run()


if __name__ == "__main__":
    sys.exit(main())
