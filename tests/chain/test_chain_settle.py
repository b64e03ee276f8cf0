"""settle: all releasable jobs found from logs, batched release with fallback, withdraw, counted once."""

from __future__ import annotations

import json

from tray_agent.core.chain.ops import earnings, settle

ETHER = 10**18


def share(chain, n=1, model=None) -> int:
    return chain.fee(model) * 8000 // 10000 * n


def test_settle_200_jobs_in_one_run(chain, tmp_path, output_dir):
    w = chain.new_worker()
    chain.register(w)
    ids = []
    for _ in range(4):
        ids += chain.completed_jobs(w, 50)
    assert len(ids) == 200 and chain.view(chain.reg, "getActiveJobCount", w.address) == 200
    chain.advance(61)
    before = chain.client.balance(w.address)
    res = settle(chain.ctx(w), tmp_path / "jobs.json", batch_size=50)
    print(f"\nsettle of 200 completed jobs: {res.elapsed_s:.2f} s ({len(res.tx_hashes)} transactions)")
    (output_dir / "settle_200_jobs.json").write_text(json.dumps(res.to_dict(), indent=1))
    assert res.released_count == 200 and res.released_wei == share(chain, 200)
    assert res.withdrawn_wei == share(chain, 200) and len(res.tx_hashes) == 5  # 4 batches + withdraw
    assert chain.view(chain.reg, "getActiveJobCount", w.address) == 0
    assert all(chain.job(j)["state"] == 6 for j in (ids[0], ids[99], ids[-1]))
    assert chain.client.balance(w.address) > before  # earnings minus gas
    again = settle(chain.ctx(w), tmp_path / "jobs.json")
    assert again.released_count == 0 and again.withdrawn_wei == 0 and again.tx_hashes == []
    assert again.already_released_count == 0  # final jobs are not re-counted from the cache


def test_settle_waiting_eta_and_mixed(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w)
    old = chain.completed_job(w)
    chain.advance(61)
    new = chain.completed_job(w)
    res = settle(chain.ctx(w), tmp_path / "c.json")
    assert res.released_count == 1 and res.released_wei == share(chain)
    assert res.waiting == [{"job_id": new, "eta": chain.job(new)["completedAt"] + 60}] and res.next_eta == res.waiting[0]["eta"]
    assert chain.job(old)["state"] == 6
    chain.advance(61)
    res2 = settle(chain.ctx(w), tmp_path / "c.json")
    assert res2.released_count == 1 and res2.waiting == []


def test_settle_never_counts_container_releases(chain, tmp_path):
    """The container (or anyone) released some jobs: they are reported separately, never as ours."""
    w, keeper = chain.new_worker(), chain.new_worker()
    chain.register(w)
    ids = chain.completed_jobs(w, 6)
    chain.advance(61)
    chain.as_worker(keeper, chain.jr, "releaseJobs", ids[:2])
    res = settle(chain.ctx(w), tmp_path / "c.json")
    assert res.released_count == 4 and res.already_released_count == 2
    assert res.withdrawn_wei == share(chain, 6)  # the whole internal balance is withdrawn once


def test_settle_batch_fallback_to_single(chain, tmp_path, monkeypatch):
    """If a batch reverts (a job became un-releasable between probe and send), singles release the rest."""
    w = chain.new_worker()
    chain.register(w)
    ready = chain.completed_jobs(w, 3)
    chain.advance(61)
    late = chain.completed_job(w)
    ctx = chain.ctx(w)
    monkeypatch.setattr(ctx.client, "probe", lambda c, fn, args, sender: [None] * len(args))
    monkeypatch.setattr(ctx.client, "head", lambda: (chain.client.head()[0], chain.now() + 10_000))
    res = settle(ctx, tmp_path / "c.json")
    assert res.released_count == 3 and sorted(int(h, 16) > 0 for h in res.tx_hashes) == [True] * 4
    assert [x["job_id"] for x in res.waiting] == [late] and res.waiting[0]["eta"] == chain.job(late)["completedAt"] + 60
    assert all(chain.job(j)["state"] == 6 for j in ready)


def test_settle_nothing_and_withdraw_only(chain, tmp_path):
    w, keeper = chain.new_worker(), chain.new_worker()
    chain.register(w)
    empty = settle(chain.ctx(w), tmp_path / "c.json")
    assert empty.released_count == 0 and empty.tx_hashes == [] and empty.withdrawn_wei == 0
    jid = chain.completed_job(w)
    chain.advance(61)
    chain.as_worker(keeper, chain.jr, "releaseJob", jid)
    res = settle(chain.ctx(w), tmp_path / "c.json", withdraw=True)
    assert res.released_count == 0 and res.withdrawn_wei == share(chain) and len(res.tx_hashes) == 1


def test_settle_cache_is_bound_to_worker(chain, tmp_path):
    a, b = chain.new_worker(), chain.new_worker()
    chain.register(a)
    chain.register(b)
    chain.completed_job(a)
    chain.advance(61)
    cache = tmp_path / "shared.json"
    settle(chain.ctx(a), cache)
    jb = chain.completed_job(b)
    chain.advance(61)
    res = settle(chain.ctx(b), cache)  # a's cache must not hide or pollute b's jobs
    assert res.released_count == 1 and json.loads(cache.read_text())["worker"] == b.address
    assert chain.job(jb)["state"] == 6


def test_settle_disputed_and_resolved(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w)
    disputed, won = chain.completed_jobs(w, 2)
    chain.as_owner(chain.jr, "testSetJobState", disputed, 4)
    chain.as_owner(chain.jr, "testResolveDispute", won, False)
    res = settle(chain.ctx(w), tmp_path / "c.json")
    assert res.disputed_count == 1 and res.released_count == 1  # resolved-not-guilty releases at once


def test_earnings_history(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w)
    chain.completed_jobs(w, 2)
    chain.advance(61)
    chain.completed_job(w)
    e = earnings(chain.client, w.address, cache_path=tmp_path / "c.json")
    assert e.releasable_wei == share(chain, 2) and e.escrowed_wei == share(chain) and e.released_wei == 0
    settle(chain.ctx(w), tmp_path / "c.json")
    e2 = earnings(chain.client, w.address, cache_path=tmp_path / "c.json")
    assert e2.withdrawn_wei == share(chain, 2) == e2.released_wei and e2.worker_balance_wei == 0
    assert e2.escrowed_wei == share(chain) and len(e2.jobs) == 3
    released = [j for j in e2.jobs if j["state"] == "Released"]
    assert len(released) == 2 and all(j["share_wei"] == str(share(chain)) for j in released)
    assert e2.to_dict()["withdrawn_wei"] == str(share(chain, 2))


def test_claimed_sessions_are_the_open_sessions_of_this_worker(chain, tmp_path):
    """Issue 13 §2: Stop names how many claimed sessions keep sending jobs — open sessions of this worker with
    activity inside the session inactivity timeout, read in the earnings refresh's one batch."""
    w = chain.new_worker()
    chain.register(w)
    chain.completed_jobs(w, 2)  # one session, two jobs
    open_one, closed = chain.completed_jobs(w, 1)[0], chain.completed_jobs(w, 1)[0]  # a session each
    chain.as_owner(chain.jr, "testSetSessionStatus", chain.job(closed)["sessionId"], 2)  # Closed
    other = chain.new_worker()
    chain.register(other)
    chain.completed_jobs(other, 1)  # another worker's session is not ours
    e = earnings(chain.client, w.address, cache_path=tmp_path / "c.json")
    assert e.claimed_sessions == 2, e
    assert chain.job(open_one)["sessionId"] != chain.job(closed)["sessionId"]
    chain.advance(int(chain.view(chain.ai, "getSessionInactivityTimeout")) + 1)
    chain.mine()
    assert earnings(chain.client, w.address, cache_path=tmp_path / "c.json").claimed_sessions == 0  # gone quiet


def test_settle_scans_in_small_chunks(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w)
    ids = [chain.completed_job(w) for _ in range(5)]  # spread over ~15 blocks
    chain.advance(61)
    res = settle(chain.ctx(w), tmp_path / "c.json", chunk=2)
    assert res.released_count == 5 and all(chain.job(j)["state"] == 6 for j in ids)


def test_get_logs_halves_refused_ranges(chain, monkeypatch):
    from tray_agent.core.chain.errors import RpcError

    w = chain.new_worker()
    chain.register(w)
    chain.completed_jobs(w, 3)
    real = chain.client.rpc.call
    spans = []

    def limited(method, params=()):
        if method == "eth_getLogs":
            span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
            spans.append(span)
            if span > 4:
                raise RpcError("eth_getLogs failed: block range too large", rpc_code=-32005)
        return real(method, params)

    monkeypatch.setattr(chain.client.rpc, "call", limited)
    head = chain.client.head()[0]
    jr = chain.client.job_registry
    logs = chain.client.get_logs(jr.address, [jr.topic("JobCompleted")], 0, head, chunk=64)
    assert len(logs) >= 3 and max(s for s in spans if s <= 4) <= 4 and spans[0] > 4


def test_job_history_has_time_used_against_the_deadline_and_timed_out_jobs_with_their_slash(chain, tmp_path):
    """Dashboard §6: each completed job carries how long it took against the time allowed; a timed-out job is listed
    with the stake its JobTimedOut event slashed (integer wei), also when found later from the cache."""
    w, keeper = chain.new_worker(), chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    chain.ack(w, jid)
    chain.advance(30)
    chain.complete(w, jid)
    late = chain.create_job(w)
    chain.ack(w, late)
    chain.advance(int(chain.job(late)["deadline"]) - chain.now() + 1)
    res = chain.as_worker(keeper, chain.jr, "claimTimeout", late)
    slash = sum(int(e.args["slashAmount"]) for e in res.events(chain.jr, "JobTimedOut"))
    assert slash > 0
    jobs = {j["job_id"]: j for j in earnings(chain.client, w.address, cache_path=tmp_path / "c.json").jobs}
    done = jobs[jid]
    job = chain.job(jid)
    assert done["allowed_s"] == job["deadline"] - job["ackTimestamp"] > 0
    assert done["used_s"] == job["completedAt"] - job["ackTimestamp"] >= 30
    t = jobs[late]
    assert t["timed_out"] is True and t["state"] == "TimedOut" and int(t["slash_wei"]) == slash
    assert t["acknowledged"] is True and t["deadline"] == chain.job(late)["deadline"] and t["share_wei"] == "0"
    again = {j["job_id"]: j for j in earnings(chain.client, w.address, cache_path=tmp_path / "c.json").jobs}
    assert int(again[late]["slash_wei"]) == slash and list(again).count(late) == 1  # from the cache, listed once


def test_settle_with_nothing_to_release_never_pauses_the_worker(chain, tmp_path):
    """Issue 13 §7: `settle` with 0 jobs paused the worker for nothing; it pauses only when it sends something."""
    from tray_agent.core.chain.writer import WriterGate

    calls: list[str] = []
    gate = WriterGate(pause_worker=lambda: calls.append("pause"), resume_worker=lambda: calls.append("resume"))
    w = chain.new_worker()
    chain.register(w)
    waiting = chain.completed_job(w)  # inside its dispute window: not releasable yet
    res = settle(chain.ctx(w, gate=gate), tmp_path / "c.json")
    assert res.released_count == 0 and res.tx_hashes == [] and [x["job_id"] for x in res.waiting] == [waiting]
    assert calls == []  # nothing sent: the worker kept running
    chain.advance(61)
    res = settle(chain.ctx(w, gate=gate), tmp_path / "c.json")
    assert res.released_count == 1 and calls == ["pause", "resume"]  # a real settle pauses once around its sends
