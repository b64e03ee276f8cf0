"""Clear stuck jobs (contracts §7): settleStuckJob refunds without fault once its window opens; claimTimeout
(slashes this worker) only for a job with no no-fault path (a chain without settleStuckJob, or it refuses), and
only up to the slash the user confirmed in wei."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from tray_agent.common.amounts import format_lcai

from ... import failpoints
from ..client import ChainClient
from ..errors import AgentError, Reverted
from ..jobs import ACKNOWLEDGED, STATE_NAMES, SUBMITTED, JobIndex
from .context import OpContext, Progress, no_progress


@dataclass
class StuckJob:
    job_id: int
    state: str
    deadline: int
    action: str = "none"           # settled_no_fault | timed_out | waiting | changed | failed
    available_at: int | None = None  # chain time from which settleStuckJob is possible (when "waiting")
    slash_wei: int = 0             # what claimTimeout would cost (or cost)
    no_fault: str = "unknown"      # open | waiting | unavailable | unknown (settleStuckJob probed with eth_call)
    message: str = ""
    tx_hash: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["slash_wei"] = str(self.slash_wei)
        return d


@dataclass(frozen=True)
class StuckResult:
    jobs: list[StuckJob] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for j in self.jobs if j.action == action)

    def to_dict(self) -> dict:
        return {"jobs": [j.to_dict() for j in self.jobs], "settled_no_fault": self.count("settled_no_fault"),
                "timed_out": self.count("timed_out"), "waiting": self.count("waiting"),
                "slash_wei_total": str(sum(j.slash_wei for j in self.jobs if j.action == "timed_out"))}


def find_stuck_jobs(c: ChainClient, me: str, cache_path: Path | None = None) -> list[StuckJob]:
    """This worker's jobs still Submitted/Acknowledged past their deadline, with the slash each would cost.

    Read-only: needs no key (listing stuck jobs never decrypts the keystore)."""
    head, head_ts = c.head()
    index = JobIndex(c, me, cache_path)
    index.refresh(head=head, submitted=True)
    jobs = c.get_jobs(index.ids())
    index.update_from(jobs)
    index.save()
    min_stake, t_bps, c_bps, stake = c.read_many([
        (c.ai_config, "getMinWorkerStake", ()), (c.ai_config, "getTimeoutSlashBps", ()),
        (c.ai_config, "getCompletionTimeoutSlashBps", ()), (c.registry, "getWorkerStake", (me,)),
    ])
    out = []
    for jid, j in sorted(jobs.items()):
        if j["state"] in (SUBMITTED, ACKNOWLEDGED) and j["worker"].lower() == me.lower() and int(j["deadline"]) < head_ts:
            bps = t_bps if j["state"] == SUBMITTED else c_bps
            out.append(StuckJob(job_id=jid, state=STATE_NAMES[j["state"]], deadline=int(j["deadline"]),
                                slash_wei=min(int(stake), int(min_stake) * int(bps) // 10000)))
    _probe_no_fault(c, me, out)
    return out


def _probe_no_fault(c: ChainClient, me: str, jobs: list[StuckJob]) -> None:
    """eth_call settleStuckJob per job (nothing sent): open now, waiting until ``availableAt``, or unavailable
    (a chain without the function or one that refuses it: only claimTimeout, with a slash, can clear the job)."""
    if not jobs:
        return
    try:
        results = c.probe(c.job_registry, "settleStuckJob", [(j.job_id,) for j in jobs], me)
    except AgentError:
        return  # the RPC failed: "unknown"; clearing tries the no-fault path first anyway
    for j, err in zip(jobs, results, strict=False):
        if err is None:
            j.no_fault = "open"
        elif isinstance(err, Reverted) and err.error_name == "NoFaultWindowNotReached":
            j.no_fault, j.available_at = "waiting", err.eta
        elif isinstance(err, Reverted) and err.error_name != "JobNotInState":
            j.no_fault = "unavailable"
            j.message = err.message


@failpoints.scoped("clear_stuck")
def clear_stuck_jobs(ctx: OpContext, *, allow_slash: bool = False, max_slash_wei: int | None = None,
                     cache_path: Path | None = None, progress: Progress = no_progress) -> StuckResult:
    """settleStuckJob (no slash) for each stuck job. With ``allow_slash``, claimTimeout a job whose no-fault path
    does not exist (never one that only waits for its window), while the total slash stays within
    ``max_slash_wei`` (the amount the user confirmed; None = no cap, for library callers).
    Every job is re-read after the attempt (anyone may have changed it meanwhile)."""
    c, jr = ctx.client, ctx.client.job_registry
    c.ensure_chain()
    stuck = find_stuck_jobs(ctx.client, ctx.address, cache_path)
    if not stuck:
        progress("no stuck jobs", 1.0)
        return StuckResult([])
    slashed = 0
    with ctx.gate.session(progress):
        for i, s in enumerate(stuck):
            if i:
                failpoints.hit("clear_stuck.between_jobs")
            progress(f"job {s.job_id}: trying the no-fault settlement", i / len(stuck))
            try:
                s.tx_hash = ctx.tx(jr, "settleStuckJob", s.job_id, progress=progress).tx_hash
                s.action = "settled_no_fault"
            except Reverted as e:
                s.message = e.message
                if e.error_name == "NoFaultWindowNotReached":
                    s.available_at, s.action, s.no_fault = e.eta, "waiting", "waiting"
                else:
                    s.action = "failed"
                    if e.error_name != "JobNotInState":
                        s.no_fault = "unavailable"
                over = max_slash_wei is not None and slashed + s.slash_wei > max_slash_wei
                if allow_slash and s.no_fault == "unavailable" and over:
                    s.message = (f"claimTimeout would slash {format_lcai(s.slash_wei, None)} LCAI, more than the "
                                 f"{format_lcai(max_slash_wei, None)} LCAI confirmed: not sent; list the stuck jobs "
                                 "again and confirm the new amount")
                elif allow_slash and s.no_fault == "unavailable":
                    progress(f"job {s.job_id}: claimTimeout (slash {format_lcai(s.slash_wei, 6)} LCAI)", i / len(stuck))
                    try:
                        res = ctx.tx(jr, "claimTimeout", s.job_id, progress=progress)
                        s.tx_hash = res.tx_hash
                        s.action = "timed_out"
                        evs = res.events(jr, "JobTimedOut")
                        if evs:
                            s.slash_wei = int(evs[0].args["slashAmount"])
                        slashed += s.slash_wei
                    except Reverted as e2:
                        s.message = e2.message
            job = c.get_job(s.job_id)  # re-read: a keeper / the container may have acted
            if s.action in ("waiting", "failed") and job["state"] not in (SUBMITTED, ACKNOWLEDGED):
                s.action = "changed"
                s.message = f"the job is now {STATE_NAMES[job['state']]} (changed by someone else)"
            s.state = STATE_NAMES[job["state"]]
    progress(summary(stuck), 1.0)
    return StuckResult(stuck)


def summary(jobs: list[StuckJob]) -> str:
    """What clearing did, in words (never "handled" when nothing was cleared)."""
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j.action] = counts.get(j.action, 0) + 1
    words = {"settled_no_fault": "settled without a slash", "timed_out": "timed out (slashed)",
             "waiting": "waiting for the no-fault window", "failed": "not cleared", "changed": "changed by someone else"}
    parts = [f"{n} {words.get(a, a)}" for a, n in counts.items()]
    return "; ".join(parts) if parts else "no stuck jobs"
