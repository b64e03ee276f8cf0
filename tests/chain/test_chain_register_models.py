"""register (idempotent, crash-safe) and change served models."""

from __future__ import annotations

import threading

import pytest

from tray_agent.common.errors import ValidationError
from tray_agent.core.chain import InsufficientFunds, ModelNotAllowed, PendingTransaction, PreconditionFailed
from tray_agent.core.chain.models import model_id_bytes
from tray_agent.core.chain.ops import change_models, register

ETHER = 10**18


def stake_of(chain, w) -> int:
    return chain.view(chain.reg, "getWorkerStake", w.address)


def test_register_happy_path_and_rerun(chain):
    w = chain.new_worker()
    steps = []
    res = register(chain.ctx(w), w.ecdh, ["llama3-8b", "gpt-oss:20b"], progress=lambda m, f: steps.append((m, f)))
    assert res.registered_now and res.stake_wei == 5000 * ETHER
    assert res.models_added == ["llama3-8b", "gpt-oss:20b"] and len(res.tx_hashes) == 3
    assert steps[-1] == ("registered", 1.0)
    bal = chain.client.balance(w.address)
    again = register(chain.ctx(w), w.ecdh, ["llama3-8b", "gpt-oss:20b", "qwen3-embedding:0.6b"])
    assert not again.registered_now and again.models_added == ["qwen3-embedding:0.6b"]
    assert again.models_already == ["llama3-8b", "gpt-oss:20b"]
    assert stake_of(chain, w) == 5000 * ETHER
    assert bal - chain.client.balance(w.address) < ETHER  # only gas, no second stake
    assert res.to_dict()["stake_wei"] == str(5000 * ETHER)


def test_register_after_crash_between_send_and_receipt(chain):
    """The first run sent registerWorker and 'crashed' before the receipt (tx still pending). The re-run
    waits for it, sees the registration and never stakes twice."""
    w = chain.new_worker()
    chain.dn.rpc("anvil_setAutomine", [False])
    sender = chain.sender(w)
    sender.send(chain.reg.address, chain.reg.encode("registerWorker", w.ecdh), 5000 * ETHER, gas=300_000, wait=False)
    assert chain.view(chain.reg, "isWorkerRegistered", w.address) is False  # not mined yet

    def mine_later():
        chain.dn.rpc("evm_mine", [])
        chain.dn.rpc("anvil_setAutomine", [True])

    t = threading.Timer(0.5, mine_later)
    t.start()
    try:
        res = register(chain.ctx(w), w.ecdh, ["llama3-8b"], pending_wait_s=10)
    finally:
        t.join()
    assert res.registered_now is False and res.models_added == ["llama3-8b"]
    assert stake_of(chain, w) == 5000 * ETHER
    assert chain.client.balance(w.address) > 900 * ETHER  # 6000 funded - 5000 staked once - gas


def test_register_after_crash_mined(chain):
    """Crash after the tx was mined but before the receipt was read: the re-run only adds models."""
    w = chain.new_worker()
    chain.sender(w).send(chain.reg.address, chain.reg.encode("registerWorker", w.ecdh), 5000 * ETHER)
    res = register(chain.ctx(w), w.ecdh, ["llama3-8b"])
    assert not res.registered_now and stake_of(chain, w) == 5000 * ETHER


def test_register_pending_tx_never_mined_is_reported(chain):
    w = chain.new_worker()
    chain.dn.rpc("anvil_setAutomine", [False])
    chain.sender(w).send(w.address, "0x", 1, gas=21000, wait=False)
    with pytest.raises(PendingTransaction):
        register(chain.ctx(w), w.ecdh, ["llama3-8b"], pending_wait_s=0.3)
    chain.dn.rpc("anvil_setAutomine", [True])
    assert chain.view(chain.reg, "isWorkerRegistered", w.address) is False


def test_register_checks_before_any_tx(chain):
    w = chain.new_worker()
    n0 = chain.client.nonce(w.address)
    with pytest.raises(ModelNotAllowed) as ei:
        register(chain.ctx(w), w.ecdh, ["llama3-8b", "no-such-model"])
    assert "no-such-model" in ei.value.message
    with pytest.raises(ValidationError):
        register(chain.ctx(w), b"\x04" + bytes(63), ["llama3-8b"])
    with pytest.raises(ValidationError):
        register(chain.ctx(w), w.ecdh, [])
    poor = chain.new_worker(lcai=5000)
    with pytest.raises(InsufficientFunds) as e2:
        register(chain.ctx(poor), poor.ecdh, ["llama3-8b"])
    assert "5,000 LCAI" in e2.value.message
    assert chain.client.nonce(w.address) == n0 and chain.client.nonce(poor.address) == 0


def test_register_disabled_model_refused(chain):
    chain.as_owner(chain.ai, "disableModel", model_id_bytes("gpt-oss:20b"))
    w = chain.new_worker()
    with pytest.raises(ModelNotAllowed) as ei:
        register(chain.ctx(w), w.ecdh, ["gpt-oss:20b"])
    assert "disabled" in ei.value.message


def test_register_low_gas_warning(chain):
    w = chain.new_worker(lcai=5010)
    res = register(chain.ctx(w), w.ecdh, ["llama3-8b"])
    assert res.registered_now and "gas" in res.low_gas_warning


def test_register_with_other_key_refused(chain):
    from plugins.chain import p256_public_key

    w = chain.new_worker()
    register(chain.ctx(w), w.ecdh, ["llama3-8b"])
    with pytest.raises(PreconditionFailed) as ei:
        register(chain.ctx(w), p256_public_key(), ["llama3-8b"])
    assert "different encryption key" in ei.value.message


def test_change_models_diff(chain):
    w = chain.new_worker()
    chain.register(w, ["llama3-8b", "gpt-oss:20b"])
    res = change_models(chain.ctx(w), ["llama3-8b", "qwen3-embedding:0.6b"])
    assert res.added == ["qwen3-embedding:0.6b"] and res.removed == ["gpt-oss:20b"] and res.unchanged == ["llama3-8b"]
    assert chain.view(chain.reg, "workerSupportsModel", w.address, model_id_bytes("gpt-oss:20b")) is False
    assert stake_of(chain, w) == 5000 * ETHER
    same = change_models(chain.ctx(w), ["llama3-8b", "qwen3-embedding:0.6b"])
    assert same.added == same.removed == [] and same.tx_hashes == []


def test_change_models_refusals_before_any_tx(chain):
    w = chain.new_worker()
    with pytest.raises(PreconditionFailed):
        change_models(chain.ctx(w), ["llama3-8b"])  # not registered
    chain.register(w, ["llama3-8b", "gpt-oss:20b"])
    chain.completed_job(w, "gpt-oss:20b")
    n0 = chain.client.nonce(w.address)
    with pytest.raises(ModelNotAllowed):
        change_models(chain.ctx(w), ["llama3-8b", "gpt-oss:20b", "llama3-70b"])  # not on the devnet list
    with pytest.raises(PreconditionFailed) as ei:  # removal blocked by an unreleased job, add not sent either
        change_models(chain.ctx(w), ["llama3-8b", "qwen3-embedding:0.6b"])
    assert "unreleased" in ei.value.message
    assert chain.client.nonce(w.address) == n0
    with pytest.raises(ValidationError):
        change_models(chain.ctx(w), [])
