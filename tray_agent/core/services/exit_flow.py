"""Deregister: the persisted, resumable way out (stake back, worker stopped, the user led to Withdraw).

stop the worker → release earnings while the dispute window runs out → clear stuck jobs (no-fault path) →
no active jobs → deregister → watchdog paused. It waits on chain time with a countdown, never spins, and
decrypts the keystore once per round of sends, not per poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tray_agent.common.amounts import format_lcai
from tray_agent.common.errors import AgentError

from .chain_sync import ChainSync
from .money import MoneyOps
from .worker import WorkerService, cancel_of

log = logging.getLogger(__name__)
POLL_S = 15.0  # between rounds when no chain time is known to wait for


class Deregistration:
    def __init__(self, money: MoneyOps, sync: ChainSync, worker: WorkerService, stop: threading.Event, *,
                 mine_block: Callable[[], None] | None = None, on_leaving: Callable[[], None] = lambda: None,
                 on_left: Callable[[], None] = lambda: None, on_cancelled: Callable[[], None] = lambda: None):
        self.money = money
        self.sync = sync
        self.worker = worker
        self.stop = stop
        self.mine_block = mine_block      # devnet: anvil mines on demand, so chain time follows the clock
        self.on_leaving = on_leaving      # e.g. devnet: no new jobs for a worker that is leaving
        self.on_left = on_left            # e.g. forget the finished onboarding of this network
        self.on_cancelled = on_cancelled  # e.g. devnet: the consumer sends jobs again

    @property
    def pending(self) -> bool:
        return bool(self.worker.store.get("deregistering"))

    def run(self, progress, resumed: bool = False) -> dict:
        from ..chain.errors import PreconditionFailed
        from ..chain.ops import clear_stuck_jobs, deregister, deregister_eta, settle

        self.money.require_key()
        snap = self.sync.refresh()
        if snap is not None and not snap.registered and not resumed and not self.pending \
                and snap.worker_balance_wei == 0:
            raise AgentError("this worker is not registered: there is no stake to return",
                             fix="withdraw the wallet balance with Withdraw funds", code="not_registered")
        self.worker.store.update(deregistering=True)
        self.on_leaving()
        if self.worker.runtime is not None:
            progress("stopping the worker (only a stopped worker takes no new jobs)", 0.05)
            self.worker.runtime.pause("deregistering")
        res = None
        ctx = None
        while True:
            snap = self.sync.refresh()
            if snap is None or not snap.registered:
                break
            ctx = ctx or self.money.context()
            if snap.active_jobs == 0:
                try:
                    res = deregister(ctx, cache_path=self.money.cache_path, progress=progress)
                    break
                except PreconditionFailed as e:
                    if not e.eta:
                        raise
            settled = settle(ctx, self.money.cache_path, progress=progress)
            stuck = clear_stuck_jobs(ctx, allow_slash=False, cache_path=self.money.cache_path, progress=progress)
            blocked = [j for j in stuck.jobs if j.action == "failed"]
            if blocked:  # no no-fault path for these (e.g. a chain without settleStuckJob): ask, never spin
                self.worker.store.update(deregistering=False)
                slash = sum(j.slash_wei for j in blocked)
                raise AgentError(
                    f"{len(blocked)} stuck {'job' if len(blocked) == 1 else 'jobs'} can only be cleared with a "
                    f"timeout claim, which slashes {format_lcai(slash, 6)} LCAI in total ({blocked[0].message})",
                    fix="run Clear stuck jobs with 'allow slash', then Deregister again", code="needs_slash")
            snap = self.sync.refresh()
            if snap is not None and snap.active_jobs == 0:
                continue
            eta = deregister_eta(ctx, self.money.cache_path) or 0
            waits = [eta] + [j.available_at for j in stuck.jobs if j.available_at]
            until = max(waits) if waits else 0
            if until <= self.money.chain.head()[1]:
                # assigned jobs still before their deadline, or disputed jobs: nothing to send until they change
                n = snap.active_jobs if snap is not None else 0
                what = f"{settled.disputed_count} disputed" if settled.disputed_count else f"{n} assigned"
                progress(f"waiting for {what} {'job' if n == 1 else 'jobs'} to reach a final state", None)
                self._pause(POLL_S, progress)
            else:
                self._countdown(until, progress)
        withdrawn = 0
        if res is None and snap is not None and snap.worker_balance_wei > 0:
            # deregistered already (a resumed run after a kill between deregisterWorker and withdraw, or a rerun):
            # the released earnings still go to the wallet; settle with no job left does exactly that
            progress("withdrawing the earnings left in the contract", None)
            withdrawn = settle(ctx or self.money.context(), self.money.cache_path, progress=progress).withdrawn_wei
        self.worker.store.update(deregistering=False)
        self.worker.set_local_models([])
        self.on_left()
        out = res.to_dict() if res is not None else {"already_deregistered": True, "withdrawn_wei": str(withdrawn)}
        returned = res.stake_returned_wei + res.withdrawn_wei if res is not None else withdrawn
        out["returned_wei"] = str(returned)
        out["next"] = (f"{format_lcai(returned, 6)} LCAI is back in the worker wallet: withdraw it to your own "
                       "wallet with Withdraw funds")
        self.money.refreshed(None)
        return out

    def _pause(self, seconds: float, progress) -> None:
        if self.mine_block is not None:
            self.mine_block()
        self._wait(seconds, progress)

    def _wait(self, seconds: float, progress) -> None:
        """Sleep, but give up at once when the agent stops or the user cancels (before anything was sent)."""
        cancel = cancel_of(progress)
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                self._cancelled()
            self.stop.wait(min(0.5, max(0.0, deadline - time.monotonic())))

    def _cancelled(self) -> None:
        """Cancel before the deregister transaction: nothing was sent, the worker goes back to work."""
        self.worker.store.update(deregistering=False)
        if self.worker.runtime is not None:
            self.worker.runtime.resume()
        self.on_cancelled()
        raise AgentError("deregistration cancelled: the worker is running again and keeps its stake",
                         fix="Deregister again when you want to leave", code="cancelled")

    def _countdown(self, until_chain_ts: int, progress, step_s: float = 5.0) -> None:
        """Wait until the chain's clock passes ``until_chain_ts``, reporting the time left."""
        while not self.stop.is_set():
            if self.mine_block is not None:
                self.mine_block()
            _number, now = self.money.chain.head()
            left = until_chain_ts - now
            if left <= 0:
                return
            h, rem = divmod(left, 3600)
            progress(f"waiting for the dispute window: {h}h {rem // 60:02d}m {rem % 60:02d}s left", None)
            self._wait(min(step_s, max(1.0, left)), progress)
