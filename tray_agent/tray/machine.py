"""The other workers on this machine, for the one tray icon: polled from their agents' local API files.

Only reads (``/api/status``); opening another worker's dashboard asks that worker's agent for a login link.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tray_agent.common.api_client import AgentNotRunning, ApiClient
from tray_agent.common.paths import Paths, machine_profiles
from tray_agent.common.siblings import WorkerEntry, discover

log = logging.getLogger(__name__)
POLL_S = 5.0


class MachineWatch:
    """Background thread: every ``interval`` s, the entries of every profile but ``own``; ``on_change`` gets them
    when they differ from the last poll."""

    def __init__(self, own: str, on_change: Callable[[tuple[WorkerEntry, ...]], None], interval: float = POLL_S):
        self.own, self.on_change, self.interval = own, on_change, interval
        self._stop = threading.Event()
        self._last: tuple | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="machine-watch")

    def start(self) -> MachineWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def poll(self) -> tuple[WorkerEntry, ...]:
        others = [p for p in machine_profiles() if p != self.own]
        return discover(profiles=others).workers if others else ()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                entries = self.poll()
                sig = tuple((e.profile, e.status.state if e.status else None, e.status.alerts if e.status else (),
                             e.status.active_jobs if e.status else 0) for e in entries)
                if sig != self._last:
                    self._last = sig
                    self.on_change(entries)
            except Exception:  # never let a bad sibling end the watch
                log.exception("reading the other workers on this machine failed")
            self._stop.wait(self.interval)


def open_worker_dashboard(profile: str) -> None:
    """Open the dashboard of another profile's worker (its own agent issues the login link)."""
    other = Paths.for_profile(profile)
    client = ApiClient.from_api_file(other.api_file)
    if client is None or not client.ping():
        raise AgentNotRunning(f"the agent of worker '{profile}' is not running",
                              f"start it with 'lcai-tray --profile {profile} serve --headless'")
    from tray_agent.windows.manager import WindowManager

    WindowManager(other.runtime, client.login_url, other.logs).open("dashboard")
