"""Deregister: the persisted, scheduled way out (stake back, worker stopped, the user led to Withdraw).

The deregister operation does what can be done now — stop the worker, release what is releasable, clear stuck jobs
on the no-fault path — and, when nothing blocks, deregisters at once. Otherwise it records a *schedule* (chain time
when the last dispute window ends) in the network's state file and ends: the runner is free, reads and safe
operations go on. The agent's refresh loop calls :meth:`Deregistration.due` and, once chain time has passed,
runs :meth:`Deregistration.finish` as a normal operation (same steps; it deregisters or reschedules). Until the
deregister transaction is sent the schedule can be cancelled: nothing on the chain starts an exit (contracts §5:
the stake stays until ``deregisterWorker``), so cancelling only resumes the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from tray_agent.common.amounts import format_lcai
from tray_agent.common.errors import AgentError

from .chain_sync import ChainSync
from .money import MoneyOps
from .worker import WorkerService, cancel_of

log = logging.getLogger(__name__)
KEY = "exit_schedule"
POLL_S = 60.0          # next look when jobs are assigned or disputed (no chain time known to wait for)
MAX_RETRY_S = 3600.0   # a failing final step is retried with a doubling delay, at most this long
# refused while a deregistration is scheduled: they would restart the leaving worker or change its stake, models or key
CONFLICTS = frozenset({"deregister", "start", "restart", "set_models", "top_up", "reinstate", "update_image",
                       "replace_key", "recover", "import_keys", "adopt_foreign", "switch_network", "remove_worker",
                       "onboarding"})


def when_text(ts: float) -> str:
    """'2026-12-01 14:00 UTC' for a unix time."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


class Deregistration:
    def __init__(self, money: MoneyOps, sync: ChainSync, worker: WorkerService, stop: threading.Event, *,
                 mine_block: Callable[[], None] | None = None, on_leaving: Callable[[], None] = lambda: None,
                 on_left: Callable[[], None] = lambda: None, on_cancelled: Callable[[], None] = lambda: None,
                 on_schedule: Callable[[float], None] = lambda at: None, poll_s: float = POLL_S):
        self.money = money
        self.sync = sync
        self.worker = worker
        self.stop = stop
        self.mine_block = mine_block      # devnet: anvil mines on demand, so chain time follows the clock
        self.on_leaving = on_leaving      # e.g. devnet: no new jobs for a worker that is leaving
        self.on_left = on_left            # e.g. forget the finished onboarding of this network
        self.on_cancelled = on_cancelled  # e.g. devnet: the consumer sends jobs again
        self.on_schedule = on_schedule    # the wall-clock estimate of the final step (0.0 = none) → Status
        self.poll_s = poll_s

    # --- the persisted schedule ------------------------------------------------------------------------------
    @property
    def schedule(self) -> dict | None:
        """``{"at": chain ts, "at_wall": estimate, "since": wall, "failures": n}`` or None."""
        s = self.worker.store.get(KEY)
        if isinstance(s, dict):
            return s
        if self.worker.store.get("deregistering"):  # written by an older version mid-exit: finish it now
            return {"at": 0, "at_wall": time.time(), "since": time.time(), "failures": 0}
        return None

    @property
    def pending(self) -> bool:
        return self.schedule is not None

    def _save(self, schedule: dict | None) -> None:
        self.worker.store.update(**{KEY: schedule, "deregistering": False})
        self.on_schedule(float(schedule["at_wall"]) if schedule else 0.0)

    def _set(self, at_chain: int, chain_now: int, failures: int = 0) -> dict:
        s = self.schedule or {"since": time.time()}
        s.update(at=int(at_chain), at_wall=time.time() + max(0, int(at_chain) - int(chain_now)), failures=failures)
        self._save(s)
        return s

    def announce(self) -> None:
        """Report the current schedule (session start) and keep a leaving worker from getting new jobs."""
        s = self.schedule
        self.on_schedule(float(s["at_wall"]) if s else 0.0)
        if s is not None:
            self.on_leaving()

    def refuse_conflicting(self, kind: str) -> None:
        """Operations that would undo or fight a scheduled deregistration are refused, saying why."""
        s = self.schedule
        if s is None or kind not in CONFLICTS:
            return
        at = when_text(float(s.get("at_wall") or time.time()))
        if kind == "deregister":
            raise AgentError(f"deregistration is already scheduled for {at}; it finishes by itself",
                             fix="wait for it, or cancel it to keep the stake", code="deregister_scheduled")
        raise AgentError(f"deregistration scheduled for {at}: {kind.replace('_', ' ')} is not possible while the "
                         "worker is leaving", fix="cancel the deregistration first (dashboard: Cancel deregistration, "
                         "or 'lcai-tray deregister --cancel'), then try again", code="deregister_scheduled")

    def due(self) -> bool:
        """Refresh loop: True once chain time has passed the schedule (updates the countdown on the way)."""
        s = self.schedule
        if s is None:
            return False
        if self.mine_block is not None:
            self.mine_block()
        _n, now = self.money.chain.head()
        at_wall = time.time() + max(0, int(s["at"]) - now)
        if int(s["at"]) > now and abs(at_wall - float(s.get("at_wall") or 0)) > 2:  # chain and wall clocks drift
            s["at_wall"] = at_wall
            self._save(s)
        return int(s["at"]) <= now

    # --- the operations --------------------------------------------------------------------------------------
    def begin(self, progress) -> dict:
        """The deregister operation: stop the worker and do the immediate part; deregister now or schedule."""
        self.money.require_key()
        self.refuse_conflicting("deregister")
        snap = self.sync.refresh()
        if snap is not None and not snap.registered and snap.worker_balance_wei == 0:
            raise AgentError("this worker is not registered: there is no stake to return",
                             fix="withdraw the wallet balance with Withdraw funds", code="not_registered")
        self._save({"at": 0, "at_wall": time.time(), "since": time.time(), "failures": 0})  # before anything runs
        self.on_leaving()
        return self._step(progress)

    def finish(self, progress, check: Callable[[], None] = lambda: None) -> dict:
        """The scheduled final step (submitted by the refresh loop). A failure keeps the schedule and retries later
        with a doubling delay; a cancel or a needed decision ends it."""
        try:
            check()
            return self._step(progress)
        except AgentError as e:
            s = self.schedule
            if s is not None and e.code not in ("cancelled", "needs_slash"):
                n = int(s.get("failures") or 0) + 1
                delay = min(MAX_RETRY_S, self.poll_s * 2 ** (n - 1))
                now = int(time.time())
                try:
                    now = self.money.chain.head()[1]
                except AgentError:
                    pass
                self._set(now + int(delay), now, failures=n)
                e.fix = f"{e.fix}; the deregistration stays scheduled and is tried again in {int(delay)} s".lstrip("; ")
            raise

    def cancel(self, progress) -> dict:
        """Cancel a scheduled deregistration (nothing was sent that starts an exit): the worker works again."""
        if self.schedule is None:
            raise AgentError("no deregistration is scheduled", fix="nothing to cancel", code="not_scheduled")
        progress("cancelling the deregistration: the worker starts again", None)
        self._resume()
        return {"cancelled": True, "message": "deregistration cancelled: the worker is running again and keeps "
                                              "its stake"}

    # --- the steps ---------------------------------------------------------------------------------------------
    def _step(self, progress) -> dict:
        from ..chain.errors import PreconditionFailed
        from ..chain.ops import clear_stuck_jobs, deregister, deregister_eta, settle

        self._stop_worker(progress)
        ctx = None
        res = None
        for _ in range(3):  # a release or a cleared job may free the last slot: look again at once, a few times
            snap = self.sync.refresh()
            if snap is None:
                raise AgentError("the chain is not reachable", fix="check the RPC URL in Settings",
                                 code="rpc_unavailable")
            if not snap.registered:
                break
            ctx = ctx or self.money.context()
            if snap.active_jobs == 0:
                self._check_cancel(progress)
                try:
                    res = deregister(ctx, cache_path=self.money.cache_path, progress=progress)
                    break
                except PreconditionFailed as e:
                    if not e.eta:
                        raise
            self._check_cancel(progress)
            settled = settle(ctx, self.money.cache_path, progress=progress)
            self._check_cancel(progress)
            stuck = clear_stuck_jobs(ctx, allow_slash=False, cache_path=self.money.cache_path, progress=progress)
            blocked = [j for j in stuck.jobs if j.action == "failed"]
            if blocked:  # no no-fault path for these (e.g. a chain without settleStuckJob): ask, never spin
                self._save(None)
                slash = sum(j.slash_wei for j in blocked)
                raise AgentError(
                    f"{len(blocked)} stuck {'job' if len(blocked) == 1 else 'jobs'} can only be cleared with a "
                    f"timeout claim, which slashes {format_lcai(slash, 6)} LCAI in total ({blocked[0].message})",
                    fix="run Clear stuck jobs with 'allow slash', then Deregister again", code="needs_slash")
            snap = self.sync.refresh()
            if snap is not None and snap.active_jobs == 0:
                continue
            now = self.money.chain.head()[1]
            eta = deregister_eta(ctx, self.money.cache_path) or 0
            until = max([eta] + [j.available_at for j in stuck.jobs if j.available_at])
            if until <= now:  # assigned jobs before their deadline, or disputed jobs: look again later
                n = snap.active_jobs if snap is not None else 0
                what = f"{settled.disputed_count} disputed" if settled.disputed_count else f"{n} assigned"
                progress(f"waiting for {what} {'job' if n == 1 else 'jobs'} to reach a final state", None)
                until = now + int(self.poll_s)
            return self._scheduled(until, now, progress)
        else:
            now = self.money.chain.head()[1]
            return self._scheduled(now + int(self.poll_s), now, progress)
        return self._left(res, snap, ctx, progress)

    def _scheduled(self, until: int, now: int, progress) -> dict:
        s = self._set(until, now)
        left = max(0, until - now)
        h, rem = divmod(left, 3600)
        text = when_text(float(s["at_wall"]))
        progress(f"deregistration scheduled for {text} (in {h}h {rem // 60:02d}m): the worker stays stopped; "
                 "the stake is returned then, by itself", 1.0)
        return {"scheduled": True, "at": s["at_wall"], "chain_at": until,
                "next": f"The stake comes back after {text}, when the dispute window of the last jobs ends. The "
                        "agent finishes it by itself; cancel it before then to keep the stake and resume the worker."}

    def _left(self, res, snap, ctx, progress) -> dict:
        from ..chain.ops import settle

        withdrawn = 0
        if res is None and snap.worker_balance_wei > 0:
            # deregistered already (a resumed run after a kill between deregisterWorker and withdraw, or a rerun):
            # the released earnings still go to the wallet; settle with no job left does exactly that
            progress("withdrawing the earnings left in the contract", None)
            withdrawn = settle(ctx or self.money.context(), self.money.cache_path, progress=progress).withdrawn_wei
        self._save(None)
        self.worker.set_local_models([])
        self.on_left()
        out = res.to_dict() if res is not None else {"already_deregistered": True, "withdrawn_wei": str(withdrawn)}
        returned = res.stake_returned_wei + res.withdrawn_wei if res is not None else withdrawn
        out["returned_wei"] = str(returned)
        out["next"] = (f"{format_lcai(returned, 6)} LCAI is back in the worker wallet: withdraw it to your own "
                       "wallet with Withdraw funds")
        self.money.refreshed(None)
        return out

    def _stop_worker(self, progress) -> None:
        rt = self.worker.runtime
        if rt is None or rt.paused:
            return
        progress("stopping the worker (only a stopped worker takes no new jobs)", 0.05)
        try:
            rt.pause("deregistering", on_progress=progress, cancel=cancel_of(progress))
        except AgentError as e:
            if e.code == "drain_cancelled":
                self._cancelled()
            raise

    def _check_cancel(self, progress) -> None:
        cancel = cancel_of(progress)
        if cancel is not None and cancel.is_set():
            self._cancelled()

    def _resume(self) -> None:
        self._save(None)
        if self.worker.runtime is not None:
            self.worker.runtime.resume()
        self.on_cancelled()

    def _cancelled(self) -> None:
        """Cancelled before the deregister transaction: nothing was sent that ends the registration."""
        self._resume()
        raise AgentError("deregistration cancelled: the worker is running again and keeps its stake",
                         fix="Deregister again when you want to leave", code="cancelled")
