"""withdraw to a wallet (exact amounts, address checks, gas reserve), deregister, top-up, reinstate, a stuck job
changed by someone else (the no-fault / slash paths are in test_chain_stuck.py)."""

from __future__ import annotations

import pytest
from eth_account import Account

from tray_agent.common.errors import ValidationError
from tray_agent.core.chain import InsufficientFunds, PreconditionFailed
from tray_agent.core.chain.ops import (
    clear_stuck_jobs,
    deregister,
    parse_lcai,
    reinstate,
    top_up,
    validate_destination,
    withdraw_native,
)

ETHER = 10**18


@pytest.mark.parametrize("text,wei", [
    ("1", ETHER), ("0.5", ETHER // 2), ("1.000000000000000001", ETHER + 1), ("  12.25 ", 12_250_000_000_000_000_000),
    ("0.000000000000000001", 1), ("999999999", 999_999_999 * ETHER),
])
def test_parse_lcai_exact(text, wei):
    assert parse_lcai(text) == wei


@pytest.mark.parametrize("text,why", [
    ("-1", "negative"), ("0", "greater than zero"), ("0.0", "greater than zero"), ("1e18", "exponent"),
    ("1.0000000000000000001", "18 decimals"), ("10000000000000", "too large"), ("abc", "not a decimal"),
    ("", "not a decimal"), (".5", "not a decimal"), ("1,5", "not a decimal"), ("nan", "not a decimal"),
    ("1000000001", "too large"),
])
def test_parse_lcai_rejects(text, why):
    with pytest.raises(ValidationError, match=why):
        parse_lcai(text)


def test_validate_destination():
    a = Account.create().address
    assert validate_destination(a) == a
    assert validate_destination(a.lower()) == a
    bad = a[:2] + (a[2:3].swapcase() if a[2:3].isalpha() else a[2:3]) + a[3:]
    if bad == a:  # make sure a letter is flipped
        i = next(i for i, ch in enumerate(a) if i > 1 and ch.isalpha())
        bad = a[:i] + a[i].swapcase() + a[i + 1:]
    with pytest.raises(ValidationError, match="checksum"):
        validate_destination(bad)
    with pytest.raises(ValidationError, match="zero address"):
        validate_destination("0x" + "0" * 40)
    with pytest.raises(ValidationError, match="own address"):
        validate_destination(a, own=a.lower())
    for junk in ("0x123", "hello", "0x" + "g" * 40, 42):
        with pytest.raises(ValidationError):
            validate_destination(junk)  # type: ignore[arg-type]


def test_withdraw_native_amount_and_max(chain):
    w = chain.new_worker(lcai=100)
    dest = Account.create().address
    res = withdraw_native(chain.ctx(w), dest, "12.5")
    assert chain.client.balance(dest) == 12_500_000_000_000_000_000 == res.amount_wei
    assert res.remaining_wei == 100 * ETHER - res.amount_wei - res.fee_wei
    res2 = withdraw_native(chain.ctx(w), dest, "max")  # not registered: no reserve kept
    assert chain.client.balance(w.address) == res2.remaining_wei < 10**15
    with pytest.raises(InsufficientFunds):
        withdraw_native(chain.ctx(w), dest, "1")


def test_withdraw_native_keeps_gas_reserve_while_registered(chain):
    w = chain.new_worker(lcai=5100)
    chain.register(w)
    dest = Account.create().address
    bal = chain.client.balance(w.address)
    with pytest.raises(ValidationError, match="for gas") as e:
        withdraw_native(chain.ctx(w), dest, "60")
    # the fix names what the user can do; the UI has no force option, so it must not offer one (issue 13 §7)
    assert e.value.fix.startswith("send at most ") and "force" not in e.value.fix, e.value.fix
    assert chain.client.balance(dest) == 0 and chain.client.balance(w.address) == bal
    res = withdraw_native(chain.ctx(w), dest, "max")
    assert chain.client.balance(w.address) >= chain.network.low_gas_wei
    assert res.amount_wei < bal - chain.network.low_gas_wei
    forced = withdraw_native(chain.ctx(w), dest, "max", force=True)
    assert chain.client.balance(w.address) < 10**15 and forced.amount_wei > 0
    with pytest.raises(ValidationError):
        withdraw_native(chain.ctx(w), w.address, "1")


def test_deregister_flow(chain, tmp_path):
    w = chain.new_worker()
    with pytest.raises(PreconditionFailed, match="not registered"):
        deregister(chain.ctx(w))
    chain.register(w)
    jid = chain.completed_job(w)
    with pytest.raises(PreconditionFailed) as ei:
        deregister(chain.ctx(w), cache_path=tmp_path / "c.json")
    assert ei.value.eta == chain.job(jid)["completedAt"] + 60 and "unreleased" in ei.value.message
    chain.advance(61)
    chain.as_worker(w, chain.jr, "releaseJob", jid)
    before = chain.client.balance(w.address)
    res = deregister(chain.ctx(w))
    assert res.stake_returned_wei == 5000 * ETHER and res.withdrawn_wei == chain.fee() * 8000 // 10000
    gained = chain.client.balance(w.address) - before
    assert 0 < res.stake_returned_wei + res.withdrawn_wei - gained < 10**16  # only gas spent
    assert chain.view(chain.reg, "isWorkerRegistered", w.address) is False


def test_top_up_and_reinstate(chain):
    w = chain.new_worker(lcai=12000)
    with pytest.raises(PreconditionFailed):
        top_up(chain.ctx(w), "1")
    chain.register(w)
    with pytest.raises(PreconditionFailed, match="already at or above"):
        top_up(chain.ctx(w))
    chain.as_owner(chain.reg, "testSetStake", w.address, 4000 * ETHER)
    res = top_up(chain.ctx(w))  # shortfall
    assert res.stake_wei == 5000 * ETHER
    assert top_up(chain.ctx(w), 10**18).stake_wei == 5001 * ETHER
    with pytest.raises(PreconditionFailed, match="not suspended"):
        reinstate(chain.ctx(w))
    until = chain.now() + 1000
    chain.as_owner(chain.reg, "testForceSuspend", w.address, until)
    with pytest.raises(PreconditionFailed) as ei:
        reinstate(chain.ctx(w))
    assert ei.value.eta == until
    chain.advance(1001)
    chain.as_owner(chain.reg, "testSetStake", w.address, 10 * ETHER)
    with pytest.raises(PreconditionFailed, match="below the minimum"):
        reinstate(chain.ctx(w))
    top_up(chain.ctx(w))
    r = reinstate(chain.ctx(w))
    assert r.suspended is False and chain.view(chain.reg, "isEligible", w.address, chain.mid) is True


def test_clear_stuck_job_changed_by_someone_else(chain, monkeypatch):
    w, keeper = chain.new_worker(), chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    chain.advance(200)
    ctx = chain.ctx(w)
    real_tx = ctx.tx

    def racing_tx(contract, fn, *args, **kw):  # a keeper times the job out just before our attempt
        if fn == "settleStuckJob":
            chain.as_worker(keeper, chain.jr, "claimTimeout", jid)
        return real_tx(contract, fn, *args, **kw)

    monkeypatch.setattr(ctx, "tx", racing_tx)
    res = clear_stuck_jobs(ctx)
    assert res.jobs[0].action == "changed" and res.jobs[0].state == "TimedOut"
