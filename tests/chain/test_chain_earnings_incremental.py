"""Issue #14: the agent's earnings refresh (every 15 s) must not cost more as the worker's job count grows.

On the replica devnet with jobs in every state (escrowed, releasable, released, resolved either way, disputed,
timed out, refunded without fault, still stuck): an incremental ``earnings()`` on a warm JobIndex cache gives
exactly what a cold one gives, reads (getJob) only the jobs that were not final in the cache, and scans logs only
in blocks after the last scan. Requests are counted with the RpcClient's per-request hook."""

from __future__ import annotations

import json

from tray_agent.core.chain import ChainClient
from tray_agent.core.chain.ops import earnings, find_stuck_jobs


class Counted:
    """A ChainClient whose every HTTP request is recorded (method, params) per JSON-RPC call."""

    def __init__(self, chain):
        self.calls: list[tuple[str, list]] = []
        self.requests = 0
        self.client = ChainClient(chain.network, on_request=self._record)
        self.get_job = chain.jr.selector("getJob")

    def _record(self, payload) -> None:
        self.requests += 1
        for item in payload if isinstance(payload, list) else [payload]:
            self.calls.append((item["method"], item["params"]))

    def reset(self) -> None:
        self.calls.clear()
        self.requests = 0

    def job_reads(self) -> list[int]:
        return [int(p[0]["data"][10:], 16) for m, p in self.calls if m == "eth_call" and p[0]["data"][:10] == self.get_job]

    def log_ranges(self) -> list[tuple[str, int, int]]:
        """(topic0 or "|"-joined alternatives, fromBlock, toBlock) of every eth_getLogs."""
        out = []
        for m, p in self.calls:
            if m == "eth_getLogs":
                t0 = p[0]["topics"][0]
                out.append(("|".join(t0) if isinstance(t0, list) else t0, int(p[0]["fromBlock"], 16),
                            int(p[0]["toBlock"], 16)))
        return out


def _cold(chain, w, path):
    """What a fresh agent computes (new cache: full scans, every job read), after its stuck-job scan."""
    find_stuck_jobs(chain.client, w.address, path)
    return earnings(chain.client, w.address, cache_path=path)


def _no_snap(path) -> set[int]:
    return {int(k) for k, v in json.loads(path.read_text())["jobs"].items() if "snap" not in v}


def test_incremental_earnings_equal_cold_and_read_only_open_jobs(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w)
    anyone = chain.consumer
    jr = chain.jr

    def send(fn, *args):
        return anyone.send(jr.address, jr.encode(fn, *args))

    timed_out, refunded, stuck = (chain.create_job(w) for _ in range(3))
    chain.ack(w, stuck)
    rel = chain.completed_jobs(w, 4)
    guilty, innocent, disputed = chain.completed_jobs(w, 3)
    chain.advance(7400)  # ack/completion deadlines and the no-fault grace passed, dispute windows elapsed
    send("claimTimeout", timed_out)
    send("settleStuckJob", refunded)
    send("releaseJobs", rel[:2])
    chain.as_worker(w, jr, "withdraw")
    send("releaseJob", rel[2])
    chain.as_owner(jr, "testSetJobState", disputed, 4)
    chain.as_owner(jr, "testResolveDispute", guilty, True)
    chain.as_owner(jr, "testResolveDispute", innocent, False)
    windowed = chain.completed_jobs(w, 2)

    warm = tmp_path / "warm.json"
    e1 = _cold(chain, w, warm)
    states = {j["job_id"]: j["state"] for j in e1.jobs}
    assert states == {timed_out: "TimedOut", refunded: "Refunded (no fault)", **dict.fromkeys(rel[:3], "Released"),
                      rel[3]: "Completed", guilty: "Resolved", innocent: "Resolved", disputed: "Disputed",
                      **dict.fromkeys(windowed, "Completed")}
    share = chain.fee() * int(chain.view(chain.ai, "getWorkerFeeBps")) // 10000
    assert (e1.withdrawn_wei, e1.worker_balance_wei, e1.released_wei) == (2 * share, share, 3 * share)
    assert (e1.releasable_wei, e1.escrowed_wei) == (2 * share, 2 * share)  # rel[3] + innocent / windowed
    head1 = chain.client.head()[0]  # the last block the warm cache has seen

    # more jobs and transitions; the warm cache catches up incrementally
    send("claimTimeout", stuck)
    send("releaseJobs", [rel[3], innocent])
    chain.as_worker(w, jr, "withdraw")
    chain.advance(61)
    later = chain.completed_jobs(w, 2)
    c = Counted(chain)
    e2 = earnings(c.client, w.address, cache_path=warm)
    assert e2 == _cold(chain, w, tmp_path / "cold.json")
    # read: the jobs not final before (some are now) and the new ones; never the 6 final ones
    assert sorted(c.job_reads()) == sorted([stuck, rel[3], innocent, disputed, *windowed, *later])
    assert _no_snap(warm) == {disputed, *windowed, *later}  # what the next refresh reads
    assert e2.withdrawn_wei == 5 * share and e2.worker_balance_wei == 0 and e2.releasable_wei == 2 * share
    ranges = {t: (frm, to) for t, frm, to in c.log_ranges()}
    head = c.client.head()[0]
    assert ranges.pop(jr.topic("JobCompleted")) == ranges.pop(jr.topic("WorkerWithdrawal")) == (head1 + 1, head)
    # the jobs released since: from the earlier of their completion blocks (found once, then kept)
    assert ranges.pop(jr.topic("JobReleased")) == (chain.job(rel[3])["completionBlockNumber"], head)
    # this worker's timeouts (with their slash) read incrementally; the newly timed-out job's outcome comes with it,
    # so no separate cleared-outcome scan is needed
    assert ranges.pop(jr.topic("JobTimedOut")) == (head1 + 1, head)
    assert set(ranges) <= {f"{jr.topic('JobSettledNoFault')}|{jr.topic('JobTimedOut')}"}, ranges

    # one more block, nothing else: only the still-open jobs are read, and logs of that block only
    head2 = chain.client.head()[0]
    chain.mine()
    c.reset()
    e3 = earnings(c.client, w.address, cache_path=warm)
    assert e3 == e2
    assert sorted(c.job_reads()) == sorted([disputed, *windowed, *later])
    assert sorted(c.log_ranges()) == sorted([(jr.topic("JobCompleted"), head2 + 1, head2 + 1),
                                             (jr.topic("WorkerWithdrawal"), head2 + 1, head2 + 1),
                                             (jr.topic("JobTimedOut"), head2 + 1, head2 + 1)])
    # head, 3 log scans (no release to look up), one getJob batch, one read_many
    assert c.requests == 6, c.calls
