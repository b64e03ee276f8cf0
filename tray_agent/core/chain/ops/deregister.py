"""Deregister the worker: state checks, eth_call preflight, gas × 1.5; explains when it becomes possible."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tray_agent.common.words import plural

from ... import failpoints
from ..errors import CallReverted, PreconditionFailed
from ..jobs import COMPLETED, JobIndex
from ..revert import fmt_time
from .context import OpContext, Progress, no_progress


@dataclass(frozen=True)
class DeregisterResult:
    stake_returned_wei: int
    withdrawn_wei: int
    tx_hashes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"stake_returned_wei": str(self.stake_returned_wei), "withdrawn_wei": str(self.withdrawn_wei),
                "tx_hashes": list(self.tx_hashes)}


def deregister_eta(ctx: OpContext, cache_path: Path | None = None) -> int | None:
    """Latest completedAt + dispute window over this worker's unreleased Completed jobs (None if none)."""
    c = ctx.client
    head, _ = c.head()
    index = JobIndex(c, ctx.address, cache_path)
    index.refresh(head=head)
    jobs = c.get_jobs(index.ids(completed_only=True))
    index.update_from(jobs)
    index.save()
    window = int(c.call(c.ai_config, "getDisputeWindow"))
    ends = [int(j["completedAt"]) + window for j in jobs.values() if j["state"] == COMPLETED]
    return max(ends) if ends else None


@failpoints.scoped("deregister")
def deregister(ctx: OpContext, *, cache_path: Path | None = None, withdraw_earnings: bool = True,
               progress: Progress = no_progress) -> DeregisterResult:
    """deregisterWorker() (returns all stake), then withdraw() of any internal earnings."""
    c, reg, jr, me = ctx.client, ctx.client.registry, ctx.client.job_registry, ctx.address
    c.ensure_chain()
    registered, active, stake = c.read_many([
        (reg, "isWorkerRegistered", (me,)), (reg, "getActiveJobCount", (me,)), (reg, "getWorkerStake", (me,)),
    ])
    if not registered:
        raise PreconditionFailed("this worker is not registered (nothing to deregister)", fix="nothing to do")
    if active:
        eta = deregister_eta(ctx, cache_path)
        when = f"; the last dispute window ends {fmt_time(eta)}" if eta else ""
        raise PreconditionFailed(
            f"{plural(active, 'job', verb='are')} still active or unreleased{when}",
            fix="stop the worker, settle earnings after the dispute window and clear stuck jobs, then retry",
            eta=eta,
        )
    try:
        ctx.sender.preflight(reg, "deregisterWorker")
    except CallReverted as e:
        raise PreconditionFailed(f"deregistering would fail: {e.message}", fix=e.fix, eta=e.eta) from e
    hashes: list[str] = []
    withdrawn = 0
    with ctx.gate.session(progress):
        progress("deregistering (stake is returned)", 0.4)
        res = ctx.tx(reg, "deregisterWorker", gas_margin=1.5, progress=progress)
        hashes.append(res.tx_hash)
        failpoints.hit("deregister.before_withdraw")
        if withdraw_earnings and int(c.call(jr, "workerBalance", me)) > 0:
            progress("withdrawing earnings", 0.8)
            w = ctx.tx(jr, "withdraw", progress=progress)
            hashes.append(w.tx_hash)
            withdrawn = sum(int(ev.args["amount"]) for ev in w.events(jr, "WorkerWithdrawal"))
    progress("deregistered", 1.0)
    return DeregisterResult(stake_returned_wei=int(stake), withdrawn_wei=withdrawn, tx_hashes=hashes)
