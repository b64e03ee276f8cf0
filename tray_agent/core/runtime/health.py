"""The pure health classifier: facts about the worker → (state, message, fix, action). No I/O, no clock.

The supervisor gathers the facts (spec, holds, Docker, pause marker, crash backoff, image, container, metrics and
logs) and asks :func:`classify` what to show and whether to act. Rules are checked in priority order: a spec that
cannot be built (e.g. keychain locked) beats everything, then setup, holds, Docker, the pause marker, the crash
backoff, the image, the container, and finally the worker's own health.
"""

from __future__ import annotations

from dataclasses import dataclass

from tray_agent.common.status import WorkerState

from .metrics import WorkerHealth

NONE, START, RESTART_STALE = "", "start", "restart_stale"


@dataclass(frozen=True)
class Facts:
    now: float = 0.0
    spec_error: tuple[str, str] | None = None  # (message, fix): the worker spec cannot be built now
    has_spec: bool = True                      # False: setup not finished
    hold: str = ""                             # reason of the innermost one-writer hold
    docker_error: tuple[str, str, str] | None = None  # (kind "down"|"missing", message, fix)
    paused: bool = False
    backoff_left: float = 0.0                  # s until the crash-loop backoff ends
    crash_error: str = ""
    image_error: tuple[str, str] | None = None
    pulling: str = ""                          # image download progress text
    container_status: str = ""                 # docker status ("" = no container yet)
    restarting: bool = False
    health: WorkerHealth | None = None
    started_at: float = 0.0
    last_connected: float = 0.0
    draining: str = ""                         # a stop/recreate waits for running jobs: what for
    startup_grace: float = 90.0
    stale_after: float = 180.0


@dataclass(frozen=True)
class Verdict:
    state: WorkerState
    message: str
    fix: str = ""
    action: str = NONE  # START: the container is dead, start it; RESTART_STALE: restart a stale worker


def _jobs(n: int) -> str:
    return f"{n} job{'s' if n != 1 else ''}"


def classify(f: Facts) -> Verdict:
    """What the worker's state is, in words, and what the supervisor should do about it."""
    if f.spec_error is not None:
        return Verdict(WorkerState.ERROR, f.spec_error[0], f.spec_error[1])
    if not f.has_spec:
        return Verdict(WorkerState.SETUP_NEEDED, "Finish setup to start the worker", "open the setup screen")
    if f.hold:
        return Verdict(WorkerState.STOPPING, f"Worker stopped for: {f.hold}")
    if f.docker_error is not None:
        kind, msg, fix = f.docker_error
        return Verdict(WorkerState.DOCKER_DOWN if kind == "down" else WorkerState.DOCKER_MISSING, msg, fix)
    if f.paused:
        return Verdict(WorkerState.PAUSED, "Paused by you", "Start the worker to resume")
    if f.backoff_left > 0:
        return Verdict(WorkerState.ERROR, f"The worker keeps crashing: {f.crash_error or 'see the worker log'}",
                       f"fix the cause; the agent retries in {int(f.backoff_left)} s")
    if f.image_error is not None:
        return Verdict(WorkerState.ERROR, f.image_error[0], f.image_error[1])
    if f.pulling:
        return Verdict(WorkerState.STARTING, f.pulling)
    if f.restarting or f.container_status == "restarting":
        return Verdict(WorkerState.STARTING, "Worker restarting")
    if f.container_status != "running":
        return Verdict(WorkerState.STARTING, "Worker restarted", action=START)
    h = f.health
    if h is not None and f.draining:
        n = h.active_jobs if h.metrics is not None else None
        what = _jobs(n) if n is not None else "running jobs"
        return Verdict(WorkerState.STOPPING, f"Waiting for {what} to finish before {f.draining}")
    if h is not None and h.connected:
        n = h.active_jobs
        return Verdict(WorkerState.ONLINE, f"Processing {_jobs(n)}" if n else "Online, waiting for jobs")
    started = f.started_at or f.now
    if not f.last_connected and f.now - started < f.startup_grace:
        return Verdict(WorkerState.STARTING, "Worker starting")
    since = f.last_connected or started
    if f.now - since >= f.stale_after:
        return Verdict(WorkerState.STALE, "Not connected: restarting the worker", action=RESTART_STALE)
    why = (h.error or h.last_error if h is not None else "") or "waiting for the gateway connection"
    return Verdict(WorkerState.STALE, f"Running but not connected ({why})", "the agent restarts it if this lasts")
