"""Stand-in for the official worker image (spec/toolkit.md), run as ``python -m tray_agent.devnet.sim_worker``.

A model of the official worker, strict where the agent depends on it (section cited beside each behaviour):
official env vars and JSON log lines; fatal startup errors exit 1 (keystore, config, release store identity,
public metrics address); the release store and sortition cursors follow §5.5/§5.6; jobs run as concurrent
pipelines (``MAX_CONCURRENT_JOBS``) that take real time; SIGTERM cancels in-flight jobs (§11); ``/metrics``
reports them in ``worker_active_jobs`` (§9.1).

Sim-only settings: ``SIM_JOB_SECONDS`` — inference time, ``3`` or ``llama3-8b=2,gpt-oss:20b=6,*=3``;
``SIM_INFERENCE=ollama`` — call ``OLLAMA_URL`` /api/generate instead of sleeping; ``SIM_RELEASE`` — run the release
scheduler (default true); ``SIM_SHUTDOWN_GRACE`` — forced exit after SIGTERM (default 5 s).

Fault injection (tests, demos), by env ``SIM_WORKER_MODE`` or a control file re-read every loop — ``SIM_CONTROL_FILE``
if it exists, else ``<dir of SESSION_KEY_FILE>/sim-control`` — holding one word: ``crash`` (exit 1, also on every
restart while the file says so), ``hang`` (HTTP stops answering), ``disconnect`` (gateway stream down), ``busy``
(one phantom in-flight job), ``ok``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path

from . import sim_infer, sim_metrics
from .sim_infer import duration, job_seconds  # noqa: F401 - re-exported
from .sim_state import CursorStore, Identity, ReleaseStore, SessionStore, StoreError

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
        self.poll_s = duration(env.get("SORTITION_POLL_INTERVAL"), 4.0)
        self.stop = threading.Event()
        self.cancel = threading.Event()  # §11: job goroutines run on the signal context
        self.hung = threading.Event()
        self.connected = False
        self.running: dict[int, threading.Thread] = {}
        self._mu = threading.Lock()
        self.inflight_at_signal = 0
        self.phantom = 0  # "busy" fault: one simulated in-flight job
        self.metrics = sim_metrics.Metrics(self.max_jobs, lambda: len(self.running) + self.phantom)
        self.processor = None
        self.release_store: ReleaseStore | None = None
        self.sessions: SessionStore | None = None
        self.server = None
        self.state_dir = Path(env.get("SESSION_KEY_FILE", "data/session-keys.enc")).parent

    # --- control -----------------------------------------------------------------------------------
    def mode(self) -> str:
        for f in (self.env.get("SIM_CONTROL_FILE"), self.state_dir / "sim-control"):
            if not f:
                continue
            try:
                return Path(f).read_text().strip().lower() or "ok"
            except OSError:
                continue
        return (self.env.get("SIM_WORKER_MODE") or "ok").strip().lower()

    # --- startup (toolkit.md §4 "Service fatal startup errors": each exits 1) ---------------------------
    def fatal(self, msg: str, **fields) -> None:
        log(msg, "error", **fields)
        sys.exit(1)

    def validate(self) -> None:
        errors = [f"{k} is required" for k in _REQUIRED if not self.env.get(k)]
        if self.env.get("SORTITION_ENABLED", "").lower() in _TRUE and not self.env.get("SESSION_MANAGER_ADDRESS"):
            errors.append("SESSION_MANAGER_ADDRESS is required when SORTITION_ENABLED=true")
        if errors:  # §3: all load errors reported together
            self.fatal("config validation failed", error="; ".join(errors))

    def unlock(self) -> bytes:
        path = Path(self.env["WORKER_KEYSTORE_PATH"])
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            self.fatal("failed to read keystore", path=str(path), error=type(e).__name__)
        try:
            from eth_account import Account

            return bytes(Account.decrypt(data, self.env["WORKER_KEYSTORE_PASSWORD"]))
        except ValueError:
            self.fatal("failed to decrypt keystore: WORKER_KEYSTORE_PASSWORD must be the password the key was "
                       "created with")
        raise AssertionError  # unreachable

    def open_release_store(self, address: str) -> None:
        """§5.5: identity checked on every open; mismatch / empty file / bad schema are fatal."""
        path = Path(self.env.get("RELEASE_STATE_PATH") or self.state_dir / "release_state.json")
        ident = Identity(int(self.env["CHAIN_ID"]), self.env.get("JOB_REGISTRY_ADDRESS", ""), address)
        try:
            self.release_store = ReleaseStore(path, ident).open()
        except (StoreError, OSError) as e:
            self.fatal(str(e))
        self.metrics.pending = len(self.release_store.pending_ids)

    def check_ollama(self) -> None:
        url = self.env.get("OLLAMA_URL", "http://localhost:11434").rstrip("/")
        try:
            with urllib.request.urlopen(f"{url}/api/tags", timeout=3) as r:
                names = {m.get("name", "") for m in json.loads(r.read()).get("models", [])}
        except Exception as e:  # §4: non-fatal warning
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
        from tray_agent.devnet import sim_chain

        cursors_dir = Path(self.env.get("SORTITION_STATE_DIR") or self.state_dir / "sortition-state")
        pub = self.load_ecdh()
        try:
            cursors = CursorStore(cursors_dir)
            self.processor = sim_chain.JobProcessor(rpc, int(self.env["CHAIN_ID"]), key, list(self.models),
                                                    cursors=cursors)
            refused = self.processor.validate_registration(pub)
        except StoreError as e:
            self.fatal(str(e))
        except Exception as e:
            self.fatal("cannot reach the chain RPC", error=str(e)[:300])
        if refused:  # §1: the service refuses to start unregistered or with another ECDH key (crash loop)
            self.fatal(refused)

    def load_ecdh(self) -> bytes:
        """§5.2 LoadOrGenerate: open ENCRYPTION_KEYSTORE_PATH, or create a new key when the file is missing (which
        then fails the on-chain key check of a registered worker)."""
        from tray_agent.core.keys import keystore as ks

        # the official default is data/worker-encryption.key below the cwd; the sim keeps it beside its state
        path = Path(self.env.get("ENCRYPTION_KEYSTORE_PATH") or self.state_dir / "worker-encryption.key")
        pw = self.env["WORKER_KEYSTORE_PASSWORD"]
        if not path.exists():
            data, pub = ks.create_ecdh_file(pw)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            log("generated a new ECDH key", path=str(path))
            return pub
        try:
            return ks.ecdh_public_key(ks.decrypt_ecdh_file(json.loads(path.read_text()), pw))
        except Exception as e:  # wrong password, damaged file
            self.fatal(f"load ECDH keystore: {getattr(e, 'message', None) or e}")
        raise AssertionError  # unreachable

    def serve_metrics(self) -> None:
        allow = self.env.get("WORKER_METRICS_ALLOW_PUBLIC", "").lower() in _TRUE
        addr = self.env.get("WORKER_METRICS_ADDR", "127.0.0.1:9101")
        try:
            bind = sim_metrics.check_address(addr, allow)
        except sim_metrics.MetricsConfigError as e:  # §9.1: startup error
            self.fatal(str(e))
        if bind is None:  # §3.1: an empty address disables the listener
            return
        try:
            self.server = sim_metrics.serve(bind, self.metrics, self.hung, self.stop)
        except OSError as e:  # §9.1: bind failure is non-fatal
            log("metrics endpoint failed (job processing continues)", "error", error=str(e))
            return
        log("metrics endpoint listening", addr=addr)

    def connect_gateway(self) -> None:
        if self.env.get("WORKER_GATEWAY_URL"):
            log("authenticated with worker-gateway")
            log("gateway stream connected")
        self.connected = True

    # --- jobs ----------------------------------------------------------------------------------------
    def infer(self, model: str, cancel: threading.Event, budget_s: float) -> None:
        sim_infer.infer(self.env, model, cancel, budget_s)

    def _job(self, job_id: int) -> None:
        try:
            try:
                out = self.processor.serve(job_id, self.cancel, self.infer)  # type: ignore[union-attr]
            except Exception as e:  # a job failure is logged, never fatal (like the real worker)
                from .sim_chain import Outcome

                reason = "ollama_unreachable" if "ollama" in str(e) else "unknown"
                out = Outcome(job_id, "error", reason)
                log("job failed", "error", job_id=job_id, error=str(e)[:300])
            if out.outcome == "ok":
                self.release_store.add_pending(job_id, out.completed_at)  # type: ignore[union-attr]
                self.metrics.pending = len(self.release_store.pending_ids)  # type: ignore[union-attr]
                log("job completed", job_id=job_id, model=out.model)
            elif out.reason == "ctx_canceled":
                log("job canceled by shutdown", "warn", job_id=job_id, model=out.model)
            elif out.outcome == "error" and out.reason == "unknown":
                log("stage 5 (resolve model): model not in SUPPORTED_MODELS", "error", job_id=job_id)
            if out.outcome != "skipped":
                self.metrics.job_done(out.outcome, out.reason, out.model)
        finally:
            with self._mu:
                self.running.pop(job_id, None)

    def dispatch(self) -> None:
        """JobWatcher tick (§7): start new pipelines up to MAX_CONCURRENT_JOBS."""
        with self._mu:
            free = self.max_jobs - len(self.running)
        if free <= 0:
            return
        try:
            ids = self.processor.poll(free)  # type: ignore[union-attr]
        except Exception as e:  # transient RPC error: the cursor was not moved
            log("job watcher poll failed", "warn", error=str(e)[:200])
            return
        for jid in ids:
            t = threading.Thread(target=self._job, args=(jid,), name=f"job-{jid}", daemon=True)
            with self._mu:
                self.running[jid] = t
            t.start()

    def release(self) -> None:
        """§10 release scheduler (sim: every poll, no batching threshold); off with SIM_RELEASE=false."""
        store = self.release_store
        if store is None or not store.pending_ids:
            return
        try:
            done = self.processor.release_ready(store.pending_ids)  # type: ignore[union-attr]
        except Exception as e:
            log("release cycle failed", "warn", error=str(e)[:200])
            return
        if done:
            store.drop(done, int(time.time()))
            self.metrics.released += len(done)
            self.metrics.pending = len(store.pending_ids)
            log(f"release cycle complete: {len(done)} released (0 dropped)")

    # --- main ----------------------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.validate()
        if self.mode() == "crash":
            log("simulated fatal startup error (sim-control: crash)", "error")
            return 1
        key = self.unlock()
        from eth_keys import keys

        self.open_release_store(keys.PrivateKey(key).public_key.to_checksum_address())
        self.sessions = SessionStore(Path(self.env.get("SESSION_KEY_FILE") or self.state_dir / "session-keys.enc"),
                                     self.env["WORKER_KEYSTORE_PASSWORD"])
        try:  # §5.3: a store this password cannot open is fatal (crash loop)
            self.sessions.open()
        except StoreError as e:
            self.fatal(str(e))
        sortition = self.env.get("SORTITION_ENABLED", "").lower() in _TRUE
        self.start_chain(key)
        del key
        log("worker registration validated - on-chain key matches local key")
        if sortition and self.env.get("WORKER_GATEWAY_URL"):
            log("external worker profile: sortition assignment with gateway egress (responses, heartbeat, "
                "drain via worker-gateway)")
        self.check_ollama()
        self.serve_metrics()
        self.connect_gateway()
        if sortition:
            log("worker sidecar running (sortition mode) — waiting for shutdown signal")
        else:
            log(f"worker service initialized (gateway mode) models={len(self.models)}")
        release = self.env.get("SIM_RELEASE", "true").lower() in _TRUE
        next_poll = 0.0
        while not self.stop.is_set():
            mode = self.mode()
            if mode == "crash":
                log("simulated crash (sim-control: crash)", "error")
                return 1
            self.phantom = 1 if mode == "busy" else 0
            if mode == "hang":
                self.hung.set()
            else:
                self.hung.clear()
                if mode == "disconnect" and self.connected:
                    self.connected = False
                    log("gateway stream disconnected", "warn", error="simulated")
                elif mode in ("ok", "busy") and not self.connected:
                    self.connect_gateway()
                if self.processor is not None and mode == "ok" and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.poll_s
                    self.dispatch()
                    if release:
                        self.release()
            self.stop.wait(min(0.5, self.poll_s))
        return self.shutdown()

    def _on_signal(self, *_args) -> None:
        """§11: SIGTERM cancels in-flight jobs; if a step blocks (RPC gone), exit anyway after a short grace."""
        if self.stop.is_set():
            return
        self.inflight_at_signal = len(self.running)
        self.stop.set()
        self.cancel.set()
        grace = float(self.env.get("SIM_SHUTDOWN_GRACE", "5") or 5)

        def force() -> None:
            log("shutdown timeout exceeded", "error")
            os._exit(1)

        t = threading.Timer(grace, force)
        t.daemon = True
        t.start()

    def shutdown(self) -> int:
        log("shutdown signal received, draining")
        if self.env.get("WORKER_GATEWAY_URL"):
            log("drain marker written")
        with self._mu:
            threads = list(self.running.values())
        if self.inflight_at_signal:  # §11 caveat: sortition jobs run on the signal context — cancelled, not awaited
            log("shutdown: cancelling in-flight jobs", "warn", count=self.inflight_at_signal)
        for t in threads:
            t.join()
        if self.server is not None:
            self.server.shutdown()
        if self.sessions is not None:  # §11: zero + persist session keys
            self.sessions.persist_empty()
        if self.release_store is not None:
            self.release_store.close()
        log("worker stopped")
        return 0


def main() -> int:
    return SimWorker(dict(os.environ)).run()


if __name__ == "__main__":
    sys.exit(main())
