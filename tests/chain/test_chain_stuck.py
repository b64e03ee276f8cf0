"""Stuck jobs (contracts §7) on the replica: the no-fault path is probed and its time shown before anything is sent,
a job that only waits for its window is never slashed, claimTimeout is used only where no no-fault path exists and
never for more than the confirmed wei, and a no-fault refund appears in the job history as a refund."""

from __future__ import annotations

from contextlib import contextmanager

from tray_agent.common.amounts import format_lcai
from tray_agent.core.chain.ops import clear_stuck_jobs, earnings, find_stuck_jobs

ETHER = 10**18
ACK_SLASH = 5000 * ETHER * 200 // 10000  # min stake × getTimeoutSlashBps (replica defaults)


@contextmanager
def without_settle_stuck(chain):
    """A chain whose JobRegistry refuses settleStuckJob (no no-fault path); restored for the session's other tests."""
    chain.as_owner(chain.jr, "testSetSettleStuckEnabled", False)
    try:
        yield
    finally:
        chain.as_owner(chain.jr, "testSetSettleStuckEnabled", True)


def test_clear_stuck_no_fault_first(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w)
    submitted = chain.create_job(w)
    acked = chain.create_job(w)
    chain.ack(w, acked)
    chain.completed_job(w)  # not stuck
    assert find_stuck_jobs(chain.client, w.address) == []
    chain.advance(200)
    stuck = find_stuck_jobs(chain.client, w.address, tmp_path / "c.json")
    assert [s.job_id for s in stuck] == [submitted, acked]
    assert [s.slash_wei for s in stuck] == [ACK_SLASH, 5000 * ETHER * 500 // 10000]
    # the no-fault time is known before anything is sent (eth_call of settleStuckJob)
    assert [s.no_fault for s in stuck] == ["waiting", "waiting"]
    assert [s.available_at for s in stuck] == [chain.job(j)["deadline"] + 7200 for j in (submitted, acked)]
    res = clear_stuck_jobs(chain.ctx(w), cache_path=tmp_path / "c.json")
    assert [j.action for j in res.jobs] == ["waiting", "waiting"]
    assert res.jobs[0].available_at == chain.job(submitted)["deadline"] + 7200
    assert chain.view(chain.reg, "getOffenseCount", w.address) == 0
    chain.advance(7200)
    assert [s.no_fault for s in find_stuck_jobs(chain.client, w.address, tmp_path / "c.json")] == ["open", "open"]
    res2 = clear_stuck_jobs(chain.ctx(w), cache_path=tmp_path / "c.json")
    assert [j.action for j in res2.jobs] == ["settled_no_fault"] * 2
    assert chain.view(chain.reg, "getWorkerStake", w.address) == 5000 * ETHER
    assert chain.view(chain.reg, "getActiveJobCount", w.address) == 1  # the completed job remains
    assert res2.to_dict()["settled_no_fault"] == 2
    # the job history shows both as refunds (no fault), not as timeouts
    hist = {j["job_id"]: j for j in earnings(chain.client, w.address, cache_path=tmp_path / "c.json").jobs}
    assert hist[submitted]["state"] == hist[acked]["state"] == "Refunded (no fault)"
    assert hist[submitted]["outcome"] == "refunded" and hist[submitted]["share_wei"] == "0"


def test_a_job_waiting_for_its_no_fault_window_is_never_slashed(chain):
    w = chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    chain.advance(200)
    res = clear_stuck_jobs(chain.ctx(w), allow_slash=True, max_slash_wei=10**30)
    assert res.jobs[0].action == "waiting" and res.jobs[0].no_fault == "waiting"
    assert chain.job(jid)["state"] == 0 and chain.view(chain.reg, "getWorkerStake", w.address) == 5000 * ETHER
    assert chain.view(chain.reg, "getOffenseCount", w.address) == 0


def test_claim_timeout_only_without_a_no_fault_path_and_within_the_confirmed_wei(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    chain.advance(200)
    with without_settle_stuck(chain):
        (s,) = find_stuck_jobs(chain.client, w.address)
        assert s.no_fault == "unavailable" and s.available_at is None and s.slash_wei == ACK_SLASH
        res = clear_stuck_jobs(chain.ctx(w))  # no slash allowed: nothing happens, the job is "failed"
        assert res.jobs[0].action == "failed" and chain.job(jid)["state"] == 0
        res = clear_stuck_jobs(chain.ctx(w), allow_slash=True, max_slash_wei=ACK_SLASH - 1)  # one wei short
        assert res.jobs[0].action == "failed" and "not sent" in res.jobs[0].message and chain.job(jid)["state"] == 0
        # money in the one LCAI format, exact (the two differ by one wei), never raw wei (issue 13 §6)
        assert (f"would slash {format_lcai(ACK_SLASH, None)} LCAI, more than the {format_lcai(ACK_SLASH - 1, None)} LCAI "
                "confirmed") in res.jobs[0].message and "wei" not in res.jobs[0].message, res.jobs[0].message
        res = clear_stuck_jobs(chain.ctx(w), allow_slash=True, max_slash_wei=ACK_SLASH, cache_path=tmp_path / "c.json")
    assert res.jobs[0].action == "timed_out" and res.jobs[0].slash_wei == ACK_SLASH
    assert chain.view(chain.reg, "getWorkerStake", w.address) == 5000 * ETHER - ACK_SLASH
    assert chain.job(jid)["state"] == 3 and res.to_dict()["slash_wei_total"] == str(ACK_SLASH)
    (h,) = [j for j in earnings(chain.client, w.address, cache_path=tmp_path / "c.json").jobs if j["job_id"] == jid]
    assert h["state"] == "TimedOut" and h["outcome"] == "timed_out"
