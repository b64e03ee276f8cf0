"""The one keep-online supervisor: a loop (~10 s, woken early by Docker events) that orchestrates the parts.

Per tick: spec (None → setup needed) → hold/pause → Docker engine (start it when down) → pinned image → container
(create / recreate on drift once no job runs / start when dead) → health (``health.classify``) → crash-loop
backoff (``crashpolicy``) → Ollama models pinned, dropped ones unloaded (``pinning``) → publish
``on_update(fields)`` whose keys are ``Status`` fields. Docker events come from ``events.DockerEventWatcher``.

Every path that stops or recreates the container first waits for ``worker_active_jobs == 0`` (``drain``), bounded
by the caller's timeout (default ``SupervisorConfig.drain_timeout``), with progress and a cancel; ``stop_now`` is
the forced variant. The worker runs the image pinned per network (``images.ImagePins``); only ``update_image``
moves it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests

from tray_agent.common.errors import AgentError
from tray_agent.common.paths import Paths
from tray_agent.common.status import Alert, WorkerState

from . import docker_engine, images, metrics
from . import worker_container as wc
from .control import PAUSE_FILE, WorkerControl, _restart
from .crashpolicy import CrashPolicy
from .events import DockerEventWatcher
from .health import RESTART_STALE, START, Facts, classify
from .keepawake import KeepAwake
from .pinning import ModelPinner

log = logging.getLogger(__name__)

__all__ = ["PAUSE_FILE", "Supervisor", "SupervisorConfig"]


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
    drain_timeout: float = 240.0     # default wait for running jobs before a stop (ack 90 s + completion 120 s)
    drain_poll: float = 1.0


class Supervisor(WorkerControl):
    """Keeps the worker container of ``spec_provider()`` online and reports through ``on_update``."""

    def __init__(self, paths: Paths, spec_provider: Callable[[], wc.WorkerSpec | None],
                 on_update: Callable[[dict[str, Any]], None], *, config: SupervisorConfig | None = None,
                 connect: Callable[[], tuple[docker.DockerClient, docker_engine.Endpoint]] | None = None,
                 start_engine: Callable[[], Any] | None = docker_engine.start_engine,
                 keep_awake: KeepAwake | None = None, ollama: Any = None):
        self.paths = paths
        self.spec_provider = spec_provider
        self.on_update = on_update
        self.cfg = cfg = config or SupervisorConfig()
        self._connect = connect or (lambda: docker_engine.connect(timeout=10))
        self._start_engine = start_engine
        self.keep_awake = keep_awake if keep_awake is not None else KeepAwake()
        self.ollama = ollama
        self.pinner = ModelPinner(ollama, paths.data / "served-models.json") if ollama is not None else None
        self.crash = CrashPolicy(cfg.crash_window, cfg.crash_threshold, cfg.backoff_base, cfg.backoff_max)
        self.watcher = DockerEventWatcher(lambda: self._endpoint, self._on_event, self.wake,
                                          backoff_max=cfg.watcher_backoff_max)
        self.pins = images.ImagePins(paths.data / "image-pins.json")
        self._client: docker.DockerClient | None = None
        self._endpoint: docker_engine.Endpoint | None = None
        self._ops = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._holds: list[str] = []
        self._draining = ""           # a stop/restart waits for running jobs: for what
        self._drift_since = 0.0       # wanted config differs from the running one since (recreate deferred)
        self._last_spec: wc.WorkerSpec | None = None
        self._engine_attempt = 0.0
        self._run_key: tuple[str, str] | None = None
        self._logs = metrics.LogSignals()
        self._log_ts = 0.0
        self._started_at = 0.0
        self._last_connected = 0.0
        self._docker_errors = 0
        self._shown_pin: images.Pin | None = None
        self._image_update: str | None = None
        self.health: metrics.WorkerHealth | None = None
        self.fields: dict[str, Any] = {}
        self.restarts = 0
        self.ticks = 0

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> Supervisor:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)
        self._thread.start()
        self.watcher.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the supervisor threads (the worker container keeps running)."""
        self._stopping.set()
        self._wake.set()
        self.watcher.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self.keep_awake.release()
        self._drop_client()

    def wake(self) -> None:
        self._wake.set()

    @property
    def watcher_connected(self) -> bool:
        return self.watcher.connected

    @property
    def watcher_reconnects(self) -> int:
        return self.watcher.reconnects

    @property
    def events_seen(self) -> int:
        return self.watcher.events_seen


    # --- docker plumbing ------------------------------------------------------------------------------
    def docker_client(self, quiet: bool = False) -> docker.DockerClient | None:
        """The supervisor's pinged Docker client, reconnecting when needed; None (quiet) or DockerUnavailable."""
        if self._client is not None:
            try:
                self._client.ping()
                return self._client
            except Exception:
                self._drop_client()
        try:
            self._client, self._endpoint = self._connect()
            self.wake()
            return self._client
        except docker_engine.DockerUnavailable:
            if quiet:
                return None
            raise

    _get_client = docker_client  # old private name, still used by core/integration.py

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None


    def _mark_started(self) -> None:
        self._started_at = time.time()
        self._last_connected = 0.0

    # --- events ------------------------------------------------------------------------------------------
    def _on_event(self, action: str, name: str) -> None:
        spec = self._last_spec
        if action == "die" and spec is not None and name == spec.name:
            self.crash.on_death()

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

    def _show(self, facts: Facts, delay: float = 0.0, **fields: Any) -> float:
        v = classify(facts)
        self._publish(state=v.state, message=v.message, fix=v.fix, **fields)
        return delay

    def _tick(self) -> float:
        cfg = self.cfg
        try:
            spec = self.spec_provider()
        except AgentError as e:  # e.g. keychain locked: the worker cannot be configured right now
            return self._show(Facts(spec_error=(e.message, e.fix)), cfg.interval)
        self._last_spec = spec
        if spec is None:
            self.keep_awake.release()
            return self._show(Facts(has_spec=False), cfg.interval, container="", container_running=False,
                              gateway_connected=False, active_jobs=0)
        if self._holds:
            return self._show(Facts(hold=self._holds[-1]), cfg.fast_interval, container=spec.name,
                              container_running=False)
        try:
            client = self.docker_client()
        except docker_engine.DockerUnavailable as e:
            return self._docker_unavailable(e)
        assert client is not None
        base = {"container": spec.name, "served_models": spec.models, "network": spec.network.name}
        if self.paused:
            self._stop_container()
            self.keep_awake.release()
            return self._show(Facts(paused=True), cfg.interval, container_running=False, gateway_connected=False,
                              active_jobs=0, uptime_s=0.0, **base)
        left = self.crash.backoff_left()
        if left > 0:
            return self._show(Facts(backoff_left=left, crash_error=self.crash.error),
                              min(cfg.interval, max(0.2, left)), alerts=self._alerts(crash=True),
                              container_running=False, **base)
        try:
            run = self._run_spec(client, spec)
        except images.ImageError as e:
            return self._show(Facts(image_error=(e.message, e.fix)), cfg.interval, container_running=False, **base)
        self.keep_awake.acquire()
        c, action = self._converge(client, run)
        if action not in ("unchanged", "deferred"):
            log.info("worker container %s: %s", spec.name, action)
            self._mark_started()
            if action == "started":
                self.restarts += 1
        c.reload()
        st = c.attrs.get("State") or {}
        if self.crash.in_loop():
            return self._enter_backoff(c, spec, base)
        if c.status != "running" or st.get("Restarting"):
            v = classify(Facts(container_status=c.status, restarting=bool(st.get("Restarting"))))
            if v.action == START:
                self.crash.clear_expected()
                c.start()  # dead: restart at once
                self.restarts += 1
                self._mark_started()
            self._publish(state=v.state, message=v.message, fix=v.fix, container_running=False,
                          gateway_connected=False, **base)
            return cfg.fast_interval
        return self._health_step(c, spec, st, base, pending="applying new settings" if action == "deferred" else "")

    def _health_step(self, c, spec: wc.WorkerSpec, st: dict, base: dict, pending: str = "") -> float:
        cfg, now = self.cfg, time.time()
        run_key = (c.id, st.get("StartedAt", ""))
        if run_key != self._run_key:
            self._run_key, self._logs, self._log_ts = run_key, metrics.LogSignals(), 0.0
            self._started_at = max(self._started_at, metrics.parse_ts(st.get("StartedAt", "")) or now)
            self._last_connected = 0.0
        self._read_logs(c, st)
        h = metrics.health(spec.metrics_url, self._logs, spec.expects_gateway, cfg.health_timeout)
        self.health = h
        started = self._started_at or now
        common = dict(container_running=True, gateway_connected=h.gateway_connected, active_jobs=h.active_jobs,
                      uptime_s=round(max(0.0, now - started), 1), **base)
        if self.pinner is not None and not pending:  # deferred recreate: the running worker still serves the old set
            self.pinner.step(spec.models, run_key)
        if h.connected:
            self._last_connected = now
            self.crash.note_connected(started)
        v = classify(Facts(now=now, container_status="running", health=h, started_at=started,
                           last_connected=self._last_connected, draining=self._draining or pending,
                           startup_grace=cfg.startup_grace, stale_after=cfg.stale_after))
        if v.action == RESTART_STALE:
            log.warning("worker %s not connected for %.0f s: restarting", spec.name,
                        now - (self._last_connected or started))
            self._publish(state=v.state, message=v.message, fix=v.fix, **common)
            self.crash.expect_stop(cfg.stale_restart_timeout)
            _restart(c, cfg.stale_restart_timeout)
            self.restarts += 1
            self._mark_started()
            return cfg.fast_interval
        online = v.state is WorkerState.ONLINE
        self._publish(state=v.state, message=v.message, fix=v.fix, alerts=self._alerts(crash=False if online else None),
                      **common)
        return cfg.interval if online else cfg.fast_interval

    def _read_logs(self, c, st: dict) -> None:
        started = metrics.parse_ts(st.get("StartedAt", "")) or time.time()
        try:
            raw = c.logs(stdout=True, stderr=True, timestamps=True, since=int(self._log_ts or started), tail=500)
        except docker.errors.DockerException:
            return
        lines, self._log_ts = metrics.new_log_lines(raw, started, self._log_ts)
        self._logs.feed(lines)

    def _enter_backoff(self, c, spec: wc.WorkerSpec, base: dict) -> float:
        delay = self.crash.enter_backoff(self._last_error_line(c) or "it exits right after starting")
        log.warning("worker %s crash loop: backing off %.0f s (%s)", spec.name, delay, self.crash.error)
        with contextlib.suppress(docker.errors.DockerException):
            c.stop(timeout=10)
        self.keep_awake.release()
        return self._show(Facts(backoff_left=delay, crash_error=self.crash.error), min(self.cfg.interval, delay),
                          alerts=self._alerts(crash=True), container_running=False, gateway_connected=False, **base)

    def _last_error_line(self, c) -> str:
        try:
            raw = c.logs(stdout=True, stderr=True, tail=50).decode("utf-8", "replace").splitlines()
        except docker.errors.DockerException:
            return ""
        sig = metrics.LogSignals().feed(raw)
        return sig.last_error or sig.last_msg

    def _docker_unavailable(self, e: docker_engine.DockerUnavailable) -> float:
        cfg = self.cfg
        down = isinstance(e, docker_engine.DockerNotRunning)
        self._show(Facts(docker_error=("down" if down else "missing", e.message, e.fix)), container_running=False,
                   gateway_connected=False, extra={"docker_error": e.code, "endpoint": e.endpoint})
        if down and cfg.engine_autostart and self._start_engine is not None \
                and time.time() - self._engine_attempt >= cfg.engine_retry and not self.paused:
            self._engine_attempt = time.time()
            self._publish(state=WorkerState.DOCKER_DOWN, message="Docker is not running: starting it", fix=e.fix)
            try:
                self._start_engine()
                return 0.0
            except AgentError as err:
                log.warning("starting Docker failed: %s", err)
            except Exception:
                log.exception("starting Docker failed")
        return cfg.fast_interval if e.retry else cfg.interval

    def _pull_progress(self, p: images.PullProgress) -> None:
        self._show(Facts(pulling=f"Downloading worker image: {int(p.fraction * 100)}% "
                                 f"({p.done_bytes >> 20} of {p.total_bytes >> 20} MiB)"))

    # --- publishing -----------------------------------------------------------------------------------------
    def _alerts(self, crash: bool | None = None) -> tuple[Alert, ...]:
        out = []
        if crash or (crash is None and Alert.CRASH_LOOP in self.fields.get("alerts", ())):
            out.append(Alert.CRASH_LOOP)
        if self.keep_awake.enabled and self.keep_awake.held and not self.keep_awake.active:
            out.append(Alert.KEEP_AWAKE_UNAVAILABLE)
        if self.pinner is not None and not self.pinner.up:
            out.append(Alert.OLLAMA_DOWN)
        if self._image_update:
            out.append(Alert.IMAGE_UPDATE)
        return tuple(out)

    def _publish(self, **fields: Any) -> None:
        fields.setdefault("keep_awake", self.keep_awake.active)
        fields.setdefault("keep_awake_reason", self.keep_awake.reason)
        fields.setdefault("keep_awake_available", self.keep_awake.available)
        if "alerts" not in fields and "state" in fields:
            fields["alerts"] = self._alerts(crash=False if fields["state"] is WorkerState.ONLINE else None)
        rt = dict((self.fields.get("extra") or {}).get("runtime", {}))
        rt.update(fields.pop("extra", {}))
        rt.update({"watcher_connected": self.watcher.connected, "restarts": self.restarts,
                   "engine": self._endpoint.url if self._endpoint else ""})
        fields["extra"] = {"runtime": rt}  # Status.extra["runtime"]: diagnostics of this supervisor
        self.fields = {**self.fields, **fields}
        try:
            self.on_update(dict(fields))
        except Exception:
            log.exception("status subscriber failed")

