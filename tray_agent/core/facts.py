"""Facts the agent knows, and the one pure function that turns them into the Status everybody shows.

Producers (supervisor, chain refresh, key custody, the operation runner) only report facts to the state owner;
``derive_status`` is the only place that decides the state, its message and the notices. Precedence, highest
first: a damaged key, a locked keychain, no key (setup), then what the supervisor sees, then what the chain
says (suspension, understake beat a running container: the worker earns nothing either way).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tray_agent.common.amounts import format_lcai
from tray_agent.common.status import LEVEL_RANK, Alert, Notice, Status, WorkerState
from tray_agent.common.words import plural

IDLE_HINT_AFTER_S = 10 * 60  # say why no job came after this long online


@dataclass(frozen=True)
class ChainFacts:
    """What the last chain refresh said about the active worker address."""

    address: str = ""
    registered: bool = False
    served_models: tuple[str, ...] = ()
    stake_wei: int = 0
    min_stake_wei: int = 0
    wallet_wei: int = 0
    worker_balance_wei: int = 0
    expected_jobs: int = 0
    suspended: bool = False
    suspended_until: int = 0
    offense_count: int = 0
    low_gas: bool = False


@dataclass(frozen=True)
class Facts:
    """Everything ``derive_status`` needs; replaced (never mutated) by the state owner."""

    profile: str = "default"
    network: str = "testnet"
    address: str = ""                          # active key ("" = none yet)
    key_error: tuple[str, str] | None = None   # (message, fix): the active key is damaged
    secret_error: tuple[str, str] | None = None  # (message, fix): keychain locked / password unreadable
    runtime: dict[str, Any] = field(default_factory=dict)  # the supervisor's last report
    chain: ChainFacts | None = None
    rpc_down: bool = False
    escrowed_wei: int = 0
    releasable_wei: int = 0
    slashed_wei: int = 0
    last_job_at: float = 0.0
    stuck_jobs: int = 0
    claimed_sessions: int = 0                  # open sessions assigned to this worker (they keep sending jobs)
    served_demand: dict | None = None          # {"jobs", "others", "window"}: demand for the served models (idle hint)
    drift: tuple[dict, ...] = ()
    foreign: tuple[dict, ...] = ()             # worker containers another app runs on this Docker engine
    update: dict | None = None
    operation: str = ""
    autosettle: dict = field(default_factory=dict)  # the automatic settle policy's state (services/autosettle.py)
    deregister_at: float = 0.0                 # when a scheduled deregistration runs (wall-clock estimate; 0 = none)
    now: float = 0.0

    def with_(self, **changes: Any) -> Facts:
        return dataclasses.replace(self, **changes)


def derive_status(f: Facts) -> Status:
    """The Status for these facts (pure: same facts, same Status)."""
    rt = f.runtime
    now = f.now or time.time()
    chain = f.chain if f.chain is not None and f.address and f.chain.address.lower() == f.address.lower() else None
    state = rt.get("state", WorkerState.STARTING)
    message, fix = rt.get("message", ""), rt.get("fix", "")
    if f.key_error is not None:
        state, (message, fix) = WorkerState.ERROR, (f"Worker key: {f.key_error[0]}", f.key_error[1])
    elif f.secret_error is not None and f.address:
        state, (message, fix) = WorkerState.ERROR, f.secret_error
    elif not f.address:
        state, message, fix = WorkerState.SETUP_NEEDED, "Finish setup to start earning", "open the onboarding window"
    notices = _notices(f, chain, state, now)
    worst = notices[0] if notices else None
    foreign_blocks = bool(f.foreign) and bool(f.address) and f.key_error is None and f.secret_error is None
    if worst is not None and worst.level == "error" and (foreign_blocks or state in (
            WorkerState.ONLINE, WorkerState.STARTING, WorkerState.STALE)):
        state, message, fix = WorkerState.ERROR, worst.title, worst.detail
    alerts = _alerts(f, chain)
    running = bool(rt.get("container_running"))
    idle = _idle_reason(f, chain, state, now)
    return Status(
        state=state, network=f.network, profile=f.profile, message=message, fix=fix, alerts=alerts,
        address=f.address, registered=bool(chain and chain.registered),
        served_models=tuple(chain.served_models) if chain else (),
        stake_wei=chain.stake_wei if chain else 0, wallet_wei=chain.wallet_wei if chain else 0,
        worker_balance_wei=chain.worker_balance_wei if chain else 0,
        releasable_wei=f.releasable_wei, escrowed_wei=f.escrowed_wei,
        active_jobs=int(rt.get("active_jobs") or 0) if running else 0,
        expected_jobs=chain.expected_jobs if chain else 0, stuck_jobs=f.stuck_jobs,
        claimed_sessions=f.claimed_sessions if chain and chain.registered else 0,
        min_stake_wei=chain.min_stake_wei if chain else 0, slashed_wei=f.slashed_wei,
        suspended_until=float(chain.suspended_until) if chain and chain.suspended else 0.0,
        last_job_at=f.last_job_at, idle_reason=idle, notices=notices,
        container=rt.get("container", ""), container_running=running,
        gateway_connected=bool(rt.get("gateway_connected")), keep_awake=bool(rt.get("keep_awake")),
        keep_awake_reason=rt.get("keep_awake_reason", ""),
        keep_awake_available=bool(rt.get("keep_awake_available", True)),
        uptime_s=float(rt.get("uptime_s") or 0.0), operation=f.operation, autosettle=dict(f.autosettle),
        deregister_at=f.deregister_at,
        updated_at=now,
        extra=_extra(f),
    )


def _extra(f: Facts) -> dict[str, Any]:
    extra: dict[str, Any] = dict(rt_extra) if isinstance(rt_extra := f.runtime.get("extra"), dict) else {}
    if f.drift:
        extra["drift"] = list(f.drift)
    if f.update:
        extra["update"] = f.update
    return extra


def _alerts(f: Facts, chain: ChainFacts | None) -> tuple[Alert, ...]:
    out: list[Alert] = [Alert(a) for a in f.runtime.get("alerts", ())]
    if chain is not None:
        if chain.low_gas:
            out.append(Alert.LOW_GAS)
        if chain.suspended:
            out.append(Alert.SUSPENDED)
        if chain.registered and chain.stake_wei < chain.min_stake_wei:
            out.append(Alert.UNDERSTAKED)
        if chain.worker_balance_wei > 0:
            out.append(Alert.EARNINGS_READY)
        if chain.registered and f.runtime.get("state") == WorkerState.PAUSED and not f.deregister_at:
            out.append(Alert.PAUSED_WITH_SESSIONS)
    if f.deregister_at:
        out.append(Alert.DEREGISTERING)
    if f.slashed_wei > 0:
        out.append(Alert.SLASHED)
    if f.stuck_jobs:
        out.append(Alert.STUCK_JOBS)
    if f.drift:
        out.append(Alert.PROTOCOL_DRIFT)
    if f.rpc_down:
        out.append(Alert.RPC_DOWN)
    return tuple(dict.fromkeys(out))


def _date(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _notices(f: Facts, chain: ChainFacts | None, state: WorkerState, now: float) -> tuple[Notice, ...]:
    out: list[Notice] = []
    for o in f.foreign:
        out.append(Notice(Alert.FOREIGN_WORKER.value, "error", f"Another worker is running on this machine: {o['name']}",
                          f"It runs {o.get('image') or 'a worker image'}"
                          + (f" on chain {o['chain_id']}" if o.get("chain_id") else "")
                          + ". Two workers must not run side by side, so this app does not start its own. Adopt it "
                          "(its keys are imported and it runs here) or stop it; either waits for its running jobs.",
                          "stop_foreign", "Stop the other worker"))
    if chain is not None and chain.suspended:
        until = float(chain.suspended_until)
        when = f"until {_date(until)}" if until > now else "until you reinstate it"
        out.append(Notice(Alert.SUSPENDED.value, "error", f"Suspended {when}: the worker gets no jobs",
                          "A suspension follows offences (jobs that timed out). Reinstate when it ends.",
                          "reinstate", "Reinstate", until=until))
    if chain is not None and chain.registered and chain.stake_wei < chain.min_stake_wei:
        missing = chain.min_stake_wei - chain.stake_wei
        out.append(Notice(Alert.UNDERSTAKED.value, "error",
                          f"Stake below the minimum: top up {format_lcai(missing, 6)} LCAI",
                          f"The minimum stake is {format_lcai(chain.min_stake_wei)} LCAI; yours is "
                          f"{format_lcai(chain.stake_wei, 6)} LCAI, so the worker is not selected.",
                          "top_up", "Top up", amount_wei=missing))
    if f.slashed_wei > 0:
        out.append(Notice(Alert.SLASHED.value, "warning", f"Slashed {format_lcai(f.slashed_wei, 6)} LCAI",
                          "Jobs that time out cost part of the stake. Keep the worker online, or Deregister to leave.",
                          "top_up", "Top up the stake", amount_wei=f.slashed_wei))
    if f.deregister_at:
        out.append(Notice(Alert.DEREGISTERING.value, "warning", f"Deregistration scheduled for {_date(f.deregister_at)}",
                          "The worker is stopped and takes no new jobs. When the dispute window of its last jobs ends, "
                          "the agent deregisters and the stake comes back to the worker wallet. Cancel to keep the "
                          "stake and run the worker again.", "cancel_deregister", "Cancel deregistration",
                          until=f.deregister_at))
    elif chain is not None and chain.registered and state == WorkerState.PAUSED:
        n = f.claimed_sessions
        out.append(Notice(Alert.PAUSED_WITH_SESSIONS.value, "warning",
                          "Paused while registered: jobs sent to this worker will time out",
                          (f"{plural(n, 'claimed session', verb='keep')} sending jobs"
                           if n else "The network keeps sending jobs while the worker is registered")
                          + "; each one that times out counts as an offence. "
                          "Start the worker again, or Deregister to leave safely.", "start", "Start worker"))
    if f.stuck_jobs:
        out.append(Notice(Alert.STUCK_JOBS.value, "warning",
                          f"{f.stuck_jobs} stuck {'job' if f.stuck_jobs == 1 else 'jobs'} waiting",
                          "Jobs past their deadline block deregistering and earnings; clear them.",
                          "page:stuck", "Clear stuck jobs"))
    if f.drift:
        fields = ", ".join(str(d.get("field")) for d in f.drift)
        out.append(Notice(Alert.PROTOCOL_DRIFT.value, "warning", f"The network changed: {fields}",
                          "The chain no longer matches what this app expects; update the app before money actions.",
                          "page:settings", "Details"))
    if f.rpc_down:
        out.append(Notice(Alert.RPC_DOWN.value, "warning", "The chain is not reachable",
                          "Balances and jobs may be out of date; check the RPC URL in Settings.", "page:settings",
                          "Settings"))
    if chain is not None and chain.low_gas:
        out.append(Notice(Alert.LOW_GAS.value, "warning", "Low on gas",
                          "The worker wallet needs LCAI for transaction fees.", "page:fund", "Add funds"))
    if chain is not None and chain.worker_balance_wei > 0:
        out.append(Notice(Alert.EARNINGS_READY.value, "info",
                          f"{format_lcai(chain.worker_balance_wei, 6)} LCAI ready to settle", "", "settle",
                          "Settle earnings", amount_wei=chain.worker_balance_wei))
    return tuple(sorted(out, key=lambda n: LEVEL_RANK[n.level]))


def _idle_reason(f: Facts, chain: ChainFacts | None, state: WorkerState, now: float) -> str:
    """Why no job has come for a while, in words (empty while jobs come or the worker is not registered); the
    dashboard puts "No job for N min" in front of it."""
    if chain is None or not chain.registered:
        return ""
    since = max(f.last_job_at, now - float(f.runtime.get("uptime_s") or 0.0))
    if now - since < IDLE_HINT_AFTER_S:
        return ""
    if chain.suspended:
        return "the worker is suspended, so the network sends it no jobs"
    if chain.stake_wei < chain.min_stake_wei:
        return "the stake is below the minimum, so the network does not select this worker"
    if state != WorkerState.ONLINE:
        return f"the worker is not reachable ({state.label.lower()}), so it cannot take jobs"
    d = f.served_demand
    if d is None:
        return (f"not selected yet, or little demand for your models on {f.network} right now (each job picks a "
                "worker at random, weighted by stake)")
    jobs, others, window = int(d.get("jobs") or 0), int(d.get("others") or 0), d.get("window") or "day"
    if not jobs:
        return f"no demand for your models on {f.network}: no job for them in the last {window}"
    return (f"not selected yet: {plural(jobs, 'job')} for your models in the last {window}, shared "
            f"with {plural(others, 'other worker')}; each job picks a worker at random, "
            "weighted by stake")
