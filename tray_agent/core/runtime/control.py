"""User operations on the worker container, mixed into the Supervisor: Stop / Stop now / Start / Restart, the
one-writer hold, Remove and the image update.

Every path that stops or recreates the container first waits until the worker's ``worker_active_jobs`` is 0
(``drain.wait_idle``: unreadable counts as busy), bounded by the caller's ``drain_timeout`` (default
``SupervisorConfig.drain_timeout``, the longest job deadline), reporting through ``on_progress(message, fraction)``
and cancellable through a ``threading.Event`` (DrainCancelled; the worker keeps running). ``stop_now`` is the
forced variant and returns how many running jobs it cancelled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import docker
import docker.errors

from tray_agent.common.atomic import atomic_write
from tray_agent.common.status import WorkerState

from . import drain, images, metrics
from . import worker_container as wc
from .health import Facts

if TYPE_CHECKING:
    from tray_agent.common.paths import Paths

    from .crashpolicy import CrashPolicy
    from .keepawake import KeepAwake

log = logging.getLogger(__name__)

PAUSE_FILE = "worker.paused"
Cancel = threading.Event | None


class WorkerControl:
    """The operations; the Supervisor provides the collaborators declared here."""

    paths: Paths
    cfg: Any
    spec_provider: Callable[[], wc.WorkerSpec | None]
    keep_awake: KeepAwake
    crash: CrashPolicy
    pins: images.ImagePins
    _ops: threading.RLock
    _holds: list[str]
    _draining: str
    _image_update: str | None
    _last_spec: wc.WorkerSpec | None
    _run_key: tuple[str, str] | None
    _drift_since: float
    _shown_pin: images.Pin | None

    # provided by the Supervisor
    def docker_client(self, quiet: bool = False) -> docker.DockerClient | None: ...
    def wake(self) -> None: ...
    def _publish(self, **fields: Any) -> None: ...
    def _alerts(self, crash: bool | None = None) -> tuple: ...
    def _spec_quiet(self) -> wc.WorkerSpec | None: ...
    def _show(self, facts: Any, delay: float = 0.0, **fields: Any) -> float: ...
    def _pull_progress(self, p: images.PullProgress) -> None: ...
    def _mark_started(self) -> None: ...

    @property
    def pause_file(self):
        return self.paths.data / PAUSE_FILE

    @property
    def paused(self) -> bool:
        return self.pause_file.exists()

    def pause(self, reason: str = "stopped by user", drain_timeout: float | None = None,
              on_progress: drain.Progress | None = None, cancel: Cancel = None) -> drain.DrainResult:
        """User Stop: wait for running jobs (DrainCancelled leaves the worker running), persist the pause marker,
        stop the worker with its full stop grace."""
        what = f"stopping the worker ({reason})"
        res = self._drain(what, drain_timeout, on_progress, cancel)
        with self._ops:
            res = self._last_look(res, what, drain_timeout, on_progress, cancel)
            self._stop_paused(reason)
        return res

    def stop_now(self, reason: str = "stopped now by user") -> int:
        """Forced Stop without waiting; returns how many running jobs it cancelled (each later times out and
        counts as an offence)."""
        with self._ops:
            n = self._jobs_now() or 0
            if n:
                log.warning("stopping the worker now cancels %d running jobs", n)
            self._stop_paused(reason)
        return n

    def resume(self) -> None:
        """User Start: clear the pause marker; the next tick starts the worker."""
        with contextlib.suppress(FileNotFoundError):
            self.pause_file.unlink()
        self.crash.clear_backoff()
        self.wake()

    def restart(self, drain_timeout: float | None = None, on_progress: drain.Progress | None = None,
                cancel: Cancel = None) -> drain.DrainResult:
        """Wait for running jobs, clear the pause marker and restart (or recreate, on drift) the worker now."""
        log.info("restart requested")
        res = self._drain("restarting the worker", drain_timeout, on_progress, cancel)
        with self._ops:
            with contextlib.suppress(FileNotFoundError):
                self.pause_file.unlink()
            self.crash.clear_backoff()
            spec, client = self.spec_provider(), self.docker_client(quiet=True)
            if spec is not None and client is not None:
                run = self._run_spec(client, spec)
                c = wc.find(client, spec.name)
                res = self._last_look(res, "restarting the worker", drain_timeout, on_progress, cancel)
                self.crash.expect_stop(spec.stop_timeout)
                if c is None or wc.running_hash(c) != run.config_hash():
                    wc.ensure(client, run)  # wanted config changed: one recreate instead of two restarts
                else:
                    _restart(c, spec.stop_timeout)
                self._mark_started()
                self._run_key = None
                self._publish(state=WorkerState.STARTING, message="Restarting the worker", fix="",
                              gateway_connected=False)
        self.wake()
        return res

    @contextlib.contextmanager
    def hold(self, reason: str, stop_timeout: int | None = None, drain_timeout: float | None = None,
             on_progress: drain.Progress | None = None, cancel: Cancel = None) -> Iterator[drain.DrainResult]:
        """Wait for running jobs, stop the worker and keep it stopped for the block (one-writer rule), then
        start it again. Yields the wait's DrainResult (``idle`` False: jobs were cancelled by the stop)."""
        what = f"stopping the worker for: {reason}"
        res = self._drain(what, drain_timeout, on_progress, cancel)
        log.info("hold: stopping the worker for %s", reason)
        with self._ops:
            res = self._last_look(res, what, drain_timeout, on_progress, cancel)
            self._holds.append(reason)
            self._publish(state=WorkerState.STOPPING, message=f"Worker stopped for: {reason}", fix="")
            self._stop_container(stop_timeout)
        try:
            yield res
        finally:
            log.info("hold released (%s): starting the worker", reason)
            with self._ops:
                self._holds.remove(reason)
                if not self._holds and not self.paused:
                    spec, client = self.spec_provider(), self.docker_client(quiet=True)
                    if spec is not None and client is not None:
                        with contextlib.suppress(docker.errors.DockerException, images.ImageError):
                            wc.ensure(client, self._run_spec(client, spec))
                            self._mark_started()
            self.wake()

    def remove_container(self, stop_timeout: int | None = None, drain_timeout: float | None = None,
                         on_progress: drain.Progress | None = None, cancel: Cancel = None) -> bool:
        """Wait for running jobs, stop (full grace unless given) and delete the worker container; keys and state
        stay on disk. Call after pause(), or the next tick recreates it."""
        res = self._drain("removing the worker", drain_timeout, on_progress, cancel)
        with self._ops:
            spec, client = self._spec_quiet(), self.docker_client(quiet=True)
            if spec is None or client is None:
                return False
            c = wc.find(client, spec.name)
            if c is None:
                return False
            self._last_look(res, "removing the worker", drain_timeout, on_progress, cancel)
            grace = spec.stop_timeout if stop_timeout is None else stop_timeout
            self.crash.expect_stop(grace)
            wc.remove(c, grace)
            return True

    def check_image_update(self) -> str | None:
        """Ask the registry for the image's current digest (network; call e.g. daily). Returns the newer digest
        or None, and raises/clears Alert.IMAGE_UPDATE. Nothing is pulled: the user decides (update_image)."""
        spec, client = self.spec_provider(), self.docker_client(quiet=True)
        if spec is None or client is None:
            return None
        pin = self.pins.get(spec.network.name)
        local = images.local_image(client, spec.image)
        current = pin.digest if pin is not None and pin.ref == spec.image else (local.digest if local else None)
        self._image_update = images.newer_digest(client, spec.image, current)
        self._publish(alerts=self._alerts(), extra={"image_update": self._image_update or ""})
        return self._image_update

    def update_image(self, on_progress: Callable[[images.PullProgress], None] | None = None,
                     drain_timeout: float | None = None, on_drain: drain.Progress | None = None,
                     cancel: Cancel = None) -> images.ImageUpdate | None:
        """Pull the spec's image, wait for running jobs, move the pin to it and recreate the worker on it.
        Returns the old → new digest (equal when nothing newer was pulled)."""
        spec, client = self.spec_provider(), self.docker_client(quiet=True)
        if spec is None or client is None:
            return None
        key = spec.network.name
        old = self.pins.get(key)
        info = images.pull_image(client, spec.image, on_progress)
        self._image_update = None
        if old is not None and old.id == info.id:
            self._publish(alerts=self._alerts(), extra={"image_update": ""})
            return images.ImageUpdate(spec.image, old.digest, old.digest)
        self._drain("updating the worker image", drain_timeout, on_drain, cancel)
        with self._ops:
            self.pins.set(key, info)
            run = self._run_spec(client, spec)
            self.crash.expect_stop(spec.stop_timeout)
            wc.ensure(client, run)
            self._mark_started()
        log.info("worker image %s moved %s -> %s", spec.image, old.digest if old else "-", info.digest)
        self._publish(alerts=self._alerts(), extra={"image_update": ""})
        self.wake()
        return images.ImageUpdate(spec.image, old.digest if old else "", info.digest)

    def active_jobs(self) -> int | None:
        """In-flight jobs from the worker's metrics now (None if the endpoint does not answer)."""
        spec = self._last_spec or self._spec_quiet()
        if spec is None:
            return None
        _ok, snap, _err = metrics.fetch_metrics(spec.metrics_url, self.cfg.health_timeout)
        return snap.active_jobs if snap else None

    # --- draining ------------------------------------------------------------------------------------------
    def jobs_for_drain(self) -> int | None:
        """Running jobs as the drain counts them (0: nothing would be cancelled by a stop now)."""
        return self._jobs_now()

    def _jobs_now(self) -> int | None:
        """Running jobs for a drain: 0 when no worker container runs, None (= busy) when metrics are unreadable."""
        spec = self._spec_quiet()
        if spec is None:
            return 0
        client = self.docker_client(quiet=True)
        if client is None:
            return 0  # Docker unreachable: the container cannot be stopped either, so there is nothing to wait for
        with contextlib.suppress(docker.errors.DockerException):
            c = wc.find(client, spec.name)
            if c is None or c.status not in ("running", "restarting"):
                return 0
        return self.active_jobs()

    def _drain(self, what: str, timeout: float | None, on_progress: drain.Progress | None,
               cancel: Cancel) -> drain.DrainResult:
        limit = self.cfg.drain_timeout if timeout is None else timeout
        self._draining = what
        self.wake()
        try:
            res = drain.wait_idle(self._jobs_now, limit, what=what, on_progress=on_progress, cancel=cancel,
                                  poll=self.cfg.drain_poll)
        finally:
            self._draining = ""
        if not res.idle:
            log.warning("%s after %.0f s with %s", what, res.waited_s, drain.describe(res.busy))
        return res

    def _last_look(self, res: drain.DrainResult, what: str, timeout: float | None, on_progress: drain.Progress | None,
                   cancel: Cancel) -> drain.DrainResult:
        """Drain again under the ops lock, right before the stop: the worker keeps taking jobs while the caller
        waited for the lock or prepared the container, and a job acknowledged in that gap would be cancelled by
        the stop (an offence). Usually one metrics read; skipped when the first wait already gave up."""
        if not res.idle:
            return res
        again = self._drain(what, timeout, on_progress, cancel)
        return again if not again.idle else drain.DrainResult(True, 0, res.waited_s + again.waited_s)

    def _stop_container(self, timeout: int | None = None) -> None:
        spec, client = self.spec_provider(), self.docker_client(quiet=True)
        if spec is None or client is None:
            return
        c = wc.find(client, spec.name)
        if c is None:
            return
        t = spec.stop_timeout if timeout is None else timeout
        self.crash.expect_stop(t)
        with contextlib.suppress(docker.errors.NotFound):
            c.reload()
            if c.status in ("running", "restarting"):
                t0 = time.monotonic()
                log.info("stopping worker container %s (grace %d s)", spec.name, t)
                c.stop(timeout=t)
                log.info("worker container %s stopped in %.1f s", spec.name, time.monotonic() - t0)

    def _stop_paused(self, reason: str) -> None:
        self.paths.data.mkdir(parents=True, exist_ok=True)
        atomic_write(self.pause_file, json.dumps({"reason": reason, "at": time.time()}))
        self._publish(state=WorkerState.STOPPING, message="Stopping the worker: " + reason, fix="")
        with self._ops:
            self._stop_container()
        self.keep_awake.release()
        self._publish(state=WorkerState.PAUSED, message="Paused: " + reason, fix="Start the worker to resume",
                      container_running=False, gateway_connected=False)
        self.wake()

    # --- image pin and config drift -------------------------------------------------------------------
    def _run_spec(self, client: docker.DockerClient, spec: wc.WorkerSpec) -> wc.WorkerSpec:
        """``spec`` on the image pinned for its network (pinned on first use: the image the container already
        runs, else the local ref, else pulled). A newer local tag never moves it."""
        key = spec.network.name
        pin = self.pins.get(key)
        info = images.image_by_id(client, pin.id, spec.image) if pin is not None and pin.ref == spec.image else None
        if info is None:
            if pin is None and (c := wc.find(client, spec.name)) is not None \
                    and (c.attrs.get("Config") or {}).get("Image") in (spec.image, c.attrs.get("Image")):
                info = images.image_by_id(client, c.attrs.get("Image", ""), spec.image)  # keep what runs now
            if info is None and images.local_image(client, spec.image) is None:
                self._show(Facts(pulling=f"Getting worker image {spec.image}"), container=spec.name)
            info = info or images.ensure_image(client, spec.image, self._pull_progress)
            if pin is not None:
                log.warning("pinned image %s of %s is gone or its ref changed: pinning %s", pin.id[:19], key,
                            info.id[:19])
            self.pins.set(key, info)
        shown = images.Pin(spec.image, info.id, info.digest)
        if shown != self._shown_pin:
            self._shown_pin = shown
            self._publish(extra={"image": spec.image, "image_digest": info.digest, "image_id": info.id})
        return dataclasses.replace(spec, image=info.id)

    def _converge(self, client: docker.DockerClient, run: wc.WorkerSpec):
        """Create / start the container; a config drift recreates it once no job runs (or after drain_timeout)."""
        c = wc.find(client, run.name)
        if c is not None and wc.running_hash(c) != run.config_hash():
            if c.status == "running":
                now = time.time()
                self._drift_since = self._drift_since or now
                n = self.active_jobs()
                if (n is None or n > 0) and now - self._drift_since < self.cfg.drain_timeout:
                    return c, "deferred"
            self.crash.expect_stop(run.stop_timeout)
        self._drift_since = 0.0
        return wc.ensure(client, run, current=c)


def _restart(c, timeout: int) -> None:
    """stop + start (dockerd 20.10's restart endpoint can hang with long timeouts)."""
    t0 = time.monotonic()
    c.reload()
    if c.status in ("running", "restarting"):
        c.stop(timeout=timeout)
    c.start()
    log.info("worker container %s restarted in %.1f s", c.name, time.monotonic() - t0)
