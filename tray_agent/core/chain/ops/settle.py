"""Settle earnings: release every Completed job past the dispute window, then withdraw() the internal balance."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tray_agent.common.words import plural

from ... import failpoints
from ..errors import CallReverted, Reverted
from ..jobs import COMPLETED, DISPUTED, RELEASED, RESOLVED, JobIndex
from ..tx import TxResult
from .context import OpContext, Progress, no_progress


@dataclass(frozen=True)
class SettleResult:
    released_count: int = 0
    released_wei: int = 0                 # worker share credited by our releases
    already_released_count: int = 0       # released / finalised by someone else (e.g. the container)
    waiting: list[dict] = field(default_factory=list)   # [{job_id, eta}] not yet past the dispute window
    next_eta: int | None = None
    disputed_count: int = 0
    failed: list[dict] = field(default_factory=list)    # [{job_id, error, message}]
    withdrawn_wei: int = 0
    tx_hashes: list[str] = field(default_factory=list)
    known_jobs: int = 0
    scanned_to_block: int = 0
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["released_wei"] = str(self.released_wei)
        d["withdrawn_wei"] = str(self.withdrawn_wei)
        return d


def _released_from(res: TxResult, ctx: OpContext, wanted: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for ev in res.events(ctx.client.job_registry, "JobReleased"):
        jid = int(ev.args["jobId"])
        if jid in wanted:
            out[jid] = int(ev.args["workerShare"])
    return out


@failpoints.scoped("settle")
def settle(ctx: OpContext, cache_path: Path | None = None, *, start_block: int | None = None, batch_size: int = 50,
           chunk: int = 5000, withdraw: bool = True, progress: Progress = no_progress) -> SettleResult:
    """Find all of this worker's releasable jobs (JobCompleted logs since registration, cached), probe with
    eth_call, release with releaseJobs batches (single releaseJob fallback), then withdraw(). Each job is
    counted once: ids already final are skipped, releases are counted from our receipts' JobReleased events."""
    t0 = time.monotonic()
    c, jr, me = ctx.client, ctx.client.job_registry, ctx.address
    c.ensure_chain()
    head, head_ts = c.head()
    index = JobIndex(c, me, cache_path)
    progress("scanning completed jobs", 0.05)
    index.refresh(head=head, start_block=start_block, chunk=chunk)
    open_ids = index.ids(completed_only=True)
    jobs = c.get_jobs(open_ids)
    index.update_from(jobs)
    already = sum(1 for j in open_ids if j in jobs and jobs[j]["state"] == RELEASED)
    window = int(c.call(c.ai_config, "getDisputeWindow"))
    candidates, waiting, disputed = [], [], 0
    for jid in open_ids:
        job = jobs.get(jid)
        if job is None or index.data["jobs"][str(jid)]["final"] is not None:
            continue
        if job["state"] == COMPLETED:
            end = int(job["completedAt"]) + window
            if end <= head_ts:
                candidates.append(jid)
            else:
                waiting.append({"job_id": jid, "eta": end})
        elif job["state"] == RESOLVED:
            candidates.append(jid)
        elif job["state"] == DISPUTED:
            disputed += 1
    progress(f"probing {plural(len(candidates), 'job')}", 0.2)
    ready: list[int] = []
    failed: list[dict] = []
    for jid, err in zip(candidates, c.probe(jr, "releaseJob", [(j,) for j in candidates], me) if candidates else [], strict=False):
        if err is None:
            ready.append(jid)
        elif isinstance(err, Reverted) and err.error_name == "DisputeWindowNotElapsed":
            waiting.append({"job_id": jid, "eta": err.eta})
        elif isinstance(err, Exception):
            failed.append({"job_id": jid, "error": getattr(err, "error_name", "") or getattr(err, "code", ""),
                           "message": getattr(err, "message", str(err))})
    released: dict[int, int] = {}
    hashes: list[str] = []
    withdrawn = 0
    # nothing to release and nothing to withdraw: never pause the worker for it
    idle = not ready and (not withdraw or int(c.call(jr, "workerBalance", me)) == 0)
    with contextlib.nullcontext() if idle else ctx.gate.session(progress):
        for start in range(0, len(ready), batch_size):
            batch = ready[start:start + batch_size]
            progress(f"releasing jobs {start + 1}-{start + len(batch)} of {len(ready)}", 0.3 + 0.6 * start / max(1, len(ready)))
            try:
                res = ctx.tx(jr, "releaseJobs", batch, progress=progress)
                hashes.append(res.tx_hash)
                released.update(_released_from(res, ctx, set(batch)))
            except Reverted:
                for jid in batch:  # one bad job reverts the whole batch: fall back to single releases
                    try:
                        res = ctx.tx(jr, "releaseJob", jid, progress=progress)
                    except Reverted as e:
                        if e.error_name == "JobNotInState":
                            already += 1
                        elif e.error_name == "DisputeWindowNotElapsed":
                            waiting.append({"job_id": jid, "eta": e.eta})
                        else:
                            failed.append({"job_id": jid, "error": e.error_name, "message": e.message})
                        continue
                    hashes.append(res.tx_hash)
                    released.update(_released_from(res, ctx, {jid}))
            if start + batch_size < len(ready):
                failpoints.hit("settle.between_batches")
        for jid in released:
            index.mark_final(jid, "Released")
        index.save()
        if withdraw:
            failpoints.hit("settle.before_withdraw")
            bal = int(c.call(jr, "workerBalance", me))
            if bal > 0:
                progress("withdrawing earnings to the worker wallet", 0.95)
                try:
                    res = ctx.tx(jr, "withdraw", progress=progress)
                except CallReverted as e:
                    if e.error_name != "NoBalanceToWithdraw":  # someone else's withdraw cannot happen; just in case
                        raise
                else:
                    hashes.append(res.tx_hash)
                    withdrawn = sum(int(ev.args["amount"]) for ev in res.events(jr, "WorkerWithdrawal"))
    waiting.sort(key=lambda w: w["eta"] or 0)
    progress("settled", 1.0)
    return SettleResult(
        released_count=len(released), released_wei=sum(released.values()), already_released_count=already,
        waiting=waiting, next_eta=waiting[0]["eta"] if waiting else None, disputed_count=disputed, failed=failed,
        withdrawn_wei=withdrawn, tx_hashes=hashes, known_jobs=len(index.data["jobs"]), scanned_to_block=head,
        elapsed_s=round(time.monotonic() - t0, 3),
    )

