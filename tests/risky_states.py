"""Issue 13 §1: the five risky states as the agent's derive_status makes them from facts (shared by the alert,
tray and dashboard tests, so each shows the agent's own words, dates and amounts)."""

from __future__ import annotations

import dataclasses
import time

from tray_agent.common.status import Status, WorkerState
from tray_agent.core.facts import ChainFacts, Facts, derive_status

LCAI = 10**18
ADDR = "0x" + "ab" * 20


def risky_states(now: float | None = None) -> tuple[Status, dict[str, tuple[Status, str]]]:
    """(the plain online Status, {notice kind: (Status, words its notice must carry)})."""
    now = time.time() if now is None else now
    online = {"state": WorkerState.ONLINE, "container_running": True, "uptime_s": 60.0, "gateway_connected": True}
    chain = ChainFacts(address=ADDR, registered=True, served_models=("llama3-8b",), stake_wei=5000 * LCAI,
                       min_stake_wei=5000 * LCAI, wallet_wei=150 * LCAI)
    base = Facts(address=ADDR, network="devnet", runtime=online, chain=chain, now=now, last_job_at=now - 30)
    until = int(now) + 3 * 3600
    rows = {
        "suspended": (base.with_(chain=dataclasses.replace(chain, suspended=True, suspended_until=until)),
                      time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until))),
        "slashed": (base.with_(slashed_wei=100 * LCAI,  # still above the minimum: a slash alone
                               chain=dataclasses.replace(chain, stake_wei=4900 * LCAI, min_stake_wei=4000 * LCAI)),
                    "100 LCAI"),
        "understaked": (base.with_(chain=dataclasses.replace(chain, stake_wei=4900 * LCAI)), "100 LCAI"),
        "paused_with_sessions": (base.with_(runtime={"state": WorkerState.PAUSED, "message": "Paused by you"},
                                            claimed_sessions=3), "3 claimed sessions"),
        "stuck_jobs": (base.with_(stuck_jobs=2), "2 stuck jobs"),
    }
    return derive_status(base), {k: (derive_status(f), words) for k, (f, words) in rows.items()}
