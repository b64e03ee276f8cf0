"""The automatic settle policy's pure parts: validation, the decision (threshold, schedule, waits, backoff), the
integer fee rule, and the CLI's percent → basis points. The devnet behaviour is in tests/faults/test_autosettle.py."""

from __future__ import annotations

import pytest

from tray_agent.cli_autosettle import fee_bps
from tray_agent.common.errors import ValidationError
from tray_agent.core.autosettle_policy import (
    DAY_S,
    DEFAULTS,
    Inputs,
    backoff_s,
    decide,
    fee_ok,
    validate_changes,
)

LCAI = 10**18
NOW = 1_800_000_000.0


def policy(**kw) -> dict:
    return {**DEFAULTS, "enabled": True, "threshold_wei": str(10 * LCAI), "enabled_at": NOW - 60, **kw}


def inputs(releasable: int = 0, balance: int = 0, **kw) -> Inputs:
    return Inputs(**{"registered": True, "releasable_wei": releasable, "worker_balance_wei": balance, "now": NOW,
                     **kw})


def test_fires_at_the_threshold_and_not_one_wei_before():
    p = policy()
    assert decide(p, inputs(10 * LCAI - 1)).action == ""
    assert decide(p, inputs(10 * LCAI - 1)).state == "armed"
    d = decide(p, inputs(6 * LCAI, 4 * LCAI))  # releasable + already released into the contract balance
    assert (d.action, d.state) == ("settle", "due") and "threshold" in d.message


def test_every_n_days_counts_from_the_last_settle_or_from_when_it_was_turned_on():
    p = policy(threshold_wei="0", every_days=7, enabled_at=NOW - 7 * DAY_S + 5)
    assert decide(p, inputs(1)).action == ""
    assert decide({**p, "enabled_at": NOW - 7 * DAY_S}, inputs(1)).action == "settle"
    assert decide({**p, "enabled_at": NOW - 7 * DAY_S}, inputs(0)).action == "", "nothing to settle: no fee spent"
    assert decide({**p, "last_settle_at": NOW - DAY_S, "enabled_at": NOW - 30 * DAY_S}, inputs(1)).action == ""


@pytest.mark.parametrize("p,inp,state,words", [
    (policy(enabled=False), inputs(99 * LCAI), "off", "off"),
    (policy(paused=True), inputs(99 * LCAI), "paused", "Paused"),
    (policy(held="An automatic withdrawal was interrupted"), inputs(99 * LCAI), "held", "interrupted"),
    (policy(), inputs(99 * LCAI, exit_pending=True), "waiting", "deregistration"),
    (policy(), inputs(99 * LCAI, registered=False), "waiting", "not registered"),
    (policy(), inputs(99 * LCAI, busy_op="set_models"), "waiting", "set models"),
    (policy(failures=2, next_try_at=NOW + 30, last_error="RPC down"), inputs(99 * LCAI), "retrying", "RPC down"),
])
def test_waits_and_says_why(p, inp, state, words):
    d = decide(p, inp)
    assert d.action == "" and d.state == state and words in d.message


def test_an_interrupted_settle_is_finished_first_and_settled_earnings_are_forwarded():
    assert decide(policy(resume_settle=True), inputs(0)).action == "settle"
    to = "0x000000000000000000000000000000000000dEaD"
    d = decide(policy(withdraw=True, withdraw_to=to, forward_wei=str(3 * LCAI)), inputs(0))
    assert d.action == "withdraw" and to in d.message
    assert decide(policy(withdraw=False, withdraw_to=to, forward_wei=str(LCAI)), inputs(0)).action == ""


def test_fee_rule_is_integer_and_inclusive():
    assert fee_ok(5 * LCAI // 100, LCAI, 500)          # exactly 5 %
    assert not fee_ok(5 * LCAI // 100 + 1, LCAI, 500)  # one wei above
    assert not fee_ok(0, 0, 500), "nothing to settle is never worth a fee"


def test_backoff_doubles_and_is_capped():
    assert [backoff_s(n) for n in range(5)] == [0, 60, 120, 240, 480]
    assert backoff_s(40) == 6 * 3600


def test_validation_names_the_field_and_the_fix():
    cur = dict(DEFAULTS)
    assert validate_changes({"threshold_lcai": "12.5"}, cur) == {"threshold_wei": str(12_500_000_000_000_000_000)}
    for body, field in [({"threshold_lcai": "1e3"}, "threshold_lcai"), ({"threshold_lcai": "-1"}, "threshold_lcai"),
                        ({"every_days": 400}, "every_days"), ({"every_days": True}, "every_days"),
                        ({"max_fee_bps": 0}, "max_fee_bps"), ({"enabled": "yes"}, "enabled"),
                        ({"enabled": True}, "threshold_lcai"),  # on with neither a threshold nor a schedule
                        ({"withdraw": True}, "withdraw"),       # on without a confirmed address
                        ({"withdraw_to": "0x000000000000000000000000000000000000dEaD"}, "withdraw_to"),
                        ({"nope": 1}, "nope")]:
        with pytest.raises(ValidationError) as e:
            validate_changes(body, cur)
        assert e.value.field == field and e.value.fix, body
    on = validate_changes({"enabled": True, "every_days": 7}, cur)
    assert on["enabled"] and on["enabled_at"] > 0


@pytest.mark.parametrize("text,want", [("5", 500), ("2.5", 250), ("0.01", 1), ("100", 10000)])
def test_cli_fee_percent_is_exact(text, want):
    assert fee_bps(text) == want


@pytest.mark.parametrize("text", ["0", "0.001", "101", "five", "1e2", ""])
def test_cli_fee_percent_refuses_what_it_cannot_store(text):
    with pytest.raises(ValidationError, match="max-fee-pct"):
        fee_bps(text)
