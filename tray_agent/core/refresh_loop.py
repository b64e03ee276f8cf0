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
    from .runner import OperationRunner
    from .services.autosettle import AutoSettle
    from .services.session import NetworkSession
    from .state_owner import StateOwner

log = logging.getLogger(__name__)
EARNINGS_EVERY_S = 15.0
SAMPLE_EVERY_S = 60.0
STUCK_EVERY_S = 60.0
SELF_CHECK_EVERY_S = 3600.0


class RefreshLoop:
    """Runs on its own thread until ``stop`` is set; each round reads the current session afresh (a network
    switch replaces it)."""

    def __init__(self, *, session: Callable[[], NetworkSession], owner: StateOwner, runner: OperationRunner,
                 autosettle: AutoSettle, check_updates: Callable[[], None], busy: Callable[[], bool],
                 preflight: Callable[[str], None], interval: Callable[[], float], stop: threading.Event):
        self.session, self.owner, self.runner, self.autosettle = session, owner, runner, autosettle
        self.check_updates, self.busy, self.preflight, self.interval = check_updates, busy, preflight, interval
        self.stop = stop
        self.last = {"earnings": 0.0, "sample": 0.0, "stuck": 0.0, "selfcheck": time.time()}

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
        if self._due("sample", SAMPLE_EVERY_S):
            s.sync.record_samples()
            from tray_agent.common.memory import trim

            trim()
        self.autosettle.tick()  # the automatic settle policy (off by default)

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
