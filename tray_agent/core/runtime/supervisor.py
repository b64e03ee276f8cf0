"""The one keep-online supervisor: a loop (~10 s, woken early by Docker events) plus an events watcher thread.

Per tick: spec (None → setup needed) → hold/pause → Docker engine (start it when down) → image → container
(create / recreate on drift / start when dead) → health from metrics + logs (starting, online, stale → restart) →
crash-loop backoff → Ollama up and models pinned → publish ``on_update(fields)`` whose keys are ``Status`` fields.

A user Stop writes a persisted pause marker before stopping; Start/Restart clear it. ``hold(reason)`` stops the
worker for the chain layer's one-writer rule and keeps it stopped until the block exits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests

from tray_agent.common.atomic import atomic_write
from tray_agent.common.errors import AgentError
from tray_agent.common.paths import Paths
from tray_agent.common.status import Alert, WorkerState

from . import docker_engine, images, metrics
from . import worker_container as wc
from .keepawake import KeepAwake

log = logging.getLogger(__name__)

PAUSE_FILE = "worker.paused"


@dataclass
class SupervisorConfig:
    interval: float = 10.0           # normal tick
    fast_interval: float = 0.5       # while starting / recovering
    startup_grace: float = 90.0      # not connected yet after a start: "starting", not "stale"
    stale_after: float = 180.0       # running but not connected this long → restart
    stale_restart_timeout: int = 30  # grace for stopping a stale (idle) worker
    crash_window: float = 120.0
    crash_threshold: int = 4         # dies within crash_window → crash loop
    backoff_base: float = 15.0
    backoff_max: float = 600.0
    engine_autostart: bool = field(  # LCAI_DOCKER_AUTOSTART=0 turns it off (tests, locked-down hosts)
        default_factory=lambda: os.environ.get("LCAI_DOCKER_AUTOSTART", "1").lower() not in ("0", "false", "no"))
    engine_retry: float = 60.0       # between engine start attempts
    engine_start_timeout: float = 90.0
    health_timeout: float = 3.0
    watcher_backoff_max: float = 5.0


class Supervisor:
    """Keeps the worker container of ``spec_provider()`` online and reports through ``on_update``."""

    def __init__(self, paths: Paths, spec_provider: Callable[[], wc.WorkerSpec | None],
                 on_update: Callable[[dict[str, Any]], None], *, config: SupervisorConfig | None = None,
                 connect: Callable[[], tuple[docker.DockerClient, docker_engine.Endpoint]] | None = None,
                 start_engine: Callable[[], Any] | None = docker_engine.start_engine,
                 keep_awake: KeepAwake | None = None, ollama: Any = None):
        self.paths = paths
        self.spec_provider = spec_provider
        self.on_update = on_update
        self.cfg = config or SupervisorConfig()
        self._connect = connect or (lambda: docker_engine.connect(timeout=10))
        self._start_engine = start_engine
        self.keep_awake = keep_awake if keep_awake is not None else KeepAwake()
        self.ollama = ollama
        self._client: docker.DockerClient | None = None
        self._endpoint: docker_engine.Endpoint | None = None
        self._ops = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._holds: list[str] = []
        self._deaths: deque[float] = deque(maxlen=64)
        self._seen_events: deque[tuple] = deque(maxlen=256)
        self._last_spec: wc.WorkerSpec | None = None
        self._expect_stop_until = 0.0
        self._backoff_until = 0.0
        self._backoff_level = 0
        self._crash_error = ""
        self._engine_attempt = 0.0
        self._run_key: tuple[str, str] | None = None
        self._logs = metrics.LogSignals()
        self._log_ts = 0.0
        self._started_at = 0.0
        self._ollama_up = True
        self._docker_errors = 0
        self._last_connected = 0.0
        self._pinning: threading.Thread | None = None
        self._pinned_run: tuple[str, str] | None = None
        self._events_stream = None
        self._digests = images.DigestRecord(paths.data / "image-digests.json")
        self._image_update: str | None = None
        self.health: metrics.WorkerHealth | None = None
        self.fields: dict[str, Any] = {}
        self.restarts = 0
        self.watcher_connected = False
        self.watcher_reconnects = 0
        self.events_seen = 0
        self.ticks = 0

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> Supervisor:
        self._stopping.clear()
        for name, target in (("supervisor", self._loop), ("docker-events", self._watch)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the supervisor threads (the worker container keeps running)."""
        self._stopping.set()
        self._wake.set()
        with contextlib.suppress(Exception):
            if self._events_stream is not None:
                self._events_stream.close()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        self.keep_awake.release()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()

    def wake(self) -> None:
        self._wake.set()

    # --- user operations ---------------------------------------------------------------------------------
    @property
    def pause_file(self):
        return self.paths.data / PAUSE_FILE

    @property
    def paused(self) -> bool:
        return self.pause_file.exists()

    def pause(self, reason: str = "stopped by user", drain_timeout: float = 0.0) -> None:
        """User Stop: persist the pause marker first, wait up to ``drain_timeout`` s for
        ``worker_active_jobs == 0``, then stop the worker with its full stop grace."""
        self.paths.data.mkdir(parents=True, exist_ok=True)
        atomic_write(self.pause_file, json.dumps({"reason": reason, "at": time.time()}))
        self._publish(state=WorkerState.STOPPING, message="Stopping the worker: " + reason, fix="")
        self._wait_idle(drain_timeout)
        with self._ops:
            self._stop_container()
        self.keep_awake.release()
        self._publish(state=WorkerState.PAUSED, message="Paused: " + reason, fix="Start the worker to resume",
                      container_running=False, gateway_connected=False)
        self.wake()

    def resume(self) -> None:
        """User Start: clear the pause marker; the next tick starts the worker."""
        with contextlib.suppress(FileNotFoundError):
            self.pause_file.unlink()
        self._backoff_until = 0.0
        self.wake()

    def restart(self) -> None:
        """Clear the pause marker and restart the worker container now."""
        log.info("restart requested")
        with self._ops:
            with contextlib.suppress(FileNotFoundError):
                self.pause_file.unlink()
            self._backoff_until = 0.0
            spec, client = self.spec_provider(), self._get_client(quiet=True)
            if spec is not None and client is not None:
                c = wc.find(client, spec.name)
                self._expect_stop(spec.stop_timeout)
                if c is None or wc.running_hash(c) != spec.config_hash():
                    wc.ensure(client, spec)  # wanted config changed: one recreate instead of two restarts
                else:
                    _restart(c, spec.stop_timeout)
                self._mark_started()
                self._run_key = None
                self._publish(state=WorkerState.STARTING, message="Restarting the worker", fix="",
                              gateway_connected=False)
        self.wake()

    @contextlib.contextmanager
    def hold(self, reason: str, stop_timeout: int | None = None, drain_timeout: float = 0.0) -> Iterator[None]:
        """Stop the worker and keep it stopped for the duration (one-writer rule), then start it again.
        ``drain_timeout``: first wait up to that long for ``worker_active_jobs == 0``."""
        self._wait_idle(drain_timeout)
        log.info("hold: stopping the worker for %s", reason)
        with self._ops:
            self._holds.append(reason)
            self._publish(state=WorkerState.STOPPING, message=f"Worker stopped for: {reason}", fix="")
            self._stop_container(stop_timeout)
        try:
            yield
        finally:
            log.info("hold released (%s): starting the worker", reason)
            with self._ops:
                self._holds.remove(reason)
                if not self._holds and not self.paused:
                    spec, client = self.spec_provider(), self._get_client(quiet=True)
                    if spec is not None and client is not None:
                        with contextlib.suppress(docker.errors.DockerException):
                            wc.ensure(client, spec)
                            self._mark_started()
            self.wake()

    def check_image_update(self) -> str | None:
        """Ask the registry for the image's current digest (network; call e.g. daily). Returns the newer digest
        or None, and raises/clears Alert.IMAGE_UPDATE. Nothing is pulled: the user decides (update_image)."""
        spec, client = self.spec_provider(), self._get_client(quiet=True)
        if spec is None or client is None:
            return None
        local = images.local_image(client, spec.image)
        current = self._digests.get(spec.image) or (local.digest if local else None)
        self._image_update = images.newer_digest(client, spec.image, current)
        self._publish(alerts=self._alerts(), extra={"image_update": self._image_update or ""})
        return self._image_update

    def update_image(self, on_progress=None) -> images.ImageInfo | None:
        """Pull the spec's image now; the next tick recreates the worker on the new image (drain grace)."""
        spec, client = self.spec_provider(), self._get_client(quiet=True)
        if spec is None or client is None:
            return None
        info = images.pull_image(client, spec.image, on_progress)
        self._image_update = None
        self.wake()
        return info

    def _wait_idle(self, timeout: float) -> bool:
        """Poll the worker's active jobs until 0 (or unreachable) or ``timeout``; True when idle."""
        if timeout <= 0:
            return True
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            n = self.active_jobs()
            if not n:
                return True
            if time.monotonic() >= deadline:
                log.warning("worker still has %d active job(s) after %.0f s; stopping anyway", n, timeout)
                return False
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def remove_container(self, stop_timeout: int | None = None) -> bool:
        """Stop (full grace unless given) and delete the worker container; keys and state stay on disk.
        Call after pause(), or the next tick recreates it."""
        with self._ops:
            spec, client = self._spec_quiet(), self._get_client(quiet=True)
            if spec is None or client is None:
                return False
            c = wc.find(client, spec.name)
            if c is None:
                return False
            self._expect_stop(spec.stop_timeout if stop_timeout is None else stop_timeout)
            wc.remove(c, spec.stop_timeout if stop_timeout is None else stop_timeout)
            return True

    def active_jobs(self) -> int | None:
        """In-flight jobs from the worker's metrics now (None if the endpoint does not answer)."""
        spec = self._last_spec or self._spec_quiet()
        if spec is None:
            return None
        _ok, snap, _err = metrics.fetch_metrics(spec.metrics_url, self.cfg.health_timeout)
        return snap.active_jobs if snap else None

    # --- docker plumbing ------------------------------------------------------------------------------
    def _get_client(self, quiet: bool = False) -> docker.DockerClient | None:
        if self._client is not None:
            try:
                self._client.ping()
                return self._client
            except Exception:
                with contextlib.suppress(Exception):
                    self._client.close()
                self._client = None
        try:
            self._client, self._endpoint = self._connect()
            self.wake()
            return self._client
        except docker_engine.DockerUnavailable:
            if quiet:
                return None
            raise

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None

    def _expect_stop(self, timeout: float) -> None:
        self._expect_stop_until = time.time() + timeout + 5

    def _stop_container(self, timeout: int | None = None) -> None:
        spec, client = self.spec_provider(), self._get_client(quiet=True)
        if spec is None or client is None:
            return
        c = wc.find(client, spec.name)
        if c is None:
            return
        t = spec.stop_timeout if timeout is None else timeout
        self._expect_stop(t)
        with contextlib.suppress(docker.errors.NotFound):
            c.reload()
            if c.status in ("running", "restarting"):
                t0 = time.monotonic()
                log.info("stopping worker container %s (grace %d s)", spec.name, t)
                c.stop(timeout=t)
                log.info("worker container %s stopped in %.1f s", spec.name, time.monotonic() - t0)

    def _mark_started(self) -> None:
        self._started_at = time.time()
        self._last_connected = 0.0

    # --- events watcher ----------------------------------------------------------------------------------
    def _watch(self) -> None:
        delay, since, first = 0.2, None, True
        while not self._stopping.is_set():
            ep = self._endpoint
            if ep is None:
                self._stopping.wait(0.2)
                continue
            client = None
            try:
                client = docker.DockerClient(base_url=ep.url, timeout=30, version="auto")
                stream = client.events(decode=True, since=since,
                                       filters={"type": "container", "label": f"{wc.LABEL_MANAGED}=1"})
                self._events_stream = stream
                self.watcher_connected = True
                if not first:
                    self.watcher_reconnects += 1
                    log.info("docker events stream reconnected (%d)", self.watcher_reconnects)
                first, delay = False, 0.2
                self.wake()  # resync after (re)connecting
                for ev in stream:
                    since = max(since or 0, int(ev.get("time", time.time())))
                    self._on_event(ev)
                    if self._stopping.is_set():
                        break
            except Exception as e:  # stream ended or dockerd gone: reconnect with backoff
                log.debug("docker events stream error: %s", e)
            finally:
                self.watcher_connected = False
                self._events_stream = None
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.close()
            if self._stopping.is_set():
                break
            since = since or int(time.time()) - 1
            self.wake()
            self._stopping.wait(delay)
            delay = min(self.cfg.watcher_backoff_max, delay * 2)

    def _on_event(self, ev: dict) -> None:
        key = (ev.get("timeNano"), (ev.get("Actor") or {}).get("ID") or ev.get("id"), ev.get("Action"))
        if key in self._seen_events:  # replayed by since= after a reconnect
            return
        self._seen_events.append(key)
        self.events_seen += 1
        action = ev.get("Action") or ev.get("status") or ""
        name = ((ev.get("Actor") or {}).get("Attributes") or {}).get("name", "")
        spec = self._last_spec
        if action == "die" and spec is not None and name == spec.name and time.time() > self._expect_stop_until:
            self._deaths.append(time.time())
        if action in ("die", "start", "stop", "destroy", "kill", "oom", "create"):
            self.wake()

    def _spec_quiet(self) -> wc.WorkerSpec | None:
        try:
            return self.spec_provider()
        except Exception:
            return None

    # --- loop ---------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            delay = self.cfg.interval
            if self._ops.acquire(blocking=False):
                try:
                    delay = self._tick()
                    self._docker_errors = 0
                except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
                    # engine went away mid-tick or refused an operation: resync soon, report if it persists
                    self._docker_errors += 1
                    self._drop_client()
                    delay = self.cfg.fast_interval
                    if self._docker_errors >= 3:
                        msg = getattr(e, "explanation", None) or str(e)
                        self._publish(state=WorkerState.ERROR, message=f"Docker refused an operation: {msg}",
                                      fix="the agent retries; check Docker if this persists")
                except Exception as e:  # never die: report and retry
                    log.exception("supervisor tick failed")
                    self._publish(state=WorkerState.ERROR, message=f"Supervisor error: {e}",
                                  fix="the agent retries automatically")
                finally:
                    self._ops.release()
                self.ticks += 1
            else:
                delay = self.cfg.fast_interval
            self._wake.wait(delay)
            self._wake.clear()

    def _tick(self) -> float:
        cfg = self.cfg
        try:
            spec = self.spec_provider()
        except AgentError as e:  # e.g. keychain locked: the worker cannot be configured right now
            self._publish(state=WorkerState.ERROR, message=e.message, fix=e.fix)
            return cfg.interval
        self._last_spec = spec
        if spec is None:
            self.keep_awake.release()
            self._publish(state=WorkerState.SETUP_NEEDED, message="Finish setup to start the worker",
                          fix="open the setup screen", container="", container_running=False,
                          gateway_connected=False, active_jobs=0)
            return cfg.interval
        if self._holds:
            self._publish(state=WorkerState.STOPPING, message=f"Worker stopped for: {self._holds[-1]}",
                          container=spec.name, container_running=False)
            return cfg.fast_interval
        try:
            client = self._get_client()
        except docker_engine.DockerUnavailable as e:
            return self._docker_unavailable(e)
        assert client is not None
        base = {"container": spec.name, "served_models": spec.models, "network": spec.network.name}
        if self.paused:
            self._stop_container()
            self.keep_awake.release()
            self._publish(state=WorkerState.PAUSED, message="Paused by you", fix="Start the worker to resume",
                          container_running=False, gateway_connected=False, active_jobs=0, uptime_s=0.0, **base)
            return cfg.interval
        now = time.time()
        if now < self._backoff_until:
            self._publish(state=WorkerState.ERROR, alerts=self._alerts(crash=True), container_running=False,
                          message=f"The worker keeps crashing: {self._crash_error or 'see the worker log'}",
                          fix=f"fix the cause; the agent retries in {int(self._backoff_until - now)} s", **base)
            return min(cfg.interval, max(0.2, self._backoff_until - now))
        # image
        try:
            if images.local_image(client, spec.image) is None:
                self._publish(state=WorkerState.STARTING, message=f"Getting worker image {spec.image}", **base)
                images.ensure_image(client, spec.image, self._pull_progress)
        except images.ImageError as e:
            self._publish(state=WorkerState.ERROR, message=e.message, fix=e.fix, container_running=False, **base)
            return cfg.interval
        # container
        self.keep_awake.acquire()
        c, action = wc.ensure(client, spec)
        if action != "unchanged":
            log.info("worker container %s: %s", spec.name, action)
            self._mark_started()
            self._record_digest(client, spec)
            if action == "started":
                self.restarts += 1
        c.reload()
        st = c.attrs.get("State") or {}
        if self._crash_loop():
            return self._enter_backoff(c, spec, base)
        if st.get("Restarting") or c.status == "restarting":
            self._publish(state=WorkerState.STARTING, message="Worker restarting", container_running=False,
                          gateway_connected=False, **base)
            return cfg.fast_interval
        if c.status != "running":
            self._expect_stop_until = 0.0
            c.start()  # dead: restart at once
            self.restarts += 1
            self._mark_started()
            self._publish(state=WorkerState.STARTING, message="Worker restarted", **base)
            return cfg.fast_interval
        return self._health_step(c, spec, st, base)

    def _health_step(self, c, spec: wc.WorkerSpec, st: dict, base: dict) -> float:
        cfg, now = self.cfg, time.time()
        run_key = (c.id, st.get("StartedAt", ""))
        if run_key != self._run_key:
            self._run_key, self._logs, self._log_ts = run_key, metrics.LogSignals(), 0.0
            self._started_at = max(self._started_at, _parse_ts(st.get("StartedAt", "")) or now)
            self._last_connected = 0.0
        self._read_logs(c, st)
        h = metrics.health(spec.metrics_url, self._logs, spec.expects_gateway, cfg.health_timeout)
        self.health = h
        started = self._started_at or now
        uptime = max(0.0, now - started)
        common = dict(container_running=True, gateway_connected=h.gateway_connected, active_jobs=h.active_jobs,
                      uptime_s=round(uptime, 1), **base)
        self._ollama_step(spec, run_key)
        if h.connected:
            self._last_connected = now
            if now - started > cfg.crash_window:
                self._backoff_level = 0
            self._publish(state=WorkerState.ONLINE, message=_online_msg(h), fix="",
                          alerts=self._alerts(crash=False), **common)
            return cfg.interval
        since = self._last_connected or started
        if not self._last_connected and now - started < cfg.startup_grace:
            self._publish(state=WorkerState.STARTING, message="Worker starting", fix="",
                          alerts=self._alerts(), **common)
            return cfg.fast_interval
        if now - since >= cfg.stale_after:
            log.warning("worker %s not connected for %.0f s: restarting", spec.name, now - since)
            self._publish(state=WorkerState.STALE, message="Not connected: restarting the worker", fix="", **common)
            self._expect_stop(cfg.stale_restart_timeout)
            _restart(c, cfg.stale_restart_timeout)
            self.restarts += 1
            self._mark_started()
            return cfg.fast_interval
        why = h.error or h.last_error or "waiting for the gateway connection"
        self._publish(state=WorkerState.STALE, message=f"Running but not connected ({why})",
                      fix="the agent restarts it if this lasts", alerts=self._alerts(), **common)
        return cfg.fast_interval

    def _read_logs(self, c, st: dict) -> None:
        started = _parse_ts(st.get("StartedAt", "")) or time.time()
        since = self._log_ts or started
        try:
            raw = c.logs(stdout=True, stderr=True, timestamps=True, since=int(since), tail=500)
        except docker.errors.DockerException:
            return
        lines = []
        for line in raw.decode("utf-8", "replace").splitlines():
            ts, _, text = line.partition(" ")
            t = _parse_ts(ts)
            if t is None or t < started - 0.001 or (self._log_ts and t <= self._log_ts):
                continue
            self._log_ts = t
            lines.append(text)
        self._logs.feed(lines)

    def _record_digest(self, client, spec: wc.WorkerSpec) -> None:
        info = images.local_image(client, spec.image)
        if info is not None:
            self._digests.set(spec.image, info.digest)
            self._publish(extra={"image": spec.image, "image_digest": info.digest})

    def _crash_loop(self) -> bool:
        now = time.time()
        recent = [t for t in self._deaths if now - t <= self.cfg.crash_window]
        return len(recent) >= self.cfg.crash_threshold

    def _enter_backoff(self, c, spec: wc.WorkerSpec, base: dict) -> float:
        cfg = self.cfg
        delay = min(cfg.backoff_max, cfg.backoff_base * (2 ** self._backoff_level))
        self._backoff_level += 1
        self._deaths.clear()
        self._crash_error = self._last_error_line(c) or "it exits right after starting"
        log.warning("worker %s crash loop: backing off %.0f s (%s)", spec.name, delay, self._crash_error)
        self._expect_stop(10)
        with contextlib.suppress(docker.errors.DockerException):
            c.stop(timeout=10)
        self._backoff_until = time.time() + delay
        self.keep_awake.release()
        self._publish(state=WorkerState.ERROR, alerts=self._alerts(crash=True), container_running=False,
                      gateway_connected=False, message=f"The worker keeps crashing: {self._crash_error}",
                      fix=f"fix the cause; the agent retries in {int(delay)} s", **base)
        return min(cfg.interval, delay)

    def _last_error_line(self, c) -> str:
        try:
            raw = c.logs(stdout=True, stderr=True, tail=50).decode("utf-8", "replace").splitlines()
        except docker.errors.DockerException:
            return ""
        sig = metrics.LogSignals().feed(raw)
        return sig.last_error or sig.last_msg

    def _docker_unavailable(self, e: docker_engine.DockerUnavailable) -> float:
        cfg = self.cfg
        state = WorkerState.DOCKER_DOWN if isinstance(e, docker_engine.DockerNotRunning) else \
            WorkerState.DOCKER_MISSING
        self._publish(state=state, message=e.message, fix=e.fix, container_running=False, gateway_connected=False,
                      extra={"docker_error": e.code, "endpoint": e.endpoint})
        if state is WorkerState.DOCKER_DOWN and cfg.engine_autostart and self._start_engine is not None \
                and time.time() - self._engine_attempt >= cfg.engine_retry and not self.paused:
            self._engine_attempt = time.time()
            self._publish(state=state, message="Docker is not running: starting it", fix=e.fix)
            try:
                self._start_engine()
                return 0.0
            except AgentError as err:
                log.warning("starting Docker failed: %s", err)
            except Exception:
                log.exception("starting Docker failed")
        return cfg.fast_interval if e.retry else cfg.interval

    def _pull_progress(self, p: images.PullProgress) -> None:
        self._publish(state=WorkerState.STARTING,
                      message=f"Downloading worker image: {int(p.fraction * 100)}% "
                              f"({p.done_bytes // 1_000_000} of {p.total_bytes // 1_000_000} MB)")

    # --- ollama ---------------------------------------------------------------------------------------------
    def _ollama_step(self, spec: wc.WorkerSpec, run_key: tuple[str, str]) -> None:
        if self.ollama is None:
            return
        try:
            up = self.ollama.ensure_running()
        except Exception as e:
            log.warning("ollama check failed: %s", e)
            up = False
        self._ollama_up = up
        if not up:
            return
        busy = self._pinning is not None and self._pinning.is_alive()
        if busy:
            return
        needs = run_key != self._pinned_run
        if not needs:
            with contextlib.suppress(Exception):
                needs = not set(spec.models) <= self.ollama.loaded()
        if needs:
            self._pinned_run = run_key
            self._pinning = threading.Thread(target=self._pin, args=(spec.models,), name="ollama-pin", daemon=True)
            self._pinning.start()

    def _pin(self, models: tuple[str, ...]) -> None:
        try:
            self.ollama.pin(list(models))
        except Exception as e:
            log.warning("pinning models failed: %s", e)

    # --- publishing -----------------------------------------------------------------------------------------
    def _alerts(self, crash: bool | None = None) -> tuple[Alert, ...]:
        out = []
        if crash or (crash is None and Alert.CRASH_LOOP in self.fields.get("alerts", ())):
            out.append(Alert.CRASH_LOOP)
        if self.keep_awake.enabled and self.keep_awake.held and not self.keep_awake.active:
            out.append(Alert.KEEP_AWAKE_UNAVAILABLE)
        if self.ollama is not None and not self._ollama_up:
            out.append(Alert.OLLAMA_DOWN)
        if self._image_update:
            out.append(Alert.IMAGE_UPDATE)
        return tuple(out)

    def _publish(self, **fields: Any) -> None:
        fields.setdefault("keep_awake", self.keep_awake.active)
        fields.setdefault("keep_awake_reason", self.keep_awake.reason)
        if "alerts" not in fields and "state" in fields:
            fields["alerts"] = self._alerts(crash=False if fields["state"] is WorkerState.ONLINE else None)
        rt = dict((self.fields.get("extra") or {}).get("runtime", {}))
        rt.update(fields.pop("extra", {}))
        rt.update({"watcher_connected": self.watcher_connected, "restarts": self.restarts,
                   "engine": self._endpoint.url if self._endpoint else ""})
        fields["extra"] = {"runtime": rt}  # Status.extra["runtime"]: diagnostics of this supervisor
        self.fields = {**self.fields, **fields}
        try:
            self.on_update(dict(fields))
        except Exception:
            log.exception("status subscriber failed")


def _restart(c, timeout: int) -> None:
    """stop + start (dockerd 20.10's restart endpoint can hang with long timeouts)."""
    t0 = time.monotonic()
    c.reload()
    if c.status in ("running", "restarting"):
        c.stop(timeout=timeout)
    c.start()
    log.info("worker container %s restarted in %.1f s", c.name, time.monotonic() - t0)


def _online_msg(h: metrics.WorkerHealth) -> str:
    n = h.active_jobs
    return f"Processing {n} job{'s' if n != 1 else ''}" if n else "Online, waiting for jobs"


def _parse_ts(text: str) -> float | None:
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
