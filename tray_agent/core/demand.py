"""Expected earnings per model and the best model set (pure functions; integer wei).

Estimate for this worker and one model:

    LCAI/day = jobs per day ÷ (other workers serving it + 1) × fee per job × worker share

jobs per day = jobs submitted in the window ÷ the window's length (the part the chain existed for) × 1 day;
worker share = AIConfig.getWorkerFeeBps / 10000 (the rest goes to the protocol and the fee pool, contracts.md §5).
This worker counts once: when it already serves the model it is among the eligible workers, not added again.

The suggestion enumerates every subset of the candidate models (exact; the catalogue is small) and keeps the one
with the highest expected LCAI/day that fits in memory (the fit rule's "fits": total ≤ usable after headroom).
Ties go to less memory, then fewer models. Every model left out gets a reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations

from tray_agent.common.amounts import format_lcai

from .chain.demand import DAY_S, Demand, per_day
from .hardware import fmt_bytes

MAX_EXACT = 20  # 2^20 subsets is still quick; the catalogue has ~10 models
ASSUMPTIONS = (
    "Demand stays as it was over the window (past jobs are no promise of future ones).",
    "Jobs are split evenly among the eligible workers; the real assignment also weighs stake and reputation.",
    "Every job is completed and released: timeouts, disputes and slashes earn nothing.",
    "Fee = the chain's current job fee; worker share = the chain's worker fee share; gas is not subtracted.",
)


def window_label(window_s: int) -> str:
    """``86400`` → "24 h", ``604800`` → "7 d", ``1800`` → "30 min", ``12`` → "12 s"."""
    if window_s < 60:
        return f"{int(window_s)} s"
    if window_s < 3600:
        return f"{window_s // 60} min"
    h = window_s / 3600
    if h >= 48 and h % 24 == 0:
        return f"{int(h // 24)} d"
    return f"{round(h, 1):g} h"


def fmt_rate(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


@dataclass(frozen=True)
class Estimate:
    model: str
    jobs: int                  # in the window
    jobs_per_day: float
    fee_wei: int
    other_workers: int
    share_bps: int
    wei_per_day: int
    formula: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fee_wei"], d["wei_per_day"] = str(self.fee_wei), str(self.wei_per_day)
        d["lcai_per_day"] = format_lcai(self.wei_per_day)
        return d


def estimate(demand: Demand) -> dict[str, Estimate]:
    """One estimate per model of ``demand`` (integer wei, rounded down)."""
    out: dict[str, Estimate] = {}
    bps, covered = demand.worker_fee_bps, max(1, demand.covered_s)
    for m in demand.models:
        others = max(0, m.workers - (1 if m.serving else 0))
        wei = m.jobs * DAY_S * m.fee_wei * bps // (covered * (others + 1) * 10_000)
        jpd = per_day(m.jobs, covered)
        formula = (f"{fmt_rate(jpd)} jobs/day ÷ ({others} other worker{'' if others == 1 else 's'} + 1) × "
                   f"{format_lcai(m.fee_wei)} LCAI × {bps / 100:g} % = {format_lcai(wei)} LCAI/day")
        out[m.name] = Estimate(m.name, m.jobs, round(jpd, 3), m.fee_wei, others, bps, wei, formula)
    return out


@dataclass(frozen=True)
class Speed:
    """The newest speed test of a model: p95 job time against the deadline (and the budget left after the
    worker's submit reserve, which is what a job must fit in)."""

    p95_s: float
    deadline_s: float
    budget_s: float


@dataclass
class Suggestion:
    models: list[str]
    wei_per_day: int
    current: list[str]
    current_wei_per_day: int
    required_bytes: int
    usable_bytes: int
    left_out: list[dict] = field(default_factory=list)   # [{model, code, reason}]

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("wei_per_day", "current_wei_per_day"):
            d[k] = str(d[k])
        d["lcai_per_day"] = format_lcai(self.wei_per_day)
        d["current_lcai_per_day"] = format_lcai(self.current_wei_per_day)
        d["changes"] = self.models != sorted(self.current)
        return d


def suggest(estimates: Mapping[str, Estimate], footprints: Mapping[str, int], usable_bytes: int,
            speeds: Mapping[str, Speed], current: Sequence[str] = (), window: str = "24 h") -> Suggestion:
    """The subset of ``footprints``' models with the highest expected wei/day that fits in ``usable_bytes``,
    with a reason for each model left out."""
    left: list[dict] = []
    candidates: list[str] = []
    for name in sorted(footprints):
        est = estimates.get(name)
        sp = speeds.get(name)
        if est is None or est.jobs == 0:
            left.append({"model": name, "code": "no_demand", "reason": f"no demand in {window}"})
        elif est.wei_per_day == 0:
            left.append({"model": name, "code": "no_fee", "reason": "earns nothing: the job fee is 0"})
        elif sp is not None and sp.p95_s > sp.budget_s:
            left.append({"model": name, "code": "too_slow",
                         "reason": f"too slow: p95 {sp.p95_s:.0f} s vs deadline {sp.deadline_s:.0f} s "
                                   f"({sp.budget_s:.0f} s after the worker's submit reserve)"})
        elif footprints[name] > usable_bytes:
            left.append({"model": name, "code": "too_big",
                         "reason": f"does not fit on its own: needs {fmt_bytes(footprints[name])} of "
                                   f"{fmt_bytes(usable_bytes)} usable"})
        else:
            candidates.append(name)
    if len(candidates) > MAX_EXACT:
        raise ValueError(f"too many candidate models for an exact search ({len(candidates)} > {MAX_EXACT})")
    best: tuple[int, int, int] | None = None
    best_set: tuple[str, ...] = ()
    for k in range(1, len(candidates) + 1):
        for combo in combinations(candidates, k):  # in name order: the first of equal sets wins
            mem = sum(footprints[n] for n in combo)
            if mem > usable_bytes:
                continue
            key = (sum(estimates[n].wei_per_day for n in combo), -mem, -k)
            if best is None or key > best:
                best, best_set = key, combo
    chosen = sorted(best_set)
    used = sum(footprints[n] for n in chosen)
    for name in candidates:
        if name not in chosen:  # positive value and fits alone, so it must not fit beside the chosen set
            left.append({"model": name, "code": "does_not_fit_with",
                         "reason": f"does not fit with {', '.join(chosen)} ({fmt_bytes(used + footprints[name])} "
                                   f"needed, {fmt_bytes(usable_bytes)} usable)"})
    cur = sorted(current)
    return Suggestion(models=chosen, wei_per_day=sum(estimates[n].wei_per_day for n in chosen), current=cur,
                      current_wei_per_day=sum(estimates[n].wei_per_day for n in cur if n in estimates),
                      required_bytes=used, usable_bytes=usable_bytes,
                      left_out=sorted(left, key=lambda d: d["model"]))
