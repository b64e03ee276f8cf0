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
    active_jobs: int = 0
    stuck_jobs: int = 0
    container: str = ""
    container_running: bool = False
    gateway_connected: bool = False
    keep_awake: bool = False
    keep_awake_reason: str = ""
    uptime_s: float = 0.0
    operation: str = ""  # running user operation, if any
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
        for k in list(kw):
            if k.endswith("_wei"):
                kw[k] = int(kw[k])
        return cls(**kw)
