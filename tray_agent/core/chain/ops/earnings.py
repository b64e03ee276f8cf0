"""Earnings and job history from events (read-only): escrowed, releasable, released, withdrawn."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..client import ChainClient
from ..jobs import COMPLETED, RELEASED, RESOLVED, STATE_NAMES, TIMED_OUT, JobIndex, topic_address


@dataclass(frozen=True)
class EarningsResult:
    escrowed_wei: int        # worker share of Completed jobs still inside the dispute window
    releasable_wei: int      # worker share of jobs releasable now
    released_wei: int        # total credited by releases (= withdrawn + worker balance)
    withdrawn_wei: int       # total paid out by withdraw()
    worker_balance_wei: int  # released, not yet withdrawn
    jobs: list[dict] = field(default_factory=list)
    claimed_sessions: int = 0  # open sessions assigned to this worker with activity inside the inactivity timeout

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in list(d):
            if k.endswith("_wei"):
                d[k] = str(d[k])
        return d


def _released_shares(client: ChainClient, index: JobIndex, jobs: dict[int, dict], released: list[int], start: int,
                     head: int) -> dict[int, int]:
    """workerShare of each released job, from its JobReleased log (jobId is indexed: OR-filter in groups of 100).
    A share is kept in the index once read; the jobs still without one are looked up from the earliest of their
    completion blocks (a job is released after it completes), so only recent releases cost a scan."""
    jr = client.job_registry
    out: dict[int, int] = {}
    todo = []
    for jid in released:
        share = index.data["jobs"].get(str(jid), {}).get("share")
        if share is not None:
            out[jid] = int(share)
        else:
            todo.append(jid)
    frm = max(start, min((int(jobs[j].get("completionBlockNumber") or 0) for j in todo), default=start))
    for i in range(0, len(todo), 100):
        group = ["0x" + j.to_bytes(32, "big").hex() for j in todo[i:i + 100]]
        for lg in client.get_logs(jr.address or "", [jr.topic("JobReleased"), group], frm, head):
            d = jr.decode_log(lg)
            if d:
                jid = int(d.args["jobId"])
                out[jid] = index.data["jobs"][str(jid)]["share"] = int(d.args["workerShare"])
    return out


def _withdrawn(client: ChainClient, index: JobIndex, address: str, start: int, head: int) -> int:
    """Total of this worker's WorkerWithdrawal logs since ``start``: the kept sum plus the blocks after the last scan."""
    jr = client.job_registry
    frm = index.scan_from("withdrawn", start)
    total = int(index.data["scans"].get("withdrawn_wei", 0))
    if frm <= head:
        logs = client.get_logs(jr.address or "", [jr.topic("WorkerWithdrawal"), topic_address(address)], frm, head)
        total += sum(int(jr.decode_log(lg).args["amount"]) for lg in logs)  # type: ignore[union-attr]
        index.scanned("withdrawn", head, withdrawn_wei=str(total))
    return total


def _cleared_outcomes(client: ChainClient, index: JobIndex, start: int, head: int) -> dict[int, str]:
    """Stuck jobs that were cleared (never completed, now TimedOut): "refunded" when JobSettledNoFault (no-fault
    refund, no penalty) or "timed_out" when JobTimedOut (slashed). Read from logs once, then kept in the index."""
    out: dict[int, str] = {}
    todo = []
    for k, v in index.data["jobs"].items():
        if v.get("completed") or v.get("final") != "TimedOut":
            continue
        if v.get("outcome"):
            out[int(k)] = v["outcome"]
        else:
            todo.append(int(k))
    jr = client.job_registry
    for i in range(0, len(todo), 100):
        group = ["0x" + j.to_bytes(32, "big").hex() for j in todo[i:i + 100]]
        for lg in client.get_logs(jr.address or "", [[jr.topic("JobSettledNoFault"), jr.topic("JobTimedOut")], group],
                                  start, head):
            d = jr.decode_log(lg)
            if d:
                jid = int(d.args["jobId"])
                out[jid] = index.data["jobs"][str(jid)]["outcome"] = ("refunded" if d.name == "JobSettledNoFault"
                                                                      else "timed_out")
    return out


def earnings(client: ChainClient, address: str, *, cache_path: Path | None = None,
             start_block: int | None = None) -> EarningsResult:
    """Escrowed / releasable / released / withdrawn and the job history. Incremental: final jobs come from the
    index (read once), only the others are read again; log scans read the blocks after the last scan."""
    head, head_ts = client.head()
    index = JobIndex(client, address, cache_path)
    index.refresh(head=head, start_block=start_block, timed_out=True)
    try:
        result = _compute(client, index, address, head, head_ts)
    finally:
        index.save()  # what was read is kept even when a later read failed (each cursor moves with its data)
    return result


def _compute(client: ChainClient, index: JobIndex, address: str, head: int, head_ts: int) -> EarningsResult:
    jr = client.job_registry
    start = index.start_block(head)
    index.scans(start)  # a moved start: kept shares and scan cursors start over
    ids = index.ids(completed_only=True, include_final=True)
    done = set(ids)
    open_ids = [j for j in index.ids() if j not in done]  # sent, never completed: a stuck job may have been cleared
    jobs = {j: snap for j in ids if (snap := index.snapshot(j)) is not None}
    read = client.get_jobs([j for j in ids if j not in jobs] + open_ids)
    index.update_from(read)
    jobs.update(read)
    cleared = _cleared_outcomes(client, index, start, head)
    sessions = index.recent_sessions()
    res = client.read_many([
        (client.ai_config, "getDisputeWindow", ()), (client.ai_config, "getWorkerFeeBps", ()),
        (jr, "workerBalance", (address,)), (client.ai_config, "getSessionInactivityTimeout", ()),
        *((jr, "getSession", (sid,)) for sid in sessions),
    ], raise_errors=False)  # one request; a chain without sessions only loses the session count
    for r in res[:3]:
        if isinstance(r, Exception):
            raise r
    window, bps, balance = res[:3]
    claimed = _claimed(address, res[3], res[4:], head_ts)
    released_share = _released_shares(client, index, jobs,
                                      [j for j in ids if jobs.get(j, {}).get("state") == RELEASED], start, head)
    withdrawn = _withdrawn(client, index, address, start, head)
    escrowed = releasable = 0
    history = []
    for jid in ids:
        j = jobs.get(jid)
        if j is None:
            continue
        share = released_share.get(jid, int(j["escrowedFee"]) * int(bps) // 10000)
        end = int(j["completedAt"]) + int(window) if j["completedAt"] else None
        if j["state"] == COMPLETED:
            if end is not None and end <= head_ts:
                releasable += share
            else:
                escrowed += share
        elif j["state"] == RESOLVED and int(j["escrowedFee"]) > 0:
            releasable += share
        history.append({"job_id": jid, "state": STATE_NAMES[j["state"]], "completed_at": int(j["completedAt"]),
                        "releasable_at": end, "share_wei": str(share), **_timing(j)})
    slashed = index.timed_out()
    for jid, outcome in cleared.items():  # a no-fault refund is shown as a refund, never as a (red) timeout
        if outcome == "refunded" and jid not in slashed:
            history.append({"job_id": jid, "state": "Refunded (no fault)", "outcome": outcome, "completed_at": 0,
                            "releasable_at": None, "share_wei": "0"})
    history += _timed_out(client, index, slashed)  # timed out with a slash: listed with the stake each one lost
    history.sort(key=lambda h: h["job_id"])
    return EarningsResult(escrowed_wei=escrowed, releasable_wei=releasable, released_wei=withdrawn + int(balance),
                          withdrawn_wei=withdrawn, worker_balance_wei=int(balance), jobs=history,
                          claimed_sessions=claimed)


def _claimed(address: str, timeout, sessions: list, now: int) -> int:
    """Sessions that still send this worker jobs: Active (contracts §2), its own, and active within the session
    inactivity timeout (0 or unreadable: no timeout)."""
    limit = 0 if isinstance(timeout, Exception) else int(timeout)
    return sum(1 for s in sessions if isinstance(s, dict) and int(s["status"]) == 0
               and str(s["worker"]).lower() == address.lower()
               and (not limit or int(s["lastActivityAt"]) + limit >= now))


def _timing(j: dict) -> dict:
    """How long the job took against its deadline: acknowledgeJob sets deadline = ack + completion timeout, so
    used_s / allowed_s is how close it came (contracts §2)."""
    ack, done, deadline = int(j.get("ackTimestamp") or 0), int(j.get("completedAt") or 0), int(j.get("deadline") or 0)
    if not ack or deadline <= ack:
        return {}
    out = {"acked_at": ack, "deadline": deadline, "allowed_s": deadline - ack}
    if done >= ack:
        out["used_s"] = done - ack
    return out


def _timed_out(client: ChainClient, index: JobIndex, slashes: dict[int, int], last: int = 50) -> list[dict]:
    """The latest timed-out jobs of this worker with the stake each slashed (from its JobTimedOut event); a job
    the index keeps as final is not read again."""
    ids = sorted(slashes)[-last:]
    jobs = {j: snap for j in ids if (snap := index.snapshot(j)) is not None}
    missing = [j for j in ids if j not in jobs]
    read = client.get_jobs(missing) if missing else {}
    index.update_from(read)  # kept from now on: a timed-out job never changes again
    jobs.update(read)
    out = []
    for jid in ids:
        j = jobs.get(jid, {})
        start = int(j.get("ackTimestamp") or 0) or int(j.get("submittedAt") or 0)
        deadline = int(j.get("deadline") or 0)
        out.append({"job_id": jid, "state": STATE_NAMES[TIMED_OUT], "timed_out": True, "outcome": "timed_out",
                    "slash_wei": str(slashes[jid]),
                    "acknowledged": bool(j.get("ackTimestamp")), "deadline": deadline or None,
                    "allowed_s": deadline - start if deadline > start else None, "completed_at": 0,
                    "releasable_at": None, "share_wei": "0"})
    return out
