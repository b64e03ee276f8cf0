"""The expected-earnings estimate (integer wei, this worker counted once) and the exact model-set search with a
reason for every model left out (no demand, too slow, does not fit alone, does not fit with the chosen ones)."""

from __future__ import annotations

import time

import pytest

from tray_agent.common.errors import ValidationError
from tray_agent.core.chain.demand import Demand, ModelDemand
from tray_agent.core.demand import Speed, estimate, suggest
from tray_agent.core.services.demand import parse_window_h
from tray_agent.devnet.market import parse_spec

LCAI = 10**18
GB = 2**30  # GiB, as the fit rule reports memory
DAY = 86400


def demand(*models: ModelDemand, covered_s: int = DAY, bps: int = 8000) -> Demand:
    return Demand(chain_id=1, head_block=100, head_ts=10**6, window_s=DAY, covered_s=covered_s, start_block=1,
                  worker_fee_bps=bps, completion_timeout_s=120, models=tuple(models))


def md(name: str, jobs: int, fee: int = LCAI // 50, workers: int = 0, serving: bool = False) -> ModelDemand:
    return ModelDemand(name, "0x" + "00" * 32, jobs, fee, workers, serving)


def test_estimate_formula_integer_wei():
    est = estimate(demand(md("a", 120, fee=2 * LCAI // 100, workers=2)))["a"]
    # 120 jobs/day ÷ (2 + 1) × 0.02 LCAI × 80 % = 0.64 LCAI/day, exactly
    assert est.wei_per_day == 64 * LCAI // 100 and isinstance(est.wei_per_day, int)
    assert est.other_workers == 2 and est.jobs_per_day == 120.0
    assert est.formula == "120 jobs/day ÷ (2 other workers + 1) × 0.02 LCAI × 80 % = 0.64 LCAI/day"


def test_a_worker_already_serving_is_counted_once():
    mine = estimate(demand(md("a", 90, fee=LCAI, workers=3, serving=True), bps=10_000))["a"]
    assert mine.other_workers == 2 and mine.wei_per_day == 30 * LCAI  # 90 ÷ (2 + 1), not ÷ (3 + 1)


def test_young_chain_scales_to_a_day_and_rounds_down():
    est = estimate(demand(md("a", 1, fee=7, workers=0), covered_s=DAY * 2, bps=10_000))["a"]
    assert est.wei_per_day == 3 and est.jobs_per_day == 0.5  # 1 job in 2 days × 7 wei = 3.5 → 3
    assert estimate(demand(md("z", 0)))["z"].wei_per_day == 0


def _est(**jobs: int):
    return estimate(demand(*(md(n, j) for n, j in jobs.items())))


def test_exact_search_beats_greedy_and_names_who_it_does_not_fit_with():
    # greedy by value takes "big" first (value 5) and then nothing fits; the optimum is two mid models (4 + 4)
    est = _est(big=50, mid1=40, mid2=40)
    fps = {"big": 9 * GB, "mid1": 5 * GB, "mid2": 5 * GB}
    s = suggest(est, fps, 10 * GB, {}, current=["big"])
    assert s.models == ["mid1", "mid2"] and s.wei_per_day > s.current_wei_per_day
    assert s.to_dict()["changes"] is True
    reason = {x["model"]: x for x in s.left_out}["big"]
    assert reason["code"] == "does_not_fit_with" and reason["reason"].startswith("does not fit with mid1, mid2")


def test_reasons_no_demand_too_slow_and_too_big():
    est = _est(idle=0, slow=50, huge=50, ok=10)
    fps = {"idle": GB, "slow": GB, "huge": 40 * GB, "ok": GB}
    speeds = {"slow": Speed(p95_s=130.0, deadline_s=120.0, budget_s=95.0), "ok": Speed(40.0, 120.0, 95.0)}
    s = suggest(est, fps, 16 * GB, speeds, window="24 h")
    assert s.models == ["ok"]
    why = {x["model"]: x["reason"] for x in s.left_out}
    assert why["idle"] == "no demand in 24 h"
    assert why["slow"].startswith("too slow: p95 130 s vs deadline 120 s")
    assert why["huge"].startswith("does not fit on its own: needs 40.0 GiB of 16.0 GiB usable")


def test_ties_prefer_less_memory_and_nothing_in_demand_gives_an_empty_set():
    est = _est(a=10, b=10)
    s = suggest(est, {"a": 3 * GB, "b": 2 * GB}, 4 * GB, {})
    assert s.models == ["b"]  # same value, less memory
    empty = suggest(_est(a=0), {"a": GB}, 4 * GB, {}, current=["a"])
    assert empty.models == [] and empty.wei_per_day == 0 and empty.left_out[0]["code"] == "no_demand"


@pytest.mark.parametrize("bad", ["0", "-3", "abc", "721", "nan"])
def test_window_must_be_hours_in_range(bad):
    with pytest.raises(ValidationError) as e:
        parse_window_h(bad)
    assert "window" in e.value.message and e.value.fix


def test_window_default_and_devnet_spec_parsing():
    assert parse_window_h(None) == 24.0 and parse_window_h("168") == 168.0
    assert parse_spec("qwen3-vl:8b=6, llama3-8b=0.5", "weight", "X") == {"qwen3-vl:8b": 6.0, "llama3-8b": 0.5}
    with pytest.raises(ValidationError) as e:
        parse_spec("llama3-8b", "weight", "LCAI_DEVNET_DEMAND")
    assert "MODEL=NUMBER" in e.value.message


def test_the_newest_speed_test_per_model_of_this_network_counts(tmp_path):
    from tray_agent.core.history import History
    from tray_agent.core.services.demand import DemandService

    h = History(tmp_path / "h.sqlite")
    runs = [("old", "devnet", {"a": 200.0, "b": 50.0}), ("other-net", "testnet", {"a": 1.0}),
            ("new", "devnet", {"a": 60.0})]
    for op_id, net, p95 in runs:
        h.op_started(op_id, "speedtest", net, {})
        h.op_finished(op_id, "done", {"deadline_s": 120.0, "budget_s": 95.0,
                                       "models": [{"model": m, "p95_job_s": v} for m, v in p95.items()]})
        time.sleep(0.01)  # ordered by start time
    svc = DemandService(None, tmp_path / "c.json", None, h, "devnet", lambda: None)  # type: ignore[arg-type]
    assert svc.speeds() == {"a": Speed(60.0, 120.0, 95.0), "b": Speed(50.0, 120.0, 95.0)}
    h.close()
