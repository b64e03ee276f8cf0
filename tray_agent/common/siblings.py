"""The workers on this machine: every profile's agent, found through its own local API file (read-only).

One worker per GPU means one profile (and one agent) per GPU. The tray shows them under one icon and the dashboard
lists them; both read each agent's ``/api/status`` with the token in that profile's ``api.json`` (same user, mode
0600) and never start, stop or change another profile's agent.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .api_client import ApiClient, ApiError
from .paths import Paths, machine_profiles
from .status import Alert, Status, WorkerState

# worst first: the machine's icon shows the worst state of its workers
SEVERITY = (WorkerState.ERROR, WorkerState.DOCKER_MISSING, WorkerState.STALE, WorkerState.DOCKER_DOWN,
            WorkerState.SETUP_NEEDED, WorkerState.PAUSED, WorkerState.STOPPING, WorkerState.STARTING,
            WorkerState.ONLINE)


@dataclass(frozen=True)
class WorkerEntry:
    """One profile on this machine: its agent's status, or why it could not be read."""

    profile: str
    status: Status | None = None  # None: no agent answers for this profile
    gpus: tuple[str, ...] = ()
    error: str = ""
    current: bool = False  # the profile of the process asking

    @property
    def running(self) -> bool:
        return self.status is not None

    def to_dict(self) -> dict[str, Any]:
        st = self.status
        return {"profile": self.profile, "running": self.running, "current": self.current, "gpus": list(self.gpus),
                "error": self.error, "state": st.state.value if st else "", "state_label": st.state.label if st
                else "Agent not running", "network": st.network if st else "", "address": st.address if st else "",
                "active_jobs": st.active_jobs if st else 0, "alerts": [a.value for a in st.alerts] if st else [],
                "message": st.message if st else "", "stake_wei": str(st.stake_wei) if st else "0",
                "operation": st.operation if st else ""}


@dataclass(frozen=True)
class Machine:
    """Every worker of the machine and the worst of their states."""

    workers: tuple[WorkerEntry, ...] = field(default_factory=tuple)

    @property
    def running(self) -> tuple[WorkerEntry, ...]:
        return tuple(w for w in self.workers if w.status is not None)

    def worst(self) -> Status | None:
        """The status of the worker in the worst state (agents not running are listed, not counted)."""
        live = [w.status for w in self.running if w.status is not None]
        if not live:
            return None
        return min(live, key=lambda s: (SEVERITY.index(s.state), -len(s.alerts)))

    def alerts(self) -> tuple[Alert, ...]:
        out: list[Alert] = []
        for w in self.running:
            out += [a for a in (w.status.alerts if w.status else ()) if a not in out]
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        worst = self.worst()
        return {"workers": [w.to_dict() for w in self.workers], "count": len(self.workers),
                "worst_state": worst.state.value if worst else "", "worst_profile": worst.profile if worst else ""}


def read_worker(profile: str, *, current: str = "", with_settings: bool = False, timeout: float = 2.0) -> WorkerEntry:
    """One profile's entry, read from its agent's local API (never raises)."""
    client = ApiClient.from_api_file(Paths.for_profile(profile).api_file, timeout=timeout)
    if client is None:
        return WorkerEntry(profile, error="the agent is not running", current=profile == current)
    try:
        status = client.status()
        gpus: tuple[str, ...] = ()
        if with_settings:
            gpus = tuple(str(g) for g in (client.settings().get("gpus") or []))
    except ApiError as e:
        return WorkerEntry(profile, error=e.message, current=profile == current)
    return WorkerEntry(profile, status, gpus, current=profile == current)


def discover(current: str = "", *, profiles: Iterable[str] | None = None, with_settings: bool = False,
             timeout: float = 2.0) -> Machine:
    """Every worker of the machine, read in parallel (``profiles``: the ones to read; default all of them)."""
    names = list(profiles) if profiles is not None else machine_profiles()
    if current and current not in names:
        names.insert(0, current)
    if not names:
        return Machine()
    with ThreadPoolExecutor(min(8, len(names))) as pool:
        entries = list(pool.map(lambda p: read_worker(p, current=current, with_settings=with_settings,
                                                      timeout=timeout), names))
    return Machine(tuple(entries))
