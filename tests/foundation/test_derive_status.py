"""derive_status: one row per state, and the state owner keeps a locked keychain an error across ticks."""

from __future__ import annotations

import threading
import time

import pytest

from tray_agent.common.status import Alert, WorkerState
from tray_agent.core.events import EventBus
from tray_agent.core.facts import ChainFacts, Facts, derive_status
from tray_agent.core.state_owner import StateOwner

ADDR = "0x" + "ab" * 20
NOW = 1_800_000_000.0
LCAI = 10**18


def _chain(**kw) -> ChainFacts:
    base = dict(address=ADDR, registered=True, served_models=("llama3-8b",), stake_wei=100 * LCAI,
                min_stake_wei=100 * LCAI, wallet_wei=10 * LCAI)
    return ChainFacts(**{**base, **kw})


ONLINE = {"state": WorkerState.ONLINE, "message": "Online", "container_running": True, "active_jobs": 2,
          "uptime_s": 60.0}

ROWS = [
    # id, facts, expected state, expected first notice kind (or None), message contains
    ("damaged key beats everything", Facts(address="", key_error=("keystore is damaged", "restore it"),
                                           runtime=ONLINE), WorkerState.ERROR, None, "Worker key"),
    ("keychain locked beats setup needed", Facts(address=ADDR, secret_error=("keychain is locked", "unlock it"),
                                                 runtime={"state": WorkerState.SETUP_NEEDED}),
     WorkerState.ERROR, None, "keychain is locked"),
    ("no key is setup needed", Facts(address="", runtime=ONLINE), WorkerState.SETUP_NEEDED, None, "Finish setup"),
    ("online", Facts(address=ADDR, runtime=ONLINE, chain=_chain()), WorkerState.ONLINE, None, "Online"),
    ("docker down", Facts(address=ADDR, runtime={"state": WorkerState.DOCKER_DOWN, "message": "Docker is not running"},
                          chain=_chain()), WorkerState.DOCKER_DOWN, None, "Docker"),
    ("suspended beats a running container", Facts(address=ADDR, runtime=ONLINE,
                                                  chain=_chain(suspended=True, suspended_until=int(NOW) + 3600)),
     WorkerState.ERROR, "suspended", "Suspended until"),
    ("understaked names the top-up", Facts(address=ADDR, runtime=ONLINE, chain=_chain(stake_wei=90 * LCAI)),
     WorkerState.ERROR, "understaked", "top up 10 LCAI"),
    ("paused while registered warns about claimed sessions",
     Facts(address=ADDR, runtime={"state": WorkerState.PAUSED, "message": "Paused by you"}, chain=_chain()),
     WorkerState.PAUSED, "paused_with_sessions", "Paused"),
    ("a scheduled deregistration replaces the paused warning with its date and Cancel",
     Facts(address=ADDR, runtime={"state": WorkerState.PAUSED, "message": "Paused (deregistering)"}, chain=_chain(),
           deregister_at=NOW + 86400), WorkerState.PAUSED, "deregistering", "Paused"),
    ("stuck jobs are a warning, the worker stays online",
     Facts(address=ADDR, runtime=ONLINE, chain=_chain(), stuck_jobs=3), WorkerState.ONLINE, "stuck_jobs", "Online"),
    ("slashed stake is shown", Facts(address=ADDR, runtime=ONLINE, chain=_chain(), slashed_wei=LCAI // 10),
     WorkerState.ONLINE, "slashed", "Online"),
    ("protocol drift", Facts(address=ADDR, runtime=ONLINE, chain=_chain(), drift=({"field": "min_stake"},)),
     WorkerState.ONLINE, "protocol_drift", "Online"),
    ("another app's worker blocks ours", Facts(address=ADDR, runtime={"state": WorkerState.SETUP_NEEDED},
                                               foreign=({"name": "lightchain-worker", "image": "x", "chain_id": "8200"},)),
     WorkerState.ERROR, "foreign_worker", "Another worker is running"),
    ("rpc down", Facts(address=ADDR, runtime=ONLINE, chain=_chain(), rpc_down=True), WorkerState.ONLINE, "rpc_down",
     "Online"),
]


@pytest.mark.parametrize("facts,state,notice,text", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_derive_status_table(facts, state, notice, text):
    st = derive_status(facts.with_(now=NOW))
    assert st.state is state
    assert text in st.message
    if notice is None:
        assert not [n for n in st.notices if n.level == "error"]
    else:
        assert st.notices[0].kind == notice


def test_jobs_running_is_what_the_worker_runs_and_the_chain_count_is_separate():
    st = derive_status(Facts(address=ADDR, runtime=ONLINE, chain=_chain(expected_jobs=24), now=NOW))
    assert (st.active_jobs, st.expected_jobs) == (2, 24)
    paused = derive_status(Facts(address=ADDR, runtime={"state": WorkerState.PAUSED, "active_jobs": 5},
                                 chain=_chain(expected_jobs=24), now=NOW))
    assert paused.active_jobs == 0 and paused.expected_jobs == 24


def test_a_snapshot_of_another_address_is_ignored():
    st = derive_status(Facts(address=ADDR, runtime=ONLINE, chain=_chain(address="0x" + "cd" * 20, suspended=True),
                             now=NOW))
    assert st.state is WorkerState.ONLINE and not st.registered and Alert.SUSPENDED not in st.alerts


def test_idle_reason_in_words_after_ten_minutes_without_a_job():
    """Issue 13 §1: when no job came for a while, the reason in words — no demand for the served models on this
    network, not selected yet (demand went to other workers), suspended, understaked, not reachable."""
    rt = {**ONLINE, "uptime_s": 3600.0}
    idle = Facts(address=ADDR, runtime=rt, chain=_chain(), last_job_at=NOW - 11 * 60, now=NOW, network="devnet")
    assert "not selected yet" in derive_status(idle).idle_reason  # demand not read yet
    none = derive_status(idle.with_(served_demand={"jobs": 0, "others": 2, "window": "24 h"})).idle_reason
    assert none == "no demand for your models on devnet: no job for them in the last 24 h"
    some = derive_status(idle.with_(served_demand={"jobs": 40, "others": 3, "window": "24 h"})).idle_reason
    assert some.startswith("not selected yet: 40 jobs for your models in the last 24 h, shared with 3 other workers")
    assert "suspended" in derive_status(idle.with_(chain=_chain(suspended=True))).idle_reason
    assert "below the minimum" in derive_status(idle.with_(chain=_chain(stake_wei=LCAI))).idle_reason
    down = derive_status(idle.with_(runtime={**rt, "state": WorkerState.STALE}))
    assert "not reachable" in down.idle_reason
    fresh = derive_status(idle.with_(last_job_at=NOW - 60))
    assert fresh.idle_reason == ""


def test_derive_status_is_pure():
    f = Facts(address=ADDR, runtime=ONLINE, chain=_chain(), stuck_jobs=1, now=NOW)
    assert derive_status(f) == derive_status(f)
    assert derive_status(f.with_(stuck_jobs=2)).notices[0].title.startswith("2 stuck jobs")


def test_locked_keychain_stays_an_error_across_supervisor_ticks():
    bus = EventBus()
    owner = StateOwner(bus, Facts(address=ADDR, runtime={"state": WorkerState.STARTING}))
    owner.report(wait=True, secret_error=("the keychain is locked", "unlock the keychain"))
    for _ in range(5):  # the supervisor keeps reporting "setup needed" (it cannot build the container spec)
        owner.apply(lambda f: f.with_(runtime={"state": WorkerState.SETUP_NEEDED, "message": "Finish setup"}),
                    wait=True)
        assert owner.status().state is WorkerState.ERROR
        assert "keychain is locked" in owner.status().message
    owner.report(wait=True, secret_error=None)
    assert owner.status().state is WorkerState.SETUP_NEEDED
    owner.close()


def test_reports_from_many_threads_are_applied_in_one_place():
    bus = EventBus()
    _sid, q = bus.subscribe({"status"})
    owner = StateOwner(bus, Facts(address=ADDR, runtime=ONLINE, chain=_chain()))

    def bump(i: int) -> None:
        owner.apply(lambda f: f.with_(stuck_jobs=f.stuck_jobs + 1))

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    owner.report(wait=True)
    assert owner.facts.stuck_jobs == 50  # no lost update: every change ran on the owner thread
    deadline = time.time() + 5
    while q.empty() and time.time() < deadline:
        time.sleep(0.05)
    assert not q.empty()
    owner.close()


def test_scheduled_deregistration_notice_names_the_time_and_the_cancel():
    st = derive_status(Facts(address=ADDR, runtime={"state": WorkerState.PAUSED}, chain=_chain(),
                             deregister_at=NOW + 86400, now=NOW))
    n = st.notices[0]
    assert (n.kind, n.action, n.until) == ("deregistering", "cancel_deregister", NOW + 86400)
    assert "2027-01-16" in n.title and st.deregister_at == NOW + 86400  # the date, not only a countdown
    assert Alert.DEREGISTERING in st.alerts and Alert.PAUSED_WITH_SESSIONS not in st.alerts
    assert "paused_with_sessions" not in [x.kind for x in st.notices]


def test_claimed_sessions_come_from_the_chain_and_name_the_paused_warning():
    """Issue 13 §2: the chain refresh's claimed-session count reaches the Status (Stop's confirmation and the
    paused warning name it); an unregistered worker has none."""
    paused = {"state": WorkerState.PAUSED, "message": "Paused by you"}
    st = derive_status(Facts(address=ADDR, runtime=paused, chain=_chain(), claimed_sessions=3, now=NOW))
    assert st.claimed_sessions == 3
    assert st.notices[0].kind == "paused_with_sessions" and "3 claimed sessions keep sending jobs" in st.notices[0].detail
    gone = derive_status(Facts(address=ADDR, runtime=paused, chain=_chain(registered=False), claimed_sessions=3,
                               now=NOW))
    assert gone.claimed_sessions == 0 and "paused_with_sessions" not in [n.kind for n in gone.notices]


def test_idle_demand_counts_the_served_models_only():
    """The refresh loop's numbers for the idle hint, from a Demand as the chain scan returns it (the scan itself:
    tests/chain/test_chain_demand.py)."""
    from tray_agent.core.chain.demand import Demand, ModelDemand
    from tray_agent.core.refresh_loop import demand_for

    d = Demand(chain_id=31337, head_block=10, head_ts=0, window_s=86400, covered_s=86400, start_block=0,
               worker_fee_bps=8000, completion_timeout_s=120, models=(
                   ModelDemand("llama3-8b", "0x1", jobs=12, fee_wei=1, workers=4, serving=True),
                   ModelDemand("qwen3:8b", "0x2", jobs=30, fee_wei=1, workers=2, serving=False)))
    assert demand_for(d, ("llama3-8b",)) == {"jobs": 12, "others": 3, "window": "24 h"}
    assert demand_for(d, ("gpt-oss:20b",)) == {"jobs": 0, "others": 0, "window": "24 h"}
