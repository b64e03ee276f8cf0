"""Reads the chain for the active worker and reports it as facts: one batched snapshot per refresh, the
earnings split from the cached job scan, stuck jobs, stake lost to slashes, and the protocol self-check."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from tray_agent.common.errors import AgentError

from ..chain.client import ChainClient, ChainSnapshot
from ..facts import ChainFacts
from ..history import History
from ..networks import Network
from ..state_owner import StateOwner
from ..store import JsonStore

log = logging.getLogger(__name__)
ZERO = "0x0000000000000000000000000000000000000000"


class ChainSync:
    def __init__(self, network: Network, chain: ChainClient, owner: StateOwner, history: History,
                 address: Callable[[], str | None], model_names: Callable[[], list[str]],
                 worker_store: JsonStore, cache_path: Path,
                 on_era: Callable[[bool, str], None] = lambda sortition, manager: None):
        self.network = network
        self.chain = chain
        self.owner = owner
        self.history = history
        self.address = address
        self.model_names = model_names
        self.worker_store = worker_store
        self.cache_path = cache_path
        self.on_era = on_era  # the worker follows the chain's era (sortition on/off), not only the table
        self.snapshot: ChainSnapshot | None = None
        self.earnings = None  # chain.ops.EarningsResult of the last earnings refresh

    def refresh(self) -> ChainSnapshot | None:
        """One batched read of everything the dashboard shows (before a key exists: fees and min stake only)."""
        addr = self.address()
        try:
            snap = self.chain.snapshot(addr or ZERO, models=self.model_names())
        except AgentError:
            self.owner.report(rpc_down=True)
            raise
        self.snapshot = snap
        if not addr:
            self.owner.report(rpc_down=False)
            return snap
        slashed = self._track_slash(snap)
        self.owner.report(rpc_down=False, slashed_wei=slashed, chain=ChainFacts(
            address=addr, registered=snap.registered, served_models=tuple(snap.served_models),
            stake_wei=snap.stake_wei, min_stake_wei=snap.min_stake_wei, wallet_wei=snap.balance_wei,
            worker_balance_wei=snap.worker_balance_wei, expected_jobs=snap.active_jobs, suspended=snap.suspended,
            suspended_until=snap.suspended_until, offense_count=snap.offense_count,
            low_gas=snap.registered and snap.balance_wei < self.network.low_gas_wei))
        return snap

    def mine(self) -> ChainSnapshot | None:
        """The last snapshot when it belongs to the active key."""
        snap, addr = self.snapshot, self.address() or ""
        return snap if snap is not None and addr and snap.address.lower() == addr.lower() else None

    def _track_slash(self, snap: ChainSnapshot) -> int:
        """Stake that went down between two refreshes of a registered worker (no operation of ours does that:
        deregister ends the registration and top-up raises it) is a slash; the total is kept per network."""
        key = f"stake_seen:{snap.address.lower()}"
        seen = self.worker_store.get(key)
        total = int(self.worker_store.get("slashed_wei") or 0)
        if snap.registered and seen is not None and snap.stake_wei < int(seen):
            total += int(seen) - snap.stake_wei
            log.warning("stake went down by %s wei: slashed", int(seen) - snap.stake_wei)
            self.worker_store.update(slashed_wei=total)
        if snap.registered and seen != snap.stake_wei:
            self.worker_store.update(**{key: snap.stake_wei})
        elif not snap.registered and seen is not None:
            self.worker_store.update(**{key: None})
        return total

    def refresh_earnings(self):
        """Escrowed / releasable split from the cached JobCompleted scan (cheap after the first scan)."""
        from ..chain.ops import earnings

        addr = self.address()
        if not addr:
            return None
        try:
            e = earnings(self.chain, addr, cache_path=self.cache_path)
        except AgentError as ex:
            log.info("earnings refresh skipped: %s", ex)
            return None
        self.earnings = e
        last = max((int(j.get("completed_at") or 0) for j in e.jobs), default=0)
        self.owner.report(escrowed_wei=e.escrowed_wei, releasable_wei=e.releasable_wei, last_job_at=float(last),
                          claimed_sessions=e.claimed_sessions)
        return e

    def stuck_jobs(self) -> list:
        from ..chain.ops import find_stuck_jobs

        addr = self.address()
        if not addr:
            return []
        jobs = find_stuck_jobs(self.chain, addr, self.cache_path)
        self.owner.report(stuck_jobs=len(jobs))
        return jobs

    def record_samples(self) -> None:
        """Once a minute: earnings split and uptime for the dashboard chart (history)."""
        st = self.owner.status()
        self.history.uptime_sample(self.network.name, st.state.value)
        e = self.earnings
        if not st.address or e is None:
            return
        self.history.earnings_sample(self.network.name, st.address, stake_wei=st.stake_wei,
                                     escrowed_wei=e.escrowed_wei, releasable_wei=e.releasable_wei,
                                     worker_balance_wei=e.worker_balance_wei, wallet_wei=st.wallet_wei,
                                     withdrawn_wei=e.withdrawn_wei)

    def self_check(self) -> None:
        """Code at each address, chain id, min stake, predeploys: a difference becomes a drift fact."""
        from ..chain.ops import protocol_self_check

        try:
            res = protocol_self_check(self.chain)
        except AgentError as e:
            log.warning("protocol self-check failed: %s", e)
            return
        for d in res.drift:
            log.warning("protocol drift on %s: %s expected %s, chain says %s", self.network.name, d.get("field"),
                        d.get("expected"), d.get("actual"))
        self.owner.report(drift=tuple(res.drift))
        if res.sortition_enabled is not None:
            self.on_era(res.sortition_enabled, res.session_manager)

    def jobs_view(self) -> dict:
        from ..chain.ops import earnings

        addr = self.address()
        if not addr:
            return {"jobs": []}
        return {"jobs": earnings(self.chain, addr, cache_path=self.cache_path).jobs[-200:]}

    def stuck_view(self) -> dict:
        """Stuck jobs with their no-fault path (open / waiting until ``available_at`` / unavailable), chain time
        for the countdown, and the exact slash (wei) the jobs without a no-fault path would cost."""
        jobs = self.stuck_jobs()
        _, now = self.chain.head()
        slash = sum(j.slash_wei for j in jobs if j.no_fault == "unavailable")
        return {"jobs": [j.to_dict() for j in jobs], "chain_now": now, "slash_wei_total": str(slash),
                "slash_applies": any(j.no_fault == "unavailable" for j in jobs)}

    def earnings_view(self) -> dict:
        st = self.owner.status()
        series = self.history.earnings_series(self.network.name)
        return {"series": series, "totals": {
            "stake_wei": str(st.stake_wei), "escrowed_wei": str(st.escrowed_wei),
            "releasable_wei": str(st.releasable_wei), "worker_balance_wei": str(st.worker_balance_wei),
            "wallet_wei": str(st.wallet_wei), "slashed_wei": str(st.slashed_wei),
            "settled_wei": str(self.earnings.released_wei if self.earnings else 0),
            "earned_wei": str(e.escrowed_wei + e.releasable_wei + e.released_wei if (e := self.earnings) else 0),
            "withdrawn_wei": str(self.history.withdrawn_total(self.network.name))}}
