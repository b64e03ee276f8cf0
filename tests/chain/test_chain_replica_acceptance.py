"""spec/replica.md §6: the 25 acceptance tests, run against anvil + the committed replica artifacts."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tray_agent.core.chain.errors import CallReverted, NonceConflict, Reverted

ETHER = 10**18
TOPIC_REGISTERED = "0x27987c0173113d0f969d0abbf00a8c583fd7f7f44c05af3739f808d2a0afba6f"
TOPIC_MODEL_ADDED = "0x609a2a0081c166e57bf456ffdc519b8fca2f7ab2c24f5abc1e3987200a8f263d"
TOPIC_RELEASED = "0xa3a19f49236690faa5a4bd840e6640d2c92c54214a2b7e304267e3005a9a9cc0"
TOPIC_WITHDRAWAL = "0x4a45698c7a2010a925f4f516fc9c004979abcf0a044581b2d17bee34c858a90c"
TOPIC_TIMED_OUT = "0x6c824cc82239382c89711e47345227ceb53137c068153f1392e553362dcd1720"


def reverts(selector: str, fn, *args, **kw) -> Reverted:
    with pytest.raises(Reverted) as ei:
        fn(*args, **kw)
    assert ei.value.selector == selector, (ei.value.error_name, ei.value.selector)
    return ei.value


def topics(res) -> list[str]:
    return [lg["topics"][0] for lg in res.logs]


def min_stake(k) -> int:
    return int(k.view(k.ai, "getMinWorkerStake"))


def raw_register(k, w, value=None, key=None):
    return k.as_worker(w, k.reg, "registerWorker", key if key is not None else w.ecdh,
                       value=min_stake(k) if value is None else value)


def test_01_register_below_min(chain):
    w = chain.new_worker()
    e = reverts("0x45be0a26", raw_register, chain, w, value=min_stake(chain) - 1)
    assert e.error_args == {"required": min_stake(chain), "provided": min_stake(chain) - 1}


def test_02_register_at_min(chain):
    w = chain.new_worker()
    res = raw_register(chain, w)
    assert TOPIC_REGISTERED in topics(res)
    assert chain.view(chain.reg, "isWorkerRegistered", w.address) is True
    assert chain.view(chain.reg, "getWorkerStake", w.address) == min_stake(chain)


@pytest.mark.parametrize("bad", [b"\x04" + bytes(63), b"\x02" + bytes(64)])
def test_03_invalid_key(chain, bad):
    w = chain.new_worker()
    reverts("0x411ca7ca", raw_register, chain, w, key=bad)


def test_04_register_twice(chain):
    w = chain.new_worker(12000)
    raw_register(chain, w)
    reverts("0x07cbd5da", raw_register, chain, w)


def test_05_add_unknown_model(chain):
    w = chain.new_worker()
    raw_register(chain, w)
    reverts("0x31e4b771", chain.as_worker, w, chain.reg, "addSupportedModel", keccak(text="unknown"))


def test_06_add_model_eligible_then_repeat(chain):
    w = chain.new_worker()
    raw_register(chain, w)
    res = chain.as_worker(w, chain.reg, "addSupportedModel", chain.mid)
    assert TOPIC_MODEL_ADDED in topics(res)
    assert chain.view(chain.reg, "isEligible", w.address, chain.mid) is True
    reverts("0xc0a65f77", chain.as_worker, w, chain.reg, "addSupportedModel", chain.mid)


def test_07_whitelisted_but_disabled(chain):
    mid = keccak(text="disabled-model")
    chain.as_owner(chain.ai, "registerModel", mid, 10**15, 100)
    chain.as_owner(chain.reg, "addWhitelistedModel", mid)
    w = chain.new_worker()
    raw_register(chain, w)
    reverts("0x4c609721", chain.as_worker, w, chain.reg, "addSupportedModel", mid)


def test_08_deregister_blocked_until_release(chain):
    w = chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    e = reverts("0x592f994b", chain.as_worker, w, chain.reg, "deregisterWorker")
    assert e.error_args == {"worker": w.address, "activeJobCount": 1}
    chain.ack(w, jid)
    chain.complete(w, jid)
    reverts("0x592f994b", chain.as_worker, w, chain.reg, "deregisterWorker")
    chain.advance(chain.dn.dispute_window_s)
    chain.as_worker(w, chain.jr, "releaseJob", jid)
    before = chain.client.balance(w.address)
    res = chain.as_worker(w, chain.reg, "deregisterWorker")
    assert chain.client.balance(w.address) - before == min_stake(chain) - res.fee_wei


def test_09_ack_and_complete_guards(chain):
    w, other = chain.new_worker(), chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    reverts("0x2434e3ab", chain.ack, other, jid)
    reverts("0xde988d16", chain.complete, w, jid)
    chain.advance(int(chain.view(chain.ai, "getAckTimeout")) + 1)
    reverts("0x5a9257f2", chain.ack, w, jid)


def test_10_deadline_after_ack(chain):
    w = chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    chain.ack(w, jid)
    j = chain.job(jid)
    assert j["deadline"] - j["ackTimestamp"] == chain.view(chain.ai, "getCompletionTimeout")


def test_11_release_too_early_and_probe(chain):
    w = chain.new_worker()
    chain.register(w)
    jid = chain.completed_job(w)
    j = chain.job(jid)
    window_end = j["completedAt"] + chain.dn.dispute_window_s
    with pytest.raises(CallReverted) as probe:
        chain.client.call(chain.jr, "releaseJob", jid, sender=w.address)
    assert probe.value.data[:10] == "0x98f5b6c5"
    assert int(probe.value.data[10:74], 16) == jid
    assert int(probe.value.data[74:138], 16) == window_end
    assert probe.value.eta == window_end
    e = reverts("0x98f5b6c5", chain.as_worker, w, chain.jr, "releaseJob", jid)
    assert e.error_args["windowEnd"] == window_end and e.eta == window_end


def test_12_release_after_window(chain):
    w = chain.new_worker()
    chain.register(w)
    jid = chain.completed_job(w)
    chain.advance(chain.dn.dispute_window_s)
    res = chain.as_worker(w, chain.jr, "releaseJob", jid)
    assert TOPIC_RELEASED in topics(res)
    assert chain.view(chain.jr, "workerBalance", w.address) == chain.fee() * 8000 // 10000
    assert chain.view(chain.reg, "getActiveJobCount", w.address) == 0
    assert chain.job(jid)["state"] == 6


def test_13_batch_reverts_as_a_whole(chain):
    w = chain.new_worker()
    chain.register(w)
    ready = chain.completed_job(w)
    chain.advance(chain.dn.dispute_window_s)
    not_ready = chain.completed_job(w)
    reverts("0x98f5b6c5", chain.as_worker, w, chain.jr, "releaseJobs", [ready, not_ready])
    chain.as_worker(w, chain.jr, "releaseJobs", [ready])
    assert chain.job(ready)["state"] == 6 and chain.job(not_ready)["state"] == 2


def test_14_release_by_third_party(chain):
    w, keeper = chain.new_worker(), chain.new_worker()
    chain.register(w)
    jid = chain.completed_job(w)
    chain.advance(chain.dn.dispute_window_s)
    chain.as_worker(keeper, chain.jr, "releaseJob", jid)
    assert chain.view(chain.jr, "workerBalance", w.address) == chain.fee() * 8000 // 10000
    assert chain.view(chain.jr, "workerBalance", keeper.address) == 0


def test_15_withdraw(chain):
    w = chain.new_worker()
    chain.register(w)
    reverts("0xe06b2da5", chain.as_worker, w, chain.jr, "withdraw")
    jid = chain.completed_job(w)
    chain.advance(chain.dn.dispute_window_s)
    chain.as_worker(w, chain.jr, "releaseJob", jid)
    before = chain.client.balance(w.address)
    res = chain.as_worker(w, chain.jr, "withdraw")
    assert TOPIC_WITHDRAWAL in topics(res)
    assert chain.client.balance(w.address) - before == chain.fee() * 8000 // 10000 - res.fee_wei
    assert chain.view(chain.jr, "workerBalance", w.address) == 0


def test_16_claim_timeout_too_early(chain):
    w = chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    reverts("0x9801a223", chain.as_worker, w, chain.jr, "claimTimeout", jid)


def _timeout(chain, w, jid, keeper):
    chain.advance(int(chain.job(jid)["deadline"]) - chain.now() + 1)
    return chain.as_worker(keeper, chain.jr, "claimTimeout", jid)


def test_17_claim_timeout_acked(chain):
    w, keeper = chain.new_worker(), chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    chain.ack(w, jid)
    res = _timeout(chain, w, jid, keeper)
    assert TOPIC_TIMED_OUT in topics(res)
    slashed = [e for e in res.events(chain.reg) if e.name == "WorkerSlashed"]
    assert slashed and slashed[0].args["amount"] == min_stake(chain) * 500 // 10000
    assert chain.view(chain.reg, "getActiveJobCount", w.address) == 0
    reverts("0xde988d16", chain.as_worker, w, chain.jr, "releaseJob", jid)
    assert chain.view(chain.jr, "pendingRefund", chain.consumer.address) == chain.fee()


def test_18_claim_timeout_unacked(chain):
    w, keeper = chain.new_worker(), chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    res = _timeout(chain, w, jid, keeper)
    slashed = [e for e in res.events(chain.reg) if e.name == "WorkerSlashed"]
    assert slashed[0].args["amount"] == min_stake(chain) * 200 // 10000


def test_19_three_timeouts_suspend_then_reinstate(chain):
    w, keeper = chain.new_worker(7000), chain.new_worker()
    chain.register(w)
    for _ in range(3):
        jid = chain.create_job(w)
        res = _timeout(chain, w, jid, keeper)
    assert any(e.name == "WorkerSuspended" for e in res.events(chain.reg))
    assert chain.view(chain.reg, "isWorkerSuspended", w.address) is True
    assert chain.view(chain.reg, "isEligible", w.address, chain.mid) is False
    shortfall = min_stake(chain) - chain.view(chain.reg, "getWorkerStake", w.address)
    assert shortfall == min_stake(chain) * 600 // 10000  # three ack-timeout slashes of 2 %
    chain.as_worker(w, chain.reg, "topUpStake", value=shortfall)  # back to min (top-up does not lift suspension)
    assert chain.view(chain.reg, "isWorkerSuspended", w.address) is True
    until = chain.view(chain.reg, "getSuspendedUntil", w.address)
    e = reverts("0x3ef3979c", chain.as_worker, w, chain.reg, "reinstate")
    assert e.eta == until
    chain.advance(until - chain.now() + 1)
    res = chain.as_worker(w, chain.reg, "reinstate")
    assert any(ev.name == "WorkerReinstated" for ev in res.events(chain.reg))
    assert chain.view(chain.reg, "isEligible", w.address, chain.mid) is True


def test_20_understake_then_top_up(chain):
    w, keeper = chain.new_worker(), chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    res = _timeout(chain, w, jid, keeper)
    deact = [e for e in res.events(chain.reg) if e.name == "WorkerDeactivated"]
    assert [e.args["modelId"] for e in deact] == ["0x" + chain.mid.hex()]
    assert chain.view(chain.reg, "isEligible", w.address, chain.mid) is False
    chain.as_worker(w, chain.reg, "topUpStake", value=min_stake(chain) * 200 // 10000)
    assert chain.view(chain.reg, "isEligible", w.address, chain.mid) is True
    # a suspension is not lifted by a top-up
    chain.as_owner(chain.reg, "testForceSuspend", w.address, chain.now() + 100)
    chain.as_worker(w, chain.reg, "topUpStake", value=ETHER)
    assert chain.view(chain.reg, "isWorkerSuspended", w.address) is True
    assert chain.view(chain.reg, "isEligible", w.address, chain.mid) is False


def test_21_remove_model_with_unreleased_job(chain):
    w = chain.new_worker()
    chain.register(w)
    jid = chain.completed_job(w)
    e = reverts("0x1af33a1b", chain.as_worker, w, chain.reg, "removeSupportedModel", chain.mid)
    assert e.error_args["count"] == 1
    chain.advance(chain.dn.dispute_window_s)
    chain.as_worker(w, chain.jr, "releaseJob", jid)
    chain.as_worker(w, chain.reg, "removeSupportedModel", chain.mid)
    assert chain.view(chain.reg, "workerSupportsModel", w.address, chain.mid) is False


def test_22_settle_stuck_job(chain):
    w, keeper = chain.new_worker(), chain.new_worker()
    chain.register(w)
    jid = chain.create_job(w)
    deadline = chain.job(jid)["deadline"]
    e = reverts("0xb38e2357", chain.as_worker, keeper, chain.jr, "settleStuckJob", jid)
    assert e.eta == deadline + 7200
    chain.advance(deadline + 7200 - chain.now())
    res = chain.as_worker(keeper, chain.jr, "settleStuckJob", jid)
    names = [e.name for e in res.events(chain.jr)] + [e.name for e in res.events(chain.reg)]
    assert "JobSettledNoFault" in names and "WorkerSlashed" not in names
    assert chain.view(chain.reg, "getOffenseCount", w.address) == 0
    assert chain.view(chain.reg, "getActiveJobCount", w.address) == 0


def test_23_wiring_from_predeploy(chain):
    assert chain.view(chain.reg, "aiConfig") == chain.dn.addresses["AIConfig"]
    assert chain.view(chain.reg, "jobRegistry") == chain.dn.addresses["JobRegistry"]


def test_24_slash_from_eoa(chain):
    w = chain.new_worker()
    reverts("0x4a0bfec1", chain.as_worker, w, chain.reg, "slash", w.address, 100)


def test_25_nonce_race_detected_and_retried(chain):
    """A worker-key tx is held pending (automine off); the app's send races on the same nonce, is refused
    as a typed NonceConflict, and succeeds on retry with a fresh nonce once mined."""
    import threading

    from tray_agent.core.chain.writer import WriterGate

    w = chain.new_worker()
    chain.register(w)
    chain.dn.rpc("anvil_setAutomine", [False])
    container = chain.sender(w)
    pending_hash = container.send(w.address, "0x", 1, gas=21000, wait=False)  # the container's tx, pending
    gate = WriterGate(stop_allowed=False, poll_s=0.01, retry_delay_s=0.05)
    ctx = chain.ctx(w, gate)
    real_nonce = ctx.client.nonce
    calls = {"n": 0}

    def racing_nonce(addr, block="pending"):  # the first attempt read the nonce before the container's tx
        calls["n"] += 1
        n = real_nonce(addr, block)
        return n - 1 if calls["n"] == 1 else n

    ctx.client.nonce = racing_nonce  # type: ignore[method-assign]
    miner = threading.Timer(0.5, lambda: chain.dn.rpc("evm_mine", []))
    miner.start()
    try:
        with gate.session():
            data = chain.jr.encode("workerBalance", w.address)
            res = gate.send(lambda: ctx.sender.send(chain.jr.address, data))
    finally:
        miner.join()
        chain.dn.rpc("anvil_setAutomine", [True])
    assert gate.retries == 1 and res.block_number > 0
    assert chain.client.rpc.call("eth_getTransactionReceipt", [pending_hash])["status"] == "0x1"
    # with retries disabled the same race surfaces as a typed NonceConflict (nothing half-done)
    calls["n"] = 0
    chain.dn.rpc("anvil_setAutomine", [False])
    container.send(w.address, "0x", 1, gas=21000, wait=False)
    # idle mode (the container runs and owns the nonce): in stop mode a pending transaction is waited for instead
    strict = WriterGate(stop_allowed=False, max_retries=0)
    ctx2 = chain.ctx(w, strict)
    ctx2.client.nonce = racing_nonce  # type: ignore[method-assign]
    with strict.session(), pytest.raises(NonceConflict):
        strict.send(lambda: ctx2.sender.send(chain.jr.address, chain.jr.encode("workerBalance", w.address)))
