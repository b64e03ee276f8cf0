"""The agent's refresh loop: chain state every few seconds, earnings, stuck jobs, samples, the self-check, a due
scheduled deregistration and the automatic settle policy. It only reads and reports, or submits operations to the
serial runner; it owns no state of its own beyond when each part last ran."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tray_agent.common.errors import AgentError, BusyError

if TYPE_CHECKING:
    from .chain.demand import Demand
    from .runner import OperationRunner
    from .services.autosettle import AutoSettle
    from .services.session import NetworkSession
    from .state_owner import StateOwner

log = logging.getLogger(__name__)
EARNINGS_EVERY_S = 15.0
SAMPLE_EVERY_S = 60.0
STUCK_EVERY_S = 60.0
SELF_CHECK_EVERY_S = 3600.0
IDLE_DEMAND_EVERY_S = 600.0  # while no job comes: how much demand the served models have (the idle hint's words)


class RefreshLoop:
    """Runs on its own thread until ``stop`` is set; each round reads the current session afresh (a network
    switch replaces it)."""

    def __init__(self, *, session: Callable[[], NetworkSession], owner: StateOwner, runner: OperationRunner,
                 autosettle: AutoSettle, check_updates: Callable[[], None], busy: Callable[[], bool],
                 preflight: Callable[[str], None], interval: Callable[[], float], stop: threading.Event):
        self.session, self.owner, self.runner, self.autosettle = session, owner, runner, autosettle
        self.check_updates, self.busy, self.preflight, self.interval = check_updates, busy, preflight, interval
        self.stop = stop
        self.last = {"earnings": 0.0, "sample": 0.0, "stuck": 0.0, "demand": 0.0, "selfcheck": time.time()}

    def start(self) -> None:
        threading.Thread(target=self.run, name="refresh", daemon=True).start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.check_updates()
                self.round(self.session())
            except AgentError as e:
                log.warning("status refresh failed: %s", e)
            except Exception:
                log.exception("status refresh crashed")
            self.stop.wait(self.interval())

    def _due(self, name: str, every: float) -> bool:
        if time.time() - self.last[name] > every:
            self.last[name] = time.time()
            return True
        return False

    def round(self, s: NetworkSession) -> None:
        if s.sync is None:
            return
        was_down = self.owner.facts.rpc_down
        s.sync.refresh()
        self.exit_tick(s)
        s.worker.reconcile_with_chain(self.owner.facts.chain, busy=self.busy())
        if was_down or self._due("selfcheck", SELF_CHECK_EVERY_S):  # hourly and after an RPC reconnect
            self.last["selfcheck"] = time.time()
            threading.Thread(target=s.sync.self_check, name="selfcheck", daemon=True).start()
        chain = self.owner.facts.chain
        registered = bool(chain and chain.registered)
        if self._due("earnings", EARNINGS_EVERY_S) or (registered and s.sync.earnings is None):
            s.sync.refresh_earnings()  # at once after registration, then every 15 s
        if self._due("stuck", STUCK_EVERY_S) and registered:
            s.sync.stuck_jobs()
        if registered and self.owner.status().idle_reason and self._due("demand", IDLE_DEMAND_EVERY_S):
            threading.Thread(target=self.served_demand, args=(s,), name="idle-demand", daemon=True).start()
        if self._due("sample", SAMPLE_EVERY_S):
            s.sync.record_samples()
            from tray_agent.common.memory import trim

            trim()
        self.autosettle.tick()  # the automatic settle policy (off by default)

    def served_demand(self, s: NetworkSession) -> None:
        """Jobs for the served models in the demand window and the other workers serving them (cached log scan)."""
        chain = self.owner.facts.chain
        if s.demand is None or chain is None:
            return
        try:
            d = s.demand.demand()
        except AgentError as e:
            log.info("idle demand check skipped: %s", e)
            return
        self.owner.report(served_demand=demand_for(d, chain.served_models))

    def exit_tick(self, s: NetworkSession) -> None:
        """A scheduled deregistration whose time has come runs its final step as a normal operation."""
        ex = s.exit
        if ex is not None and not self.runner.busy and ex.due():
            with contextlib.suppress(BusyError):  # a user operation started just now: next round
                self.runner.submit("deregister", lambda p: ex.finish(p, check=lambda: self._preflight(p)),
                                   {"scheduled": True})

    def _preflight(self, progress) -> None:
        progress("preflight: checking the chain, the key and the keystore before changing the stake", None)
        self.preflight("deregister")


def demand_for(d: Demand, served: tuple[str, ...] | list[str]) -> dict:
    """The idle hint's numbers: jobs for the served models in the window, and the most other workers serving one."""
    from .demand import window_label

    mine = [m for m in d.models if m.name in set(served)]
    return {"jobs": sum(m.jobs for m in mine), "window": window_label(d.window_s),
            "others": max((m.workers - int(m.serving) for m in mine), default=0)}

