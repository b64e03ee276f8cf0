"""The one closed WorkerState enum and the immutable Status snapshot published by the agent."""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass, field
from typing import Any


class WorkerState(str, enum.Enum):
    """Everything the worker can be, as the user sees it. Closed: add a state only with its icon and menu."""

    SETUP_NEEDED = "setup_needed"      # onboarding not finished
    DOCKER_MISSING = "docker_missing"  # Docker not installed / no permission
    DOCKER_DOWN = "docker_down"        # engine installed but not answering
    STARTING = "starting"              # container (re)starting, models warming
    ONLINE = "online"                  # running and connected
    STALE = "stale"                    # running but not connected for too long
    PAUSED = "paused"                  # stopped by the user (pause marker)
    STOPPING = "stopping"              # draining / stopping for an operation
    ERROR = "error"                    # needs the user (crash loop, suspended, bad config)

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    WorkerState.SETUP_NEEDED: "Setup needed",
    WorkerState.DOCKER_MISSING: "Docker not available",
    WorkerState.DOCKER_DOWN: "Docker is not running",
    WorkerState.STARTING: "Starting",
    WorkerState.ONLINE: "Online",
    WorkerState.STALE: "Not connected",
    WorkerState.PAUSED: "Paused",
    WorkerState.STOPPING: "Stopping",
    WorkerState.ERROR: "Needs attention",
}


class Alert(str, enum.Enum):
    """Flags shown as a badge and as notifications."""

    CRASH_LOOP = "crash_loop"
    LOW_GAS = "low_gas"
    EARNINGS_READY = "earnings_ready"
    STUCK_JOBS = "stuck_jobs"
    SLASHED = "slashed"
    SUSPENDED = "suspended"
    KEEP_AWAKE_UNAVAILABLE = "keep_awake_unavailable"
    IMAGE_UPDATE = "image_update"
    PROTOCOL_DRIFT = "protocol_drift"
    RPC_DOWN = "rpc_down"
    OLLAMA_DOWN = "ollama_down"
    UNDERSTAKED = "understaked"
    PAUSED_WITH_SESSIONS = "paused_with_sessions"
    KEY_MISMATCH = "key_mismatch"
    FOREIGN_WORKER = "foreign_worker"
    DEREGISTERING = "deregistering"


@dataclass(frozen=True)
class Notice:
    """One thing the user should know, ranked by ``level`` (error > warning > info); the dashboard shows the
    first as its banner, the tray uses the worst level for its badge. ``action`` is an operation kind or a page
    (``page:withdraw``) that fixes it; amounts are wei, times are unix seconds (0 = not applicable)."""

    kind: str                 # an Alert value
    level: str                # "error" | "warning" | "info"
    title: str
    detail: str = ""
    action: str = ""
    action_label: str = ""
    amount_wei: int = 0
    until: float = 0.0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["amount_wei"] = str(self.amount_wei)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Notice:
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["amount_wei"] = int(kw.get("amount_wei") or 0)
        return cls(**kw)


LEVEL_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Status:
    """Immutable snapshot; the supervisor replaces it, subscribers read it. JSON-friendly via to_dict()."""

    state: WorkerState = WorkerState.STARTING
    network: str = "testnet"
    profile: str = "default"
    message: str = ""
    fix: str = ""
    alerts: tuple[Alert, ...] = ()
    address: str = ""
    registered: bool = False
    served_models: tuple[str, ...] = ()
    # money (wei as int; to_dict turns them into strings)
    stake_wei: int = 0
    wallet_wei: int = 0
    worker_balance_wei: int = 0
    releasable_wei: int = 0
    escrowed_wei: int = 0
    active_jobs: int = 0          # jobs the worker process is running now (its worker_active_jobs)
    expected_jobs: int = 0        # jobs the chain still expects from this worker (assigned, not finished)
    stuck_jobs: int = 0
    claimed_sessions: int = 0     # sessions that keep sending jobs to this worker while it is registered
    min_stake_wei: int = 0
    slashed_wei: int = 0          # total slashed from this worker's stake (as far as the agent has seen)
    suspended_until: float = 0.0  # unix time the suspension ends (0 = not suspended)
    last_job_at: float = 0.0      # when the last job for this worker was seen (0 = none yet)
    idle_reason: str = ""         # why no job has come for a while, in words (empty while jobs come)
    notices: tuple[Notice, ...] = ()
    container: str = ""
    container_running: bool = False
    gateway_connected: bool = False
    keep_awake: bool = False
    keep_awake_reason: str = ""
    keep_awake_available: bool = True
    uptime_s: float = 0.0
    operation: str = ""  # running user operation, if any
    # automatic settle policy: {enabled, paused, state, message, withdraw_to, failures, next_try_at, last_error,
    # last_action} ({} = never configured); the tray's pause item and the dashboard line read it
    autosettle: dict[str, Any] = field(default_factory=dict)
    deregister_at: float = 0.0  # unix time a scheduled deregistration returns the stake (0 = none scheduled)
    updated_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> Status:
        changes.setdefault("updated_at", time.time())
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["state"] = self.state.value
        d["state_label"] = self.state.label
        d["alerts"] = [a.value for a in self.alerts]
        d["served_models"] = list(self.served_models)
        d["notices"] = [n.to_dict() for n in self.notices]
        for k in list(d):
            if k.endswith("_wei"):
                d[k] = str(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Status:
        """Rebuild a Status from its JSON form (used by the tray, which never imports web3)."""
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["state"] = WorkerState(d.get("state", "starting"))
        kw["alerts"] = tuple(Alert(a) for a in d.get("alerts", ()) if a in Alert._value2member_map_)
        kw["served_models"] = tuple(d.get("served_models", ()))
        kw["notices"] = tuple(Notice.from_dict(n) for n in d.get("notices", ()) if isinstance(n, dict))
        for k in list(kw):
            if k.endswith("_wei"):
                kw[k] = int(kw[k])
        return cls(**kw)
